"""What a LambdaService needs from AWS beyond its own grants, on the recorded graph.

- In a VPC, the role holds every EC2 action of AWSLambdaVPCAccessExecutionRole, including
  ec2:DescribeSubnets ("*": no resource-level permissions), and still passes parliament and the
  policy pack.
- The environment variables are encrypted at rest with the region key; Lambda decrypts them
  through a grant, so the role gains no key permission for them.
- The function's log group is the one Lambda would write to (``/aws/lambda/<function name>``),
  with retention and the region key, created before the function, in both stacks.
- Reserved concurrency: how much each region reserves and the account quota that needs, as
  pure functions and as the offline ``plan`` command prints it.
"""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pytest
from parliament import analyze_policy_string

from components.baseline import RESOURCE_STAR_ALLOWED
from components.kms import RegionKey, RegionKeyArgs
from components.monitoring import AlertTopic, AlertTopicArgs
from components.network import Network, NetworkArgs
from components.serverless import (
    MIN_UNRESERVED_CONCURRENCY,
    LambdaService,
    LambdaServiceArgs,
    LambdaVpcPlacement,
    account_concurrency_needed,
    reserved_concurrency_notes,
)
from policies.check import check, load_plan
from stacks.config import load_stack_config
from stacks.offline import PROJECT_DIR, Plan, render_components

ACCOUNT = "123456789012"
REGION = "eu-west-1"
FUNCTION = "aws:lambda/function:Function"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"


def render(vpc: bool = True, **overrides: Any) -> Plan:
    def build(opts: pulumi.ResourceOptions) -> None:
        key = RegionKey("k", RegionKeyArgs(alias="t", services=("logs", "alarms")), opts=opts)
        topic = AlertTopic("alerts", AlertTopicArgs(key=key), opts=opts)
        placement = None
        if vpc:
            net = Network(
                "net",
                NetworkArgs(
                    cidr="10.0.0.0/16",
                    availability_zones=[f"{REGION}a", f"{REGION}b"],
                    key=key,
                    nat="single",
                ),
                opts=opts,
            )
            placement = LambdaVpcPlacement(
                vpc_id=net.vpc_id,
                subnet_ids=net.subnet_ids["private"],
                availability_zones=net.availability_zones,
            )
        args: dict[str, Any] = dict(
            source_dir=PROJECT_DIR / "services" / "ingest",
            handler="handler.handler",
            function_name="ingest-fn",
            description="Ingests raw records",
            key=key,
            alert_topic=topic,
            environment={"LOG_LEVEL": "INFO"},
            vpc=placement,
        )
        args.update(overrides)
        LambdaService("ingest", LambdaServiceArgs(**args), opts=opts)

    return render_components(build)


@pytest.fixture(scope="module")
def in_vpc() -> Plan:
    return render()


def key_arn(plan: Plan) -> str:
    return f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{plan.of_type('aws:kms/key:Key')[0]['id']}"


def role_statements(plan: Plan, prefix: str = "ingest-exec-") -> list[dict[str, Any]]:
    return [
        s
        for p in plan.of_type(ROLE_POLICY)
        if p["name"].startswith(prefix)
        for s in json.loads(p["inputs"]["policy"])["Statement"]
    ]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


# 1. VPC access: the EC2 actions of AWSLambdaVPCAccessExecutionRole ------------------------------

#: The EC2 actions of AWSLambdaVPCAccessExecutionRole v3 (AWS managed policy reference).
VPC_ACCESS_EC2_ACTIONS = {
    "ec2:CreateNetworkInterface",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeSubnets",
    "ec2:DeleteNetworkInterface",
    "ec2:AssignPrivateIpAddresses",
    "ec2:UnassignPrivateIpAddresses",
}


def test_in_vpc_role_has_every_ec2_action_of_the_managed_vpc_policy(in_vpc: Plan) -> None:
    found = role_statements(in_vpc)
    ec2 = {a for s in found for a in as_list(s["Action"]) if a.startswith("ec2:")}
    assert ec2 == VPC_ACCESS_EC2_ACTIONS
    describe = next(s for s in found if "ec2:DescribeSubnets" in as_list(s["Action"]))
    assert describe["Resource"] == "*"
    assert "ec2:DescribeSubnets" in RESOURCE_STAR_ALLOWED
    # Everything else stays scoped to this account and region.
    for statement in found:
        if statement is describe or "*" in as_list(statement["Resource"]):
            continue
        if any(a.startswith("ec2:") for a in as_list(statement["Action"])):
            for arn in as_list(statement["Resource"]):
                assert arn.startswith(f"arn:aws:ec2:{REGION}:{ACCOUNT}:"), arn


def test_in_vpc_role_passes_parliament_and_the_policy_pack(in_vpc: Plan) -> None:
    for policy in in_vpc.of_type(ROLE_POLICY):
        doc = policy["inputs"]["policy"]
        findings = analyze_policy_string(doc, include_community_auditors=True).findings
        assert findings == [], (policy["name"], findings)
    result = check(load_plan(in_vpc.to_dict()))
    service = {
        r["urn"] for r in in_vpc.resources if r["name"].startswith("ingest-") and r["custom"]
    }
    assert [v for v in result.violations if v.urn in service] == []


def test_without_vpc_the_role_has_no_ec2_action() -> None:
    found = role_statements(render(vpc=False))
    assert not [a for s in found for a in as_list(s["Action"]) if a.startswith("ec2:")]


# 3. Environment variables under the region key ------------------------------------------------


def test_environment_is_encrypted_with_the_region_key(in_vpc: Plan) -> None:
    fn = in_vpc.find(FUNCTION, "ingest-function")["inputs"]
    assert fn["environment"] == {"variables": {"LOG_LEVEL": "INFO"}}
    assert fn["kmsKeyArn"] == key_arn(in_vpc)


def test_the_role_gets_no_key_permission_for_the_environment(in_vpc: Plan) -> None:
    """Lambda decrypts the variables through the grant it creates with the deployer's
    kms:CreateGrant; the role's only key use is the dead-letter queue, through SQS."""
    kms = [s for s in role_statements(in_vpc) if any(a.startswith("kms:") for a in s["Action"])]
    assert [s["Sid"] for s in kms] == ["EncryptDeadLetters"]
    assert kms[0]["Condition"] == {
        "StringEquals": {"kms:ViaService": f"sqs.{REGION}.amazonaws.com"}
    }


def test_stack_functions_encrypt_their_environment_with_the_region_key(stack_plan: Plan) -> None:
    keys = {k["region"]: k["id"] for k in stack_plan.of_type("aws:kms/key:Key")}
    functions = stack_plan.of_type(FUNCTION)
    assert functions
    for fn in functions:
        region = fn["region"]
        assert fn["inputs"]["environment"]["variables"]
        assert fn["inputs"]["kmsKeyArn"] == f"arn:aws:kms:{region}:{ACCOUNT}:key/{keys[region]}"


# 6. The log group Lambda writes to belongs to the stack -----------------------------------------


def test_every_stack_function_has_its_own_encrypted_log_group_first(stack_plan: Plan) -> None:
    cfg = load_stack_config(PROJECT_DIR, stack_plan.stack)
    keys = {k["region"]: k["id"] for k in stack_plan.of_type("aws:kms/key:Key")}
    groups = {
        (g["region"], g["inputs"]["name"]): g
        for g in stack_plan.of_type(LOG_GROUP)
        if str(g["inputs"].get("name", "")).startswith("/aws/lambda/")
    }
    functions = stack_plan.of_type(FUNCTION)
    assert functions
    for fn in functions:
        region, name = fn["region"], fn["inputs"]["name"]
        group = groups.pop((region, f"/aws/lambda/{name}"))
        assert group["inputs"]["retentionInDays"] == cfg.log_retention_days
        assert group["inputs"]["kmsKeyId"] == f"arn:aws:kms:{region}:{ACCOUNT}:key/{keys[region]}"
        assert group["urn"] in fn["dependencies"]
        assert fn["inputs"]["loggingConfig"]["logGroup"] == f"/aws/lambda/{name}"
    # No /aws/lambda/ group without its function (a renamed function would leave one).
    assert groups == {}


# 5. Reserved concurrency and the account quota ------------------------------------------------


def test_the_quota_a_reservation_needs() -> None:
    assert MIN_UNRESERVED_CONCURRENCY == 100
    assert account_concurrency_needed(20) == 120
    assert account_concurrency_needed(0) == 100


def test_notes_sum_each_region_and_put_the_primary_first() -> None:
    notes = reserved_concurrency_notes(
        [("us-east-1", "a", 5), ("eu-west-1", "b", 20), ("us-east-1", "c", 7)],
        primary="us-east-1",
    )
    assert len(notes) == 2
    assert notes[0].startswith(
        "Note: us-east-1 reserves 12 concurrent Lambda executions (a 5, c 7)"
    )
    assert "quota in us-east-1 must be at least 112" in notes[0]
    assert notes[1].startswith("Note: eu-west-1 reserves 20 ")
    assert "at least 120" in notes[1]
    assert reserved_concurrency_notes([]) == []


def run_plan(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    """``python -m stacks plan ARGS`` in-process: (exit code, stdout)."""
    from stacks.cli import main

    capsys.readouterr()
    code = main(["plan", *args])
    return code, capsys.readouterr().out


def test_plan_prints_the_quota_each_region_needs(project_with, stack_config, capsys) -> None:
    config = stack_config("prod")
    config["mlops:ingest"]["reservedConcurrency"] = 35
    root = project_with(config)
    code, stdout = run_plan(capsys, "test", "--project-dir", str(root))
    assert code == 0
    notes = [line for line in stdout.splitlines() if line.startswith("Note:") and "Lambda" in line]
    regions = [r["name"] for r in config["mlops:regions"]]
    assert len(notes) == len(regions) >= 2
    for note, region in zip(notes, regions, strict=True):
        assert note.startswith(
            f"Note: {region} reserves 35 concurrent Lambda executions (mlops-prod-ingest 35). "
        )
        assert f"concurrent executions quota in {region} must be at least 135" in note


def test_plan_says_nothing_about_concurrency_without_a_reservation(
    dev_plan: Plan, shared_render, capsys
) -> None:
    # dev reserves no concurrency: its plan (the session's render) is the case.
    reserved = [f["inputs"].get("reservedConcurrentExecutions") for f in dev_plan.of_type(FUNCTION)]
    assert not [r for r in reserved if isinstance(r, int) and r > 0]
    code, stdout = run_plan(capsys, "dev")
    assert code == 0
    assert "Lambda" not in stdout and "quota" not in stdout
