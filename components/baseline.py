"""The platform's security constants, defined once: components build with them and the
policy pack (``policies``) checks with them.

- ``RESOURCE_STAR_ALLOWED``: the IAM actions that may use ``"Resource": "*"`` because they
  support no resource-level permissions, each with its reason. ``components.iam`` refuses any
  other action on ``"*"``.
- ``LAMBDA_RUNTIME_DEPRECATION`` / ``runtime_supported``: the Lambda runtimes accepted, with
  AWS's deprecation dates.
- ``CIS_METRIC_FILTERS``: the CIS CloudTrail metric filters (canonical patterns) the audit
  component creates and the ``cis-metric-filters`` rule looks for.
- ``looks_like_secret``: the rule for environment variable names that suggest a secret value.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Final

__all__ = [
    "CIS_METRIC_FILTERS",
    "LAMBDA_RUNTIME_DEPRECATION",
    "RESOURCE_STAR_ALLOWED",
    "CisMetricFilter",
    "looks_like_secret",
    "runtime_supported",
]


RESOURCE_STAR_ALLOWED: Final[Mapping[str, str]] = {
    "ec2:DescribeNetworkInterfaces": "EC2 Describe actions support no resource-level permissions; VPC-attached Lambda "
    "functions and the CloudWatch agent call it.",
    "ec2:DescribeSubnets": "EC2 Describe actions support no resource-level permissions; VPC-attached Lambda "
    'functions need it (AWS\'s managed policy AWSLambdaVPCAccessExecutionRole grants it on "*").',
    "ec2:DescribeInstances": "EC2 Describe actions support no resource-level permissions; the CloudWatch agent "
    "reads instance metadata for metric dimensions.",
    "ec2:DescribeTags": "EC2 Describe actions support no resource-level permissions; the CloudWatch agent "
    "appends instance tags as metric dimensions.",
    "ec2:DescribeVolumes": "EC2 Describe actions support no resource-level permissions; the CloudWatch agent "
    "resolves EBS volume ids for disk metrics.",
    "cloudwatch:PutMetricData": "Supports no resource-level permissions; scope it with the cloudwatch:namespace "
    "condition key instead.",
    "logs:DescribeLogGroups": "Supports no resource-level permissions; the CloudWatch agent and MWAA list log groups "
    "before writing.",
    "ecr:GetAuthorizationToken": "Returns a registry-wide login token; supports no resource-level permissions. Image "
    "pulls themselves are scoped to repository ARNs.",
    "xray:PutTraceSegments": "Supports no resource-level permissions; needed for Lambda active tracing.",
    "xray:PutTelemetryRecords": "Supports no resource-level permissions; needed for Lambda active tracing.",
    "ssmmessages:CreateControlChannel": "Session Manager (used instead of SSH) channel action; supports no resource-level "
    "permissions.",
    "ssmmessages:CreateDataChannel": "Session Manager (used instead of SSH) channel action; supports no resource-level "
    "permissions.",
    "ssmmessages:OpenControlChannel": "Session Manager (used instead of SSH) channel action; supports no resource-level "
    "permissions.",
    "ssmmessages:OpenDataChannel": "Session Manager (used instead of SSH) channel action; supports no resource-level "
    "permissions.",
}
"""IAM actions allowed with `"Resource": "*"`, each with the reason (docs/design.md, decision 5)."""

LAMBDA_RUNTIME_DEPRECATION: Final[Mapping[str, date]] = {
    "python3.11": date(2026, 6, 30),
    "python3.12": date(2028, 10, 31),
    "python3.13": date(2029, 6, 30),
    "python3.14": date(2029, 6, 30),
    "nodejs20.x": date(2026, 4, 30),
    "nodejs22.x": date(2027, 4, 30),
    "nodejs24.x": date(2028, 4, 30),
    "provided.al2023": date(2029, 6, 30),
}
"""Accepted Lambda runtimes and the date AWS deprecates each (AWS Lambda runtimes table)."""


def runtime_supported(runtime: str, on: date) -> bool:
    """True when `runtime` is an accepted Lambda runtime not yet deprecated on `on`."""
    deprecation = LAMBDA_RUNTIME_DEPRECATION.get(runtime)
    return deprecation is not None and on < deprecation


@dataclass(frozen=True)
class CisMetricFilter:
    """One CIS AWS Foundations CloudTrail metric filter: its canonical pattern and the terms a
    pattern must contain (whole words, case-sensitive) to count as covering the category."""

    id: str
    title: str
    pattern: str

    @property
    def required_terms(self) -> tuple[str, ...]:
        """The values the canonical pattern compares fields with (wildcards stripped)."""
        terms: list[str] = []
        for quoted, bare in re.findall(
            r'\$\.[\w.]+\s*!?=\s*(?:"([^"]*)"|([\w.*-]+))', self.pattern
        ):
            term = (quoted or bare).strip("*")
            if term and term not in terms:
                terms.append(term)
        return tuple(terms)

    def matches(self, pattern: str) -> bool:
        """True when `pattern` mentions every required term as a whole word."""
        return all(
            re.search(rf"(?<![\w.]){re.escape(t)}(?![\w])", pattern) for t in self.required_terms
        )


def _events(*names: str) -> str:
    """A pattern `($.eventName = A) || ($.eventName = B) ...`."""
    return " || ".join(f"($.eventName = {n})" for n in names)


CIS_METRIC_FILTERS: Final[Mapping[str, CisMetricFilter]] = {
    f.id: f
    for f in (
        CisMetricFilter(
            "unauthorized-api-calls",
            "Unauthorized API calls",
            '{ ($.errorCode = "*UnauthorizedOperation") || ($.errorCode = "AccessDenied*") }',
        ),
        CisMetricFilter(
            "console-login-without-mfa",
            "Console sign-in without MFA",
            '{ ($.eventName = "ConsoleLogin") && ($.additionalEventData.MFAUsed != "Yes") }',
        ),
        CisMetricFilter(
            "root-account-usage",
            "Usage of the root account",
            '{ $.userIdentity.type = "Root" && $.userIdentity.invokedBy NOT EXISTS '
            '&& $.eventType != "AwsServiceEvent" }',
        ),
        CisMetricFilter(
            "iam-policy-changes",
            "IAM policy changes",
            "{ "
            + _events(
                "DeleteGroupPolicy",
                "DeleteRolePolicy",
                "DeleteUserPolicy",
                "PutGroupPolicy",
                "PutRolePolicy",
                "PutUserPolicy",
                "CreatePolicy",
                "DeletePolicy",
                "CreatePolicyVersion",
                "DeletePolicyVersion",
                "AttachRolePolicy",
                "DetachRolePolicy",
                "AttachUserPolicy",
                "DetachUserPolicy",
                "AttachGroupPolicy",
                "DetachGroupPolicy",
            )
            + " }",
        ),
        CisMetricFilter(
            "cloudtrail-changes",
            "CloudTrail configuration changes",
            "{ "
            + _events("CreateTrail", "UpdateTrail", "DeleteTrail", "StartLogging", "StopLogging")
            + " }",
        ),
        CisMetricFilter(
            "console-auth-failures",
            "Console authentication failures",
            '{ ($.eventName = ConsoleLogin) && ($.errorMessage = "Failed authentication") }',
        ),
        CisMetricFilter(
            "cmk-disable-or-deletion",
            "Disabling or scheduled deletion of KMS keys",
            "{ ($.eventSource = kms.amazonaws.com) && "
            "(($.eventName = DisableKey) || ($.eventName = ScheduleKeyDeletion)) }",
        ),
        CisMetricFilter(
            "s3-bucket-policy-changes",
            "S3 bucket policy changes",
            "{ ($.eventSource = s3.amazonaws.com) && ("
            + _events(
                "PutBucketAcl",
                "PutBucketPolicy",
                "PutBucketCors",
                "PutBucketLifecycle",
                "PutBucketReplication",
                "DeleteBucketPolicy",
                "DeleteBucketCors",
                "DeleteBucketLifecycle",
                "DeleteBucketReplication",
            )
            + ") }",
        ),
        CisMetricFilter(
            "config-changes",
            "AWS Config configuration changes",
            "{ ($.eventSource = config.amazonaws.com) && ("
            + _events(
                "StopConfigurationRecorder",
                "DeleteDeliveryChannel",
                "PutDeliveryChannel",
                "PutConfigurationRecorder",
            )
            + ") }",
        ),
        CisMetricFilter(
            "security-group-changes",
            "Security group changes",
            "{ "
            + _events(
                "AuthorizeSecurityGroupIngress",
                "AuthorizeSecurityGroupEgress",
                "RevokeSecurityGroupIngress",
                "RevokeSecurityGroupEgress",
                "CreateSecurityGroup",
                "DeleteSecurityGroup",
            )
            + " }",
        ),
        CisMetricFilter(
            "nacl-changes",
            "Network ACL changes",
            "{ "
            + _events(
                "CreateNetworkAcl",
                "CreateNetworkAclEntry",
                "DeleteNetworkAcl",
                "DeleteNetworkAclEntry",
                "ReplaceNetworkAclEntry",
                "ReplaceNetworkAclAssociation",
            )
            + " }",
        ),
        CisMetricFilter(
            "network-gateway-changes",
            "Network gateway changes",
            "{ "
            + _events(
                "CreateCustomerGateway",
                "DeleteCustomerGateway",
                "AttachInternetGateway",
                "CreateInternetGateway",
                "DeleteInternetGateway",
                "DetachInternetGateway",
            )
            + " }",
        ),
        CisMetricFilter(
            "route-table-changes",
            "Route table changes",
            "{ ($.eventSource = ec2.amazonaws.com) && ("
            + _events(
                "CreateRoute",
                "CreateRouteTable",
                "ReplaceRoute",
                "ReplaceRouteTableAssociation",
                "DeleteRouteTable",
                "DeleteRoute",
                "DisassociateRouteTable",
            )
            + ") }",
        ),
        CisMetricFilter(
            "vpc-changes",
            "VPC changes",
            "{ "
            + _events(
                "CreateVpc",
                "DeleteVpc",
                "ModifyVpcAttribute",
                "AcceptVpcPeeringConnection",
                "CreateVpcPeeringConnection",
                "DeleteVpcPeeringConnection",
                "RejectVpcPeeringConnection",
                "AttachClassicLinkVpc",
                "DetachClassicLinkVpc",
                "DisableVpcClassicLink",
                "EnableVpcClassicLink",
            )
            + " }",
        ),
    )
}
"""CIS AWS Foundations Benchmark (section "Monitoring") metric filters, by id."""


_SECRET_WORDS: Final = (
    "SECRET",
    "PASSWORD",
    "PASSWD",
    "TOKEN",
    "APIKEY",
    "PRIVATEKEY",
    "CREDENTIAL",
)
_REFERENCE_SUFFIXES: Final = (
    "ARN",
    "ID",
    "NAME",
    "PREFIX",
    "PATH",
    "URL",
    "URI",
    "FILE",
    "REGION",
    "ENDPOINT",
    "HEADER",
    "TTL",
)


def looks_like_secret(name: str) -> bool:
    """True when an environment variable name suggests a secret value.

    Words are split on non-alphanumerics. A name ending in a reference word (…_ARN, …_ID,
    …_NAME, …_URL, …) names where a secret lives, not the secret, and passes. Otherwise a word
    containing SECRET/PASSWORD/PASSWD/TOKEN/APIKEY/PRIVATEKEY/CREDENTIAL, or the word KEY,
    marks a secret.
    """
    words = [w for w in re.split(r"[^A-Za-z0-9]+", name.upper()) if w]
    if not words or words[-1] in _REFERENCE_SUFFIXES:
        return False
    return "KEY" in words or any(s in w for w in words for s in _SECRET_WORDS)
