"""The offline plan: run a program under Pulumi's mock runtime and record the graph.

- :mod:`stacks.offline.mocks`: the mock runtime's deterministic answers and invokes.
- :mod:`stacks.offline.engine`: the engine, for any Pulumi (Python) program's tests
  (:func:`render_program`, :func:`render_components`, :class:`Plan`, :class:`PlanError`).
- :mod:`stacks.offline.stack`: this platform's stack files through the real program
  (:func:`render_stack`), what ``python -m stacks plan`` runs.
- :mod:`stacks.offline.speedups`: what a render skips offline (garbage collection, stack
  capture, a thread per monitor call) without changing the plan; ``MLOPS_OFFLINE_SPEEDUPS=0``
  turns it off.
"""

from stacks.offline.engine import (
    MOCK_ACCOUNT_ID,
    PLAN_FORMAT,
    PROVIDER_TYPE_PREFIX,
    SECRET_MASK,
    Plan,
    PlanError,
    RecordingMocks,
    RecordingMonitor,
    disabled_default_providers,
    flatten_stack_config,
    render_components,
    render_program,
    render_project,
)
from stacks.offline.mocks import physical_name
from stacks.offline.stack import PROJECT_DIR, project_name, render_stack

__all__ = [
    "MOCK_ACCOUNT_ID",
    "PLAN_FORMAT",
    "PROJECT_DIR",
    "PROVIDER_TYPE_PREFIX",
    "SECRET_MASK",
    "Plan",
    "PlanError",
    "RecordingMocks",
    "RecordingMonitor",
    "disabled_default_providers",
    "physical_name",
    "flatten_stack_config",
    "project_name",
    "render_components",
    "render_program",
    "render_project",
    "render_stack",
]
