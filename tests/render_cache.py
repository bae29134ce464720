"""Renders of modified stack files, shared by every test (and xdist worker) of a session.

A render of a whole stack takes 2-10 s. Tests that need a variant of a real stack file ask
:func:`render_config` for it: the first caller renders it, the others (in this process, or in
another xdist worker, through the session's shared temp folder under a file lock) read that
render. The key is the config's contents, the stack name and the program's code (as
``render_key`` in tests/conftest.py), so an edited program renders again.

The variants below serve several tests at once; each combines changes that do not touch the
same resources, so every test's assertion still fails if its own feature breaks.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from stacks.offline import PROJECT_DIR, Plan, render_stack

try:  # the workers' shared renders take a file lock (POSIX)
    import fcntl
except ImportError:  # pragma: no cover (Windows: every worker renders for itself)
    fcntl = None  # type: ignore[assignment]

_rendered: dict[str, Plan] = {}


@functools.lru_cache(maxsize=4)
def code_digest(project_dir: Path = PROJECT_DIR) -> str:
    """The program's code and ``Pulumi.yaml`` (what a plan depends on besides its config):
    ``Pulumi.yaml``, ``__main__.py`` and every file of components/, stacks/, services/."""
    digest = hashlib.sha256()
    files = [project_dir / "Pulumi.yaml", project_dir / "__main__.py"]
    for folder in ("components", "stacks", "services"):
        files += sorted(
            p
            for p in (project_dir / folder).rglob("*")
            if p.is_file() and "__pycache__" not in p.parts
        )
    for path in files:
        digest.update(str(path.relative_to(project_dir)).encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def _shared_folder(tmp_path_factory: pytest.TempPathFactory) -> Path | None:
    """The folder this session's xdist workers share (their base temps' parent, as
    tests/conftest.py's ``_shared_render`` uses), or None outside xdist (one process: the
    in-process memo is enough; the base temp's parent would outlive the session)."""
    if fcntl is None or not os.environ.get("PYTEST_XDIST_WORKER"):
        return None
    return tmp_path_factory.getbasetemp().parent


def config_key(config: dict[str, Any], stack: str = "test") -> str:
    """What a variant's plan depends on: its config, its stack name and the code."""
    text = json.dumps(config, sort_keys=True, default=str)
    return hashlib.sha256(f"{stack}\0{text}\0{code_digest()}".encode()).hexdigest()[:20]


def write_project(config: dict[str, Any], folder: Path, stack: str = "test") -> Path:
    """A project directory with ``Pulumi.yaml`` and ``Pulumi.<stack>.yaml`` holding ``config``."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(PROJECT_DIR / "Pulumi.yaml", folder / "Pulumi.yaml")
    (folder / f"Pulumi.{stack}.yaml").write_text(
        yaml.safe_dump({"config": config}), encoding="utf-8"
    )
    return folder


def _render(config: dict[str, Any], project: Path, stack: str) -> tuple[Plan, str]:
    """The render, with the program's asset paths relative to the repository as a render of
    the real stack files has them (the variant's stack file lives in another folder, which
    would make them absolute), so a variant's plan diffs cleanly against the session's; and
    that plan's JSON (what the other workers read)."""
    text = _relative_json(render_stack(stack, write_project(config, project, stack)))
    return Plan.from_json(text), text


def _relative_json(plan: Plan) -> str:
    return plan.to_json().replace(json.dumps(f"{PROJECT_DIR.as_posix()}/")[:-1], '"')


def relative_paths(plan: Plan) -> Plan:
    """``plan`` with the program's asset paths relative to the repository (see ``_render``)."""
    return Plan.from_json(_relative_json(plan))


def render_config(
    config: dict[str, Any], tmp_path_factory: pytest.TempPathFactory, stack: str = "test"
) -> Plan:
    """``Pulumi.<stack>.yaml`` holding ``config``, rendered once per session.

    The plan is shared: tests must not change it.
    """
    key = config_key(config, stack)
    if key in _rendered:
        return _rendered[key]
    shared = _shared_folder(tmp_path_factory)
    project = tmp_path_factory.mktemp("variant")
    if shared is None:
        plan, _ = _render(config, project, stack)
    else:
        path = shared / f"variant-{key}.json"
        with open(shared / f"variant-{key}.lock", "w", encoding="utf-8") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if path.is_file():
                plan = Plan.from_json(path.read_text(encoding="utf-8"))
            else:
                plan, text = _render(config, project, stack)  # text is plan.to_json()
                partial = path.with_suffix(".partial")
                partial.write_text(text, encoding="utf-8")
                partial.replace(path)
    _rendered[key] = plan
    return plan


def remember(
    config: dict[str, Any],
    tmp_path_factory: pytest.TempPathFactory,
    plan: Plan,
    stack: str = "test",
) -> None:
    """Keep ``plan`` (rendered by a test itself, e.g. through the CLI) as ``config``'s render,
    for later :func:`render_config` calls of this session."""
    key = config_key(config, stack)
    _rendered.setdefault(key, plan)
    shared = _shared_folder(tmp_path_factory)
    if shared is not None:
        path = shared / f"variant-{key}.json"
        with open(shared / f"variant-{key}.lock", "w", encoding="utf-8") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not path.is_file():
                partial = path.with_suffix(".partial")
                partial.write_text(plan.to_json(), encoding="utf-8")
                partial.replace(path)


def real_config(stack: str) -> dict[str, Any]:
    """The ``config:`` mapping of a real stack file (a fresh copy to modify)."""
    text = (PROJECT_DIR / f"Pulumi.{stack}.yaml").read_text(encoding="utf-8")
    return copy.deepcopy(_config_of(text))


@functools.lru_cache(maxsize=8)
def _config_of(text: str) -> dict[str, Any]:
    """A stack file's ``config:`` mapping, parsed once per text (PyYAML's pure-Python loader
    took ~17 ms a call, and hundreds of tests start from a real stack file)."""
    return dict(yaml.safe_load(text)["config"])


# -- variants several tests share ------------------------------------------------------------


def dev_switched_off() -> dict[str, Any]:
    """dev with compute and ingest switched off, no ``mlops:jobs`` and training off.

    test_stack_compute (no pool, no group), test_stack_serverless (no records table, no
    Lambda), test_stack_jobs (no Batch, Scheduler or MWAA resource) and test_training (no
    training resource, no registry in the web service's environment) each check only their
    own feature's resources, which none of the other switches builds (stacks/regional.py
    builds each under its own switch); the web service stays on for test_training.
    """
    config = real_config("dev")
    config["mlops:compute"]["enabled"] = False
    config["mlops:ingest"]["enabled"] = False
    del config["mlops:jobs"]
    config["mlops:training"] = {"enabled": False}  # its jobs are Batch jobs too
    return config


def dev_without_service_or_jobs() -> dict[str, Any]:
    """dev with the web service off, no ``mlops:jobs`` (the training loop brings its own
    Batch environment and no scoring jobs), the first pool without ``efsBackups``, and the
    lake's replication time control on.

    test_stack_containers (no service, no load balancer), test_training (the loop's own
    Batch environments and definitions), test_stack_compute (an ephemeral stack's drive
    without the key is not backed up) and test_lake_replication (time control and metrics
    on every rule, its alarms) check resources of separate components.
    """
    config = real_config("dev")
    config["mlops:containers"]["enabled"] = False
    del config["mlops:jobs"]
    config["mlops:training"] = {"scoringJobs": []}
    del config["mlops:compute"]["pools"][0]["efsBackups"]
    config["mlops:resilience"] = {
        **(config.get("mlops:resilience") or {}),
        "lakeReplication": {"timeControl": True},
    }
    return config


#: The certificate test_stack_containers gives dev's first region.
DEV_CERTIFICATE = (
    "arn:aws:acm:eu-west-1:123456789012:certificate/11111111-2222-3333-4444-555555555555"
)


def dev_with_certificate_and_waf() -> dict[str, Any]:
    """dev with a certificate for its first region and the WAF on at 100 requests.

    test_stack_containers (the HTTPS listener and redirect where the certificate is, plain
    HTTP in the other region) and test_entry_waf (one web ACL per region with the rate
    limit) check different resources of the web service.
    """
    config = real_config("dev")
    config["mlops:containers"]["certificateArns"] = {"eu-west-1": DEV_CERTIFICATE}
    config["mlops:containers"]["waf"] = {"enabled": True, "rateLimit": 100}
    return config


def prod_with_airflow() -> dict[str, Any]:
    """prod with managed Airflow on (neither real stack runs it) and a permissions boundary.

    test_stack_jobs and test_log_groups check the Airflow environment, its buckets and log
    groups; test_permissions_boundary checks that every role (Airflow's too) carries the
    boundary, which changes no other input.
    """
    config = real_config("prod")
    config["mlops:jobs"]["airflow"] = {"enabled": True, "environmentClass": "mw1.small"}
    config["mlops:iam"] = {"permissionsBoundaryArn": BOUNDARY}
    return config


#: The permissions boundary test_permissions_boundary gives every role.
BOUNDARY = "arn:aws:iam::123456789012:policy/platform-boundary"


def prod_latency_without_standby() -> dict[str, Any]:
    """prod with latency routing and no standby pools.

    test_entry (every region's alias record routes by latency) and test_standby_pools (no
    replication, no pool in the secondary) check unrelated resources.
    """
    config = real_config("prod")
    config["mlops:dns"] = {**config["mlops:dns"], "routing": "latency"}
    config["mlops:resilience"] = {
        **(config.get("mlops:resilience") or {}),
        "standbyPools": False,
    }
    return config


def dev_flipped() -> dict[str, Any]:
    """dev with ``activeRegion`` set to its second region, its job's schedule paused, and a
    permissions boundary.

    test_standby_triggers checks the triggers' states and the inventory (the boundary changes
    no schedule, rule or parameter); test_permissions_boundary checks every role carries the
    boundary (neither other change touches a role).
    """
    config = real_config("dev")
    second = config["mlops:regions"][1]["name"]
    config["mlops:resilience"] = {**(config.get("mlops:resilience") or {}), "activeRegion": second}
    config["mlops:jobs"]["jobs"][0]["schedule"]["enabled"] = False
    config["mlops:iam"] = {"permissionsBoundaryArn": BOUNDARY}
    return config
