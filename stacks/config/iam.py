"""``mlops:iam``: account-wide IAM settings of every role the platform creates
(components/iam.py's ``ServiceRole``), and the roles that deploy the platform (whose changes
the CIS alarms of components/audit.py do not count)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import AfterValidator, Field, field_validator

from stacks.config.base import NAMESPACE, ConfigModel, section

KEY = f"{NAMESPACE}:iam"


def _role_arn(value: str) -> str:
    from components.audit import deploy_role_arn_problem

    problem = deploy_role_arn_problem(value, "role")
    if problem:
        raise ValueError(problem.removeprefix("role: "))
    return value


RoleArn = Annotated[str, AfterValidator(_role_arn)]


class IamConfig(ConfigModel):
    """Account-wide IAM settings."""

    permissions_boundary_arn: str | None = Field(
        default=None,
        description="Managed policy set as the permissions boundary of every role the "
        "platform creates. Default: no boundary.",
    )
    deploy_role_arns: tuple[RoleArn, ...] = Field(
        default=(),
        description="IAM role ARNs (with path) of the roles that deploy and destroy the "
        "platform in this account (CI's deploy roles): the CIS alarms on changes every "
        "deploy makes (IAM policies, security groups, routes, VPCs, gateways, bucket "
        "policies, the trail, key deletion) do not count their events. Default: none.",
    )

    @field_validator("permissions_boundary_arn")
    @classmethod
    def _policy_arn(cls, value: str | None) -> str | None:
        # components/iam.py checks the same with its own (private) pattern; it publishes no
        # problem function to call instead.
        if value is not None and not re.fullmatch(
            r"arn:aws(-cn|-us-gov)?:iam::(\d{12}|aws):policy/[\w+=,.@/-]+", value
        ):
            raise ValueError(
                f"{value!r} is not an IAM managed policy ARN "
                "(like arn:aws:iam::123456789012:policy/platform-boundary)"
            )
        return value

    @field_validator("deploy_role_arns")
    @classmethod
    def _deploy_roles(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        from components.audit import deploy_role_arns_problems

        # Each ARN is checked on its own (above); here: duplicates, filter pattern length.
        problems = deploy_role_arns_problems(list(value), "deployRoleArns")
        if problems:
            raise ValueError("; ".join(p.removeprefix("deployRoleArns: ") for p in problems))
        return value


def iam_cross_checks(data: Mapping[str, Any]) -> list[str]:
    """Each deploy role belongs to an allowed account: CloudTrail records the role a call was
    made with, which is a role of the account the stack deploys to."""
    iam = section(data, "iam")
    roles = iam.get("deployRoleArns") if iam is not None else None
    accounts = data.get("allowedAccountIds")
    if not isinstance(roles, list) or not isinstance(accounts, list) or not accounts:
        return []
    allowed = [str(a) for a in accounts]
    problems = []
    for i, arn in enumerate(roles):
        match = (
            re.match(r"arn:aws[a-z-]*:iam::(\d{12}):role/", arn) if isinstance(arn, str) else None
        )
        if match and match.group(1) not in allowed:
            problems.append(
                f"{KEY}.deployRoleArns[{i}]: the role is in account {match.group(1)}, not one "
                f"of {NAMESPACE}:allowedAccountIds ({', '.join(allowed)})"
            )
    return problems
