"""Shared fixtures: the real stack files rendered through the offline engine."""

from __future__ import annotations

import atexit
import functools
import gc
import hashlib
import json
import logging
import os
import pickle
import shutil
import sys
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import botocore.loaders
import botocore.session
import pytest
import yaml

import stacks.offline
from stacks.offline import PROJECT_DIR, Plan, render_stack
from stacks.offline import engine as offline_engine

try:  # the workers' shared renders take a file lock (POSIX)
    import fcntl
except ImportError:  # pragma: no cover (Windows: every worker renders for itself)
    fcntl = None  # type: ignore[assignment]

STACKS = ("dev", "prod")

# moto's EC2 backend loads ~46,000 default AMIs (each with a snapshot and volume) for every
# region of every test that touches EC2, which was most of the moto tests' time; no test uses
# those AMIs. Set before any backend starts; subprocess moto servers inherit it.
os.environ.setdefault("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")


@functools.cache
def _one_loader_per_data_path(search_path_string: str | None = None) -> Any:
    """botocore's ``create_loader``, once per data path for the whole test process.

    Every new botocore session gets a new loader, which parses the service models and
    endpoint data it is asked for from JSON again; moto builds sessions of its own each time
    a test's fresh state creates a backend (its EC2 backend three, to list regions), so the
    same models were parsed again and again (2.2 s of JSON parsing in the sweep, failover and
    services tests in one process, 1.0 s with one loader). A loader only reads botocore's
    shipped data files and caches what it parsed (a session already shares it between all
    its clients), so sharing it changes nothing but the time.
    """
    return _create_loader(search_path_string)


_create_loader = botocore.loaders.create_loader
botocore.loaders.create_loader = _one_loader_per_data_path
botocore.session.create_loader = _one_loader_per_data_path


def _register_requests_callbacks_once() -> None:
    """moto re-registers its ``responses`` callbacks at every ``mock_aws`` start, once per
    HTTP method for every service's URL patterns (~2,800 objects; ~6 s of CPU over a test
    run, py-spy), after emptying the registry. They only serve code that calls AWS through
    ``requests`` (the tests call it through botocore, which moto's stubber serves) and are
    the same every time, so after the first start they are kept: each later start still
    resets every backend (a test sees only what it created) and switches the stubber and
    ``responses`` on; each stop still resets the data and switches them off.
    """
    from moto.core import models as moto_models
    from moto.core.base_backend import BackendDict

    first_start = moto_models.MockAWS._enable_patching
    registered: list[bool] = []

    def enable_patching(self: Any, reset: bool = True) -> None:
        if not registered:
            first_start(self, reset=reset)
            registered.append(True)
            return
        moto_models.botocore_stubber.enabled = True
        if reset:
            BackendDict.reset()
        moto_models.responses_mock.start()

    def disable_patching(self: Any, remove_data: bool) -> None:
        moto_models.botocore_stubber.enabled = False
        if remove_data:
            BackendDict.reset()
            moto_models.reset_model_data()
        moto_models.responses_mock.stop()

    moto_models.MockAWS._enable_patching = enable_patching
    moto_models.MockAWS._disable_patching = disable_patching


_register_requests_callbacks_once()


def _allowed_actions_once() -> None:
    """parliament's community auditors each ask a policy for its allowed actions again
    (``Policy.get_allowed_actions``: every action the policy names, matched against every
    statement's resources), four times per analysis and most of its time on a large policy
    (8 s for a deploy role's). The answer depends only on the policy's statements, which an
    analysis does not change, so each policy computes it once; the findings are the same
    (tests/test_deploy_iam.py compares them with and without this)."""
    from parliament.policy import Policy

    compute = Policy.get_allowed_actions
    if getattr(compute, "computed_once", False):
        return

    def get_allowed_actions(self: Any, raise_exceptions: bool = True) -> Any:
        cache = self.__dict__.setdefault("_allowed_actions_cache", {})
        if raise_exceptions not in cache:
            cache[raise_exceptions] = compute(self, raise_exceptions)
        return list(cache[raise_exceptions])

    get_allowed_actions.computed_once = True  # type: ignore[attr-defined]
    get_allowed_actions.uncached = compute  # type: ignore[attr-defined]
    Policy.get_allowed_actions = get_allowed_actions  # type: ignore[method-assign]


_allowed_actions_once()


@dataclass
class RenderNotes:
    """What the session's render of a real stack said besides its plan.

    ``warnings``: the messages logged at WARNING or above while it rendered (what
    ``pulumi.log.warn`` prints under the mock runtime); ``invokes``: every invoke the program
    made, as ``[token, region]`` (region None when the invoke named none). Tests that used to
    render a real stack again only to watch these read them here instead.
    """

    warnings: list[str] = field(default_factory=list)
    invokes: list[list[str | None]] = field(default_factory=list)


class _ObservedMocks(offline_engine.RecordingMocks):
    """The offline mocks, noting each invoke (token and region) before answering it."""

    seen: list[list[str | None]] = []

    def call(self, args: Any) -> Any:
        region = self.region_of_provider(args.provider) or args.args.get("region")
        _ObservedMocks.seen.append([args.token, region])
        return super().call(args)


class _WarningsKept(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def pytest_collection_finish(session: pytest.Session) -> None:
    """What collection imported (the SDKs, moto, botocore, hypothesis, every test module:
    most of a worker's heap, alive until the process ends) is moved out of the cyclic
    collector's sight (``gc.freeze``), after one collection. See ``pytest_runtest_teardown``.
    """
    gc.collect()
    gc.freeze()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    """When a worker moves on to another module, what is alive is frozen (``gc.freeze``).

    A worker's heap only grows (the SDK modules later tests import, moto's, the session's
    and the variants' plans), and Python's full collections re-scan all of it each time it
    has grown by a quarter: ~13 s of each worker's run, about 1 s apiece near the end. What
    outlives a module's tests (its module fixtures are torn down by now) stays for the
    session, so the collector need not look at it again; it scans what was made since.
    Reference counting still frees whatever becomes unreferenced. No collection first: a
    cycle that died in the module and was not yet collected is kept (the workers' peak
    memory grew by ~40 MB), which costs less than a full collection per module (~6 s more
    CPU per run).
    """
    yield  # the item's fixtures, and its module's when the next item is elsewhere, end here
    if nextitem is not None and nextitem.path != item.path:
        gc.freeze()


@pytest.hookimpl(tryfirst=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    """An xdist worker ends here, without the interpreter's teardown.

    By now the worker has sent the controller everything (its last report and its exit
    status go out in ``pytest_sessionfinish``) and every fixture is torn down; the teardown
    only frees the session's memory (both plans, the SDK modules, moto's backends), which
    took the workers ~8 s after their last test while the controller waited. The other
    plugins' unconfigure hooks are skipped too: in a worker they only undo its own setup,
    except pytest's last hunt for unraisable exceptions (a full collection of the heap,
    ~1 s), whose warnings would come after the worker's last report (a run without xdist
    still makes it). The exit handlers (logging's
    among them) still run, and the streams are flushed, as
    ``stacks.offline.speedups.exit_when_done`` does for the plan command. Outside xdist
    (one process) pytest ends as usual.
    """
    if getattr(config, "workerinput", None) is None:
        return
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _observed_render(stack: str) -> tuple[Plan, RenderNotes]:
    """``render_stack(stack)``, with its warnings and invokes noted (the plan is the same:
    tests/test_stacks.py compares it with a plain render)."""
    kept = _WarningsKept()
    _ObservedMocks.seen = []
    root = logging.getLogger()
    root.addHandler(kept)
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(offline_engine, "RecordingMocks", _ObservedMocks)
            plan = render_stack(stack)
    finally:
        root.removeHandler(kept)
    return plan, RenderNotes(kept.messages, list(_ObservedMocks.seen))


@pytest.fixture(scope="session")
def _session_renders(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, tuple[Plan, RenderNotes]]:
    """dev and prod, rendered once per test session from the real stack files.

    Under pytest-xdist the workers share the renders instead of each rendering both: each
    worker starts with a different stack, renders it unless another worker already has, and
    reads the rest from the session's shared temp folder (one lock per stack; the file is
    named after the stack file's contents and the program's code, so a stack file edited
    during the session is rendered again).
    """
    workerinput = getattr(request.config, "workerinput", None)
    if workerinput is None or fcntl is None:
        rendered = {name: _observed_render(name) for name in STACKS}
    else:
        shared = tmp_path_factory.getbasetemp().parent
        index = int(str(workerinput.get("workerid", "gw0")).lstrip("gw") or 0)
        order = STACKS[index % len(STACKS) :] + STACKS[: index % len(STACKS)]
        rendered = {name: _shared_render(name, shared) for name in order}
    # What is alive now (the SDK modules, the plans) lives for the whole session: moved out of
    # the collector's reach, later collections no longer scan it again and again.
    gc.collect()
    gc.freeze()
    return {name: rendered[name] for name in STACKS}


@pytest.fixture(scope="session")
def plans(_session_renders: dict[str, tuple[Plan, RenderNotes]]) -> dict[str, Plan]:
    """dev and prod, rendered once per test session from the real stack files (shared by
    the xdist workers: see ``_session_renders``)."""
    return {name: plan for name, (plan, _) in _session_renders.items()}


@pytest.fixture(scope="session")
def render_notes(
    _session_renders: dict[str, tuple[Plan, RenderNotes]],
) -> dict[str, RenderNotes]:
    """What the session's renders of dev and prod logged and invoked (:class:`RenderNotes`)."""
    return {name: notes for name, (_, notes) in _session_renders.items()}


@pytest.fixture
def shared_render(monkeypatch: pytest.MonkeyPatch, plans: dict[str, Plan]) -> None:
    """Commands called in-process (``stacks.cli.main([...])``) read the session's render of a
    real stack instead of rendering it again (5-12 s each).

    Every command that renders (plan, check, cost, timeline, preview/up --region) imports
    ``stacks.offline.render_stack`` when it runs; that name is replaced for the test. Only the
    real stack files answer from the session (stack dev or prod, this repository's project
    dir, no ``speedups`` argument): anything else (a throwaway project, an unknown stack)
    renders for real. Each call gets its own copy, so a command that changes its plan cannot
    change the other tests' plan. What the command does with the plan (summaries, notes,
    reports, files, exit codes) runs as it would in its own process.
    """
    real = stacks.offline.render_stack

    def render(
        stack: str, project_dir: Path = PROJECT_DIR, *, speedups: bool | None = None
    ) -> Plan:
        if (
            stack in plans
            and speedups is None
            and Path(project_dir).resolve() == PROJECT_DIR.resolve()
        ):
            copied: Plan = pickle.loads(pickle.dumps(plans[stack]))
            return copied
        return real(stack, project_dir, speedups=speedups)

    monkeypatch.setattr(stacks.offline, "render_stack", render)


def render_key(stack: str, project_dir: Path = PROJECT_DIR) -> str:
    """What a stack's plan depends on: its stack file and the program's code
    (:func:`render_cache.code_digest`: ``Pulumi.yaml``, the main program, components, stacks
    and the services it packages), hashed."""
    from render_cache import code_digest

    digest = hashlib.sha256(stack.encode() + b"\0")
    digest.update((project_dir / f"Pulumi.{stack}.yaml").read_bytes() + b"\0")
    digest.update(code_digest(project_dir).encode())
    return digest.hexdigest()


def _shared_render(stack: str, folder: Path) -> tuple[Plan, RenderNotes]:
    """``stack`` rendered once for every worker of the session (see ``_session_renders``);
    its notes are kept beside the plan."""
    assert fcntl is not None
    path = folder / f"plan-{stack}-{render_key(stack)[:16]}.json"
    notes_path = path.with_suffix(".notes.json")
    with open(folder / f"plan-{stack}.lock", "w", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if path.is_file() and notes_path.is_file():
            notes = RenderNotes(**json.loads(notes_path.read_text(encoding="utf-8")))
            return Plan.from_json(path.read_text(encoding="utf-8")), notes
        plan, notes = _observed_render(stack)
        for target, text in ((notes_path, json.dumps(asdict(notes))), (path, plan.to_json())):
            partial = target.with_suffix(".partial")
            partial.write_text(text, encoding="utf-8")
            partial.replace(target)
        return plan, notes


@pytest.fixture(scope="session")
def dev_plan(plans: dict[str, Plan]) -> Plan:
    return plans["dev"]


@pytest.fixture(scope="session")
def prod_plan(plans: dict[str, Plan]) -> Plan:
    return plans["prod"]


@pytest.fixture(params=STACKS)
def stack_plan(request: pytest.FixtureRequest, plans: dict[str, Plan]) -> Plan:
    """Each real stack in turn."""
    return plans[request.param]


@pytest.fixture
def stack_config() -> Callable[[str], dict[str, Any]]:
    """The ``config:`` mapping of a real stack file, as a fresh dict to modify."""

    from render_cache import real_config

    def load(stack: str = "dev") -> dict[str, Any]:
        return real_config(stack)

    return load


@pytest.fixture
def project_with(tmp_path: Path) -> Callable[..., Path]:
    """A throwaway project directory with ``Pulumi.yaml`` and one stack file."""

    def make(
        config: dict[str, Any] | None = None, stack: str = "test", raw: str | None = None
    ) -> Path:
        shutil.copy(PROJECT_DIR / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
        path = tmp_path / f"Pulumi.{stack}.yaml"
        if raw is not None:
            path.write_text(raw, encoding="utf-8")
        else:
            path.write_text(yaml.safe_dump({"config": config}), encoding="utf-8")
        return tmp_path

    return make


def policy_documents(plan: Plan) -> list[tuple[str, str, dict[str, Any]]]:
    """Every IAM-style policy document in a plan: (urn, input key, parsed document)."""
    keys = ("policy", "assumeRolePolicy", "accessPolicy")
    found = []
    for r in plan.resources:
        for key in keys:
            value = r["inputs"].get(key)
            if isinstance(value, str) and value.strip().startswith("{"):
                found.append((r["urn"], key, json.loads(value)))
    return found
