"""The security baseline as plain rule functions (docs/design.md, "Security baseline").

Every rule is a stack-level function `(resources) -> list[Violation]`: it may look at one
resource at a time or correlate several (a bucket and its public-access block). A rule only
fires on the resource types it is about; a stack without them passes. Values that cannot be
known yet (`UNKNOWN`, CrossGuard during preview) are never reported.

The rules live in one module per capability, as the components do:

- `network`: VPC flow logs, default security group, subnets, security groups, SSH.
- `compute`: launch templates, instances, auto scaling groups, EFS.
- `iam`, `kms`: policy documents, wildcards, public principals; key rotation.
- `serverless`: Lambda functions, DynamoDB tables, SNS topics.
- `containers`: ECR, ECS, load balancers.
- `s3`: buckets.
- `audit`: CloudTrail, CloudWatch log groups, the CIS metric filters and alarms.

with `types` (resource type tokens), `registry` (`Rule`, the `rule` decorator), `helpers`
(shared by the rule modules, and `is_protected_stack`) and `exceptions`.

Registries, each defined once and imported by everyone who needs them:

- `RULES`: every rule with its id, description and enforcement ("mandatory" unless recorded
  otherwise), in the order of `_RULE_ORDER` below. The order is public: CrossGuard lists its
  policies in it and the tests enumerate it. A rule module that registers a rule missing from
  the order (or the reverse) fails at import.
- `EXCEPTIONS` (`policies.rules.exceptions`): the only place a violation may be waived, each
  with its reason. The check reports an excepted violation as an exemption, never silently.
- The security constants the components build with (`RESOURCE_STAR_ALLOWED`,
  `CIS_METRIC_FILTERS`, `LAMBDA_RUNTIME_DEPRECATION`, `looks_like_secret`) are defined in
  `components.baseline` and re-exported here: the pack checks with what the components use.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from components.baseline import (
    CIS_METRIC_FILTERS,
    LAMBDA_RUNTIME_DEPRECATION,
    RESOURCE_STAR_ALLOWED,
    CisMetricFilter,
    looks_like_secret,
    runtime_supported,
)
from policies.model import Options, Resource, Stack, Violation

# Importing a rule module registers its rules.
from policies.rules import (  # noqa: F401
    audit,
    compute,
    containers,
    iam,
    kms,
    network,
    s3,
    serverless,
)
from policies.rules.containers import has_https_listener, redirects_to_https
from policies.rules.exceptions import EXCEPTIONS, PolicyException
from policies.rules.helpers import is_protected_stack
from policies.rules.registry import Rule, in_order

__all__ = [
    "CIS_METRIC_FILTERS",
    "EXCEPTIONS",
    "LAMBDA_RUNTIME_DEPRECATION",
    "RESOURCE_STAR_ALLOWED",
    "RULES",
    "RULES_BY_ID",
    "CisMetricFilter",
    "Options",
    "PolicyException",
    "Resource",
    "Rule",
    "Stack",
    "Violation",
    "has_https_listener",
    "is_protected_stack",
    "looks_like_secret",
    "redirects_to_https",
    "runtime_supported",
]

_RULE_ORDER: Final = (
    # network
    "vpc-flow-logs",
    "vpc-default-sg-closed",
    "vpc-subnet-no-public-ip",
    "sg-open-ingress",
    "sg-descriptions",
    "ec2-no-ssh",
    # compute: launch templates, instances, auto scaling groups
    "ec2-imdsv2",
    "ec2-ebs-encrypted",
    "ec2-no-public-ip",
    "asg-multi-az",
    "asg-mixed-instance-types",
    "asg-elb-health-check",
    # iam, kms
    "iam-policy-json",
    "iam-no-wildcard-action",
    "iam-resource-star",
    "iam-no-decrypt-on-star",
    "iam-no-admin-managed-policy",
    "resource-policy-not-public",
    "kms-key-rotation",
    # serverless: Lambda
    "lambda-runtime",
    "lambda-no-public-permission",
    "lambda-vpc-multi-az",
    "lambda-dlq",
    "lambda-log-group",
    # compute: EFS
    "efs-encrypted",
    "efs-backup-policy",
    "efs-access-point",
    # containers: ECR, ECS, load balancers
    "ecr-scan-on-push",
    "ecr-immutable-tags",
    "ecr-lifecycle-policy",
    "ecr-kms",
    "ecs-no-public-ip",
    "ecs-platform-version",
    "ecs-container-insights",
    "ecs-not-privileged",
    "ecs-readonly-root",
    "ecs-container-logging",
    "ecs-no-plaintext-secrets",
    "alb-drop-invalid-headers",
    "alb-desync-mitigation",
    "lb-access-logs",
    "lb-deletion-protection",
    "alb-listener-https",
    "alb-http-redirect",
    "alb-tls13-policy",
    # s3
    "s3-public-access-block",
    "s3-ownership-enforced",
    "s3-tls-only",
    "s3-sse-kms",
    "s3-versioning",
    "s3-access-logging",
    "s3-lifecycle",
    # serverless: DynamoDB, SNS
    "dynamodb-on-demand",
    "dynamodb-pitr",
    "dynamodb-kms",
    "dynamodb-deletion-protection",
    "sns-kms",
    "sns-tls-publish",
    # audit: CloudTrail, CloudWatch
    "cloudtrail-single-trail",
    "cloudtrail-configuration",
    "cloudtrail-management-events",
    "cloudtrail-s3-data-events",
    "logs-retention",
    "logs-kms",
    "cis-metric-filters",
)
"""Report order of the rules (see the module docstring)."""

RULES: Final[tuple[Rule, ...]] = in_order(_RULE_ORDER)
RULES_BY_ID: Final[Mapping[str, Rule]] = {r.id: r for r in RULES}
