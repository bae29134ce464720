"""``mlops:dataLake``: the data lake of every region (components/data_lake.py): zones,
retention and storage-class transitions. Zone names and transition sequences are checked
by the component's own rules (``zone_problems``, ``transition_problems``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import AfterValidator, Field, field_validator

from stacks.config.base import NAMESPACE, ConfigModel, field_default, raise_joined, section
from stacks.config.errors import did_you_mean


class LakeTransitionConfig(ConfigModel):
    """One transition of a zone's current objects to a cheaper storage class."""

    days: int = Field(description="Days after creation.")
    storage_class: str = Field(description="Target storage class, e.g. STANDARD_IA, GLACIER_IR.")

    @field_validator("days")
    @classmethod
    def _days(cls, value: int) -> int:
        if value < 0:
            raise ValueError(f"{value} is negative; give the days after creation (0 or more)")
        return value

    @field_validator("storage_class")
    @classmethod
    def _storage_class(cls, value: str) -> str:
        # Checked here (not only by transition_problems below) to name the item's own key
        # and suggest the class that was probably meant; the classes are the component's.
        from components.buckets import STORAGE_CLASSES

        if value not in STORAGE_CLASSES:
            hint = did_you_mean(value.upper(), STORAGE_CLASSES)
            raise ValueError(
                f"{value!r} is not a storage class lifecycle rules move objects to; use one of "
                f"{', '.join(STORAGE_CLASSES)}{hint}"
            )
        return value


def _lake_transition_sequence(
    value: tuple[LakeTransitionConfig, ...],
) -> tuple[LakeTransitionConfig, ...]:
    from components.buckets import Transition
    from components.data_lake import transition_problems

    raise_joined(transition_problems([Transition(t.days, t.storage_class) for t in value]))
    return value


class DataLakeConfig(ConfigModel):
    """The data lake of every region: zones, retention, storage-class transitions."""

    zones: tuple[str, ...] = Field(
        default=("raw", "curated", "features", "models"),
        description="Zone names; one bucket per zone and region.",
    )
    noncurrent_version_expiration_days: int = Field(
        default=30, description="Days overwritten or deleted object versions are kept."
    )
    access_log_retention_days: int = Field(
        default=90, description="Days the server access logs of the lake are kept."
    )
    transitions: dict[
        str, Annotated[tuple[LakeTransitionConfig, ...], AfterValidator(_lake_transition_sequence)]
    ] = Field(
        default_factory=dict,
        description="Zone -> transitions of current objects: [{days, storageClass}, ...].",
    )

    @field_validator("zones")
    @classmethod
    def _zones(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        from components.data_lake import zone_problems

        raise_joined(zone_problems(list(value)))
        return value

    @field_validator("noncurrent_version_expiration_days", "access_log_retention_days")
    @classmethod
    def _positive_days(cls, value: int) -> int:
        if value < 1:
            raise ValueError(f"{value} days; give at least 1")
        return value


def lake_zones(data: Mapping[str, Any]) -> Any:
    """The zones of the lake as written (``mlops:dataLake.zones``), or the default zones when
    the key is left out or empty; for the checks of keys that name a zone."""
    lake = section(data, "dataLake")
    return (lake.get("zones") if lake is not None else None) or list(
        field_default(DataLakeConfig, "zones")
    )


def data_lake_cross_checks(data: Mapping[str, Any]) -> list[str]:
    """Data lake keys that refer to each other: every zone in ``transitions`` must be listed
    in ``zones`` (or the default zones when ``zones`` is not set)."""
    lake = section(data, "dataLake")
    if lake is None or not isinstance(lake.get("transitions"), dict):
        return []
    zones = lake.get("zones", list(field_default(DataLakeConfig, "zones")))
    if not isinstance(zones, list):
        return []
    return [
        f"{NAMESPACE}:dataLake.transitions.{zone}: {zone!r} is not a zone of the lake; "
        f"zones are {zones} ({NAMESPACE}:dataLake.zones): add it there or fix the name"
        for zone in lake["transitions"]
        if zone not in zones
    ]
