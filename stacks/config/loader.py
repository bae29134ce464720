"""Reading a stack's configuration: the stack file (``Pulumi.<stack>.yaml``) for the offline
plan, or the running program's config, into one validated :class:`PlatformConfig`.

The Pulumi CLI hands structured config values to the program as JSON strings and plain
values as strings; :func:`parse_raw_config` accepts that form, and :func:`load_stack_file`
produces the same form from a stack file for the offline plan, so both paths share one
validator.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from stacks.config.base import NAMESPACE
from stacks.config.errors import ConfigError, StackFileError, describe
from stacks.config.stack import PlatformConfig, cross_key_problems


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
    problem, each once: per-key problems first, then the cross-key ones.
    """
    data: dict[str, Any] = {}
    prefix = f"{NAMESPACE}:"
    for full_key, value in raw.items():
        if full_key.startswith(prefix):
            data[full_key[len(prefix) :]] = _decode(value)
    problems: list[str] = []
    cfg: PlatformConfig | None = None
    try:
        cfg = PlatformConfig.model_validate(data)
    except ValidationError as exc:
        problems += [describe(e, PlatformConfig) for e in exc.errors()]
    problems += cross_key_problems(data)
    # A component's check may repeat a per-key problem word for word: report it once.
    problems = list(dict.fromkeys(problems))
    if problems or cfg is None:
        raise ConfigError(problems, source)
    return cfg


def stack_file_path(project_dir: Path, stack: str) -> Path:
    return Path(project_dir) / f"Pulumi.{stack}.yaml"


def available_stacks(project_dir: Path) -> list[str]:
    return sorted(
        p.name[len("Pulumi.") : -len(".yaml")] for p in Path(project_dir).glob("Pulumi.*.yaml")
    )


def _read_document(path: Path) -> dict[Any, Any]:
    """The stack file's top-level mapping (raises StackFileError)."""
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
    return document


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
    config = _read_document(path).get("config", {}) or {}
    if not isinstance(config, dict):
        raise StackFileError(f"{path.name}: 'config' must be a mapping of keys to values")
    flat: dict[str, str] = {}
    secrets: list[str] = []
    for key, value in config.items():
        key = str(key)
        if ":" not in key:
            raise StackFileError(
                f"{path.name}: config key {key!r} has no namespace; write it as {NAMESPACE}:{key}"
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


def current_program_config() -> PlatformConfig:
    """Validate the config of the running Pulumi program (real engine or mock runtime)."""
    import pulumi
    from pulumi.runtime import config as runtime_config

    raw = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    return parse_raw_config(raw, source=f"Pulumi.{pulumi.get_stack()}.yaml")
