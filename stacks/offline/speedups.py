"""What the offline engine turns off because nothing offline needs it, and the switch back.

Pulumi's mock runtime does work a real deployment needs and an offline render does not, and
that work dominated ``python -m stacks plan`` (issue 15, measured with cProfile):

- **The cyclic garbage collector.** A render allocates a few hundred thousand objects (the
  ``pulumi_aws`` modules it imports, every resource's Outputs and futures) and keeps almost
  all of them until it ends, so each full collection re-scans a heap that only grows: nine
  of them took longer than the rest of the render. The collector is paused for the render and
  restored after it (:func:`collector_paused`); what the render leaves behind is collected
  once, by the next collection after it.
- **Per-resource stack capture.** For every resource Pulumi walks the Python stack and turns
  each frame into a file URI (``traceback.extract_stack``, ``Path.as_uri``) so that the real
  engine can show where a resource was declared. The mock monitor never reads it
  (:func:`stack_capture_skipped`).
- **A thread hop per registration.** Every monitor call (register, invoke, register outputs)
  goes through ``loop.run_in_executor`` to a worker thread, where the mock monitor starts a
  second event loop only to serialise plain values. Offline the monitor answers at once, so
  the calls run inline on the render's thread (:class:`InlineExecutor`), and the answers are
  serialised without an event loop when they hold only plain values (:func:`serialize_now`).

- **A reference cycle per unknowns check.** ``rpc.contains_unknowns``, which Pulumi calls for
  every Output value it resolves or serialises (about 46,000 times in a render of prod),
  defines a recursive inner function on each call: the function refers to itself through
  its closure cell, so each call leaves a function, its cell, its annotations and a
  ``set[int]`` alias in a cycle that only the collector frees. That was about 95% of the
  ~300,000 objects the collector found after a render of prod (``gc.DEBUG_SAVEALL``), and
  the collection after each render in a process that renders again (the tests) cost up to
  0.6 s. During a render a module-level function with the same body answers instead
  (:func:`cycle_free_unknowns_check`).

None of this changes what is recorded: the recorded graph comes from the registration
requests and the deterministic mocks, and a test renders both stacks with and without the
speedups and compares the plan JSON byte for byte. ``MLOPS_OFFLINE_SPEEDUPS=0`` (or
``render_program(..., speedups=False)``) renders exactly as before, to check that or to
measure the difference.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import gc
import os
import sys
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from pulumi.runtime import known_types, rpc
from pulumi.runtime import resource as pulumi_resource
from pulumi.runtime.proto import source_pb2
from pulumi.runtime.sync_await import _sync_await

T = TypeVar("T")

#: Environment variable: ``0`` turns every speedup off (the mock runtime's own behaviour).
SPEEDUPS_ENV = "MLOPS_OFFLINE_SPEEDUPS"


def speedups_enabled(value: bool | None = None) -> bool:
    """``value`` when given, else what :data:`SPEEDUPS_ENV` says (on unless it is ``0``)."""
    if value is not None:
        return value
    return os.environ.get(SPEEDUPS_ENV, "1").strip().lower() not in ("0", "false", "no", "off")


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector; restore its previous state afterwards.

    Reference counting still frees everything that is not in a cycle; cycles made during the
    render are collected by the first collection after it (one pass instead of one per
    threshold crossing while the heap grows).
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _no_stack_trace() -> source_pb2.StackTrace:
    return source_pb2.StackTrace()


@contextlib.contextmanager
def stack_capture_skipped() -> Iterator[None]:
    """Registrations carry an empty stack trace (so no source position): only the real
    engine shows them, and the recorded graph has neither."""
    original = pulumi_resource._get_stack_trace
    pulumi_resource._get_stack_trace = _no_stack_trace
    try:
        yield
    finally:
        pulumi_resource._get_stack_trace = original


def _unknown_within(value: Any, seen: set[int]) -> bool:
    """The body of ``rpc.contains_unknowns``'s inner function (pulumi 3.272.0), unchanged in
    what it answers: an Unknown anywhere in ``value`` through dict values and list items,
    each container visited once."""
    if known_types.is_unknown(value):
        return True
    value_id = id(value)
    if value_id in seen:
        return False
    seen.add(value_id)
    if isinstance(value, dict):
        return any(_unknown_within(value[k], seen) for k in value)
    if isinstance(value, list):
        return any(_unknown_within(x, seen) for x in value)
    return False


def _contains_unknowns(val: Any) -> bool:
    """``rpc.contains_unknowns`` (same signature) without a recursive closure, so without
    garbage cycles."""
    return _unknown_within(val, set())


@contextlib.contextmanager
def cycle_free_unknowns_check() -> Iterator[None]:
    """``rpc.contains_unknowns`` is :func:`_contains_unknowns` for the render (the SDK looks
    it up in ``rpc`` at every call: ``rpc`` itself, ``pulumi.output.contains_unknowns`` and
    the invoke module all go through the module attribute)."""
    original = rpc.contains_unknowns
    rpc.contains_unknowns = _contains_unknowns
    try:
        yield
    finally:
        rpc.contains_unknowns = original


class InlineExecutor(concurrent.futures.ThreadPoolExecutor):
    """An executor that runs each call at once on the calling thread.

    Installed as the render loop's default executor, so ``run_in_executor(None, rpc)`` calls
    the mock monitor directly. Safe only because the recording monitor never waits for the
    event loop: it serialises with :func:`serialize_now`, not with ``_sync_await`` (which,
    re-entered from inside the running loop, would nest one registration inside another).
    asyncio accepts only ``ThreadPoolExecutor`` instances as the default executor; no thread
    is ever started. A program's own ``run_in_executor(None, ...)`` calls run inline too
    (one after the other, not in parallel); one that blocks until the event loop does
    something would wait forever: render such a program with ``speedups=False``.
    """

    def __init__(self) -> None:
        super().__init__(max_workers=1)

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        try:
            result = fn(*args, **kwargs)
        except BaseException as exc:  # delivered to the awaiting task, as a thread's would be
            future.set_exception(exc)
        else:
            future.set_result(result)
        return future


def exit_when_done(command: Callable[[T], int]) -> Callable[[T], int]:
    """``command`` for a process that exits when it is done: the collector stays off for the
    whole command, and once it returns (its files written and closed) the process flushes
    stdout and stderr and ends with its exit code, skipping the interpreter's teardown,
    which only frees memory the process is about to give back and took a second or more
    after a render (hundreds of thousands of objects, each module's dict cleared).
    Exceptions propagate as usual (error messages, tracebacks). With the speedups off,
    ``command`` as it is.
    """
    if not speedups_enabled():
        return command

    def run_then_exit(args: T) -> int:
        gc.disable()
        code = command(args)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)

    return run_then_exit


def serialize_now(state: dict[str, Any], *, inline: bool) -> Any:
    """``rpc.serialize_properties(state, {})``, as the mock monitor's answer to the program.

    With ``inline``: plain values (what the mocks answer) serialise without ever suspending,
    so the coroutine is run to its end on this thread. A value that would have to wait (an
    Output, a resource reference still resolving) is serialised the mock runtime's way
    instead, on a worker thread with its own event loop, which is where the mock monitor
    always serialises. Without ``inline`` (speedups off, already on a worker thread): the
    mock runtime's way.
    """
    if not inline:
        return _sync_await(rpc.serialize_properties(state, {}))
    coroutine = rpc.serialize_properties(state, {})
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value
    coroutine.close()
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as worker:
        return worker.submit(lambda: _sync_await(rpc.serialize_properties(state, {}))).result()
