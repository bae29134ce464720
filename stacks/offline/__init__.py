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

from typing import TYPE_CHECKING

from stacks.lazy import lazy_names

if TYPE_CHECKING:
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
    from stacks.offline.plan import physical_name
    from stacks.offline.stack import PROJECT_DIR, project_name, render_stack

# Each name is imported from its module on first use (PEP 562): the names that need no Pulumi
# (the error, the project directory, physical names) come from :mod:`stacks.offline.plan`,
# so commands that only read plan files or call AWS do not import Pulumi to get them.
_MODULES: dict[str, str] = {
    "MOCK_ACCOUNT_ID": "stacks.offline.plan",
    "PROVIDER_TYPE_PREFIX": "stacks.offline.plan",
    "PlanError": "stacks.offline.plan",
    "PROJECT_DIR": "stacks.offline.plan",
    "physical_name": "stacks.offline.plan",
    "PLAN_FORMAT": "stacks.offline.plan",
    "SECRET_MASK": "stacks.offline.plan",
    "Plan": "stacks.offline.plan",
    "RecordingMocks": "stacks.offline.engine",
    "RecordingMonitor": "stacks.offline.engine",
    "disabled_default_providers": "stacks.offline.engine",
    "flatten_stack_config": "stacks.offline.engine",
    "render_components": "stacks.offline.engine",
    "render_program": "stacks.offline.engine",
    "render_project": "stacks.offline.engine",
    "project_name": "stacks.offline.stack",
    "render_stack": "stacks.offline.stack",
}


__getattr__, __dir__ = lazy_names(__name__, globals(), _MODULES)

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
