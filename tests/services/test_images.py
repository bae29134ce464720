"""The images' writable ``/tmp``: what each Dockerfile declares, and what the recorded plans mount.

Tasks and jobs run as the images' non-root ``USER`` with a read-only root filesystem; their
only writable path is an empty Fargate bind mount volume at ``/tmp``. Fargate creates such a
volume owned by root with mode 0755 unless the image declares the path with ``VOLUME``: then
the path's contents, owner and mode in the image are copied to the volume (AWS, "Use bind
mounts with Amazon ECS", https://docs.aws.amazon.com/AmazonECS/latest/developerguide/bind-mounts.html;
https://github.com/aws/containers-roadmap/issues/938). So for each image built from this
repository:

- the Dockerfile's ``USER`` is a numeric non-root uid;
- a ``VOLUME`` declares ``/tmp`` (an absolute path);
- a ``RUN`` *before* that ``VOLUME`` makes ``/tmp`` owned by that uid with a mode that lets
  it create files (Docker discards what later instructions change under a volume's path), and
  nothing after the ``VOLUME`` touches ``/tmp``;
- every ECS task definition and Batch job definition in both recorded plans that runs the
  image has a read-only root filesystem and mounts a bind mount volume exactly at the paths
  the image declares with ``VOLUME``, and does not override the user.

No Docker daemon is needed: the Dockerfiles are parsed, the plans are read as JSON.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]
GOLDEN = PROJECT_ROOT / "tests" / "golden"
STACKS = ("dev", "prod")
#: The build contexts of the images the stacks build; each has its own Dockerfile.
CONTEXTS = ("services/forecast", "services/batch_inference", "services/training")
WRITABLE_PATH = "/tmp"
TASK_DEFINITION = "aws:ecs/taskDefinition:TaskDefinition"
JOB_DEFINITION = "aws:batch/jobDefinition:JobDefinition"
IMAGE_BUILD = "awsx:ecr:Image"
OWNER_WRITE_AND_SEARCH = 0o300


# --------------------------------------------------------------------------- Dockerfile parsing


@dataclass(frozen=True)
class Instruction:
    """One Dockerfile instruction, continuation lines joined."""

    keyword: str
    args: str


def parse_dockerfile(text: str) -> list[Instruction]:
    """The instructions of a Dockerfile (comments and blank lines dropped, ``\\`` joined)."""
    instructions: list[Instruction] = []
    current = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        logical = current + line
        current = ""
        keyword, _, args = logical.partition(" ")
        instructions.append(Instruction(keyword.upper(), args.strip()))
    return instructions


def volume_paths(args: str) -> list[str]:
    """The paths of a ``VOLUME`` instruction (JSON array or plain form)."""
    return list(json.loads(args)) if args.startswith("[") else args.split()


def shell_commands(script: str) -> list[list[str]]:
    """The simple commands of a ``RUN`` line, split at ``&&``, ``||`` and ``;``."""
    lexer = shlex.shlex(script, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    commands: list[list[str]] = [[]]
    for token in lexer:
        if token in ("&&", "||", ";"):
            commands.append([])
        else:
            commands[-1].append(token)
    return [command for command in commands if command]


def _operands(command: list[str]) -> list[str]:
    return [arg for arg in command[1:] if not arg.startswith("-")]


@dataclass(frozen=True)
class PathState:
    """Owner and mode a Dockerfile's ``RUN`` lines give a path (None: left as the base has it)."""

    owner: str | None = None
    mode: int | None = None


def path_state(instructions: list[Instruction], path: str) -> PathState:
    """What ``chown``/``chmod`` in ``RUN`` lines make of ``path``, in order."""
    state = PathState()
    for instruction in instructions:
        if instruction.keyword != "RUN":
            continue
        for command in shell_commands(instruction.args):
            operands = _operands(command)
            if command[0] == "chown" and path in operands[1:]:
                state = PathState(owner=operands[0], mode=state.mode)
            elif command[0] == "chmod" and path in operands[1:]:
                mode = int(operands[0], 8) if operands[0].isdigit() else None
                state = PathState(owner=state.owner, mode=mode)
    return state


def user_uid(instructions: list[Instruction]) -> str | None:
    """The uid of the last ``USER`` (``10001`` of ``USER 10001:10001``)."""
    users = [i.args for i in instructions if i.keyword == "USER"]
    return users[-1].split(":")[0] if users else None


def _touches(instruction: Instruction, path: str) -> bool:
    if instruction.keyword == "RUN":
        return any(
            arg == path or arg.startswith(f"{path}/")
            for command in shell_commands(instruction.args)
            for arg in command[1:]
        )
    if instruction.keyword in ("COPY", "ADD"):
        target = shlex.split(instruction.args)[-1]
        return target == path or target.startswith(f"{path}/")
    return False


def writable_volume_problems(
    instructions: list[Instruction], path: str = WRITABLE_PATH
) -> list[str]:
    """Why a container of this image could not write ``path`` on Fargate (empty: it can)."""
    uid = user_uid(instructions)
    if uid is None or not uid.isdigit() or int(uid) == 0:
        return [f"USER must be a numeric non-root uid, got {uid!r}"]
    declared = [
        (index, p)
        for index, instruction in enumerate(instructions)
        if instruction.keyword == "VOLUME"
        for p in volume_paths(instruction.args)
    ]
    problems = [
        f"VOLUME {p!r} is not an absolute path" for _, p in declared if not p.startswith("/")
    ]
    at = [index for index, p in declared if p == path]
    if not at:
        return problems + [
            f"no VOLUME declares {path}: Fargate would mount it owned by root, mode 0755"
        ]
    state = path_state(instructions[: at[0]], path)
    owner = (state.owner or "").split(":")[0]
    if owner != uid:
        problems.append(
            f"{path} is not made owned by the USER {uid} before its VOLUME (chown: {state.owner!r})"
        )
    if state.mode is None or state.mode & OWNER_WRITE_AND_SEARCH != OWNER_WRITE_AND_SEARCH:
        shown = oct(state.mode) if state.mode is not None else None
        problems.append(
            f"{path} gets no mode letting its owner create files before its VOLUME (chmod: {shown})"
        )
    late = [i for i in instructions[at[0] + 1 :] if _touches(i, path)]
    problems += [
        f"{i.keyword} {i.args!r} changes {path} after its VOLUME: Docker discards that"
        for i in late
    ]
    return problems


def dockerfile(context: str) -> list[Instruction]:
    return parse_dockerfile((PROJECT_ROOT / context / "Dockerfile").read_text(encoding="utf-8"))


# --------------------------------------------------------------------------- the images


@pytest.mark.parametrize("context", CONTEXTS)
def test_image_declares_tmp_as_a_volume_owned_and_writable_by_its_user(context: str) -> None:
    instructions = dockerfile(context)

    assert writable_volume_problems(instructions) == []
    assert [volume_paths(i.args) for i in instructions if i.keyword == "VOLUME"] == [
        [WRITABLE_PATH]
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "FROM python\nRUN useradd --uid 10001 app\nUSER 10001:10001\n",
            "no VOLUME declares /tmp",
            id="no-volume (the images before the fix)",
        ),
        pytest.param(
            "FROM python\nVOLUME /tmp\nRUN chown 10001 /tmp && chmod 0700 /tmp\nUSER 10001\n",
            "is not made owned by the USER 10001 before its VOLUME",
            id="chown-after-volume",
        ),
        pytest.param(
            "FROM python\nRUN chown 10001 /tmp && chmod 0700 /tmp\nVOLUME /tmp\nRUN chmod 0755 /tmp\nUSER 10001\n",
            "changes /tmp after its VOLUME",
            id="changed-after-volume",
        ),
        pytest.param(
            'FROM python\nRUN chown 10001:10001 /tmp \\\n && chmod 0500 /tmp\nVOLUME ["/tmp"]\nUSER 10001\n',
            "no mode letting its owner create files",
            id="read-only-mode",
        ),
        pytest.param(
            "FROM python\nRUN chown 20002 /tmp && chmod 0700 /tmp\nVOLUME /tmp\nUSER 10001\n",
            "is not made owned by the USER 10001",
            id="other-owner",
        ),
        pytest.param(
            "FROM python\nRUN chown 0 /tmp && chmod 1777 /tmp\nVOLUME /tmp\nUSER root\n",
            "USER must be a numeric non-root uid",
            id="root",
        ),
    ],
)
def test_the_check_finds_what_would_leave_tmp_unwritable(text: str, expected: str) -> None:
    problems = writable_volume_problems(parse_dockerfile(text))

    assert any(expected in problem for problem in problems), problems


# --------------------------------------------------------------------------- the recorded plans


def recorded_plan(stack: str) -> list[dict[str, Any]]:
    return list(
        json.loads((GOLDEN / f"plan-{stack}.json").read_text(encoding="utf-8"))["resources"]
    )


def built_context(resources: list[dict[str, Any]], image: str, depends_on: list[str]) -> str:
    """The build context of the image a definition runs: the build it depends on that pushes
    to the image's repository (several images may share one repository)."""
    repository = image.split("@", 1)[0]  # a built image is run by digest: <repository>@sha256:...
    builds = [
        r["inputs"]
        for r in resources
        if r["type"] == IMAGE_BUILD
        and r["urn"] in depends_on
        and r["inputs"]["repositoryUrl"] == repository
    ]
    assert len(builds) == 1, f"{image} is not built by the stack; its /tmp cannot be checked here"
    (inputs,) = builds
    assert inputs.get("dockerfile") in (None, f"{inputs['context']}/Dockerfile")
    return str(inputs["context"])


@dataclass(frozen=True)
class Runner:
    """A container definition (ECS) or container properties (Batch) and its volumes."""

    name: str
    container: dict[str, Any]
    volumes: list[dict[str, Any]]
    dependencies: list[str]


def runners(resources: list[dict[str, Any]]) -> list[Runner]:
    found: list[Runner] = []
    for resource in resources:
        inputs = resource["inputs"]
        if resource["type"] == TASK_DEFINITION:
            for container in json.loads(inputs["containerDefinitions"]):
                found.append(
                    Runner(
                        f"{resource['name']}/{container['name']}",
                        container,
                        inputs.get("volumes", []),
                        resource.get("dependencies", []),
                    )
                )
        elif resource["type"] == JOB_DEFINITION:
            properties = json.loads(inputs["containerProperties"])
            found.append(
                Runner(
                    resource["name"],
                    properties,
                    properties.get("volumes", []),
                    resource.get("dependencies", []),
                )
            )
    return found


@pytest.mark.parametrize("stack", STACKS)
def test_every_task_and_job_mounts_a_bind_volume_exactly_where_its_image_declares_one(
    stack: str,
) -> None:
    resources = recorded_plan(stack)
    checked: dict[str, list[str]] = {}
    for runner in runners(resources):
        container = runner.container
        context = built_context(resources, container["image"], runner.dependencies)
        instructions = dockerfile(context)
        declared = {p for i in instructions if i.keyword == "VOLUME" for p in volume_paths(i.args)}
        volumes = {v["name"]: v for v in runner.volumes}
        mounts = container.get("mountPoints", [])

        assert container.get("readonlyRootFilesystem") is True, runner.name
        assert {m["containerPath"] for m in mounts} == declared == {WRITABLE_PATH}, runner.name
        for mount in mounts:
            volume = volumes[mount["sourceVolume"]]
            # A bind mount: no EFS, host path or Docker volume driver, so Fargate creates it
            # empty and takes owner and mode from the image's VOLUME path.
            assert set(volume) == {"name"}, (runner.name, volume)
            assert mount.get("readOnly") is False, runner.name
        assert container.get("user") in (None, user_uid(instructions)), runner.name
        checked.setdefault(context, []).append(runner.name)

    assert set(checked) == set(CONTEXTS), checked  # both images are run and were checked
    assert sum(map(len, checked.values())) == len(runners(resources)) > 0
