"""The offline engine's speedups (stacks/offline/speedups.py, issue 15) and the benchmark's
helpers: the speedups change how fast a plan renders, never what it holds.

Nothing here times anything: the figures are in benchmarks/ and the README.
"""

from __future__ import annotations

import gc
import hashlib
import importlib.util
import json
import os
import runpy
import subprocess
import sys
import threading
import traceback
from pathlib import Path
from types import ModuleType

import pulumi
import pulumi_aws as aws
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pulumi.output import Unknown
from pulumi.runtime import rpc

from stacks.config import load_stack_file, parse_raw_config
from stacks.offline import PROJECT_DIR, Plan, RecordingMocks, render_program, render_stack, speedups
from stacks.offline import engine as offline_engine
from stacks.offline.speedups import SPEEDUPS_ENV

BENCHMARKS = PROJECT_DIR / "benchmarks"


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def test_speedups_leave_the_plan_byte_identical(plans) -> None:
    """prod, rendered with the speedups (the session's plan) and without them (Pulumi's mock
    runtime as it comes): the same JSON, byte for byte. Also what shows that a second render
    of a stack is the first one again (rendering is deterministic; across processes too when
    the session's plan came from another worker, and always through the golden plans).

    One stack is enough: the speedups act on every registration alike, whatever its type (no
    collector, no stack capture, no worker thread, inputs serialised at once), and prod
    registers every type dev does but dev's scheduled scaling action (checked here, so a type
    only dev gains makes this test say so); both stacks' plans, rendered with the speedups,
    are held to the golden plans made before the speedups existed
    (tests/test_golden_plans.py)."""
    only_dev = {r["type"] for r in plans["dev"].resources} - {
        r["type"] for r in plans["prod"].resources
    }
    assert only_dev <= {"aws:autoscaling/schedule:Schedule"}, (
        f"dev registers types prod does not: {sorted(only_dev)}; render dev without the "
        "speedups here too"
    )
    stack = "prod"
    fast = plans[stack].to_json()
    slow = render_stack(stack, speedups=False).to_json()
    assert _sha256(fast) == _sha256(slow), f"{stack}: the speedups changed the plan"
    assert fast == slow


def _two_buckets(opts: pulumi.ResourceOptions) -> None:
    first = aws.s3.Bucket("first", opts=opts)
    aws.s3.Bucket(
        "second",
        tags={"peer": first.bucket},
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[first])),
    )


class _ThreadRecordingMocks(RecordingMocks):
    threads: list[str] = []

    def new_resource_at(self, urn, args):
        type(self).threads.append(threading.current_thread().name)
        return super().new_resource_at(urn, args)


@pytest.fixture
def thread_recording_mocks(monkeypatch: pytest.MonkeyPatch) -> type[_ThreadRecordingMocks]:
    _ThreadRecordingMocks.threads = []
    monkeypatch.setattr(offline_engine, "RecordingMocks", _ThreadRecordingMocks)
    return _ThreadRecordingMocks


def test_mocks_answer_on_the_rendering_thread(thread_recording_mocks) -> None:
    """A render registers on the caller's thread: no worker thread (with an event loop of its
    own) per registration, and mocks need not be thread-safe."""
    plan = offline_engine.render_components(_two_buckets)
    assert len(plan.resources) == 3
    assert set(thread_recording_mocks.threads) == {threading.current_thread().name}


def test_without_speedups_registrations_hop_to_worker_threads(thread_recording_mocks) -> None:
    """The switch really switches: the mock runtime's own way, a worker thread per call."""
    plan = offline_engine.render_components(_two_buckets, speedups=False)
    assert len(plan.resources) == 3
    assert threading.current_thread().name not in thread_recording_mocks.threads


def test_environment_variable_turns_the_speedups_off(thread_recording_mocks, monkeypatch) -> None:
    monkeypatch.setenv(SPEEDUPS_ENV, "0")
    offline_engine.render_components(_two_buckets)
    assert threading.current_thread().name not in thread_recording_mocks.threads


def test_no_garbage_collection_and_no_stack_capture_during_a_render(monkeypatch) -> None:
    """The collector does not run while a program builds its (growing) heap, Pulumi does not
    walk the Python stack for each resource, and both are back afterwards."""
    collections: list[int] = []
    walks: list[int] = []
    seen: dict[str, object] = {}

    def count_collection(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            collections.append(info["generation"])

    extract_stack = traceback.extract_stack

    def counting_extract_stack(*args, **kwargs):
        walks.append(1)
        return extract_stack(*args, **kwargs)

    monkeypatch.setattr(traceback, "extract_stack", counting_extract_stack)

    def program() -> None:
        before = len(collections)
        for i in range(20):
            aws.Provider(f"p{i}", region="eu-west-1")
            # Far more container allocations than the collector's first threshold (700).
            seen.setdefault("garbage", [[object()] for _ in range(5000)])
        seen["enabled"] = gc.isenabled()
        seen["collections"] = len(collections) - before

    gc.enable()
    gc.callbacks.append(count_collection)
    try:
        render_program(program, project="p", stack="s", config={})
    finally:
        gc.callbacks.remove(count_collection)
    assert seen["enabled"] is False and seen["collections"] == 0
    assert walks == []
    assert gc.isenabled()
    # Both are back for a render without the speedups.
    render_program(program, project="p", stack="s", config={}, speedups=False)
    assert seen["enabled"] is True and walks


# Values as Pulumi checks them for unknowns: scalars, Unknowns, dicts and lists.
_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=3) | st.builds(Unknown),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=2), inner),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(value=_values, share=st.booleans())
def test_the_unknowns_check_answers_as_pulumis_own(value, share) -> None:
    """During a render ``rpc.contains_unknowns`` is the speedups' version; it answers what
    Pulumi's answers for any value, also when containers repeat or contain themselves."""
    if share:  # the same container twice, and a list that holds itself
        loop: list[object] = [value]
        loop.append(loop)
        value = {"a": value, "b": value, "loop": loop}
    original = rpc.contains_unknowns
    assert original is not speedups._contains_unknowns
    assert speedups._contains_unknowns(value) is original(value)


def test_the_unknowns_check_leaves_no_garbage_cycles_and_is_pulumis_outside_a_render() -> None:
    """Pulumi's check leaves a cycle (its recursive inner function and the function's cell)
    per call, for the collector; the render's check leaves none. A render uses it, and
    Pulumi's is back afterwards. (Counted over many calls: another thread of the test
    process, such as xdist's, may leave a little garbage of its own meanwhile.)"""
    value = {"a": [1, {"b": Unknown()}], "c": "x"}
    calls = 1000
    original = rpc.contains_unknowns
    seen: list[object] = []
    gc.collect()
    with speedups.collector_paused():
        assert all(original(value) for _ in range(calls))
        # If a Pulumi release stops leaving a cycle here, the speedup has become needless.
        assert gc.collect() >= calls, "Pulumi's check no longer makes a cycle"
        assert all(speedups._contains_unknowns(value) for _ in range(calls))
        assert gc.collect() < calls // 10
    render_program(lambda: seen.append(rpc.contains_unknowns), project="p", stack="s", config={})
    assert seen == [speedups._contains_unknowns]
    assert rpc.contains_unknowns is original
    render_program(
        lambda: seen.append(rpc.contains_unknowns),
        project="p",
        stack="s",
        config={},
        speedups=False,
    )
    assert seen[1] is original


def test_a_disabled_collector_stays_disabled() -> None:
    gc.disable()
    try:
        render_program(lambda: None, project="p", stack="s", config={})
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_plan_round_trips_through_its_json(dev_plan: Plan) -> None:
    assert Plan.from_json(dev_plan.to_json()).to_json() == dev_plan.to_json()
    with pytest.raises(ValueError, match="not a plan"):
        Plan.from_json(json.dumps({"format": "other"}))


@pytest.mark.subprocess
def test_plan_command_output_is_complete_and_skips_interpreter_teardown(tmp_path, dev_plan) -> None:
    """``python -m stacks plan``: summary and file complete (flushed before the process ends),
    the file identical to the in-process render, and no interpreter teardown (an exit
    handler that teardown would run does not run)."""
    out = tmp_path / "dev.json"
    script = (
        "import atexit, sys\n"
        "atexit.register(lambda: print('TEARDOWN', file=sys.stderr))\n"
        f"sys.argv = ['stacks', 'plan', 'dev', '--out', {str(out)!r}]\n"
        "from stacks.cli import main\n"
        "sys.exit(main())\n"
    )
    env = {k: v for k, v in os.environ.items() if k != SPEEDUPS_ENV}
    env["PYTHONPATH"] = str(PROJECT_DIR)
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Stack dev of mlops-platform: ")
    assert result.stdout.rstrip().endswith(f"Plan written to {out}")
    assert out.read_text(encoding="utf-8") == dev_plan.to_json()
    assert "TEARDOWN" not in result.stderr


# Region names -----------------------------------------------------------------------------


def test_region_names_need_no_botocore_session(monkeypatch) -> None:
    """Validating ``mlops:regions`` reads botocore's endpoint data, not a whole session."""
    import botocore.session

    from stacks.config import network

    session = botocore.session.get_session()
    expected = {
        region
        for partition in session.get_available_partitions()
        for region in session.get_available_regions("ec2", partition_name=partition)
    }

    def no_session(*args, **kwargs):
        raise AssertionError("a botocore session was built to list region names")

    monkeypatch.setattr(botocore.session, "get_session", no_session)
    monkeypatch.setattr(botocore.session.Session, "__init__", no_session)
    network.aws_region_names.cache_clear()
    try:
        assert network.aws_region_names() == expected
    finally:
        network.aws_region_names.cache_clear()


# The benchmark's helpers ------------------------------------------------------------------


def _benchmark_module(name: str) -> ModuleType:
    sys.path.insert(0, str(BENCHMARKS))
    try:
        spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(BENCHMARKS))


@pytest.mark.parametrize(("stack", "typed"), [("prod", True), ("dev", False)], ids=str)
def test_flat_baseline_registers_exactly_the_plans_resources(
    plans, tmp_path, stack: str, typed: bool
) -> None:
    """The benchmark's baseline is only a fair comparison if it registers the same graph:
    generated from a stack's plan, through the SDK's own classes (or generic resources), it
    records the same resources (types, names, inputs, parents, providers, dependencies,
    options), byte for byte. prod through the SDK's classes is the benchmark's baseline;
    dev, through generic resources (``--generic``), also brings the one type prod lacks."""
    plan = plans[stack]
    flat = _benchmark_module("flat_program")
    source = flat.generate(json.loads(plan.to_json()), typed=typed)
    # Typed: every cloud resource through its SDK class, none generic.
    assert ("CustomResource(" in source) is not typed
    program = tmp_path / f"flat_{stack}.py"
    program.write_text(source, encoding="utf-8")
    namespace = runpy.run_path(str(program), run_name=f"flat_{stack}")
    replay = namespace["render"]()  # what running the file renders
    assert json.dumps(replay.resources, sort_keys=True) == json.dumps(
        plan.resources, sort_keys=True
    )


def test_region_variants_are_valid_stack_files(tmp_path) -> None:
    """The benchmark's 16-region stack: prod's stack file, 16 distinct regions of botocore's
    commercial partition, prod's first regions first, and a config the program accepts."""
    speed = _benchmark_module("plan_speed")
    project = speed.region_variant(tmp_path / "r16", 16)
    flat, _ = load_stack_file(project, "bench")
    cfg = parse_raw_config(flat)
    names = [r.name for r in cfg.regions]
    prod = parse_raw_config(load_stack_file(PROJECT_DIR, "prod")[0])
    assert len(set(names)) == 16
    assert names[: len(prod.regions)] == [r.name for r in prod.regions]
    assert set(names) <= set(speed.aws_partition_regions())


def test_benchmark_is_documented() -> None:
    readme = (PROJECT_DIR / "README.md").read_text(encoding="utf-8")
    assert "python benchmarks/plan_speed.py" in readme
    assert Path(BENCHMARKS / "plan_speed.py").is_file()


@pytest.mark.subprocess
def test_commands_that_read_plan_files_start_without_pulumi(tmp_path) -> None:
    """``diff``, ``cost --diff``, ``check --plan`` (the pull request job, after its renders) and
    ``failover`` (during an outage) never render, so they must not pay for importing Pulumi
    and pulumi_aws (about a second each): one process runs them all and lists what it
    imported."""
    golden = PROJECT_DIR / "tests" / "golden"
    script = f"""
import contextlib, io, sys
from stacks.cli import main
runs = [
    ["diff", {str(golden / "plan-dev.json")!r}, {str(golden / "plan-prod.json")!r}],
    ["cost", "--diff", {str(golden / "plan-dev.json")!r}, {str(golden / "plan-prod.json")!r}],
    ["check", "prod", "--plan", {str(golden / "plan-prod.json")!r}],
    ["failover", "--help"],
]
for argv in runs:
    with contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main(argv)
        except SystemExit as exc:
            code = exc.code
    print(argv[0], code)
print(sorted({{m.split(".")[0] for m in sys.modules if m.split(".")[0] in ("pulumi", "pulumi_aws")}}))
"""
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[:4] == ["diff 1", "cost 0", "check 0", "failover 0"], done.stdout
    assert lines[-1] == "[]", f"imported {lines[-1]}"
