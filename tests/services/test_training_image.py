"""The training image (services/training/Dockerfile): a non-root user, /tmp as a volume it
owns (the convention and checks of test_images.py), every module copied, and dependencies
pinned exactly and the same as the ones the tests run with."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from test_images import dockerfile, volume_paths, writable_volume_problems

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CONTEXT = "services/training"


def test_the_training_image_runs_as_a_non_root_user_with_a_writable_tmp_volume() -> None:
    instructions = dockerfile(CONTEXT)
    assert writable_volume_problems(instructions) == []
    assert [volume_paths(i.args) for i in instructions if i.keyword == "VOLUME"] == [["/tmp"]]
    assert [i.args for i in instructions if i.keyword == "USER"] == ["10001:10001"]
    assert [i.args for i in instructions if i.keyword == "ENTRYPOINT"] == [
        '["python", "-m", "services.training"]'
    ]


def test_every_module_of_the_package_is_copied_into_the_image() -> None:
    copies = [shlex.split(i.args) for i in dockerfile(CONTEXT) if i.keyword == "COPY"]
    (code,) = [c for c in copies if c[-1] == "/app/services/training/"]
    modules = sorted(p.name for p in (PROJECT_ROOT / CONTEXT).glob("*.py"))
    assert sorted(code[:-1]) == modules


def pins(path: Path) -> dict[str, str]:
    found = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#")[0].strip()
        if line and not line.startswith("-"):
            name, _, version = line.partition("==")
            assert re.fullmatch(r"[0-9][0-9a-z.]*", version), f"{line!r} is not pinned exactly"
            found[name.lower()] = version
    return found


def test_the_images_dependencies_are_pinned_like_the_test_environment() -> None:
    image = pins(PROJECT_ROOT / CONTEXT / "requirements.txt")
    tested = pins(PROJECT_ROOT / "requirements-dev.txt") | pins(PROJECT_ROOT / "requirements.txt")
    assert {"scikit-learn", "numpy", "boto3"} <= set(image)
    assert {name: image[name] for name in image if name in tested} == {
        name: tested[name] for name in image if name in tested
    }
    assert set(image) <= set(tested), "pin the image's libraries for the tests too"
