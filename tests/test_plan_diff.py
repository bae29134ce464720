"""``python -m stacks diff``: what counts as a change, where it is placed, what it shows.

The fixture plans in tests/golden/diff/ (old.json -> new.json) hold one case of each kind: a
forced replacement, an in-place update, a protected and retained bucket removed, a stateful
table replaced, a secret that stopped being secret, an ignoreChanges property, a policy JSON
document, base64 user data, a dependency-only change and a component that owns no AWS resource.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from stacks import cli, offline, plan_diff
from stacks.offline import PROJECT_DIR
from stacks.plan_diff import model
from stacks.plan_diff.values import ABSENT, SECRET_MASK, diff_values

GOLDEN = Path(__file__).parent / "golden" / "diff"
W, C = "eu-west-1", "eu-central-1"


def load(name: str) -> dict[str, Any]:
    return json.loads((GOLDEN / f"{name}.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def diff() -> plan_diff.PlanDiff:
    return plan_diff.diff_plans(load("old"), load("new"))


def change(diff: plan_diff.PlanDiff, name: str) -> plan_diff.ResourceChange:
    [found] = [r for r in diff.resources if r.name == name]
    return found


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli.main(args)
    out, err = capsys.readouterr()
    return code, out, err


# What counts ---------------------------------------------------------------------------------


def test_counts_separate_replacements_from_in_place_changes(diff: plan_diff.PlanDiff) -> None:
    assert diff.counts() == {"added": 1, "changed": 13, "replaced": 4, "removed": 2}
    assert diff.counts(W) == {"added": 0, "changed": 11, "replaced": 4, "removed": 2}
    assert diff.counts(C) == {"added": 1, "changed": 2, "replaced": 0, "removed": 0}


def test_dependency_only_changes_are_not_changes(diff: plan_diff.PlanDiff) -> None:
    topic = f"{C}-alerts-topic"
    assert topic not in {r.name for r in diff.resources}
    assert [urn.rsplit("::", 1)[1] for urn in diff.dependency_only] == [topic]


def test_components_own_no_aws_resource_and_are_not_listed(diff: plan_diff.PlanDiff) -> None:
    assert all(not r.type.startswith("mlops:") for r in diff.resources)
    assert f"{C}-dashboard" not in {r.name for r in diff.resources}


def test_a_plan_compared_with_itself_is_equal() -> None:
    result = plan_diff.diff_plans(load("old"), load("old"))
    assert result.equal and result.resources == [] and result.dependency_only == []


def test_only_a_dependency_change_is_equal() -> None:
    old = load("old")
    new = copy.deepcopy(old)
    new["resources"][-1]["dependencies"] = [new["resources"][0]["urn"]]
    result = plan_diff.diff_plans(old, new)
    assert result.equal and len(result.dependency_only) == 1


def test_ignore_changes_properties_are_shown_as_not_applied(diff: plan_diff.PlanDiff) -> None:
    service = change(diff, f"{W}-web-service")
    assert service.ignored == ["desiredCount"]
    assert [c.path for c in service.changes] == ["taskDefinition"]


def test_only_ignored_properties_changed_is_no_change() -> None:
    old = load("old")
    new = copy.deepcopy(old)
    service = next(r for r in new["resources"] if r["type"] == "aws:ecs/service:Service")
    service["inputs"]["desiredCount"] = 9
    assert plan_diff.diff_plans(old, new).equal


# Where it goes -------------------------------------------------------------------------------


def test_changes_are_grouped_by_region_primary_first_then_capability(
    diff: plan_diff.PlanDiff,
) -> None:
    assert diff.regions == [W, C]
    groups = [(region, capability) for region, capability, _ in diff.groups()]
    assert groups == [
        (W, "compute"),
        (W, "containers"),
        (W, "data lake"),
        (W, "jobs"),
        (W, "network"),
        (W, "serverless"),
        (C, "kms"),
        (C, "monitoring"),
    ]


def test_capability_is_the_component_under_the_regional_platform() -> None:
    urn = (
        "urn:pulumi:dev::p::mlops:stacks:RegionalPlatform$mlops:data_lake:DataLake"
        "$mlops:buckets:SecureBucket$aws:s3/bucket:Bucket::b"
    )
    assert model.capability_of(urn, "aws:s3/bucket:Bucket") == "data lake"
    provider = "urn:pulumi:dev::p::pulumi:providers:aws::aws-eu-west-1"
    assert model.capability_of(provider, "pulumi:providers:aws") == "providers"
    direct = "urn:pulumi:dev::p::mlops:stacks:RegionalPlatform$aws:iam/role:Role::r"
    assert model.capability_of(direct, "aws:iam/role:Role") == "platform"


def test_region_falls_back_to_the_provider_then_the_parent() -> None:
    provider = {"urn": "p", "inputs": {"region": "ap-south-1"}, "region": None}
    parent = {"urn": "parent", "region": "sa-east-1", "provider": None, "parent": None}
    by_urn = {"p": provider, "parent": parent}
    assert model.region_of({"urn": "a", "region": None, "provider": "p"}, by_urn) == "ap-south-1"
    orphan = {"urn": "b", "region": None, "provider": None, "parent": "parent"}
    assert model.region_of(orphan, by_urn) == "sa-east-1"
    assert model.region_of({"urn": "c", "region": None}, {}) == model.GLOBAL


def test_plans_of_two_stacks_are_matched_without_the_stack_name() -> None:
    old, new = load("old"), load("new")
    prod = json.loads(json.dumps(new).replace("urn:pulumi:dev::", "urn:pulumi:prod::"))
    prod["stack"] = "prod"
    same = plan_diff.diff_plans(old, prod)
    assert same.counts() == plan_diff.diff_plans(old, new).counts()
    assert "Comparing stack dev with stack prod" in same.render()


# What it shows -------------------------------------------------------------------------------


def test_old_and_new_values_at_the_deepest_changed_path(diff: plan_diff.PlanDiff) -> None:
    subnet = change(diff, f"{W}-network-private-a")
    assert [(c.path, c.old, c.new) for c in subnet.changes] == [("tags.tier", "private", "app")]


def test_json_documents_in_strings_are_compared_as_documents(diff: plan_diff.PlanDiff) -> None:
    policy = change(diff, f"{W}-lake-raw-policy")
    assert [(c.path, c.old, c.new) for c in policy.changes] == [
        ("policy.Statement[1].Action[1]", ABSENT, "s3:ListBucket")
    ]


def test_base64_user_data_reads_as_a_line_diff(diff: plan_diff.PlanDiff) -> None:
    [user_data] = change(diff, f"{W}-pool-datascience-lt").changes
    assert user_data.note == "text"
    assert "+systemctl enable --now amazon-ssm-agent" in user_data.lines


def test_secrets_stay_masked_even_when_they_stop_being_secret(
    diff: plan_diff.PlanDiff, capsys: pytest.CaptureFixture[str]
) -> None:
    function = change(diff, f"{W}-ingest-function")
    token = next(c for c in function.changes if c.path.endswith("API_TOKEN"))
    assert (token.old, token.new, token.note) == (SECRET_MASK, SECRET_MASK, "no longer secret")
    # WEBHOOK is secret on both sides: no visible change, so nothing is reported.
    assert not any(c.path.endswith("WEBHOOK") for c in function.changes)
    for fmt in ("text", "markdown", "json"):
        _, out, _ = run(
            ["diff", str(GOLDEN / "old.json"), str(GOLDEN / "new.json"), "--format", fmt], capsys
        )
        assert "now-a-plain-value" not in out, fmt


def test_a_value_that_becomes_secret_is_masked_on_both_sides() -> None:
    [value] = diff_values({"password": "hunter2"}, {"password": SECRET_MASK})
    assert (value.old, value.new, value.note) == (SECRET_MASK, SECRET_MASK, "now secret")


def test_long_values_are_shortened_saying_how_long_they_were() -> None:
    shown = plan_diff.values.show("x" * 5000, 100)
    assert len(shown) < 130 and "(5,002 chars)" in shown


def test_list_insertions_are_reported_as_one_insertion() -> None:
    changes = list(diff_values({"a": [1, 2, 3]}, {"a": [1, 9, 2, 3]}))
    assert [(c.path, c.old, c.new) for c in changes] == [("a[1]", ABSENT, 9)]


# Replacement and warnings --------------------------------------------------------------------


def test_replacements_are_marked_with_the_property_that_forces_them(
    diff: plan_diff.PlanDiff,
) -> None:
    vpc = change(diff, f"{W}-network-vpc")
    assert vpc.action == model.REPLACE and vpc.verdict is not None
    assert vpc.verdict.because == ("cidrBlock",) and "vpc_.go" in vpc.verdict.source
    assert change(diff, f"{W}-network-private-a").action == model.UPDATE
    batch = change(diff, f"{W}-jobs-batch-fargate")
    assert batch.action == model.UPDATE and batch.verdict is not None
    assert batch.verdict.kind == "may-replace"
    # An ECR lifecycle policy has no update: a new policy replaces it (ForceNew).
    lifecycle = change(diff, f"{W}-web-repo-lifecycle")
    assert lifecycle.action == model.REPLACE and lifecycle.verdict is not None
    assert "lifecycle_policy.go" in lifecycle.verdict.source


def test_protected_and_stateful_deletions_are_warned_about_first(
    diff: plan_diff.PlanDiff,
) -> None:
    alerts = {r.name: r.alert for r in diff.alerts}
    assert set(alerts) == {
        f"{W}-lake-raw",
        f"{W}-ingest-logs",
        f"{W}-records-table",
        f"{C}-kms-key",
    }
    bucket = alerts[f"{W}-lake-raw"]
    assert bucket is not None and bucket.kind == "protected" and "FAIL" in bucket.message
    table = alerts[f"{W}-records-table"]
    assert table is not None and table.action == "replace" and "DATA LOSS" in table.message
    key = alerts[f"{C}-kms-key"]
    assert key is not None and key.kind == "unprotected"
    text = diff.render()
    assert text.index("WARNING: 4 protected") < text.index("== eu-west-1")


def test_retained_removal_says_the_resource_stays_in_aws() -> None:
    old = load("old")
    new = copy.deepcopy(old)
    for plan in (old, new):
        group = next(r for r in plan["resources"] if r["name"] == f"{W}-ingest-logs")
        group["options"]["retainOnDelete"] = True
    new["resources"] = [r for r in new["resources"] if r["name"] != f"{W}-ingest-logs"]
    [removed] = [r for r in plan_diff.diff_plans(old, new).resources if r.action == "remove"]
    assert removed.alert is not None and removed.alert.kind == "retained"
    assert "leaves the old resource in AWS" in removed.alert.message


def test_a_change_of_provider_may_replace() -> None:
    old = load("old")
    new = copy.deepcopy(old)
    topic = next(r for r in new["resources"] if r["name"] == f"{C}-alerts-topic")
    topic["provider"] = topic["provider"].replace(C, W)
    [moved] = plan_diff.diff_plans(old, new).resources
    assert moved.verdict is not None and moved.verdict.kind == "may-replace"
    assert moved.verdict.because == ("provider",)


def test_the_real_plans_diff_with_a_vpc_replacement(dev_plan: offline.Plan) -> None:
    old = plan_diff.validate_plan(dev_plan.to_dict(), "dev")
    new = copy.deepcopy(old)
    vpc = next(r for r in new["resources"] if r["type"] == "aws:ec2/vpc:Vpc" and r["region"] == W)
    vpc["inputs"]["cidrBlock"] = "10.99.0.0/16"
    [replaced] = plan_diff.diff_plans(old, new).resources
    assert (replaced.action, replaced.region, replaced.capability) == ("replace", W, "network")


def test_the_diff_reads_the_engines_own_constants() -> None:
    from stacks.offline import engine

    assert plan_diff.PLAN_FORMAT == engine.PLAN_FORMAT
    assert SECRET_MASK == engine.SECRET_MASK


# Command line ---------------------------------------------------------------------------------


def test_exit_codes_0_equal_1_different(capsys: pytest.CaptureFixture[str]) -> None:
    old, new = str(GOLDEN / "old.json"), str(GOLDEN / "new.json")
    for fmt in ("text", "markdown", "json"):
        assert run(["diff", old, old, "--format", fmt], capsys)[0] == 0
        assert run(["diff", old, new, "--format", fmt], capsys)[0] == 1


def _write(tmp_path: Path, content: Any) -> str:
    path = tmp_path / "bad.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return str(path)


def _plan_with(entry: Any) -> dict[str, Any]:
    return {"format": "mlops-plan/1", "project": "p", "stack": "dev", "resources": [entry]}


def _entry(**overrides: Any) -> dict[str, Any]:
    good = copy.deepcopy(load("old")["resources"][0])
    good.update(overrides)
    return good


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "is not JSON"),
        ({"format": "something-else"}, "is not a plan file"),
        (["a", "list"], "is not a plan file"),
        ({"format": "mlops-plan/1", "project": "p", "stack": "dev"}, "'resources' must be a list"),
        (_plan_with(1), "resources[0] must be an object, not int"),
        (_plan_with(_entry(inputs=[])), "resources[0].inputs must be an object, not a list"),
        (_plan_with(_entry(custom="yes")), "resources[0].custom must be true or false"),
        (_plan_with({"urn": "u"}), "resources[0] has no 'type'"),
        (_plan_with(_entry(dependencies=[1])), "dependencies must be a list of URNs"),
    ],
)
def test_bad_input_exits_2_with_one_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: Any, message: str
) -> None:
    code, out, err = run(["diff", str(GOLDEN / "old.json"), _write(tmp_path, content)], capsys)
    assert code == 2 and out == ""
    assert err.startswith("error: ") and message in err and err.count("\n") == 1


def test_duplicate_urns_and_many_bad_entries_are_one_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    twice = _plan_with(_entry())
    twice["resources"].append(_entry())
    code, _, err = run(["diff", _write(tmp_path, twice), str(GOLDEN / "old.json")], capsys)
    assert code == 2 and "appears twice" in err
    many = _plan_with(_entry(inputs=None))
    many["resources"] += [_entry(urn=f"u{i}", options=[]) for i in range(3)]
    code, _, err = run(["diff", _write(tmp_path, many), str(GOLDEN / "old.json")], capsys)
    assert code == 2 and "(3 more entries are malformed)" in err


def test_missing_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["diff", str(tmp_path / "nope.json"), str(GOLDEN / "old.json")], capsys)
    assert code == 2 and "cannot read" in err


def test_wrong_shape_is_a_message_not_a_traceback_in_a_real_process(tmp_path: Path) -> None:
    bad = _write(tmp_path, _plan_with(_entry(inputs=[])))
    env = {**os.environ, "PYTHONPATH": str(PROJECT_DIR)}
    done = subprocess.run(
        [sys.executable, "-m", "stacks", "diff", str(GOLDEN / "old.json"), bad],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "resources[0].inputs must be an object" in done.stderr
