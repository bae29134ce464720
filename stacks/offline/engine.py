"""The offline engine: run a Pulumi program under Pulumi's mock runtime and record its graph.

Usable by any Pulumi (Python) program's tests, not only this platform's: nothing here reads
the platform's stack config. No credentials, no Pulumi CLI, no network. Every
``RegisterResource`` request is recorded as the engine would receive it (type, name, parent,
provider, dependencies, inputs, options); the mocks answer with deterministic ids and
attributes (ARNs, names) and answer a fixed set of invokes (``aws:index/getCallerIdentity``,
``getPartition``, ``getRegion``, ``getAvailabilityZones``). Any other invoke fails, naming its
token. When the config disables default providers for a package
(``pulumi:disable-default-providers``), a resource of that package without an explicit
provider fails the render, as it would fail a real deployment.

Two entry points::

    from stacks.offline import render_components, render_program

    plan = render_components(lambda opts: MyComponent("x", MyArgs(...), opts), region="eu-west-1")
    plan.find("aws:s3/bucket:Bucket", "x-bucket")["inputs"]

    plan = render_program(my_program, project="p", stack="test", config={"p:key": "value"})

Both return a :class:`Plan`; :class:`PlanError` says why a program could not be rendered.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pulumi
from google.protobuf import json_format
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc
from pulumi.runtime import settings as pulumi_settings
from pulumi.runtime.config import set_all_config
from pulumi.runtime.proto import provider_pb2, resource_pb2
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _ensure_event_loop, _sync_await

from stacks.offline.mocks import MOCK_ACCOUNT_ID, PROVIDER_TYPE_PREFIX, PlanError, RecordingMocks
from stacks.offline.plan import (
    PLAN_FORMAT,
    SECRET_MASK,
    Plan,
    ResourceCounts,
    count_resources,
)

__all__ = [
    "MOCK_ACCOUNT_ID",
    "PLAN_FORMAT",
    "PROVIDER_TYPE_PREFIX",
    "SECRET_MASK",
    "Plan",
    "PlanError",
    "RecordingMocks",
    "RecordingMonitor",
    "ResourceCounts",
    "count_resources",
    "disabled_default_providers",
    "flatten_stack_config",
    "render_components",
    "render_program",
    "render_project",
]
from stacks.offline.speedups import (
    InlineExecutor,
    collector_paused,
    cycle_free_unknowns_check,
    serialize_now,
    speedups_enabled,
    stack_capture_skipped,
)

# Sentinels of Pulumi's wire format (sdk/go/common/resource/sig).
_SIG_KEY = "4dabf18193072939515e22adb298388d"
_SIG_SECRET = "1b47061264138c4ac30d75fd1eb44270"
_SIG_RESOURCE_REF = "5cf8f73096256a8f31e491e813e4eb8e"
_SIG_ASSET = "c44067f5952c0a294b673a41bacd8c17"
_SIG_ARCHIVE = "0def7320c3a5731c473e5ecbe6d01bc7"
_UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"


# Recording ------------------------------------------------------------------------------


@dataclass
class Recorded:
    urn: str
    type: str
    name: str
    id: str | None
    custom: bool
    provider: str | None
    parent: str | None
    dependencies: list[str]
    inputs: dict[str, Any]
    options: dict[str, Any]


def _clean(value: Any, project_dir: Path | None) -> Any:
    """Inputs as the engine receives them, with secrets masked and paths made relative."""
    if isinstance(value, dict):
        sig = value.get(_SIG_KEY)
        if sig == _SIG_SECRET:
            return SECRET_MASK
        if sig == _SIG_RESOURCE_REF:
            return value.get("urn")
        if sig in (_SIG_ASSET, _SIG_ARCHIVE):
            kind = "asset" if sig == _SIG_ASSET else "archive"
            out: dict[str, Any] = {"kind": kind}
            for key in ("path", "text", "uri", "hash"):
                if key in value:
                    out[key] = _relative(value[key], project_dir) if key == "path" else value[key]
            if "assets" in value:
                out["assets"] = {
                    k: _clean(v, project_dir) for k, v in sorted(value["assets"].items())
                }
            return out
        return {k: _clean(v, project_dir) for k, v in sorted(value.items())}
    if isinstance(value, list):
        return [_clean(v, project_dir) for v in value]
    if value == _UNKNOWN:
        return "[unknown]"
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _relative(path: str, project_dir: Path | None) -> str:
    if project_dir is None:
        return path
    try:
        return Path(path).resolve().relative_to(project_dir.resolve()).as_posix()
    except ValueError:
        return path


def _real_urn(stack: str, project: str, parent: str, type_: str, name: str) -> str:
    """URNs as the real engine builds them: the root stack is not part of the type chain."""
    if parent:
        qualified = parent.split("::")[2]
        if qualified != "pulumi:pulumi:Stack":
            type_ = f"{qualified}${type_}"
    return f"urn:pulumi:{stack}::{project}::{type_}::{name}"


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """A mock monitor that keeps every registration request.

    ``inline``: the monitor is called on the render's own thread (the render loop's executor
    is :class:`~stacks.offline.speedups.InlineExecutor`), so it must never wait for the event
    loop; answers are serialised with :func:`~stacks.offline.speedups.serialize_now`.
    """

    def __init__(
        self, mocks: RecordingMocks, project_dir: Path | None, *, inline: bool = False
    ) -> None:
        super().__init__(mocks)
        self.recording_mocks = mocks
        self.project_dir = project_dir
        self.inline = inline
        self.recorded: dict[str, Recorded] = {}
        self.disabled_default_providers: set[str] = set()

    def make_urn(self, parent: str, type_: str, name: str) -> str:
        return _real_urn(pulumi.get_stack(), pulumi.get_project(), parent, type_, name)

    def RegisterResource(self, request):  # noqa: N802 (gRPC name)
        urn = self.make_urn(request.parent, request.type, request.name)
        if request.type == "pulumi:pulumi:Stack":
            return super().RegisterResource(request)
        if urn in self.recorded:
            raise PlanError(f"duplicate resource URN {urn}: two resources share a name")
        package = request.type.split(":")[0]
        is_provider = request.type.startswith(PROVIDER_TYPE_PREFIX)
        if (
            request.custom
            and not is_provider
            and not request.provider
            and package in self.disabled_default_providers
        ):
            raise PlanError(
                f"{request.type} {request.name!r} has no explicit provider, but default "
                f"providers for {package!r} are disabled: create it under a region's "
                "component (parent=...) or pass provider="
            )
        _ensure_event_loop()
        inputs = rpc.deserialize_properties(request.object)
        resource_args = pulumi_mocks.MockResourceArgs(
            typ=request.type,
            name=request.name,
            inputs=inputs,
            provider=request.provider,
            resource_id=request.importId,
            custom=request.custom or False,
        )
        # RPCs may run on worker threads: the URN is passed along, never shared state.
        id_, state = self.recording_mocks.new_resource_at(urn, resource_args)
        obj_proto = serialize_now(state, inline=self.inline)
        self.resources[urn] = pulumi_mocks.MockMonitor.ResourceRegistration(urn, id_, state)
        response = resource_pb2.RegisterResourceResponse(urn=urn, id=id_, object=obj_proto)
        raw_inputs = json_format.MessageToDict(request.object) if request.object else {}
        provider_ref = request.provider or request.providers.get("aws", "")
        self.recorded[urn] = Recorded(
            urn=urn,
            type=request.type,
            name=request.name,
            id=(response.id or None) if request.custom else None,
            custom=bool(request.custom),
            provider=provider_ref.rsplit("::", 1)[0] if provider_ref else None,
            parent=request.parent or None,
            dependencies=sorted(set(request.dependencies)),
            inputs=_clean(raw_inputs, self.project_dir),
            options={
                "protect": bool(request.protect),
                "ignoreChanges": sorted(request.ignoreChanges),
                "retainOnDelete": bool(request.retainOnDelete),
                "deleteBeforeReplace": bool(request.deleteBeforeReplace),
            },
        )
        return response

    def Invoke(self, request):  # noqa: N802 (gRPC name)
        """``MockMonitor.Invoke``, serialising its answer with :func:`serialize_now`."""
        if not self.inline:
            return super().Invoke(request)
        args = rpc.deserialize_properties(request.args)
        if request.tok == "pulumi:pulumi:getResource":
            registered = self.resources.get(args["urn"])
            if registered is None:
                raise Exception(f"unknown resource {args['urn']}")
            found = serialize_now(registered._asdict(), inline=True)
            return resource_pb2.ResourceInvokeResponse(failures=None, **{"return": found})
        answer = self.mocks.call(
            pulumi_mocks.MockCallArgs(token=request.tok, args=args, provider=request.provider)
        )
        ret, failures = (answer, None) if isinstance(answer, dict) else answer
        checks = [
            provider_pb2.CheckFailure(property=prop, reason=reason)
            for prop, reason in (failures or [])
        ]
        return resource_pb2.ResourceInvokeResponse(
            failures=checks or None, **{"return": serialize_now(ret, inline=True)}
        )

    def ReadResource(self, request):  # noqa: N802 (gRPC name)
        """``MockMonitor.ReadResource``, serialising its answer with :func:`serialize_now`."""
        if not self.inline:
            return super().ReadResource(request)
        state = rpc.deserialize_properties(request.properties)
        id_, state = self.mocks.new_resource(
            pulumi_mocks.MockResourceArgs(
                typ=request.type,
                name=request.name,
                inputs=state,
                provider=request.provider,
                resource_id=request.id,
            )
        )
        props = serialize_now(state, inline=True)
        urn = self.make_urn(request.parent, request.type, request.name)
        # As MockMonitor.ReadResource stores it (a read resource's id is the one given).
        registration = pulumi_mocks.MockMonitor.ResourceRegistration(urn, cast(str, id_), state)
        self.resources[urn] = registration
        return resource_pb2.ReadResourceResponse(urn=urn, properties=props)


# Running ----------------------------------------------------------------------------------


def render_program(
    program: Callable[[], None],
    *,
    project: str,
    stack: str,
    config: dict[str, str],
    secret_keys: list[str] | None = None,
    project_dir: Path | None = None,
    account_id: str = MOCK_ACCOUNT_ID,
    speedups: bool | None = None,
) -> Plan:
    """Run ``program`` under the mock runtime with ``config`` and return the recorded plan.

    Runs in a fresh context so that renders do not share runtime state. ``speedups`` (default:
    on unless ``MLOPS_OFFLINE_SPEEDUPS=0``) skips what only a real deployment needs (see
    :mod:`stacks.offline.speedups`); the plan is the same either way.
    """
    fast = speedups_enabled(speedups)
    return contextvars.copy_context().run(
        _in_fresh_loop,
        fast,
        program,
        project,
        stack,
        config,
        secret_keys or [],
        project_dir,
        account_id,
    )


def _in_fresh_loop(fast: bool, *args: Any) -> Plan:
    """Run one render on its own event loop, so a failed render leaves nothing behind."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    # The render's own tasks, to cancel what is left at the end. ``asyncio.all_tasks(loop)``
    # would find the same ones by walking every task of the process not yet freed, which in
    # a process that renders again and again (the tests: 5 s of 400 renders) is most of them.
    tasks: weakref.WeakSet[asyncio.Task[Any]] = weakref.WeakSet()

    def track(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> asyncio.Task[Any]:
        task: asyncio.Task[Any] = asyncio.Task(coro, loop=loop, **kwargs)
        tasks.add(task)
        return task

    loop.set_task_factory(track)
    try:
        if not fast:
            return _render(*args, inline=False)
        loop.set_default_executor(InlineExecutor())
        with collector_paused(), stack_capture_skipped(), cycle_free_unknowns_check():
            return _render(*args, inline=True)
    finally:
        pending = [t for t in tasks if not t.done()]
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        asyncio.set_event_loop(None)
        loop.close()


def disabled_default_providers(config: Mapping[str, Any]) -> list[str]:
    """The packages listed in ``pulumi:disable-default-providers`` (a JSON list, as the Pulumi
    CLI passes config values to the program)."""
    value: Any = config.get("pulumi:disable-default-providers", "[]")
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return []
    return [str(v) for v in value] if isinstance(value, list) else []


def _render(
    program, project, stack, config, secret_keys, project_dir, account_id, *, inline: bool
) -> Plan:
    pulumi_settings.ROOT.set(None)
    mocks = RecordingMocks(account_id=account_id)
    monitor = RecordingMonitor(mocks, project_dir, inline=inline)
    monitor.disabled_default_providers = set(disabled_default_providers(config))
    pulumi_mocks.set_mocks(mocks, project=project, stack=stack, preview=False, monitor=monitor)
    # Outputs still pending from an earlier (failed) render belong to a closed loop.
    pulumi_settings.SETTINGS.outputs.clear()
    set_all_config(dict(config), secret_keys)
    exports: dict[str, Any] = {}

    def run() -> None:
        program()

    try:
        _sync_await(run_pulumi_func(run))
        root = pulumi_settings.get_root_resource()
        if root is not None:
            exports = _sync_await(_gather(getattr(root, "outputs", {})))
    except PlanError as exc:
        exc.registered = sorted(monitor.recorded)
        raise
    except pulumi.RunError as exc:
        error = PlanError(str(exc))
        error.registered = sorted(monitor.recorded)
        raise error from None
    except Exception as exc:  # an error raised by resource registration or a component
        cause: BaseException = exc
        while isinstance(cause.__cause__, Exception) and not isinstance(cause, PlanError):
            cause = cause.__cause__
        if isinstance(cause, PlanError):
            cause.registered = sorted(monitor.recorded)
            raise cause from None
        raise
    finally:
        pulumi_settings.ROOT.set(None)

    resources = []
    for rec in monitor.recorded.values():
        region = mocks.provider_regions.get(rec.provider) if rec.provider else None
        if rec.type.startswith(PROVIDER_TYPE_PREFIX):
            region = rec.inputs.get("region")
        resources.append(
            {
                "urn": rec.urn,
                "type": rec.type,
                "name": rec.name,
                "id": rec.id,
                "custom": rec.custom,
                "region": region,
                "provider": rec.provider,
                "parent": rec.parent,
                "dependencies": rec.dependencies,
                "inputs": rec.inputs,
                "options": rec.options,
            }
        )
    resources.sort(key=lambda r: str(r["urn"]))
    outputs = json.loads(json.dumps(exports, sort_keys=True, default=str))
    return Plan(project=project, stack=stack, resources=resources, outputs=outputs)


async def _gather(outputs: dict[str, Any]) -> dict[str, Any]:
    async def resolve(value: Any) -> Any:
        if isinstance(value, pulumi.Output):
            if await value.is_secret():
                return SECRET_MASK
            return await resolve(await value.future())
        if isinstance(value, dict):
            return {str(k): await resolve(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [await resolve(v) for v in value]
        return value

    return {k: await resolve(v) for k, v in sorted(outputs.items())}


# Components -------------------------------------------------------------------------------


def render_components(
    build: Callable[[pulumi.ResourceOptions], None],
    *,
    region: str = "eu-west-1",
    stack: str = "test",
    project: str = "components",
    account_id: str = MOCK_ACCOUNT_ID,
    project_dir: Path | None = None,
    speedups: bool | None = None,
) -> Plan:
    """Render components under the mock runtime, the way a regional component hosts them.

    ``build`` receives ``ResourceOptions`` carrying an ``aws.Provider`` for ``region`` (named
    ``aws-<region>``); default AWS providers are disabled, so a resource that does not use the
    given options fails the render. Asset paths in the recorded inputs are made relative to
    ``project_dir`` (default: the current directory).
    """

    def program() -> None:
        import pulumi_aws as aws

        provider = aws.Provider(f"aws-{region}", region=region)
        build(pulumi.ResourceOptions(providers={"aws": provider}))

    return render_program(
        program,
        project=project,
        stack=stack,
        config={"pulumi:disable-default-providers": '["aws"]'},
        project_dir=project_dir if project_dir is not None else Path.cwd(),
        account_id=account_id,
        speedups=speedups,
    )


# Projects ---------------------------------------------------------------------------------


def flatten_stack_config(config: Mapping[str, Any]) -> dict[str, str]:
    """A stack file's ``config:`` mapping as the Pulumi CLI hands it to a program: strings as
    written, an empty value as "", anything else (numbers, booleans, lists, objects) as the
    JSON Go writes (compact, keys sorted); see :func:`stacks.config.loader.cli_config_value`."""
    from stacks.config.loader import cli_config_value

    return {key: cli_config_value(value) for key, value in config.items()}


def render_project(
    project_dir: Path,
    stack_file: str,
    *,
    stack: str = "test",
    account_id: str = MOCK_ACCOUNT_ID,
    speedups: bool | None = None,
) -> Plan:
    """Render a Pulumi (Python) project directory offline: its ``__main__.py`` with the config
    of ``stack_file`` (a stack file in ``project_dir``, e.g. ``Pulumi.dev.yaml``).

    Both files are read as the Pulumi CLI reads them (:func:`stacks.config.loader.read_pulumi_yaml`).
    Secure values (``secure:`` entries) are not supported here: give plain test values.
    """
    import runpy
    import sys

    from stacks.config.loader import project_name, read_pulumi_yaml

    project_dir = Path(project_dir)
    project = project_name(project_dir)
    document = read_pulumi_yaml(project_dir / stack_file) or {}
    # Keys without a namespace get the project's name, as the CLI gives them.
    config = flatten_stack_config(
        {
            (k if ":" in k else f"{project}:{k}"): v
            for k, v in (document.get("config") or {}).items()
        }
    )
    main = project_dir / "__main__.py"

    def program() -> None:
        sys.path.insert(0, str(project_dir))
        try:
            runpy.run_path(str(main), run_name="__main__")
        finally:
            sys.path.remove(str(project_dir))

    return render_program(
        program,
        project=project,
        stack=stack,
        config=config,
        project_dir=project_dir,
        account_id=account_id,
        speedups=speedups,
    )
