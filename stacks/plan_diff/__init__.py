"""Diffs between two offline plans that a reviewer can read.

``python -m stacks diff OLD NEW [--format text|markdown|json]``: what the engine would add,
change (in place or by replacement) and remove, grouped by region and capability, with old ->
new values (secrets masked), warnings for protected, retained or stateful resources that would
be removed or replaced, and a pull-request comment that always fits GitHub's limit.

Modules: :mod:`.load` (reading and validating plan files), :mod:`.values` (value differences),
:mod:`.replacement` (the maintained replace-on-change table), :mod:`.risk` (stateful types and
what protect / retainOnDelete do), :mod:`.model` (the diff), and one renderer per format.
"""

from stacks.plan_diff.load import PLAN_FORMAT, PlanFileError, load_plan_file, validate_plan
from stacks.plan_diff.model import PlanDiff, ResourceChange, diff_plans
from stacks.plan_diff.render_json import DIFF_FORMAT, render_json, to_document
from stacks.plan_diff.render_markdown import GITHUB_COMMENT_LIMIT, render_markdown
from stacks.plan_diff.render_text import render_text

FORMATS = ("text", "markdown", "json")

__all__ = [
    "DIFF_FORMAT",
    "FORMATS",
    "GITHUB_COMMENT_LIMIT",
    "PLAN_FORMAT",
    "PlanDiff",
    "PlanFileError",
    "ResourceChange",
    "diff_plans",
    "load_plan_file",
    "render_json",
    "render_markdown",
    "render_text",
    "to_document",
    "validate_plan",
]
