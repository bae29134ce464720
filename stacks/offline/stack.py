"""The platform's stacks rendered offline: ``Pulumi.<stack>.yaml`` through the real program.

This is what ``python -m stacks plan`` runs; the engine itself (:mod:`stacks.offline.engine`)
knows nothing of the platform's config.
"""

from __future__ import annotations

from pathlib import Path

from stacks.offline.engine import MOCK_ACCOUNT_ID, Plan, render_program
from stacks.offline.plan import PROJECT_DIR

__all__ = ["PROJECT_DIR", "project_name", "render_stack"]


def project_name(project_dir: Path = PROJECT_DIR) -> str:
    """The ``name`` in ``Pulumi.yaml``, read as the Pulumi CLI reads it (raises
    ``StackFileError`` when the file is missing, unreadable or names no project)."""
    from stacks.config.loader import project_name as read_name

    return read_name(project_dir)


def render_stack(
    stack: str, project_dir: Path = PROJECT_DIR, *, speedups: bool | None = None
) -> Plan:
    """Render ``Pulumi.<stack>.yaml`` through the real program.

    ``speedups``: see :func:`~stacks.offline.engine.render_program` (the plan is the same).

    Raises ``StackFileError`` / ``ConfigError`` for bad input before anything is registered,
    and :class:`~stacks.offline.engine.PlanError` when the program fails offline.
    """
    from stacks.config import load_stack_file, parse_raw_config, stack_file_path
    from stacks.environment import build

    flat, secret_keys = load_stack_file(project_dir, stack)
    project = project_name(project_dir)
    cfg = parse_raw_config(flat, source=stack_file_path(project_dir, stack).name, project=project)

    def program() -> None:
        build(cfg)

    return render_program(
        program,
        project=project,
        stack=stack,
        config=flat,
        secret_keys=secret_keys,
        project_dir=project_dir,
        account_id=cfg.allowed_account_ids[0] if cfg.allowed_account_ids else MOCK_ACCOUNT_ID,
        speedups=speedups,
    )
