"""The diff as a pull-request comment (``--format markdown``).

Summary table first, warnings next, then one collapsible section per region and capability.
GitHub rejects a comment body over 65,536 characters ("Body is too long (maximum is 65536
characters)", https://github.com/telia-oss/github-pr-resource/issues/259), so the comment is
cut to fit: whole sections while they fit, then as many resources of the next one as fit, then
one line saying how much was left out and where the full diff is. The limit is applied to the
UTF-8 size, which is never smaller than the character count.
"""

from __future__ import annotations

import html
import re
from typing import Final

from stacks.plan_diff import replacement as rp
from stacks.plan_diff.model import ADD, REMOVE, REPLACE, UPDATE, PlanDiff, ResourceChange
from stacks.plan_diff.render_text import group_title, headline, region_title
from stacks.plan_diff.values import ValueChange, show

GITHUB_COMMENT_LIMIT: Final = 65_536
#: Where the truncation line says the full diff is, unless told otherwise.
DEFAULT_FULL_DIFF_AT: Final = "the workflow run's artifact"
#: Warnings listed in the header; the rest are counted (they are in the sections too).
MAX_HEADER_ALERTS: Final = 25
VALUE_WIDTH: Final = 100
#: Room kept for the truncation line.
_FOOTER_ROOM: Final = 600

_ACTION_WORD = {ADD: "add", REMOVE: "**remove**", UPDATE: "update", REPLACE: "**REPLACE**"}


def size(text: str) -> int:
    return len(text.encode("utf-8"))


def code(text: str) -> str:
    """``text`` as an inline code span, whatever backticks it contains."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or not text.strip() else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _fenced(lines: list[str], language: str, indent: str) -> list[str]:
    body = "\n".join(lines)
    longest = max((len(run) for run in re.findall(r"`{3,}", body)), default=2)
    fence = "`" * (longest + 1)
    return [
        f"{indent}{fence}{language}",
        *(f"{indent}{line}" for line in lines),
        f"{indent}{fence}",
    ]


def _value_lines(change: ValueChange) -> list[str]:
    if change.note == "text":
        lines = [f"  - {code(change.path)}: text changed"]
        shown = list(change.lines)
        if change.more_lines:
            shown.append(f"... {change.more_lines} more changed lines")
        return lines + _fenced(shown, "diff", "    ")
    note = f" _({change.note})_" if change.note else ""
    old, new = show(change.old, VALUE_WIDTH), show(change.new, VALUE_WIDTH)
    return [f"  - {code(change.path)}: {code(old)} -> {code(new)}{note}"]


def _verdict(change: ResourceChange) -> str:
    verdict = change.verdict
    if verdict is None:
        return ""
    because = ", ".join(code(b) for b in verdict.because)
    if verdict.kind == rp.REPLACE:
        first = "old deleted first" if change.delete_before_replace else "new created first"
        return f": forced by {because} ({first})"
    if verdict.kind == rp.MAY_REPLACE:
        return f": **may be replaced**, the provider decides on {because}"
    if verdict.kind == rp.UNKNOWN:
        return f" (replacement not known for {because})"
    if change.state_only:
        return " (resource options only: state, no AWS call)"
    return " (in place)"


def entry(change: ResourceChange) -> str:
    """One resource: a list item with its changed values under it."""
    flags = [f for f, on in (("protected", change.protected), ("retained", change.retained)) if on]
    flag = f" _({', '.join(flags)})_" if flags and change.action != ADD else ""
    lines = [
        f"- {_ACTION_WORD[change.action]} {code(change.type)} **{code(change.name)}**"
        f"{_verdict(change)}{flag}"
    ]
    if change.alert is not None:
        lines.append(f"  - :warning: {change.alert.message}")
    for value in [*change.changes, *change.option_changes]:
        lines += _value_lines(value)
    if change.ignored:
        ignored = ", ".join(code(p) for p in change.ignored)
        lines.append(f"  - not applied (ignoreChanges): {ignored}")
    return "\n".join(lines) + "\n"


def _summary_table(diff: PlanDiff) -> list[str]:
    lines = [
        "| Region | Added | Changed | of which replaced | Removed |",
        "|---|--:|--:|--:|--:|",
    ]
    for region in diff.regions:
        c = diff.counts(region)
        lines.append(
            f"| {region_title(diff, region)} | {c['added']} | {c['changed']} | "
            f"{c['replaced']} | {c['removed']} |"
        )
    if len(diff.regions) > 1:
        c = diff.counts()
        lines.append(
            f"| **all regions** | **{c['added']}** | **{c['changed']}** | **{c['replaced']}** "
            f"| **{c['removed']}** |"
        )
    return lines


def _alerts(diff: PlanDiff) -> list[str]:
    alerts = diff.alerts
    if not alerts:
        return []
    lines = [
        "> [!CAUTION]",
        f"> **{len(alerts)} protected, retained or stateful resource(s) would be removed or "
        "replaced, or lose protection:**",
    ]
    for change in alerts[:MAX_HEADER_ALERTS]:
        assert change.alert is not None
        lines.append(
            f"> - **{change.alert.action.upper()}** {code(change.type)} {code(change.name)} "
            f"({change.region}, {change.capability}): {change.alert.message}"
        )
    if len(alerts) > MAX_HEADER_ALERTS:
        lines.append(f"> - ... and {len(alerts) - MAX_HEADER_ALERTS} more, marked below")
    return lines


def header(diff: PlanDiff, title: str | None) -> str:
    lines = [title, ""] if title else []
    if diff.equal:
        lines.append("**No differences.**")
    else:
        counts = diff.counts()
        lines.append(
            f"**{headline(diff)}** ({counts['replaced']} of the changes replace their "
            f"resource) in {len(diff.regions)} region(s)."
        )
    if diff.old_stack != diff.new_stack:
        lines += ["", f"Comparing stack `{diff.old_stack}` with stack `{diff.new_stack}`."]
    if diff.dependency_only:
        lines += [
            "",
            f"{len(diff.dependency_only)} resource(s) changed only their dependencies or "
            "parent; the engine does not act on that, so they are not counted.",
        ]
    if not diff.equal:
        lines += ["", *_summary_table(diff)]
        alerts = _alerts(diff)
        if alerts:
            lines += ["", *alerts]
    return "\n".join(lines) + "\n\n"


def _section_open(
    diff: PlanDiff, region: str, capability: str, changes: list[ResourceChange]
) -> str:
    attention = " open" if any(c.alert is not None for c in changes) else ""
    title = html.escape(f"{region_title(diff, region)} · {capability}")
    counts = html.escape(group_title(capability, changes).split(": ", 1)[1])
    return f"<details{attention}><summary><b>{title}</b>: {counts}</summary>\n\n"


_SECTION_CLOSE: Final = "\n</details>\n\n"


def render_markdown(
    diff: PlanDiff,
    *,
    title: str | None = None,
    limit: int = GITHUB_COMMENT_LIMIT,
    full_diff_at: str = DEFAULT_FULL_DIFF_AT,
) -> str:
    """The comment, at most ``limit`` bytes of UTF-8 (so at most ``limit`` characters)."""
    out = header(diff, title)
    budget = limit - _FOOTER_ROOM
    left_out: list[str] = []
    groups = diff.groups()
    for index, (region, capability, changes) in enumerate(groups):
        opening = _section_open(diff, region, capability, changes)
        entries = [entry(c) for c in changes]
        whole = opening + "".join(entries) + _SECTION_CLOSE
        if size(out) + size(whole) <= budget:
            out += whole
            continue
        shown: list[str] = []
        used = size(out) + size(opening) + size(_SECTION_CLOSE) + 80
        for item in entries:
            if used + size(item) > budget:
                break
            shown.append(item)
            used += size(item)
        if shown:
            rest = len(entries) - len(shown)
            out += opening + "".join(shown) + f"- _... {rest} more not shown_\n" + _SECTION_CLOSE
        left_out = entries[len(shown) :]
        for _, _, later in groups[index + 1 :]:
            left_out += [entry(c) for c in later]
        break
    if left_out:
        total = len(diff.resources)
        chars = sum(len(item) for item in left_out)
        out += (
            f"---\n:scissors: **Truncated to fit a GitHub comment:** {len(left_out)} of the "
            f"{total} resources in this diff ({chars:,} characters) are not shown here. "
            f"The full diff is in {full_diff_at}.\n"
        )
    if size(out) > limit:  # only a header far beyond any real plan gets here
        cut = out.encode("utf-8")[: limit - 200].decode("utf-8", "ignore")
        out = cut + f"\n\n:scissors: **Truncated.** The full diff is in {full_diff_at}.\n"
    return out
