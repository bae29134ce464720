"""``mlops:alerts``: where alarms go (each region's alert topic, components/monitoring)."""

from __future__ import annotations

from pydantic import Field, field_validator

from components.checks import duplicates
from components.monitoring import is_email
from stacks.config.base import ConfigModel


class AlertsConfig(ConfigModel):
    """Where alarms go."""

    emails: tuple[str, ...] = Field(
        default=(), description="Email addresses subscribed to each region's alert topic."
    )

    @field_validator("emails")
    @classmethod
    def _emails(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [v for v in value if not is_email(v)]
        if bad:
            raise ValueError(f"{bad} are not email addresses (write them like ops@example.com)")
        dupes = duplicates(value)
        if dupes:
            raise ValueError(f"{dupes} listed more than once")
        return value
