"""The diff's three formats: exact text and markdown (golden files), the JSON shape, and a PR
comment that never exceeds GitHub's limit however big the plans are."""

from __future__ import annotations

import copy
import difflib
import json
import re
from pathlib import Path
from typing import Any

import pytest

from stacks import cli, plan_diff
from stacks.plan_diff.render_markdown import GITHUB_COMMENT_LIMIT

GOLDEN = Path(__file__).parent / "golden" / "diff"
PLANS = Path(__file__).parent / "golden"
OLD, NEW = str(GOLDEN / "old.json"), str(GOLDEN / "new.json")


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    cli.main(args)
    out, err = capsys.readouterr()
    assert err == ""
    return out


def same_as_golden(text: str, name: str) -> None:
    expected = (GOLDEN / name).read_text(encoding="utf-8")
    if text != expected:
        delta = "".join(
            difflib.unified_diff(
                expected.splitlines(True), text.splitlines(True), f"golden/{name}", "now"
            )
        )
        pytest.fail(f"the output differs from tests/golden/diff/{name} (README there):\n{delta}")


def assert_well_formed(markdown: str) -> None:
    """Every collapsible section closed, every code fence closed."""
    assert markdown.count("<details") == markdown.count("</details>")
    fences = [line.strip() for line in markdown.splitlines() if line.strip().startswith("```")]
    assert len(fences) % 2 == 0


# Golden files ---------------------------------------------------------------------------------


def test_text_format_matches_the_golden_file(capsys: pytest.CaptureFixture[str]) -> None:
    same_as_golden(run(["diff", OLD, NEW], capsys), "expected.txt")


def test_markdown_format_matches_the_golden_file(capsys: pytest.CaptureFixture[str]) -> None:
    title = "### Offline plan diff: `dev`"
    out = run(["diff", OLD, NEW, "--format", "markdown", "--title", title], capsys)
    same_as_golden(out, "expected.md")
    assert_well_formed(out)


def test_truncated_markdown_matches_the_golden_file(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--max-chars", "4000", "--full-diff-at", "the plan-diff-dev artifact"]
    out = run(["diff", OLD, NEW, "--format", "markdown", *args], capsys)
    same_as_golden(out, "expected-truncated.md")
    assert len(out.encode()) <= 4000
    assert_well_formed(out)


def test_json_format_matches_the_golden_file(capsys: pytest.CaptureFixture[str]) -> None:
    same_as_golden(run(["diff", OLD, NEW, "--format", "json"], capsys), "expected.json")


def test_markdown_puts_the_summary_table_and_warnings_before_the_details(
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = run(["diff", OLD, NEW, "--format", "markdown"], capsys)
    table, caution, details = (
        out.index("| Region | Added | Changed | of which replaced | Removed |"),
        out.index("> [!CAUTION]"),
        out.index("<details"),
    )
    assert table < caution < details
    assert "| eu-west-1 (primary) | 0 | 11 | 4 | 2 |" in out
    # A section with a warning is open; the others are collapsed.
    assert "<details open><summary><b>eu-west-1 (primary) · serverless</b>" in out
    assert "<details><summary><b>eu-west-1 (primary) · network</b>" in out


def test_equal_plans_say_so_in_every_format(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["diff", OLD, OLD], capsys) == "No differences.\n"
    assert "**No differences.**" in run(["diff", OLD, OLD, "--format", "markdown"], capsys)
    assert json.loads(run(["diff", OLD, OLD, "--format", "json"], capsys))["equal"] is True


# JSON shape -----------------------------------------------------------------------------------


def test_json_shape_for_tools(capsys: pytest.CaptureFixture[str]) -> None:
    doc = json.loads(run(["diff", OLD, NEW, "--format", "json"], capsys))
    assert doc["format"] == "mlops-plan-diff/1"
    assert (doc["oldStack"], doc["newStack"], doc["equal"]) == ("dev", "dev", False)
    assert doc["counts"] == {"added": 1, "changed": 13, "removed": 2, "replaced": 4}
    assert [r["region"] for r in doc["regions"]] == ["eu-west-1", "eu-central-1"]
    assert doc["regions"][0]["primary"] is True
    assert len(doc["warnings"]) == 4 and {w["kind"] for w in doc["warnings"]} == {
        "protected",
        "data-loss",
        "unprotected",
    }
    actions = {r["action"] for r in doc["resources"]}
    assert actions == {"add", "update", "replace", "remove"}
    for resource in doc["resources"]:
        assert {"action", "urn", "type", "name", "region", "capability"} <= set(resource)
        if resource["action"] in ("update", "replace"):
            assert resource["replacement"]["verdict"] in (
                "replace",
                "may-replace",
                "in-place",
                "unknown",
            )
            for value in resource["changes"] + resource["optionChanges"]:
                assert "path" in value and ("old" in value or "new" in value)
    by_name = {r["name"]: r for r in doc["resources"]}
    rule = by_name["eu-west-1-network-app-in"]["changes"]
    # A side with no value has no key: null would be a recorded null.
    assert {"path": "cidrIpv4", "old": "10.10.0.0/16"} in rule
    assert {"path": "referencedSecurityGroupId", "new": "sg-2"} in rule
    token = next(
        c for c in by_name["eu-west-1-ingest-function"]["changes"] if "API_TOKEN" in c["path"]
    )
    assert token == {
        "path": "environment.variables.API_TOKEN",
        "old": "[secret]",
        "new": "[secret]",
        "note": "no longer secret",
    }
    assert doc["dependencyOnly"] == [
        "urn:pulumi:dev::mlops-platform::mlops:stacks:RegionalPlatform$mlops:monitoring:"
        "AlertTopic$aws:sns/topic:Topic::eu-central-1-alerts-topic"
    ]


# Big plans ------------------------------------------------------------------------------------


def _golden_plan(stack: str) -> dict[str, Any]:
    return plan_diff.load_plan_file(PLANS / f"plan-{stack}.json")


def test_dev_against_prod_fits_a_github_comment() -> None:
    diff = plan_diff.diff_plans(_golden_plan("dev"), _golden_plan("prod"))
    full = plan_diff.render_markdown(diff, limit=10**9)
    comment = plan_diff.render_markdown(diff, full_diff_at="the plan-diff-prod artifact")
    assert len(comment) <= len(comment.encode()) <= GITHUB_COMMENT_LIMIT
    assert_well_formed(comment)
    assert comment.startswith(full[: full.index("<details")])  # summary and warnings whole
    if len(full.encode()) > GITHUB_COMMENT_LIMIT:
        match = re.search(r"\*\*Truncated to fit a GitHub comment:\*\* (\d+) of the (\d+)", comment)
        assert match and int(match.group(2)) == len(diff.resources)
        assert "The full diff is in the plan-diff-prod artifact." in comment
    # The text format (the artifact) leaves nothing out.
    text = plan_diff.render_text(diff)
    assert all(r.urn in text for r in diff.resources)


def _synthetic(count: int, threshold: int) -> dict[str, Any]:
    prefix = "urn:pulumi:dev::p::mlops:stacks:RegionalPlatform$mlops:monitoring:AlertTopic"
    resources = []
    for i in range(count):
        region = ("eu-west-1", "eu-central-1", "us-east-1")[i % 3]
        resources.append(
            {
                "urn": f"{prefix}$aws:cloudwatch/metricAlarm:MetricAlarm::alarm-{i:05d}",
                "type": "aws:cloudwatch/metricAlarm:MetricAlarm",
                "name": f"alarm-{i:05d}",
                "id": f"alarm-{i}",
                "custom": True,
                "region": region,
                "provider": None,
                "parent": None,
                "dependencies": [],
                "inputs": {"threshold": threshold, "alarmDescription": "x" * 300},
                "options": {"protect": False, "ignoreChanges": [], "retainOnDelete": False},
            }
        )
    return {"format": "mlops-plan/1", "project": "p", "stack": "dev", "resources": resources}


@pytest.mark.parametrize("limit", [GITHUB_COMMENT_LIMIT, 65_000, 20_000])
def test_thousands_of_changes_stay_under_the_limit_with_a_truncation_line(limit: int) -> None:
    old, new = _synthetic(5000, 1), _synthetic(5000, 2)
    new["resources"] = new["resources"][:4500] + copy.deepcopy(old["resources"][4500:])
    for r in new["resources"][4500:]:
        r["urn"] += "-renamed"  # 500 removed and 500 added
    diff = plan_diff.diff_plans(old, new)
    assert diff.counts() == {"added": 500, "changed": 4500, "replaced": 0, "removed": 500}
    comment = plan_diff.render_markdown(diff, limit=limit)
    assert len(comment.encode()) <= limit
    assert_well_formed(comment)
    match = re.search(
        r"Truncated to fit a GitHub comment:\*\* ([\d,]+) of the 5500 resources", comment
    )
    assert match, comment[-400:]
    shown = len(re.findall(r"^- (?:add|update|\*\*remove\*\*|\*\*REPLACE\*\*) ", comment, re.M))
    assert shown + int(match.group(1).replace(",", "")) == 5500
    assert "The full diff is in the workflow run's artifact." in comment


def test_max_chars_below_a_usable_size_is_bad_input(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["diff", OLD, NEW, "--format", "markdown", "--max-chars", "100"]) == 2
    assert "--max-chars must be at least 2000" in capsys.readouterr().err


def test_readme_documents_the_json_shape(capsys: pytest.CaptureFixture[str]) -> None:
    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("### Reading a plan diff") :]
    section = section[: section.index("\n## ")]
    doc = json.loads(run(["diff", OLD, NEW, "--format", "json"], capsys))
    keys = set(doc) | {k for r in doc["resources"] for k in r} | set(doc["warnings"][0])
    missing = sorted(k for k in keys if f'"{k}"' not in section)
    assert not missing, f"README's 'Reading a plan diff' does not show {missing}"


def test_a_change_the_table_does_not_know_is_said_so_in_every_format(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A provider flag nobody has read (ECS forceNewDeployment) is never guessed: text,
    markdown and JSON say the replacement is not known."""
    doc = json.loads(Path(OLD).read_text(encoding="utf-8"))
    new = copy.deepcopy(doc)
    (service,) = [
        r
        for r in new["resources"]
        if r["type"] == "aws:ecs/service:Service" and r["region"] == "eu-west-1"
    ]
    service["inputs"]["forceNewDeployment"] = True
    old_file, new_file = tmp_path / "old.json", tmp_path / "new.json"
    old_file.write_text(json.dumps(doc), encoding="utf-8")
    new_file.write_text(json.dumps(new), encoding="utf-8")
    text = run(["diff", str(old_file), str(new_file)], capsys)
    assert "replacement not known for: forceNewDeployment" in text
    markdown = run(["diff", str(old_file), str(new_file), "--format", "markdown"], capsys)
    assert "replacement not known for" in markdown and "forceNewDeployment" in markdown
    data = json.loads(run(["diff", str(old_file), str(new_file), "--format", "json"], capsys))
    assert "unknown" in json.dumps(data)
