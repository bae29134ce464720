"""The CIS metric filter patterns, evaluated against sample CloudTrail events: the change
categories every deploy makes ignore the configured deploy roles, and still count the same
change made by a person.

moto accepts JSON filter patterns but does not evaluate them (its filter_log_events treats a
pattern starting with ``{`` as "unsupported" and matches every event), so the patterns are
evaluated by the small evaluator below. It covers exactly the JSON pattern syntax the platform
uses (``{ }``, ``( )``, ``&&``, ``||``, ``=``, ``!=``, ``*`` wildcards, ``NOT EXISTS``,
``IS NULL``, ``IS TRUE``/``IS FALSE``), with the precedence CloudWatch Logs documents
(``()`` > ``&&`` > ``||``), and is itself checked against the examples of that documentation
("Filter and pattern syntax", Amazon CloudWatch Logs User Guide).
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from components.audit import (
    DEPLOY_CHANGE_FILTERS,
    MAX_FILTER_PATTERN_LENGTH,
    SESSION_ISSUER_ARN,
    cis_pattern,
    deploy_role_arns_problems,
)
from components.baseline import CIS_METRIC_FILTERS
from stacks.config import ConfigError, load_stack_config, parse_raw_config
from stacks.offline import PROJECT_DIR, Plan

# The evaluator --------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<punct>&&|\|\||!=|=|\(|\)|\{|\})
      | (?P<quoted>"(?:[^"\\]|\\.)*")
      | (?P<selector>\$(?:\.[A-Za-z0-9_-]+|\[\d+\])+)
      | (?P<word>[^\s()"{}=!&|]+)
    )""",
    re.VERBOSE,
)
_MISSING = object()


def _tokens(pattern: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    while pos < len(pattern.rstrip()):
        match = _TOKEN.match(pattern, pos)
        assert match and match.end() > pos, f"cannot parse {pattern[pos:]!r}"
        kind = match.lastgroup
        assert kind is not None
        out.append((kind, match.group(kind)))
        pos = match.end()
    return out


def _resolve(event: Any, selector: str) -> Any:
    value = event
    for part in re.findall(r"\.([A-Za-z0-9_-]+)|\[(\d+)\]", selector[1:]):
        name, index = part
        if name and isinstance(value, dict) and name in value:
            value = value[name]
        elif index and isinstance(value, list) and int(index) < len(value):
            value = value[int(index)]
        else:
            return _MISSING
    return value


def _value_matches(value: Any, expected: str) -> bool:
    text = json.dumps(value) if isinstance(value, bool) else str(value)
    regex = ".*".join(re.escape(part) for part in expected.split("*"))
    return re.fullmatch(regex, text, re.DOTALL) is not None


class _Parser:
    """Recursive descent over ``or := and ('||' and)*``, ``and := term ('&&' term)*``."""

    def __init__(self, pattern: str, event: Any, missing_differs: bool) -> None:
        tokens = _tokens(pattern)
        assert tokens[0] == ("punct", "{") and tokens[-1] == ("punct", "}"), pattern
        self.tokens, self.pos = tokens[1:-1], 0
        self.event, self.missing_differs = event, missing_differs

    def parse(self) -> bool:
        result = self._or()
        assert self.pos == len(self.tokens), f"trailing tokens {self.tokens[self.pos :]}"
        return result

    def _peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def _next(self) -> tuple[str, str]:
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def _or(self) -> bool:
        result = self._and()
        while self._peek() == ("punct", "||"):
            self._next()
            right = self._and()
            result = result or right
        return result

    def _and(self) -> bool:
        result = self._term()
        while self._peek() == ("punct", "&&"):
            self._next()
            right = self._term()
            result = result and right
        return result

    def _term(self) -> bool:
        kind, text = self._next()
        if (kind, text) == ("punct", "("):
            result = self._or()
            assert self._next() == ("punct", ")")
            return result
        assert kind == "selector", f"expected a selector, got {text!r}"
        value = _resolve(self.event, text)
        op_kind, op = self._next()
        if op_kind == "word":  # NOT EXISTS, IS NULL, IS TRUE, IS FALSE
            _, what = self._next()
            return {
                ("NOT", "EXISTS"): value is _MISSING,
                ("IS", "NULL"): value is None,
                ("IS", "TRUE"): value is True,
                ("IS", "FALSE"): value is False,
            }[(op, what)]
        value_kind, raw = self._next()
        expected = json.loads(raw) if value_kind == "quoted" else raw
        if value is _MISSING:
            # Not documented for a property that is not there: evaluated both ways.
            return op == "!=" and self.missing_differs
        if isinstance(value, (dict, list)):
            return False  # "the filter will not be applied" to arrays and objects
        return _value_matches(value, expected) == (op == "=")


def matches(pattern: str, event: Any, *, missing_differs: bool = False) -> bool:
    return _Parser(pattern, event, missing_differs).parse()


# The evaluator follows the documentation's examples -----------------------------------

DOC_EVENT = {
    "eventType": "UpdateTrail",
    "sourceIPAddress": "111.111.111.111",
    "arrayKey": ["value", "another value"],
    "objectList": [{"name": "a", "id": 1}, {"name": "b", "id": 2}],
    "SomeObject": None,
    "ThisFlag": True,
}
DOC_COMPOUND_EVENT = {
    "user": {"id": 1, "email": "John.Stiles@example.com"},
    "users": [
        {"id": 2, "email": "John.Doe@example.com"},
        {"id": 3, "email": "Jane.Doe@example.com"},
    ],
    "actions": ["GET", "PUT", "DELETE"],
    "coordinates": [[0, 1, 2], [4, 5, 6], [7, 8, 9]],
}


@pytest.mark.parametrize(
    "pattern",
    [
        '{ $.eventType = "UpdateTrail" }',
        "{ $.sourceIPAddress != 123.123.* }",
        '{ $.arrayKey[0] = "value" }',
        "{ $.objectList[1].id = 2 }",
        "{ $.SomeObject IS NULL }",
        "{ $.SomeOtherObject NOT EXISTS }",
        "{ $.ThisFlag IS TRUE }",
    ],
)
def test_the_evaluator_matches_the_documented_matches(pattern: str) -> None:
    assert matches(pattern, DOC_EVENT)


@pytest.mark.parametrize(
    "pattern, expected",
    [
        ('{ ($.user.id = 1) && ($.users[0].email = "John.Doe@example.com") }', True),
        ('{ ($.user.id = 2 && $.users[0].email = "nonmatch") || $.actions[2] = "GET" }', False),
        (
            '{ $.user.email = "John.Stiles@example.com" || $.coordinates[0][1] = nonmatch '
            "&& $.actions[2] = nomatch }",
            True,
        ),
        (
            '{ ($.user.email = "John.Stiles@example.com" || $.coordinates[0][1] = nonmatch) '
            "&& $.actions[2] = nomatch }",
            False,
        ),
        ("{ $.users = 1 }", False),
        ("{ $.users != 1 }", False),
    ],
)
def test_the_evaluator_follows_the_documented_compound_examples(pattern, expected) -> None:
    assert matches(pattern, DOC_COMPOUND_EVENT) is expected


# Sample CloudTrail events ---------------------------------------------------------------

ACCOUNT = "123456789012"
DEPLOY_DEV = f"arn:aws:iam::{ACCOUNT}:role/github-actions/mlops-platform-deploy-dev"
DEPLOY_PROD = f"arn:aws:iam::{ACCOUNT}:role/github-actions/mlops-platform-deploy-prod"


def assumed_role(role_arn: str, session: str) -> dict[str, Any]:
    """A userIdentity of temporary credentials of ``role_arn``, as CloudTrail records it
    ("CloudTrail userIdentity element": the session ARN names the role without its path,
    sessionContext.sessionIssuer.arn is the role's own ARN)."""
    name = role_arn.rsplit("/", 1)[1]
    return {
        "type": "AssumedRole",
        "principalId": f"AROAEXAMPLE:{session}",
        "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/{name}/{session}",
        "accountId": ACCOUNT,
        "sessionContext": {
            "sessionIssuer": {
                "type": "Role",
                "principalId": "AROAEXAMPLE",
                "arn": role_arn,
                "accountId": ACCOUNT,
                "userName": name,
            },
            "attributes": {"mfaAuthenticated": "false", "creationDate": "2024-05-06T05:00:00Z"},
        },
    }


IDENTITIES: dict[str, dict[str, Any]] = {
    "the dev deploy role": assumed_role(DEPLOY_DEV, "GitHubActions"),
    "the prod deploy role": assumed_role(DEPLOY_PROD, "GitHubActions"),
    "a person (IAM user)": {
        "type": "IAMUser",
        "principalId": "AIDAEXAMPLE",
        "arn": f"arn:aws:iam::{ACCOUNT}:user/Alice",
        "accountId": ACCOUNT,
        "userName": "Alice",
    },
    "a person (IAM Identity Center role)": assumed_role(
        f"arn:aws:iam::{ACCOUNT}:role/aws-reserved/sso.amazonaws.com/eu-west-1/"
        "AWSReservedSSO_AdministratorAccess_0123456789abcdef",
        "alice@example.com",
    ),
    "a person who named a session after the deploy role": assumed_role(
        f"arn:aws:iam::{ACCOUNT}:role/admin", "mlops-platform-deploy-dev"
    ),
    "the root user": {
        "type": "Root",
        "principalId": ACCOUNT,
        "arn": f"arn:aws:iam::{ACCOUNT}:root",
        "accountId": ACCOUNT,
    },
}
DEPLOY_ROLES = ("the dev deploy role", "the prod deploy role")

#: For each CIS category, the fields of one event it is about.
CATEGORY_EVENTS: dict[str, dict[str, Any]] = {
    "unauthorized-api-calls": {
        "eventSource": "s3.amazonaws.com",
        "eventName": "GetObject",
        "errorCode": "AccessDenied",
    },
    "console-login-without-mfa": {
        "eventSource": "signin.amazonaws.com",
        "eventName": "ConsoleLogin",
        "additionalEventData": {"MFAUsed": "No"},
        "responseElements": {"ConsoleLogin": "Success"},
    },
    "root-account-usage": {"eventSource": "s3.amazonaws.com", "eventName": "ListBuckets"},
    "iam-policy-changes": {"eventSource": "iam.amazonaws.com", "eventName": "PutRolePolicy"},
    "cloudtrail-changes": {"eventSource": "cloudtrail.amazonaws.com", "eventName": "StopLogging"},
    "console-auth-failures": {
        "eventSource": "signin.amazonaws.com",
        "eventName": "ConsoleLogin",
        "errorMessage": "Failed authentication",
    },
    "cmk-disable-or-deletion": {
        "eventSource": "kms.amazonaws.com",
        "eventName": "ScheduleKeyDeletion",
    },
    "s3-bucket-policy-changes": {"eventSource": "s3.amazonaws.com", "eventName": "PutBucketPolicy"},
    "config-changes": {
        "eventSource": "config.amazonaws.com",
        "eventName": "StopConfigurationRecorder",
    },
    "security-group-changes": {
        "eventSource": "ec2.amazonaws.com",
        "eventName": "AuthorizeSecurityGroupIngress",
    },
    "nacl-changes": {"eventSource": "ec2.amazonaws.com", "eventName": "CreateNetworkAclEntry"},
    "network-gateway-changes": {
        "eventSource": "ec2.amazonaws.com",
        "eventName": "CreateInternetGateway",
    },
    "route-table-changes": {"eventSource": "ec2.amazonaws.com", "eventName": "CreateRoute"},
    "vpc-changes": {"eventSource": "ec2.amazonaws.com", "eventName": "CreateVpc"},
}


def cloudtrail_event(category: str, identity: str) -> dict[str, Any]:
    """A management event of ``category`` made by ``identity``."""
    who = IDENTITIES[identity]
    if category == "root-account-usage":
        who = IDENTITIES["the root user"]
    return {
        "eventVersion": "1.09",
        "userIdentity": who,
        "eventTime": "2024-05-06T05:03:12Z",
        "awsRegion": "eu-west-1",
        "sourceIPAddress": "203.0.113.10",
        "userAgent": "pulumi",
        "requestParameters": {},
        "eventType": "AwsConsoleSignIn"
        if CATEGORY_EVENTS[category]["eventName"] == "ConsoleLogin"
        else "AwsApiCall",
        "recipientAccountId": ACCOUNT,
        **CATEGORY_EVENTS[category],
    }


# The patterns ---------------------------------------------------------------------------


def test_every_category_has_a_sample_and_the_deploy_categories_exist() -> None:
    assert set(CATEGORY_EVENTS) == set(CIS_METRIC_FILTERS)
    assert set(DEPLOY_CHANGE_FILTERS) < set(CIS_METRIC_FILTERS)


@pytest.mark.parametrize(
    "missing_differs", [False, True], ids=["!=missing-fails", "!=missing-holds"]
)
@pytest.mark.parametrize("identity", sorted(IDENTITIES))
@pytest.mark.parametrize("cis_id", sorted(CIS_METRIC_FILTERS))
def test_deploy_roles_are_ignored_only_where_deploys_change_things(
    cis_id: str, identity: str, missing_differs: bool
) -> None:
    cis = CIS_METRIC_FILTERS[cis_id]
    event = cloudtrail_event(cis_id, identity)
    # The canonical pattern counts everyone.
    assert matches(cis.pattern, event, missing_differs=missing_differs)
    pattern = cis_pattern(cis, [DEPLOY_DEV, DEPLOY_PROD])
    ignored = (
        cis_id in DEPLOY_CHANGE_FILTERS
        and identity in DEPLOY_ROLES
        and cis_id != "root-account-usage"
    )
    assert matches(pattern, event, missing_differs=missing_differs) is not ignored


@pytest.mark.parametrize("cis_id", sorted(CIS_METRIC_FILTERS))
def test_other_events_still_do_not_match(cis_id: str) -> None:
    unrelated = {
        "eventSource": "s3.amazonaws.com",
        "eventName": "GetObject",
        "eventType": "AwsApiCall",
        "userIdentity": IDENTITIES["a person (IAM user)"],
    }
    pattern = cis_pattern(CIS_METRIC_FILTERS[cis_id], [DEPLOY_DEV])
    assert not matches(pattern, unrelated)
    assert not matches(pattern, {**unrelated, "userIdentity": IDENTITIES["the dev deploy role"]})


def test_only_the_configured_roles_are_ignored() -> None:
    pattern = cis_pattern(CIS_METRIC_FILTERS["vpc-changes"], [DEPLOY_DEV])
    assert not matches(pattern, cloudtrail_event("vpc-changes", "the dev deploy role"))
    assert matches(pattern, cloudtrail_event("vpc-changes", "the prod deploy role"))


def test_without_deploy_roles_the_patterns_are_the_canonical_ones() -> None:
    for cis in CIS_METRIC_FILTERS.values():
        assert cis_pattern(cis) == cis.pattern
        assert cis_pattern(cis, []) == cis.pattern


def test_the_exclusion_reads_the_session_issuer() -> None:
    pattern = cis_pattern(CIS_METRIC_FILTERS["iam-policy-changes"], [DEPLOY_DEV])
    assert f'{SESSION_ISSUER_ARN} != "{DEPLOY_DEV}"' in pattern
    assert f"{SESSION_ISSUER_ARN} NOT EXISTS" in pattern
    assert CIS_METRIC_FILTERS["iam-policy-changes"].matches(pattern)  # the policy rule's check


# Length limit ---------------------------------------------------------------------------


def test_the_length_limit_is_the_apis() -> None:
    import botocore.session

    model = botocore.session.get_session().get_service_model("logs")
    shape = model.operation_model("PutMetricFilter").input_shape.members["filterPattern"]
    assert shape.metadata["max"] == MAX_FILTER_PATTERN_LENGTH == 1024


def test_two_deploy_roles_fit_and_too_many_are_refused() -> None:
    assert deploy_role_arns_problems([DEPLOY_DEV, DEPLOY_PROD]) == []
    for cis in CIS_METRIC_FILTERS.values():
        assert len(cis_pattern(cis, [DEPLOY_DEV, DEPLOY_PROD])) <= MAX_FILTER_PATTERN_LENGTH
    many = [
        DEPLOY_DEV,
        DEPLOY_PROD,
        f"arn:aws:iam::{ACCOUNT}:role/github-actions/mlops-platform-deploy-staging",
    ]
    (problem,) = deploy_role_arns_problems(many)
    assert problem.startswith("deploy_role_arns: with these 3 role(s) the CIS filter ")
    assert "at most 1024" in problem


# Config ---------------------------------------------------------------------------------


def _problems(stack_config, **iam: Any) -> list[str]:
    config = stack_config("prod")
    config["mlops:iam"] = iam
    flat = {k: v if isinstance(v, str) else json.dumps(v) for k, v in config.items()}
    with pytest.raises(ConfigError) as info:
        parse_raw_config(flat)
    return [p for p in info.value.problems if p.startswith("mlops:iam")]


@pytest.mark.parametrize(
    "roles, expected",
    [
        (
            ["arn:aws:sts::123456789012:assumed-role/mlops-platform-deploy-dev/GitHubActions"],
            "mlops:iam.deployRoleArns[0]: 'arn:aws:sts::123456789012:assumed-role/"
            "mlops-platform-deploy-dev/GitHubActions' is not an IAM role ARN (that is a session",
        ),
        (
            [DEPLOY_PROD, "arn:aws:iam::123456789012:user/alice"],
            "mlops:iam.deployRoleArns[1]: 'arn:aws:iam::123456789012:user/alice' is not an IAM "
            "role ARN",
        ),
        ([DEPLOY_PROD, DEPLOY_PROD], "mlops:iam.deployRoleArns: "),
        (
            [
                DEPLOY_PROD,
                DEPLOY_DEV,
                f"arn:aws:iam::{ACCOUNT}:role/github-actions/mlops-platform-deploy-staging",
            ],
            "mlops:iam.deployRoleArns: with these 3 role(s) the CIS filter",
        ),
        (
            ["arn:aws:iam::210987654321:role/deploy"],
            "mlops:iam.deployRoleArns[0]: the role is in account 210987654321, not one of "
            "mlops:allowedAccountIds (123456789012)",
        ),
    ],
)
def test_bad_deploy_roles_in_config_name_the_key(stack_config, roles, expected) -> None:
    problems = _problems(stack_config, deployRoleArns=roles)
    assert len(problems) == 1, problems
    assert problems[0].startswith(expected), problems[0]


def test_the_stack_files_deploy_roles_fit() -> None:
    # Config only: no plan needed (asking for the session's renders made this test the one
    # that waited for them).
    for stack in ("dev", "prod"):
        cfg = load_stack_config(PROJECT_DIR, stack)
        assert deploy_role_arns_problems(list(cfg.iam.deploy_role_arns)) == []


def test_rendered_filters_ignore_the_stacks_deploy_role_and_count_people(
    plans: dict[str, Plan],
) -> None:
    for stack, plan in plans.items():
        (role,) = load_stack_config(PROJECT_DIR, stack).iam.deploy_role_arns
        patterns = {
            f["inputs"]["name"].removeprefix("cis-"): f["inputs"]["pattern"]
            for f in plan.of_type("aws:cloudwatch/logMetricFilter:LogMetricFilter")
        }
        deploy = assumed_role(role, "GitHubActions")
        for cis_id, pattern in patterns.items():
            person = cloudtrail_event(cis_id, "a person (IAM Identity Center role)")
            assert matches(pattern, person), (stack, cis_id)
            by_deploy = {**person, "userIdentity": deploy}
            if cis_id != "root-account-usage":
                assert matches(pattern, by_deploy) is (cis_id not in DEPLOY_CHANGE_FILTERS)
