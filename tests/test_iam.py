"""Least privilege: statements, service roles, grants, and every policy in both plans."""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pytest
from parliament import analyze_policy_string

from components.iam import ServiceRole, ServiceRoleArgs, Statement
from components.kms import RegionKey, RegionKeyArgs
from policies.rules import RESOURCE_STAR_ALLOWED
from stacks.offline import Plan, render_components

# --- Statement validation -------------------------------------------------------------------


@pytest.mark.parametrize(
    "actions, resources, message",
    [
        (["*"], ["arn:aws:s3:::b"], "is not an IAM action"),
        (["s3:*"], ["arn:aws:s3:::b"], "grants a whole service"),
        (["s3:GetObject"], ["*"], r"may not use \"Resource\": \"\*\""),
        (["s3:GetObject"], [], "no resources"),
        ([], ["arn:aws:s3:::b"], "no actions"),
        (["cloudwatch:PutMetricData"], ["*", "arn:aws:s3:::b"], "cannot be mixed"),
        (["GetObject"], ["arn:aws:s3:::b"], "is not an IAM action"),
    ],
)
def test_statements_refuse_broad_permissions(actions, resources, message) -> None:
    with pytest.raises(ValueError, match=message):
        Statement(sid="Test", actions=actions, resources=resources)


def test_allow_listed_actions_may_use_resource_star() -> None:
    for action, reason in RESOURCE_STAR_ALLOWED.items():
        assert reason.strip(), action
        Statement(sid="Ok", actions=[action], resources=["*"])


# --- ServiceRole ------------------------------------------------------------------------------


def _role(service: str, **kwargs) -> Plan:
    def build(opts: pulumi.ResourceOptions) -> None:
        key = RegionKey("k", RegionKeyArgs(alias="t"), opts=opts)
        role = ServiceRole(
            "r", ServiceRoleArgs(service=service, description="test", **kwargs), opts=opts
        )
        key.grant_decrypt(role)
        role.grant(
            "read-things",
            [Statement(sid="Read", actions=["s3:GetObject"], resources=["arn:aws:s3:::b/*"])],
        )

    return render_components(build)


def _trust(plan: Plan) -> dict[str, Any]:
    role = plan.of_type("aws:iam/role:Role")[0]
    return json.loads(role["inputs"]["assumeRolePolicy"])["Statement"][0]


def test_trust_policy_has_confused_deputy_conditions_where_supported() -> None:
    trust = _trust(
        _role(
            "scheduler.amazonaws.com",
            source_arn="arn:aws:scheduler:eu-west-1:123456789012:schedule/*",
        )
    )
    assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert trust["Condition"] == {
        "StringEquals": {"aws:SourceAccount": "123456789012"},
        "ArnLike": {"aws:SourceArn": "arn:aws:scheduler:eu-west-1:123456789012:schedule/*"},
    }
    # Lambda sends neither key when it assumes its execution role: no condition to add.
    assert "Condition" not in _trust(_role("lambda.amazonaws.com"))


def test_grants_become_one_named_inline_policy_each() -> None:
    plan = _role("lambda.amazonaws.com")
    policies = {
        p["name"]: json.loads(p["inputs"]["policy"])
        for p in plan.of_type("aws:iam/rolePolicy:RolePolicy")
    }
    assert sorted(policies) == ["r-kms-decrypt-k", "r-read-things"]
    key = plan.of_type("aws:kms/key:Key")[0]
    decrypt = policies["r-kms-decrypt-k"]["Statement"]
    assert decrypt == [
        {
            "Sid": "DecryptWithRegionKey",
            "Effect": "Allow",
            "Action": ["kms:Decrypt", "kms:DescribeKey"],
            "Resource": f"arn:aws:kms:eu-west-1:123456789012:key/{key['id']}",
        }
    ]
    assert not plan.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")


def test_permissions_boundary_is_set_on_the_role_only_when_given() -> None:
    boundary = "arn:aws:iam::123456789012:policy/platform-boundary"
    role = _role("lambda.amazonaws.com", permissions_boundary=boundary).of_type(
        "aws:iam/role:Role"
    )[0]
    assert role["inputs"]["permissionsBoundary"] == boundary
    role = _role("lambda.amazonaws.com").of_type("aws:iam/role:Role")[0]
    assert "permissionsBoundary" not in role["inputs"]


@pytest.mark.parametrize(
    "service, kwargs, message",
    [
        ("lambda", {}, "is not a service principal"),
        (
            "lambda.amazonaws.com",
            {"permissions_boundary": "platform-boundary"},
            "permissions_boundary: 'platform-boundary' is not a managed policy ARN",
        ),
        (
            "lambda.amazonaws.com",
            {"permissions_boundary": "arn:aws:iam::123456789012:role/x"},
            "is not a managed policy ARN",
        ),
        (
            "lambda.amazonaws.com",
            {"source_arn": "arn:aws:lambda:::x"},
            "does not send aws:SourceArn",
        ),
        (
            "ec2.amazonaws.com",
            {"managed_policies": {"arn:aws:iam::123456789012:policy/mine": "x"}},
            "not an AWS-managed policy",
        ),
        (
            "ec2.amazonaws.com",
            {"managed_policies": {"arn:aws:iam::aws:policy/ReadOnlyAccess": " "}},
            "needs the reason",
        ),
    ],
)
def test_service_role_bad_arguments(service, kwargs, message) -> None:
    with pytest.raises(ValueError, match=message):
        _role(service, **kwargs)


def test_duplicate_grant_purpose_is_refused() -> None:
    def build(opts: pulumi.ResourceOptions) -> None:
        role = ServiceRole(
            "r", ServiceRoleArgs(service="lambda.amazonaws.com", description="x"), opts=opts
        )
        statement = Statement(sid="A", actions=["s3:GetObject"], resources=["arn:aws:s3:::b/*"])
        role.grant("same", [statement])
        role.grant("same", [statement])

    with pytest.raises(ValueError, match="already has a grant named 'same'"):
        render_components(build)


# --- Every policy document in the real plans --------------------------------------------------

IDENTITY_POLICY_TYPES = {"aws:iam/rolePolicy:RolePolicy", "aws:iam/policy:Policy"}

#: Parliament reviews identity policies. On resource policies a few of its findings do not
#: apply; each accepted (resource type, finding) is listed with the reason.
ACCEPTED_RESOURCE_POLICY_FINDINGS = {
    ("aws:kms/key:Key", "RESOURCE_STAR"): 'in a key policy "Resource": "*" means this key only',
    (
        "aws:kms/key:Key",
        "PERMISSIONS_MANAGEMENT_ACTIONS",
    ): "the account root administers its own key (kms:PutKeyPolicy etc.), as AWS requires to "
    "avoid an unmanageable key",
}


#: Findings on identity policies that are accepted, by (finding, action it is about).
ACCEPTED_IDENTITY_FINDINGS = {
    (
        "CREDENTIALS_EXPOSURE",
        "ecr:GetAuthorizationToken",
    ): "pulling an image from ECR needs a registry login token; what the token can pull is "
    "limited by the role's repository-scoped ecr:BatchGetImage/GetDownloadUrlForLayer",
}


def _documents(plan: Plan):
    """Every IAM policy document (ECR lifecycle policies and the like have no Statement)."""
    for r in plan.resources:
        for key in ("policy", "assumeRolePolicy"):
            value = r["inputs"].get(key)
            if isinstance(value, str) and value.lstrip().startswith("{"):
                document = json.loads(value)
                if "Statement" in document:
                    yield r, key, document


def _statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    statements = document["Statement"]
    return statements if isinstance(statements, list) else [statements]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_no_wildcard_actions_and_resource_star_only_when_allow_listed(stack_plan: Plan) -> None:
    for resource, _key, document in _documents(stack_plan):
        for statement in _statements(document):
            if statement["Effect"] != "Allow":
                continue
            actions = _as_list(statement.get("Action", []))
            assert "NotAction" not in statement, resource["urn"]
            for action in actions:
                assert action != "*" and not action.endswith(":*"), (resource["urn"], action)
            if resource["type"] in IDENTITY_POLICY_TYPES and "*" in _as_list(
                statement.get("Resource", [])
            ):
                assert set(actions) <= set(RESOURCE_STAR_ALLOWED), (resource["urn"], actions)


def test_no_public_principal_in_resource_policies(stack_plan: Plan) -> None:
    for resource, _key, document in _documents(stack_plan):
        for statement in _statements(document):
            if statement["Effect"] == "Allow":
                principal = statement.get("Principal")
                assert principal != "*" and principal != {"AWS": "*"}, resource["urn"]


def test_every_policy_passes_parliament(stack_plan: Plan) -> None:
    problems = []
    for resource, key, document in _documents(stack_plan):
        if key == "assumeRolePolicy":
            continue  # trust policies have no Resource; checked by the trust tests
        findings = analyze_policy_string(
            json.dumps(document), include_community_auditors=True
        ).findings
        for finding in findings:
            if resource["type"] not in IDENTITY_POLICY_TYPES and (
                (resource["type"], finding.issue) in ACCEPTED_RESOURCE_POLICY_FINDINGS
            ):
                continue
            actions = {a.lower() for a in (finding.location or {}).get("actions", [])}
            accepted = {
                a.lower() for (issue, a) in ACCEPTED_IDENTITY_FINDINGS if issue == finding.issue
            }
            if actions and actions <= accepted:
                continue
            problems.append(f"{resource['urn']} {key}: {finding.issue} {finding.detail}")
    assert problems == []


def test_every_role_trusts_one_service_with_conditions_where_supported(stack_plan: Plan) -> None:
    from components.iam import CONFUSED_DEPUTY_KEYS

    for role in stack_plan.of_type("aws:iam/role:Role"):
        statements = _statements(json.loads(role["inputs"]["assumeRolePolicy"]))
        for statement in statements:
            service = statement["Principal"]["Service"]
            assert isinstance(service, str) and service.endswith(".amazonaws.com")
            if service in CONFUSED_DEPUTY_KEYS:
                assert statement["Condition"]["StringEquals"]["aws:SourceAccount"], role["urn"]
