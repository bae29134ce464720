"""Typed, validated stack configuration (namespace ``mlops``).

The stack files (``Pulumi.<stack>.yaml``) are the only input of the program. Everything a
user writes there is validated here, before any resource is registered, and every problem
is reported at once, each naming its key exactly as written in the file
(``mlops:regions[1].cidr``), what is wrong and what would be right.

The Pulumi CLI hands structured config values to the program as JSON strings and plain
values as strings; :func:`parse_raw_config` accepts that form, and :func:`load_stack_file`
produces the same form from a stack file for the offline plan, so both paths share one
validator.
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, Mapping, Optional

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)
from pydantic.alias_generators import to_camel

NAMESPACE = "mlops"

#: Retention values CloudWatch Logs accepts (PutRetentionPolicy), in days.
CLOUDWATCH_RETENTION_DAYS = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731,
    1096, 1827, 2192, 2557, 2922, 3288, 3653,
)

#: Tiers a network can have, in the order their address blocks are allocated.
SUBNET_TIERS = ("private", "public", "isolated")

MAX_AZ_COUNT = 6
PRODUCTION_ENVIRONMENTS = frozenset({"prod", "production"})

_TAG_KEY_RE = re.compile(r"^[\w .:/=+\-@]{1,128}$")
_TAG_VALUE_RE = re.compile(r"^[\w .:/=+\-@]{0,256}$")
_ENDPOINT_RE = re.compile(r"^[a-z0-9]+(?:[.-][a-z0-9]+)*$")


class ConfigError(Exception):
    """Raised with every problem found in a stack's configuration."""

    def __init__(self, problems: list[str], source: str = "") -> None:
        self.problems = problems
        self.source = source
        where = f" in {source}" if source else ""
        lines = [f"Invalid configuration{where} ({len(problems)} problem(s)):"]
        lines += [f"  - {p}" for p in problems]
        super().__init__("\n".join(lines))


@lru_cache(maxsize=1)
def aws_region_names() -> frozenset[str]:
    """Every region name botocore's endpoint data knows, across all partitions."""
    import botocore.session

    session = botocore.session.get_session()
    names: set[str] = set()
    for partition in session.get_available_partitions():
        names.update(session.get_available_regions("ec2", partition_name=partition))
    return frozenset(names)


class _Model(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        alias_generator=to_camel,
        populate_by_name=False,
        str_strip_whitespace=True,
    )


class RegionConfig(_Model):
    """One region of the environment. The first region in the list is the primary."""

    name: str = Field(description="AWS region name, e.g. eu-west-1.")
    cidr: str = Field(description="The region's VPC CIDR, /16 to /22, private range.")

    @field_validator("name")
    @classmethod
    def _known_region(cls, value: str) -> str:
        if value not in aws_region_names():
            close = difflib.get_close_matches(value, sorted(aws_region_names()), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ValueError(f"{value!r} is not an AWS region name{hint}")
        return value

    @field_validator("cidr")
    @classmethod
    def _valid_cidr(cls, value: str) -> str:
        try:
            net = ipaddress.IPv4Network(value, strict=True)
        except ValueError as exc:
            raise ValueError(
                f"{value!r} is not a valid IPv4 CIDR block ({exc}); write it like 10.0.0.0/16"
            ) from None
        if not 16 <= net.prefixlen <= 22:
            raise ValueError(
                f"{value} has prefix /{net.prefixlen}; a VPC CIDR must be between /16 and /22"
            )
        if not net.is_private:
            raise ValueError(f"{value} is not a private (RFC 1918) range")
        return str(net)

    @property
    def network(self) -> ipaddress.IPv4Network:
        return ipaddress.IPv4Network(self.cidr)


class NetworkConfig(_Model):
    """Network layout, the same in every region of the environment."""

    az_count: int = Field(
        description="Availability zones per region; public and private subnets in each."
    )
    nat: Literal["none", "single", "per_az"] = Field(
        description="NAT gateways: none, one for the region, or one per AZ."
    )
    isolated_subnets: bool = Field(
        default=False, description="Also create isolated subnets (no internet route)."
    )
    interface_endpoints: tuple[str, ...] = Field(
        default=(),
        description="Interface VPC endpoint service short names, e.g. ssm, ecr.api, logs.",
    )

    @field_validator("az_count")
    @classmethod
    def _az_range(cls, value: int) -> int:
        if not 1 <= value <= MAX_AZ_COUNT:
            raise ValueError(f"{value} is out of range; use 1 to {MAX_AZ_COUNT}")
        return value

    @field_validator("nat", mode="before")
    @classmethod
    def _nat_known(cls, value: Any) -> Any:
        if isinstance(value, str) and value not in ("none", "single", "per_az"):
            raise ValueError(
                f"{value!r} is not a NAT strategy; use one of 'none', 'single', 'per_az'"
            )
        return value

    @field_validator("interface_endpoints")
    @classmethod
    def _endpoints(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [v for v in value if not _ENDPOINT_RE.match(v)]
        if bad:
            raise ValueError(
                f"{bad} are not endpoint service short names (like 'ssm' or 'ecr.api')"
            )
        dupes = sorted({v for v in value if value.count(v) > 1})
        if dupes:
            raise ValueError(f"{dupes} listed more than once")
        return value


class AlertsConfig(_Model):
    """Where alarms go."""

    emails: tuple[str, ...] = Field(
        default=(), description="Email addresses subscribed to each region's alert topic."
    )

    @field_validator("emails")
    @classmethod
    def _emails(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        from components.monitoring import is_email

        bad = [v for v in value if not is_email(v)]
        if bad:
            raise ValueError(f"{bad} are not email addresses (write them like ops@example.com)")
        dupes = sorted({v for v in value if value.count(v) > 1})
        if dupes:
            raise ValueError(f"{dupes} listed more than once")
        return value


class PlatformConfig(_Model):
    """The whole ``mlops:`` namespace of a stack file."""

    environment: str = Field(description="Environment name: dev, staging, prod, ...")
    ephemeral: bool = Field(
        description="May the stack be destroyed on a schedule (nightly destroy)."
    )
    regions: tuple[RegionConfig, ...] = Field(
        description="Regions, the first being the primary; at least two."
    )
    network: NetworkConfig
    tags: dict[str, str] = Field(
        default_factory=dict, description="Tags added to every resource."
    )
    log_retention_days: int = Field(
        default=30, description="Retention of every CloudWatch log group, in days."
    )
    allowed_account_ids: tuple[str, ...] = Field(
        default=(),
        description="If set, the providers refuse to touch any other AWS account.",
    )
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)

    @field_validator("environment")
    @classmethod
    def _env_name(cls, value: str) -> str:
        if not re.fullmatch(r"[a-z][a-z0-9-]{0,15}", value):
            raise ValueError(
                f"{value!r} is not an environment name; use 1-16 lowercase letters, "
                "digits or '-', starting with a letter"
            )
        return value

    @field_validator("regions")
    @classmethod
    def _at_least_two(cls, value: tuple[RegionConfig, ...]) -> tuple[RegionConfig, ...]:
        if len(value) < 2:
            raise ValueError(
                f"{len(value)} region(s) given; list at least two (the first is the primary, "
                "the others hold replicas)"
            )
        return value

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: dict[str, str]) -> dict[str, str]:
        problems = []
        for key, val in value.items():
            if not _TAG_KEY_RE.match(key) or key.lower().startswith("aws:"):
                problems.append(f"tag key {key!r} is not allowed (1-128 chars, not 'aws:')")
            if not _TAG_VALUE_RE.match(val):
                problems.append(f"tag {key!r} has an invalid value {val!r}")
        if problems:
            raise ValueError("; ".join(problems))
        return value

    @field_validator("log_retention_days")
    @classmethod
    def _retention(cls, value: int) -> int:
        if value not in CLOUDWATCH_RETENTION_DAYS:
            raise ValueError(
                f"{value} is not a retention CloudWatch Logs accepts; use one of "
                f"{', '.join(map(str, CLOUDWATCH_RETENTION_DAYS))}"
            )
        return value

    @field_validator("allowed_account_ids")
    @classmethod
    def _accounts(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [v for v in value if not re.fullmatch(r"\d{12}", v)]
        if bad:
            raise ValueError(f"{bad} are not 12-digit AWS account ids")
        return value

    # Derived settings -------------------------------------------------------------------
    @property
    def primary_region(self) -> str:
        return self.regions[0].name

    @property
    def is_production(self) -> bool:
        return self.environment in PRODUCTION_ENVIRONMENTS

    @property
    def protect_stateful(self) -> bool:
        """Stateful resources are protected and retained unless the stack is ephemeral."""
        return not self.ephemeral


def _cross_checks(data: Mapping[str, Any]) -> list[str]:
    """Problems that involve more than one key; each names the key to change.

    Works on the decoded raw values, so these are reported together with every per-key
    problem even when other keys are invalid.
    """
    problems: list[str] = []
    environment = data.get("environment")
    ephemeral = data.get("ephemeral")
    is_production = isinstance(environment, str) and environment in PRODUCTION_ENVIRONMENTS
    if is_production and ephemeral is True:
        problems.append(
            f"{NAMESPACE}:ephemeral: environment {environment!r} is production and must "
            "not be ephemeral (the nightly destroy would delete it); set it to false"
        )
    regions = data.get("regions")
    names: list[tuple[int, str]] = []
    networks: list[tuple[int, ipaddress.IPv4Network]] = []
    if isinstance(regions, list):
        for i, item in enumerate(regions):
            if not isinstance(item, dict):
                continue
            if isinstance(item.get("name"), str):
                names.append((i, item["name"]))
            try:
                networks.append((i, ipaddress.IPv4Network(str(item.get("cidr")), strict=True)))
            except ValueError:
                pass
    seen: dict[str, int] = {}
    for i, name in names:
        if name in seen:
            problems.append(
                f"{NAMESPACE}:regions[{i}].name: {name!r} is already listed at "
                f"{NAMESPACE}:regions[{seen[name]}]; each region may appear once"
            )
        else:
            seen[name] = i
    for n, (i, a) in enumerate(networks):
        for j, b in networks[:n]:
            if a.overlaps(b):
                problems.append(
                    f"{NAMESPACE}:regions[{i}].cidr: {a} overlaps {b} of "
                    f"{NAMESPACE}:regions[{j}]; regions need distinct address ranges so they "
                    "can be peered"
                )
    network = data.get("network")
    az_count = network.get("azCount") if isinstance(network, dict) else None
    if is_production and isinstance(az_count, int) and 1 <= az_count < 2:
        problems.append(
            f"{NAMESPACE}:network.azCount: {az_count} AZ in production; "
            "use at least 2 for high availability"
        )
    return problems


# Parsing -------------------------------------------------------------------------------


def _format_loc(loc: tuple[Any, ...]) -> str:
    key = f"{NAMESPACE}:"
    for i, part in enumerate(loc):
        if isinstance(part, int):
            key += f"[{part}]"
        else:
            key += ("" if i == 0 else ".") + str(part)
    return key


def _known_fields(model: type[BaseModel]) -> list[str]:
    return [f.alias or name for name, f in model.model_fields.items()]


def _model_at(loc: tuple[Any, ...]) -> Optional[type[BaseModel]]:
    """The model that owns the last key of ``loc``, to suggest a correction for a typo."""
    model: Any = PlatformConfig
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return None
        field = next(
            (f for n, f in model.model_fields.items() if (f.alias or n) == part), None
        )
        if field is None:
            return None
        ann = field.annotation
        args = getattr(ann, "__args__", ())
        model = next(
            (a for a in (ann, *args) if isinstance(a, type) and issubclass(a, BaseModel)),
            None,
        )
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def _describe(error: Mapping[str, Any]) -> str:
    loc = tuple(error["loc"])
    key = _format_loc(loc)
    kind = error["type"]
    if kind == "missing":
        return f"{key}: required key is missing"
    if kind == "extra_forbidden":
        model = _model_at(loc)
        hint = ""
        if model is not None:
            close = difflib.get_close_matches(str(loc[-1]), _known_fields(model), n=1)
            if close:
                hint = f"; did you mean {_format_loc(loc[:-1] + (close[0],))}?"
            else:
                hint = f"; known keys here: {', '.join(_known_fields(model))}"
        return f"{key}: unknown key{hint}"
    message = str(error["msg"])
    if message.startswith("Value error, "):
        message = message[len("Value error, "):]
    value = error.get("input")
    if kind.endswith("_type") or kind.endswith("_parsing"):
        return f"{key}: {message} (got {json.dumps(value, default=str)})"
    return f"{key}: {message}"


def _decode(value: Any) -> Any:
    """Decode a config value as the Pulumi CLI hands it over (JSON text or plain string)."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def parse_raw_config(raw: Mapping[str, Any], source: str = "") -> PlatformConfig:
    """Validate the ``mlops:`` keys of a flat Pulumi config map.

    ``raw`` maps full keys (``mlops:regions``) to values as the Pulumi CLI passes them to a
    program. Keys of other namespaces are ignored. Raises :class:`ConfigError` listing every
    problem.
    """
    data: dict[str, Any] = {}
    prefix = f"{NAMESPACE}:"
    for full_key, value in raw.items():
        if full_key.startswith(prefix):
            data[full_key[len(prefix):]] = _decode(value)
    problems: list[str] = []
    cfg: Optional[PlatformConfig] = None
    try:
        cfg = PlatformConfig.model_validate(data)
    except ValidationError as exc:
        problems += [_describe(e) for e in exc.errors()]
    problems += _cross_checks(data)
    if problems or cfg is None:
        raise ConfigError(problems, source)
    return cfg


# Stack files ----------------------------------------------------------------------------


class StackFileError(Exception):
    """The stack file is missing, unreadable or not a Pulumi stack file."""


def stack_file_path(project_dir: Path, stack: str) -> Path:
    return Path(project_dir) / f"Pulumi.{stack}.yaml"


def available_stacks(project_dir: Path) -> list[str]:
    return sorted(p.name[len("Pulumi."):-len(".yaml")] for p in Path(project_dir).glob("Pulumi.*.yaml"))


def load_stack_file(project_dir: Path, stack: str) -> tuple[dict[str, str], list[str]]:
    """Read ``Pulumi.<stack>.yaml`` and return its config as the Pulumi CLI would pass it.

    Returns ``(config, secret_keys)``: values are strings (structured values as JSON);
    ``secure:`` values cannot be decrypted offline and become a placeholder marked secret.
    """
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", stack):
        raise StackFileError(f"{stack!r} is not a valid stack name")
    path = stack_file_path(project_dir, stack)
    if not path.is_file():
        known = available_stacks(project_dir)
        raise StackFileError(
            f"unknown stack {stack!r}: {path.name} does not exist"
            + (f" (stacks here: {', '.join(known)})" if known else "")
        )
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise StackFileError(f"cannot read {path.name}: {exc}") from None
    except yaml.YAMLError as exc:
        raise StackFileError(f"{path.name} is not valid YAML: {exc}") from None
    if document is None:
        document = {}
    if not isinstance(document, dict):
        raise StackFileError(f"{path.name}: the top level must be a mapping")
    config = document.get("config", {}) or {}
    if not isinstance(config, dict):
        raise StackFileError(f"{path.name}: 'config' must be a mapping of keys to values")
    flat: dict[str, str] = {}
    secrets: list[str] = []
    for key, value in config.items():
        key = str(key)
        if ":" not in key:
            raise StackFileError(
                f"{path.name}: config key {key!r} has no namespace; write it as "
                f"{NAMESPACE}:{key}"
            )
        if isinstance(value, dict) and set(value) == {"secure"}:
            flat[key] = "[secret]"
            secrets.append(key)
        elif isinstance(value, str):
            flat[key] = value
        else:
            flat[key] = json.dumps(value)
    return flat, secrets


def load_stack_config(project_dir: Path, stack: str) -> PlatformConfig:
    """Read and validate a stack file (raises StackFileError or ConfigError)."""
    flat, _ = load_stack_file(project_dir, stack)
    return parse_raw_config(flat, source=stack_file_path(project_dir, stack).name)


def disabled_default_providers(raw: Mapping[str, Any]) -> list[str]:
    """The packages listed in ``pulumi:disable-default-providers``."""
    value = _decode(raw.get("pulumi:disable-default-providers", "[]"))
    if isinstance(value, list):
        return [str(v) for v in value]
    return []


def current_program_config() -> PlatformConfig:
    """Validate the config of the running Pulumi program (real engine or mock runtime)."""
    from pulumi.runtime import config as runtime_config

    import pulumi

    raw = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    return parse_raw_config(raw, source=f"Pulumi.{pulumi.get_stack()}.yaml")
