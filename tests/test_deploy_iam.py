"""deploy/iam: the CI roles' trust and permission documents.

Every permission document passes parliament (findings accepted only where listed, each with
its reason); the preview role can only read (AWS's access levels, as parliament ships them,
classify every action); each trust policy pins GitHub's OIDC ``sub`` to one event or
environment of this repository; the deploy documents cover what the recorded plans create,
in the stacks' regions, and the workflows use the environments the roles trust.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from parliament import analyze_policy_string, expand_action, iam_definition

from stacks import delivery

ROOT = Path(__file__).resolve().parents[1]
IAM_DIR = ROOT / "deploy" / "iam"
GOLDEN = ROOT / "tests" / "golden"
WORKFLOWS = ROOT / ".github" / "workflows"

OIDC_PROVIDER = "arn:aws:iam::<ACCOUNT_ID>:oidc-provider/token.actions.githubusercontent.com"
ROLE_PREFIX = "arn:aws:iam::<ACCOUNT_ID>:role/github-actions/mlops-platform-"

#: Placeholder -> the sample value parliament sees (it checks ARN formats).
PLACEHOLDERS = {
    "<ACCOUNT_ID>": "111122223333",
    "<OWNER>/<REPO>": "example-owner/example-repo",
    "<STATE_BUCKET>": "example-pulumi-state",
    "<ADMIN_ROLE_ARN>": "arn:aws:iam::111122223333:role/platform-admin",
    "<ENVIRONMENT>": "dev",
}

#: The GitHub OIDC subject each role trusts (docs.github.com, OpenID Connect reference,
#: "Example subject claims": pull_request events and environments).
TRUSTED_SUBJECTS = {
    "preview": "repo:<OWNER>/<REPO>:pull_request",
    "deploy-dev": "repo:<OWNER>/<REPO>:environment:dev",
    "deploy-prod": "repo:<OWNER>/<REPO>:environment:production",
}

#: Findings parliament reports on the deploy documents that are accepted, with the reason.
ACCEPTED_DEPLOY_FINDINGS = {
    "RESOURCE_STAR": "the platform's resources are auto-named and created by the role itself; "
    "the statement is bound to the stack's regions by aws:RequestedRegion",
    "NOTRESOURCE_WITH_ALLOW": "the platform's buckets are auto-named, so they can only be named "
    "as every bucket but the state bucket; the state bucket is reached only through the "
    "per-stack statements",
    "RESOURCE_MISMATCH": "parliament's reading of the NotResource statement above",
    "PERMISSIONS_MANAGEMENT_ACTIONS": "a deploy role writes the platform's roles and its bucket, "
    "key, topic and queue policies; the deny statements keep it off the CI roles and "
    "administrative managed policies",
    "PRIVILEGE_ESCALATION": "passing roles is limited to the platform's services "
    "(iam:PassedToService) and never to a /github-actions/ role; parliament does not read "
    "conditions",
    "CREDENTIALS_EXPOSURE": "ecr:GetAuthorizationToken: pushing images needs a registry token",
}

#: Findings accepted on the preview document, by (finding, action).
ACCEPTED_PREVIEW_FINDINGS = {
    ("CREDENTIALS_EXPOSURE", "ecr:getauthorizationtoken"): "awsx.ecr.Image asks for a registry "
    "token while previewing; what the token allows is this role's ECR permissions: none",
}

#: Findings accepted on resource policies (key and bucket policies).
ACCEPTED_RESOURCE_POLICY_FINDINGS = {
    "RESOURCE_STAR": 'in a key policy "Resource": "*" means this key only',
    "PERMISSIONS_MANAGEMENT_ACTIONS": "the account administers its own key (kms:PutKeyPolicy), "
    "as AWS requires to avoid an unmanageable key",
}

#: Pulumi module of a resource type -> the IAM service prefix that manages it.
SERVICE_OF_MODULE = {
    "aws:acm": "acm",
    "aws:appautoscaling": "application-autoscaling",
    "aws:autoscaling": "autoscaling",
    "aws:batch": "batch",
    "aws:cloudtrail": "cloudtrail",
    "aws:dynamodb": "dynamodb",
    "aws:ec2": "ec2",
    "aws:vpc": "ec2",
    "aws:ecr": "ecr",
    "awsx:ecr": "ecr",
    "aws:ecs": "ecs",
    "aws:efs": "elasticfilesystem",
    "aws:iam": "iam",
    "aws:kms": "kms",
    "aws:lambda": "lambda",
    "aws:lb": "elasticloadbalancing",
    "aws:mwaa": "airflow",
    "aws:route53": "route53",
    "aws:s3": "s3",
    "aws:scheduler": "scheduler",
    "aws:sns": "sns",
    "aws:sqs": "sqs",
    "aws:ssm": "ssm",
    "aws:wafv2": "wafv2",
}
#: aws:cloudwatch holds three services; by resource name.
CLOUDWATCH_SERVICE = {
    "logGroup": "logs",
    "logMetricFilter": "logs",
    "eventRule": "events",
    "eventTarget": "events",
}

#: Services granted although the recorded plans do not use them, with the reason.
OPTIONAL_SERVICES = {"airflow": "managed Airflow (mlops:jobs.airflow.enabled), off in both stacks"}
#: Services only the dev deploy role gets: the nightly sweep (stacks/sweep.py) runs as that role.
SWEEP_SERVICES = {
    "tag": "the sweep lists the stack's resources through the Resource Groups Tagging API"
}

ACCESS_LEVELS = {
    (service["prefix"], privilege["privilege"].lower()): privilege["access_level"]
    for service in iam_definition
    for privilege in service["privileges"]
}


def load(name: str) -> dict[str, Any]:
    return json.loads((IAM_DIR / name).read_text(encoding="utf-8"))


def substituted(name: str) -> str:
    text = (IAM_DIR / name).read_text(encoding="utf-8")
    for placeholder, sample in PLACEHOLDERS.items():
        text = text.replace(placeholder, sample)
    return text


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    return as_list(document["Statement"])


def expanded(actions: list[str]) -> Iterator[tuple[str, str]]:
    """(service, action) for every action an action pattern grants, wildcards expanded."""
    for pattern in actions:
        for match in expand_action(pattern):
            yield match["service"], match["action"].lower()


def findings(name: str) -> list[Any]:
    return analyze_policy_string(substituted(name), include_community_auditors=True).findings


def plan_resources() -> list[dict[str, Any]]:
    resources: list[dict[str, Any]] = []
    for stack in ("dev", "prod"):
        resources.extend(
            json.loads((GOLDEN / f"plan-{stack}.json").read_text(encoding="utf-8"))["resources"]
        )
    return resources


def service_of(resource_type: str) -> str | None:
    package, module_and_name, _ = resource_type.split(":")
    module, _, name = module_and_name.partition("/")
    if package not in ("aws", "awsx"):
        return None
    if module == "cloudwatch":
        return CLOUDWATCH_SERVICE.get(name, "cloudwatch")
    return SERVICE_OF_MODULE[f"{package}:{module}"]


# --- The files and their placeholders ---------------------------------------------------------


def test_the_documents_exist_and_are_json() -> None:
    names = {p.name for p in IAM_DIR.glob("*.json")}
    for role in TRUSTED_SUBJECTS:
        assert {f"{role}.trust.json", f"{role}.permissions.json"} <= names
    assert {
        "secrets-key-dev.policy.json",
        "secrets-key-prod.policy.json",
        "state-bucket.policy.json",
    } <= names
    for name in names:
        document = load(name)
        assert document["Version"] == "2012-10-17", name
        sids = [s["Sid"] for s in statements(document)]
        assert len(sids) == len(set(sids)), name


def test_every_placeholder_is_one_the_readme_explains() -> None:
    readme = (IAM_DIR / "README.md").read_text(encoding="utf-8")
    used: set[str] = set()
    for path in IAM_DIR.glob("*.json"):
        used.update(re.findall(r"<[A-Z_]+>", path.read_text(encoding="utf-8")))
    documented = {
        token for placeholder in PLACEHOLDERS for token in re.findall(r"<[A-Z_]+>", placeholder)
    }
    assert used == documented
    for placeholder in PLACEHOLDERS:
        assert f"`{placeholder}`" in readme, placeholder


# --- Parliament -------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["deploy-dev", "deploy-prod"])
def test_deploy_permissions_pass_parliament(role: str) -> None:
    issues = {finding.issue for finding in findings(f"{role}.permissions.json")}
    assert issues - set(ACCEPTED_DEPLOY_FINDINGS) == set()


def test_preview_permissions_pass_parliament() -> None:
    problems = []
    for finding in findings("preview.permissions.json"):
        actions = {a.lower() for a in (finding.location or {}).get("actions", [])}
        if actions and all((finding.issue, a) in ACCEPTED_PREVIEW_FINDINGS for a in actions):
            continue
        problems.append(f"{finding.issue} {finding.detail} {finding.location}")
    assert problems == []


@pytest.mark.parametrize(
    "name",
    ["secrets-key-dev.policy.json", "secrets-key-prod.policy.json", "state-bucket.policy.json"],
)
def test_resource_policies_pass_parliament(name: str) -> None:
    issues = {finding.issue for finding in findings(name)}
    assert issues - set(ACCEPTED_RESOURCE_POLICY_FINDINGS) == set()


def test_parliament_would_catch_a_broken_document() -> None:
    document = load("preview.permissions.json")
    document["Statement"].append(
        {"Sid": "Typo", "Effect": "Allow", "Action": "s3:GetObjekt", "Resource": "*"}
    )
    broken = json.dumps(document).replace("<STATE_BUCKET>", "b")
    assert "UNKNOWN_ACTION" in {f.issue for f in analyze_policy_string(broken).findings}


# --- The preview role only reads --------------------------------------------------------------


def test_the_preview_role_can_only_read_and_list() -> None:
    document = load("preview.permissions.json")
    granted: list[tuple[str, str]] = []
    for statement in statements(document):
        assert statement["Effect"] == "Allow"
        assert set(statement) <= {"Sid", "Effect", "Action", "Resource", "Condition"}, statement[
            "Sid"
        ]
        granted.extend(expanded(as_list(statement["Action"])))
    assert granted
    levels = {
        f"{service}:{action}": ACCESS_LEVELS[(service, action)] for service, action in granted
    }
    assert {
        action: level for action, level in levels.items() if level not in ("Read", "List")
    } == {}


def test_the_read_only_check_tells_writes_deletes_and_tags_apart() -> None:
    levels = {
        a: ACCESS_LEVELS[(s, a)]
        for s, a in expanded(["s3:PutObject", "s3:DeleteObject", "iam:TagRole", "s3:GetObject"])
    }
    assert levels == {
        "putobject": "Write",
        "deleteobject": "Write",
        "tagrole": "Tagging",
        "getobject": "Read",
    }


def test_the_preview_role_reads_the_state_bucket_only() -> None:
    resources = {
        r
        for s in statements(load("preview.permissions.json"))
        if any(a.startswith("s3:") for a in as_list(s["Action"]))
        for r in as_list(s["Resource"])
    }
    assert resources == {"arn:aws:s3:::<STATE_BUCKET>", "arn:aws:s3:::<STATE_BUCKET>/.pulumi/*"}


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_secrets_keys_let_the_preview_role_only_decrypt(stack: str) -> None:
    by_principal: dict[str, set[str]] = {}
    for statement in statements(load(f"secrets-key-{stack}.policy.json")):
        assert statement["Effect"] == "Allow" and "NotAction" not in statement
        for principal in as_list(statement["Principal"]["AWS"]):
            by_principal.setdefault(principal, set()).update(as_list(statement["Action"]))
    assert by_principal[f"{ROLE_PREFIX}preview"] == {"kms:Decrypt"}
    assert by_principal[f"{ROLE_PREFIX}deploy-{stack}"] == {"kms:Decrypt"}
    other = "prod" if stack == "dev" else "dev"
    assert f"{ROLE_PREFIX}deploy-{other}" not in by_principal
    # The account administers the key but cannot use it: no IAM policy can grant decrypting.
    root = by_principal["arn:aws:iam::<ACCOUNT_ID>:root"]
    assert not root & {"kms:Decrypt", "kms:ReEncryptFrom", "kms:GenerateDataKey", "kms:CreateGrant"}
    assert "kms:PutKeyPolicy" in root
    assert by_principal["<ADMIN_ROLE_ARN>"] == {"kms:Encrypt", "kms:Decrypt"}


# --- Trust: GitHub OIDC, one subject each -----------------------------------------------------


@pytest.mark.parametrize("role", sorted(TRUSTED_SUBJECTS))
def test_each_trust_policy_pins_the_github_oidc_subject(role: str) -> None:
    [statement] = statements(load(f"{role}.trust.json"))
    assert statement["Effect"] == "Allow"
    assert statement["Principal"] == {"Federated": OIDC_PROVIDER}
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    # StringEquals with exactly one subject: no wildcard can widen it (StringLike is absent).
    assert statement["Condition"] == {
        "StringEquals": {
            "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
            "token.actions.githubusercontent.com:sub": TRUSTED_SUBJECTS[role],
        }
    }


def test_no_role_trusts_another_roles_subject() -> None:
    subjects = [
        statements(load(f"{role}.trust.json"))[0]["Condition"]["StringEquals"][
            "token.actions.githubusercontent.com:sub"
        ]
        for role in TRUSTED_SUBJECTS
    ]
    assert len(set(subjects)) == len(subjects)


def _workflow_jobs(name: str) -> dict[str, dict[str, Any]]:
    return yaml.safe_load((WORKFLOWS / name).read_text(encoding="utf-8"))["jobs"]


def _environment(job: dict[str, Any]) -> str | None:
    environment = job.get("environment")
    return environment.get("name") if isinstance(environment, dict) else environment


def test_workflows_use_the_environments_the_deploy_roles_trust() -> None:
    trusted = {TRUSTED_SUBJECTS[role].rsplit(":", 1)[1] for role in ("deploy-dev", "deploy-prod")}
    used = {
        _environment(job)
        for name in ("deploy.yml", "nightly.yml")
        for job in _workflow_jobs(name).values()
        if "steps" in job
    }
    used.discard(None)
    assert used == trusted
    # The preview job names no environment: its token's subject stays ...:pull_request.
    assert _environment(_workflow_jobs("pr.yml")["preview"]) is None


# --- Deploy roles cover the plan, in the stack's regions --------------------------------------


def _granted_services(document: dict[str, Any]) -> set[str]:
    return {
        action.split(":")[0]
        for statement in statements(document)
        if statement["Effect"] == "Allow"
        for action in as_list(statement["Action"])
    }


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_deploy_roles_grant_exactly_the_services_the_platform_uses(stack: str) -> None:
    needed = {service for r in plan_resources() if (service := service_of(r["type"]))}
    if _resolved_parameters():
        needed.add("ssm")
    granted = _granted_services(load(f"deploy-{stack}.permissions.json"))
    assert needed - granted == set()
    assert granted - needed == set(OPTIONAL_SERVICES) | (
        set(SWEEP_SERVICES) if stack == "dev" else set()
    )


def _resolved_parameters() -> set[str]:
    """SSM parameters launch templates in the plans name as their image (``resolve:ssm:<name>``)."""
    found = set()
    for resource in plan_resources():
        image = str(resource["inputs"].get("imageId", ""))
        if image.startswith("resolve:ssm:"):
            found.add(image[len("resolve:ssm:") :])
    return found


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_deploy_roles_may_resolve_the_image_parameters_the_plans_name(stack: str) -> None:
    # Creating a launch template or Auto Scaling group whose image is `resolve:ssm:<name>`
    # needs ssm:GetParameters on that parameter (Amazon EC2 Auto Scaling User Guide,
    # "Use AWS Systems Manager parameters instead of AMI IDs").
    parameters = _resolved_parameters()
    assert parameters
    [statement] = [
        s
        for s in statements(load(f"deploy-{stack}.permissions.json"))
        if "ssm:GetParameters" in as_list(s["Action"])
    ]
    for name in parameters:
        arn = f"arn:aws:ssm:eu-west-1::parameter{name}"
        assert any(
            fnmatch.fnmatchcase(arn, pattern) for pattern in as_list(statement["Resource"])
        ), name


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_deploy_roles_are_bound_to_the_stack_regions(stack: str) -> None:
    config = delivery.stack_config(delivery.read_stack_document(ROOT, stack))
    regions = list(delivery.stack_regions(config, f"Pulumi.{stack}.yaml"))
    for statement in statements(load(f"deploy-{stack}.permissions.json")):
        actions = as_list(statement["Action"])
        if statement["Effect"] == "Allow" and any(
            a.endswith(":*") or a.startswith(("tag:", "ssm:")) for a in actions
        ):
            assert statement["Condition"] == {"StringEquals": {"aws:RequestedRegion": regions}}, (
                statement["Sid"]
            )


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_deploy_roles_pass_roles_only_to_the_services_the_plan_trusts(stack: str) -> None:
    document = {s["Sid"]: s for s in statements(load(f"deploy-{stack}.permissions.json"))}
    passed = set(
        document["PassPlatformRolesToTheirServices"]["Condition"]["StringEquals"][
            "iam:PassedToService"
        ]
    )
    linked = set(
        document["ServiceLinkedRolesOfPlatformServices"]["Condition"]["StringEquals"][
            "iam:AWSServiceName"
        ]
    )
    for resource in plan_resources():
        if resource["type"] == "aws:iam/role:Role":
            for trust in statements(json.loads(resource["inputs"]["assumeRolePolicy"])):
                assert set(as_list(trust["Principal"]["Service"])) <= passed, resource["urn"]
        if resource["type"] == "aws:iam/serviceLinkedRole:ServiceLinkedRole":
            assert resource["inputs"]["awsServiceName"] in linked
        # DynamoDB creates AWSServiceRoleForDynamoDBReplication with the caller's permissions
        # when the account's first global table gets a replica (DynamoDB developer guide,
        # "DynamoDB global tables security", replication service-linked role).
        if resource["type"] == "aws:dynamodb/table:Table" and resource["inputs"].get("replicas"):
            assert "replication.dynamodb.amazonaws.com" in linked, resource["urn"]


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_deploy_roles_write_only_their_own_stack_state(stack: str) -> None:
    project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text(encoding="utf-8"))["name"]
    bucket = "arn:aws:s3:::<STATE_BUCKET>"
    writes: set[str] = set()
    for statement in statements(load(f"deploy-{stack}.permissions.json")):
        if statement["Effect"] != "Allow":
            continue
        actions = set(expanded(as_list(statement["Action"])))
        if any(
            service == "s3" and ACCESS_LEVELS[(service, action)] not in ("Read", "List")
            for service, action in actions
        ):
            if "NotResource" in statement:
                assert {bucket, f"{bucket}/*"} <= set(statement["NotResource"])
            else:
                writes.update(
                    r for r in as_list(statement["Resource"]) if r.startswith(bucket + "/")
                )
    assert writes == {
        f"{bucket}/.pulumi/stacks/{project}/{stack}.json*",
        f"{bucket}/.pulumi/history/{project}/{stack}/*",
        f"{bucket}/.pulumi/backups/{project}/{stack}/*",
        f"{bucket}/.pulumi/journal/{project}/{stack}/*",
        f"{bucket}/.pulumi/locks/organization/{project}/{stack}/*",
    }


def test_deploy_roles_never_touch_the_ci_roles_and_prod_keeps_its_data() -> None:
    for stack in ("dev", "prod"):
        document = {s["Sid"]: s for s in statements(load(f"deploy-{stack}.permissions.json"))}
        deny = document["NeverTouchTheCiRoles"]
        assert (
            deny["Effect"] == "Deny"
            and deny["Resource"] == "arn:aws:iam::<ACCOUNT_ID>:role/github-actions/*"
        )
        assert {
            "iam:UpdateAssumeRolePolicy",
            "iam:PutRolePolicy",
            "iam:AttachRolePolicy",
            "iam:PassRole",
        } <= set(deny["Action"])
    dev = {s["Sid"]: s for s in statements(load("deploy-dev.permissions.json"))}
    prod = {s["Sid"]: s for s in statements(load("deploy-prod.permissions.json"))}
    assert set(prod) - set(dev) == {"NeverDeleteProductionData"}
    assert set(dev) - set(prod) == {
        "SweepListsTaggedResources",
        "SweepListsRolesAndInstanceProfiles",
    }
    assert prod["NeverDeleteProductionData"]["Effect"] == "Deny"
    assert "s3:DeleteBucket" in prod["NeverDeleteProductionData"]["Action"]


# --- The failover operator: exactly what `python -m stacks failover|failback` calls -----------

#: Findings accepted on failover.permissions.json, with the reason.
ACCEPTED_FAILOVER_FINDINGS = {
    ("PERMISSIONS_MANAGEMENT_ACTIONS", "iam:passrole"): "UpdateSchedule sends the schedule's "
    "execution role again (Target.RoleArn); only the schedules' roles, only to "
    "scheduler.amazonaws.com (iam:PassedToService)",
}

#: Every (service, operation) the failover code calls, kept by hand: a new call fails
#: test_the_failover_calls_are_the_listed_ones until it is listed here and granted.
FAILOVER_CALLS = {
    ("autoscaling", "DescribeAutoScalingGroups"),
    ("autoscaling", "UpdateAutoScalingGroup"),
    ("dynamodb", "DescribeTable"),
    ("events", "DescribeRule"),
    ("events", "DisableRule"),
    ("events", "EnableRule"),
    ("s3", "HeadBucket"),
    ("scheduler", "GetSchedule"),
    ("scheduler", "UpdateSchedule"),
    ("ssm", "DescribeParameters"),
    ("ssm", "GetParameter"),
    ("ssm", "PutParameter"),
    ("sts", "GetCallerIdentity"),
}
#: Operations authorised by an IAM action of another name (S3 API Reference, HeadBucket: "you
#: must have permissions to perform the s3:ListBucket action").
IAM_ACTION_OF = {("s3", "HeadBucket"): "s3:ListBucket"}


def _failover_calls() -> set[tuple[str, str]]:
    """(service, operation) pairs stacks/failover/ names: the services its code asks clients
    for (``_client("x")`` / ``clients("x", ...)``), and every attribute of those services'
    botocore clients (calls and bound methods such as ``client.enable_rule``)."""
    import ast

    import botocore.session

    trees = [
        ast.parse(path.read_text(encoding="utf-8"))
        for path in sorted((ROOT / "stacks" / "failover").glob("*.py"))
    ]
    services: set[str] = set()
    attributes: set[str] = set()
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute):
                attributes.add(node.attr)
            if (
                isinstance(node, ast.Call)
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
                and (
                    (isinstance(node.func, ast.Name) and node.func.id == "clients")
                    or (isinstance(node.func, ast.Attribute) and node.func.attr == "_client")
                )
            ):
                services.add(node.args[0].value)
    session = botocore.session.get_session()
    found = set()
    for service in services:
        model = session.get_service_model(service)
        for operation in model.operation_names:
            snake = re.sub(r"(?<!^)(?=[A-Z])", "_", operation).lower()
            if snake in attributes:
                found.add((service, operation))
    return found


def _failover_document() -> dict[str, Any]:
    return load("failover.permissions.json")


def _granting(action: str) -> list[dict[str, Any]]:
    return [
        s
        for s in statements(_failover_document())
        if s["Effect"] == "Allow"
        and any(fnmatch.fnmatchcase(action.lower(), a.lower()) for a in as_list(s["Action"]))
    ]


def test_failover_permissions_pass_parliament() -> None:
    problems = []
    for finding in findings("failover.permissions.json"):
        actions = {a.lower() for a in (finding.location or {}).get("actions", [])}
        if actions and all((finding.issue, a) in ACCEPTED_FAILOVER_FINDINGS for a in actions):
            continue
        problems.append(f"{finding.issue} {finding.detail} {finding.location}")
    assert problems == []


def test_the_failover_calls_are_the_listed_ones() -> None:
    assert _failover_calls() == FAILOVER_CALLS


def test_every_failover_call_is_allowed_and_nothing_else() -> None:
    needed = {IAM_ACTION_OF.get(call, f"{call[0]}:{call[1]}") for call in FAILOVER_CALLS}
    for action in needed:
        assert list(expand_action(action)), action  # a real action (parliament's AWS data)
        assert _granting(action), action
    # UpdateSchedule sends Target.RoleArn again (iam:PassRole) and re-encrypts the schedule
    # with its customer managed key (EventBridge Scheduler User Guide, identity-based policy
    # examples, UpdateSchedule with a customer managed key).
    extra = {"iam:PassRole", "kms:DescribeKey", "kms:Decrypt", "kms:GenerateDataKey"}
    granted = {a for s in statements(_failover_document()) for a in as_list(s["Action"])}
    assert granted == needed | extra


def test_failover_permissions_name_the_stacks_regions() -> None:
    regions: set[str] = set()
    for stack in ("dev", "prod"):
        config = delivery.stack_config(delivery.read_stack_document(ROOT, stack))
        regions.update(delivery.stack_regions(config, f"Pulumi.{stack}.yaml"))
    text = (IAM_DIR / "failover.permissions.json").read_text(encoding="utf-8")
    named = set(re.findall(r"\b[a-z]{2}-[a-z]+-\d\b", text))
    assert named == regions


def _allowed_on(action: str, arn: str, environment: str) -> bool:
    for statement in _granting(action):
        for pattern in as_list(statement["Resource"]):
            if fnmatch.fnmatchcase(arn, pattern.replace("<ENVIRONMENT>", environment)):
                return True
    return False


def _deployed_name(resource: dict[str, Any], key: str = "name") -> str:
    """The resource's name: given, or Pulumi's auto-name (logical name + random suffix)."""
    given = resource["inputs"].get(key)
    return str(given) if given else resource["urn"].rsplit("::", 1)[1] + "-1a2b3c4"


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_failover_permissions_reach_the_resources_the_plans_create(stack: str) -> None:
    plan = json.loads((GOLDEN / f"plan-{stack}.json").read_text(encoding="utf-8"))["resources"]
    account = "<ACCOUNT_ID>"
    checked = 0
    for r in plan:
        kind, inputs = r["type"], r["inputs"]
        name = r["urn"].rsplit("::", 1)[1]
        region = next((x for x in ("eu-west-1", "eu-central-1") if name.startswith(x)), "")
        if not region:
            continue  # global resources (provider, stack): no failover call reaches them
        wanted: list[tuple[str, str]] = []
        if kind == "aws:scheduler/schedule:Schedule":
            arn = f"arn:aws:scheduler:{region}:{account}:schedule/{inputs['groupName']}/"
            arn += inputs["name"]
            wanted += [("scheduler:GetSchedule", arn), ("scheduler:UpdateSchedule", arn)]
            wanted += [
                ("iam:PassRole", inputs["target"]["roleArn"].replace("123456789012", account))
            ]
            wanted += [("kms:Decrypt", inputs["kmsKeyArn"].replace("123456789012", account))]
        elif kind == "aws:ssm/parameter:Parameter" and "/failover/" in inputs["name"]:
            arn = f"arn:aws:ssm:{region}:{account}:parameter{inputs['name']}"
            wanted += [("ssm:GetParameter", arn)]
            if inputs["name"].endswith("/active-region"):
                wanted += [("ssm:PutParameter", arn)]
        elif kind == "aws:autoscaling/group:Group":
            arn = f"arn:aws:autoscaling:{region}:{account}:autoScalingGroup:0a1b:"
            arn += f"autoScalingGroupName/{_deployed_name(r)}"
            wanted += [("autoscaling:UpdateAutoScalingGroup", arn)]
            tags = {t["key"]: t["value"] for t in inputs["tags"]}
            [statement] = _granting("autoscaling:UpdateAutoScalingGroup")
            condition = statement["Condition"]["StringEquals"]
            assert condition["autoscaling:ResourceTag/environment"] == "<ENVIRONMENT>"
            assert tags["environment"] == stack and tags["managed-by"] == "pulumi"
        elif kind == "aws:dynamodb/table:Table":
            for replica_region in ("eu-west-1", "eu-central-1"):
                arn = f"arn:aws:dynamodb:{replica_region}:{account}:table/{_deployed_name(r)}"
                wanted += [("dynamodb:DescribeTable", arn)]
        elif kind == "aws:s3/bucket:Bucket" and "-lake-" in name:
            wanted += [("s3:ListBucket", f"arn:aws:s3:::{_deployed_name(r, 'bucket')}")]
        for action, arn in wanted:
            assert _allowed_on(action, arn, stack), (action, arn)
            checked += 1
    assert checked >= 20
    # Another environment's names are out of reach.
    other = "prod" if stack == "dev" else "dev"
    assert not _allowed_on(
        "ssm:PutParameter",
        f"arn:aws:ssm:eu-west-1:{account}:parameter/mlops/{other}/failover/active-region",
        stack,
    )


def test_the_suites_allowed_actions_cache_changes_no_finding(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """tests/conftest.py makes parliament compute a policy's allowed actions once per
    analysis instead of once per community auditor; the findings must be the same as
    parliament's own."""
    from parliament.policy import Policy

    def described(name: str) -> list[str]:
        return sorted(f"{f.issue} {f.detail} {f.location}" for f in findings(name))

    cached = described("failover.permissions.json")
    monkeypatch.setattr(Policy, "get_allowed_actions", Policy.get_allowed_actions.uncached)
    assert described("failover.permissions.json") == cached
    assert cached  # the document has findings to compare (accepted ones)
