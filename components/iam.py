"""Least-privilege IAM: service roles and scoped grants.

A :class:`ServiceRole` is a role that one AWS service assumes. Its trust policy carries the
confused-deputy conditions (``aws:SourceAccount``, ``aws:SourceArn``) where the service
supports them. Permissions are added by *grants*: components that own resources expose
methods (``lake.grant_read(role, zone="curated")``, ``key.grant_decrypt(role)``) that call
:meth:`ServiceRole.grant` with exactly the actions and ARNs needed. Each grant becomes one
inline policy named after its purpose, so the plan shows who may do what, and why.

Statements are checked when they are built: no ``*`` action, no ``service:*``, and
``"Resource": "*"`` only for actions in the one allow-list
(:data:`components.baseline.RESOURCE_STAR_ALLOWED`), each listed there with its reason.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from components.baseline import RESOURCE_STAR_ALLOWED
from components.checks import duplicates, raise_problems

_ACTION_RE = re.compile(r"^[a-z0-9-]+:[A-Za-z0-9*]+$")
_PURPOSE_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
#: A managed policy ARN (a permissions boundary must be one).
_POLICY_ARN_RE = re.compile(r"^arn:aws(-[a-z]+)*:iam::(\d{12}|aws):policy/[\w+=,.@/-]+$")

#: Services whose trust policies can be scoped with the confused-deputy condition keys:
#: service principal -> does it send aws:SourceArn (it always sends aws:SourceAccount).
#: Services not listed send neither when they assume a role: ec2 and lambda, and
#: cloudtrail, whose CloudWatch Logs delivery role AWS documents as not supporting them.
CONFUSED_DEPUTY_KEYS: Mapping[str, bool] = {
    "vpc-flow-logs.amazonaws.com": True,
    "s3.amazonaws.com": True,
    "events.amazonaws.com": True,
    "scheduler.amazonaws.com": True,
    "ecs-tasks.amazonaws.com": True,
    "batch.amazonaws.com": True,
    "airflow.amazonaws.com": True,
    "airflow-env.amazonaws.com": True,
    "states.amazonaws.com": True,
}

ArnInput = str | pulumi.Output[str]


@dataclass(frozen=True)
class Statement:
    """One ``Allow`` statement, validated against the least-privilege rules."""

    sid: str
    actions: Sequence[str]
    resources: Sequence[ArnInput]
    conditions: Mapping[str, Mapping[str, Any]] | None = None

    def __post_init__(self) -> None:
        problems = []
        if not re.fullmatch(r"[A-Za-z0-9]+", self.sid):
            problems.append(f"sid {self.sid!r} must be alphanumeric")
        if not self.actions:
            problems.append("no actions")
        for action in self.actions:
            if not _ACTION_RE.match(action):
                problems.append(f"{action!r} is not an IAM action (service:Action)")
            elif action == "*" or action.endswith(":*"):
                problems.append(f"{action!r} grants a whole service; name the actions")
        if not self.resources:
            problems.append("no resources")
        if "*" in self.resources:
            if len(self.resources) != 1:
                problems.append('"*" cannot be mixed with ARNs')
            not_allowed = [a for a in self.actions if a not in RESOURCE_STAR_ALLOWED]
            if not_allowed:
                problems.append(
                    f'{not_allowed} may not use "Resource": "*": they support resource-level '
                    "permissions (only the actions in components.baseline.RESOURCE_STAR_ALLOWED may)"
                )
        raise_problems(f"statement {self.sid}", problems)

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "Sid": self.sid,
            "Effect": "Allow",
            "Action": sorted(set(self.actions)),
            "Resource": list(self.resources) if len(self.resources) > 1 else self.resources[0],
        }
        if self.conditions:
            doc["Condition"] = {k: dict(v) for k, v in self.conditions.items()}
        return doc


def policy_document(statements: Sequence[Statement]) -> pulumi.Output[str]:
    """A policy document (JSON text) from validated statements."""
    sids = [s.sid for s in statements]
    dupes = duplicates(sids)
    if dupes:
        raise ValueError(f"duplicate statement ids {dupes}")
    return pulumi.Output.json_dumps(
        {"Version": "2012-10-17", "Statement": [s.to_json() for s in statements]}
    )


@dataclass(frozen=True)
class ServiceRoleArgs:
    """Arguments of :class:`ServiceRole`."""

    service: str
    """Service principal that assumes the role, e.g. ``lambda.amazonaws.com``."""
    description: str
    """What the role is for (shown in the console and the plan)."""
    source_arn: ArnInput | None = None
    """Default: no ``aws:SourceArn`` condition. When given (ARN pattern), the trust policy
    only lets the service assume the role on behalf of matching resources. Only for services
    that send the key (see CONFUSED_DEPUTY_KEYS)."""
    permissions_boundary: ArnInput | None = None
    """Default: no permissions boundary. When given, the boundary policy's ARN."""
    managed_policies: Mapping[str, str] = field(default_factory=dict)
    """Default: none. AWS-managed policy ARN -> the reason no scoped alternative exists."""
    max_session_duration: int = 3600
    """Default: sessions last at most one hour."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Default: no extra tags beyond ``Name``."""


#: IAM role names have at most 64 characters (CreateRole ``RoleName``, "Length Constraints:
#: Maximum length of 64", https://docs.aws.amazon.com/IAM/latest/APIReference/
#: API_CreateRole.html).
ROLE_NAME_MAX_LENGTH = 64
#: Pulumi auto-names a resource ``<logical name>-<7 random hex>`` and fails when that exceeds
#: the type's maximum ("name '...' plus 7 random chars is longer than maximum length",
#: pulumi/pulumi sdk/go/common/resource/resource_id.go ``NewUniqueHex``): 8 characters.
AUTONAME_SUFFIX_LENGTH = 8


def service_role_name(name: str) -> str:
    """The logical (and physical name prefix) of the role of ``ServiceRole(name, ...)``."""
    return f"{name}-role"


def role_name_problem(name: str) -> str | None:
    """None when ``ServiceRole(name, ...)`` gets a role name IAM accepts; else why not."""
    length = len(service_role_name(name)) + AUTONAME_SUFFIX_LENGTH
    if length <= ROLE_NAME_MAX_LENGTH:
        return None
    return (
        f"its IAM role would be named '{service_role_name(name)}-<7 random characters>' "
        f"({length} characters); IAM allows {ROLE_NAME_MAX_LENGTH}"
    )


class ServiceRole(pulumi.ComponentResource):
    """An IAM role for one AWS service, with scoped grants added by the owning components."""

    def __init__(
        self, name: str, args: ServiceRoleArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        problems = []
        if not re.fullmatch(r"[a-z0-9.-]+\.amazonaws\.com(\.cn)?", args.service):
            problems.append(f"service: {args.service!r} is not a service principal")
        if args.source_arn is not None and not CONFUSED_DEPUTY_KEYS.get(args.service, False):
            problems.append(
                f"source_arn: {args.service} does not send aws:SourceArn when assuming a role"
            )
        for arn, reason in args.managed_policies.items():
            if not str(arn).startswith("arn:aws:iam::aws:policy/"):
                problems.append(f"managed_policies: {arn!r} is not an AWS-managed policy ARN")
            if not reason.strip():
                problems.append(f"managed_policies: {arn} needs the reason no scoped policy works")
        if isinstance(args.permissions_boundary, str) and not _POLICY_ARN_RE.match(
            args.permissions_boundary
        ):
            problems.append(
                f"permissions_boundary: {args.permissions_boundary!r} is not a managed policy ARN "
                "(arn:aws:iam::<account>:policy/<name>)"
            )
        if not 3600 <= args.max_session_duration <= 43200:
            problems.append("max_session_duration: must be 3600..43200 seconds")
        name_problem = role_name_problem(name)
        if name_problem:
            problems.append(f"name: {name_problem}")
        raise_problems(f"ServiceRole {name!r}", problems)
        super().__init__("mlops:iam:ServiceRole", name, None, opts)
        self._name = name
        self._grants: dict[str, aws.iam.RolePolicy] = {}
        invoke = pulumi.InvokeOptions(parent=self)
        account = aws.get_caller_identity_output(opts=invoke).account_id
        condition: dict[str, Any] = {}
        if args.service in CONFUSED_DEPUTY_KEYS:
            condition["StringEquals"] = {"aws:SourceAccount": account}
        if args.source_arn is not None:
            condition["ArnLike"] = {"aws:SourceArn": args.source_arn}
        trust: dict[str, Any] = {
            "Effect": "Allow",
            "Principal": {"Service": args.service},
            "Action": "sts:AssumeRole",
        }
        if condition:
            trust["Condition"] = condition
        self.role = aws.iam.Role(
            service_role_name(name),
            description=args.description,
            assume_role_policy=pulumi.Output.json_dumps(
                {"Version": "2012-10-17", "Statement": [trust]}
            ),
            permissions_boundary=args.permissions_boundary,
            max_session_duration=args.max_session_duration,
            tags={"Name": f"{name}-role", **args.tags},
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.managed_policy_attachments = [
            aws.iam.RolePolicyAttachment(
                f"{name}-{arn.rsplit('/', 1)[-1]}",
                role=self.role.name,
                policy_arn=arn,
                opts=pulumi.ResourceOptions(parent=self),
            )
            for arn in sorted(args.managed_policies)
        ]
        self.arn = self.role.arn
        self.role_name = self.role.name
        self.service = args.service
        self.register_outputs({"arn": self.role.arn, "name": self.role.name})

    @property
    def grants(self) -> Mapping[str, aws.iam.RolePolicy]:
        """The inline policies added so far, by purpose."""
        return dict(self._grants)

    def grant(self, purpose: str, statements: Sequence[Statement]) -> aws.iam.RolePolicy:
        """Attach ``statements`` as one inline policy named after ``purpose``."""
        if not _PURPOSE_RE.match(purpose):
            raise ValueError(f"grant purpose {purpose!r} must be lowercase words joined by '-'")
        if purpose in self._grants:
            raise ValueError(f"role {self._name!r} already has a grant named {purpose!r}")
        policy = aws.iam.RolePolicy(
            f"{self._name}-{purpose}",
            role=self.role.id,
            policy=policy_document(statements),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self._grants[purpose] = policy
        return policy
