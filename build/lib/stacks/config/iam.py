"""``mlops:iam``: account-wide IAM settings of every role the platform creates
(components/iam.py's ``ServiceRole``)."""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from stacks.config.base import ConfigModel


class IamConfig(ConfigModel):
    """Account-wide IAM settings."""

    permissions_boundary_arn: str | None = Field(
        default=None,
        description="Managed policy set as the permissions boundary of every role the "
        "platform creates. Default: no boundary.",
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
