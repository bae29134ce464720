"""Reading a stack's configuration: the stack file (``Pulumi.<stack>.yaml``) for the offline
plan, or the running program's config, into one validated :class:`PlatformConfig`.

The Pulumi CLI hands structured config values to the program as JSON strings and plain
values as strings; :func:`parse_raw_config` accepts that form, and :func:`load_stack_file`
produces the same form from a stack file for the offline plan, so both paths share one
validator. Stack files and ``Pulumi.yaml`` are parsed as the CLI parses them
(:func:`read_pulumi_yaml`: Go's YAML reader, duplicate keys are errors), so the offline plan
reads the same values a deploy reads.
"""

from __future__ import annotations

import base64
import copy
import functools
import importlib.util
import json
import math
import pkgutil
import re
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from ruamel.yaml.resolver import VersionedResolver
from ruamel.yaml.tag import Tag

from stacks.config.base import NAMESPACE
from stacks.config.errors import ConfigError, StackFileError, describe, namespace_problems
from stacks.config.stack import PlatformConfig, cross_key_problems

#: What a ``secure:`` value becomes offline (it cannot be decrypted without the stack's key).
SECRET_PLACEHOLDER = "[secret]"


def _decode(value: Any) -> Any:
    """Decode a config value as the Pulumi CLI hands it over (JSON text or plain string)."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


@functools.cache
def provider_namespaces() -> tuple[str, ...]:
    """The config namespaces of the installed Pulumi provider packages (``aws``, ``awsx``...).

    A provider reads its settings from the namespace of its package name (``aws:region``;
    https://www.pulumi.com/docs/iac/concepts/config/), which each Python provider package
    names in its ``pulumi-plugin.json`` (``{"resource": true, "name": "aws"}``). Found
    without importing the packages.
    """
    names: set[str] = set()
    for module in pkgutil.iter_modules():
        if not (module.ispkg and module.name.startswith("pulumi_")):
            continue
        spec = importlib.util.find_spec(module.name)
        for location in (spec.submodule_search_locations or []) if spec else []:
            try:
                plugin = json.loads((Path(location) / "pulumi-plugin.json").read_text("utf-8"))
            except (OSError, ValueError):
                continue
            if isinstance(plugin, dict) and plugin.get("resource") and plugin.get("name"):
                names.add(str(plugin["name"]))
    return tuple(sorted(names))


def config_namespaces() -> tuple[str, ...]:
    """The namespaces a stack file may use: the program's, ``pulumi:`` and the providers'."""
    return (NAMESPACE, "pulumi", *provider_namespaces())


def parse_raw_config(
    raw: Mapping[str, Any], source: str = "", project: str | None = None
) -> PlatformConfig:
    """Validate the ``mlops:`` keys of a flat Pulumi config map.

    ``raw`` maps full keys (``mlops:regions``) to values as the Pulumi CLI passes them to a
    program. A key of a namespace that is neither ``mlops:``, ``pulumi:`` nor an installed
    provider's is a typo (``mlop:tags``); ``project`` (the project's name, which the CLI gives
    keys written without a namespace) lets that message say so. Raises :class:`ConfigError`
    listing every problem, each once: per-key problems first, then the cross-key ones.
    """
    data: dict[str, Any] = {}
    prefix = f"{NAMESPACE}:"
    for full_key, value in raw.items():
        if full_key.startswith(prefix):
            data[full_key[len(prefix) :]] = _decode(value)
    problems = namespace_problems(raw, config_namespaces(), project)
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


def project_dir_problem(project_dir: Path) -> str | None:
    """Why ``project_dir`` is not a Pulumi project's root folder (missing, not a folder, no
    ``Pulumi.yaml``), in one line; None when it is one."""
    path = Path(project_dir)
    if not path.exists():
        return f"{path}: no such folder"
    if not path.is_dir():
        return f"{path} is not a folder"
    if not (path / "Pulumi.yaml").is_file():
        return (
            f"{path} has no Pulumi.yaml: give the Pulumi project's root folder "
            "(the one with Pulumi.yaml and the Pulumi.<stack>.yaml files)"
        )
    return None


def project_name(project_dir: Path) -> str:
    """The ``name`` in the project's ``Pulumi.yaml`` (raises StackFileError)."""
    path = Path(project_dir) / "Pulumi.yaml"
    if not path.is_file():
        raise StackFileError(f"no Pulumi.yaml in {project_dir}: it is not a Pulumi project")
    document = read_pulumi_yaml(path)
    name = document.get("name") if isinstance(document, dict) else None
    if not isinstance(name, str) or not name:
        raise StackFileError(f"{path.name} has no project name (`name:`)")
    return name


def _read_document(path: Path) -> dict[str, Any]:
    """The stack file's top-level mapping (raises StackFileError)."""
    document = read_pulumi_yaml(path)
    if document is None:
        document = {}
    if not isinstance(document, dict):
        raise StackFileError(f"{path.name}: the top level must be a mapping")
    return document


def _cli_key(key: str) -> str | None:
    """The key the CLI makes of a namespaced key as written: ``ns:name``, or the old
    ``ns:config:name`` spelling, as ``ns:name`` (sdk/go/common/resource/config/key.go
    ``ParseKey``); None when the CLI refuses it."""
    parts = key.split(":")
    if len(parts) == 2:
        return key
    if len(parts) == 3 and parts[1] == "config":
        return f"{parts[0]}:{parts[2]}"
    return None


def load_stack_file(project_dir: Path, stack: str) -> tuple[dict[str, str], list[str]]:
    """Read ``Pulumi.<stack>.yaml`` and return its config as the Pulumi CLI would pass it.

    Returns ``(config, secret_keys)``: values are strings (structured values as JSON, the way
    Go writes it); ``secure:`` values cannot be decrypted offline and become a placeholder
    marked secret. Raises StackFileError for a key the CLI would misread or refuse: one
    without a namespace (the CLI would give it the project's name, which this program does
    not read), one it cannot parse, or one written twice.
    """
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", stack):
        raise StackFileError(f"{stack!r} is not a valid stack name")
    problem = project_dir_problem(project_dir)
    if problem:
        raise StackFileError(problem)
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
    problems: list[str] = []
    for key, value in config.items():
        if ":" not in key:
            problems.append(_without_namespace(key, project_dir))
            continue
        full = _cli_key(key)
        if full is None:
            problems.append(
                f"config key {key!r} has more than one ':'; write it as <namespace>:<name> "
                "(the Pulumi CLI refuses it)"
            )
        elif full in flat:
            problems.append(f"config key {key!r} sets {full} a second time")
        elif is_secure_value(value):
            flat[full] = SECRET_PLACEHOLDER
            secrets.append(full)
        else:
            try:
                flat[full] = cli_config_value(value)
            except ValueError as exc:
                problems.append(f"{key}: {exc} (the Pulumi CLI refuses it)")
    if problems:
        raise StackFileError("\n".join(f"{path.name}: {p}" for p in problems))
    return flat, secrets


def _without_namespace(key: str, project_dir: Path) -> str:
    try:
        project = project_name(project_dir)
    except StackFileError:
        project = "<project name>"
    return (
        f"config key {key!r} has no namespace: the Pulumi CLI reads it as {project}:{key} "
        f"(a key without a namespace gets the project's name), which this program does not "
        f"read; did you mean {NAMESPACE}:{key}?"
    )


def load_stack_config(project_dir: Path, stack: str) -> PlatformConfig:
    """Read and validate a stack file (raises StackFileError or ConfigError)."""
    flat, _ = load_stack_file(project_dir, stack)
    return parse_raw_config(
        flat, source=stack_file_path(project_dir, stack).name, project=project_name(project_dir)
    )


def current_program_config() -> PlatformConfig:
    """Validate the config of the running Pulumi program (real engine or mock runtime)."""
    import pulumi
    from pulumi.runtime import config as runtime_config

    raw = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    return parse_raw_config(
        raw, source=f"Pulumi.{pulumi.get_stack()}.yaml", project=pulumi.get_project()
    )


# Reading YAML as the Pulumi CLI does ------------------------------------------------------
#
# The CLI reads Pulumi.yaml and Pulumi.<stack>.yaml with Go's gopkg.in/yaml.v3 into untyped
# values (pulumi/pulumi sdk/go/common/encoding/marshal.go; workspace/loaders.go
# LoadProjectStackBytes). What that reader does, and so what is done here
# (go-yaml/yaml v3.0.1 resolve.go `resolve`, decode.go `mapping`):
# - a mapping key written twice is an error ("mapping key ... already defined at line ...");
#   keys are compared as written, so `a` and `"a"` are the same key;
# - only true/True/TRUE and false/False/FALSE are booleans: yes, no, on, off, y, n are strings;
# - no sexagesimal numbers: `19:00` is the string "19:00";
# - integers are Go's strconv.ParseInt(text, 0, 64) with `_` removed: 0x1F, 0o17, 0b101, and
#   YAML 1.1's 0755 (octal, 493: "still decoded by default in v3 as well for compatibility");
# - floats match ^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$ (1e3 is 1000.0); a float
#   out of range (1e999) stays a string;
# - a date or date-time (2024-01-01, 2024-01-01T10:00:00Z) is a Go time.Time, which the CLI
#   hands to the program as its String() ("2024-01-01 00:00:00 +0000 UTC";
#   sdk/go/common/resource/config/object.go `unmarshalObject`);
# - `<<` merges mappings; keys that are not strings are an error ("expected only string keys",
#   workspace/project.go SimplifyMarshalledValue).
# ruamel.yaml parses (YAML 1.2 syntax, line numbers); the scalars are resolved here by those
# rules, so both readers give the program the same values.

_PLAIN_TAG = "tag:mlops,2024:plain"
_YAML_TAG = "tag:yaml.org,2002:"
_GO_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
_INT_DIGITS = {16: re.compile(r"[0-9a-fA-F]+"), 10: re.compile(r"[0-9]+")}
_INT_DIGITS |= {8: re.compile(r"[0-7]+"), 2: re.compile(r"[01]+")}
_TIMESTAMP = re.compile(
    r"([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})(?:([Tt ])([0-9]{1,2}):([0-9]{1,2}):([0-9]{1,2})"
    r"(?:[.,]([0-9]+))?(Z|[+-][0-9]{2}:[0-9]{2})?)?"
)
_WORDS: dict[str, Any] = {
    **dict.fromkeys(("true", "True", "TRUE"), True),
    **dict.fromkeys(("false", "False", "FALSE"), False),
    **dict.fromkeys(("", "~", "null", "Null", "NULL"), None),
    **dict.fromkeys((".nan", ".NaN", ".NAN"), math.nan),
    **dict.fromkeys((".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"), math.inf),
    **dict.fromkeys(("-.inf", "-.Inf", "-.INF"), -math.inf),
}


class _GoTime(str):
    """A timestamp, as the text the CLI hands the program (a str, but not a string key)."""


class _PlainScalars(VersionedResolver):
    """Tags every plain (unquoted, untagged) scalar as such; :func:`_resolve` decides what it is."""

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        if kind is ScalarNode and implicit[0]:
            return Tag(suffix=_PLAIN_TAG)
        return super().resolve(kind, value, implicit)


def _go_int(text: str) -> int | None:
    """Go's ``strconv.ParseInt(text, 0, 64)``, then ``ParseUint`` (no sign), or None."""
    sign, body = (text[0], text[1:]) if text[:1] in ("+", "-") else ("", text)
    base = {"0x": 16, "0X": 16, "0o": 8, "0O": 8, "0b": 2, "0B": 2}.get(body[:2], 10)
    if base != 10:
        body = body[2:]
    elif len(body) > 1 and body[0] == "0":
        base, body = 8, body[1:]
    if not _INT_DIGITS[base].fullmatch(body):
        return None
    value = int(body, base) * (-1 if sign == "-" else 1)
    if -(2**63) <= value < 2**63 or (not sign and value < 2**64):
        return value
    return None


def _days_in(year: int, month: int) -> int:
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    return (31, 29 if leap else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)[month - 1]


def _go_timestamp(text: str) -> str | None:
    """A yaml.v3 timestamp as Go's ``time.Time.String()`` prints it, or None.

    v3 accepts "2006-1-2T15:4:5.999999999Z07:00" (also with a lowercase t),
    "2006-1-2 15:4:5.999999999" and "2006-1-2". A zone offset other than zero prints as Go
    prints a fixed zone with no name ("+0200 +0200"), as on a machine whose local time is UTC.
    """
    match = _TIMESTAMP.fullmatch(text)
    if match is None:
        return None
    year, month, day = (int(g) for g in match.group(1, 2, 3))
    sep, zone = match.group(4), match.group(9)
    if sep is not None and (zone is None) != (sep == " "):  # T needs a zone, " " takes none
        return None
    hour, minute, second = (int(g or 0) for g in match.group(5, 6, 7))
    if not (1 <= month <= 12 and 1 <= day <= _days_in(year, month)):
        return None
    if hour > 23 or minute > 59 or second > 59:
        return None
    fraction = (match.group(8) or "")[:9].ljust(9, "0").rstrip("0")
    offset = "+0000 UTC"
    if zone not in (None, "Z") and zone[1:] != "00:00":
        if int(zone[1:3]) > 24 or int(zone[4:]) > 60:
            return None
        digits = zone[0] + zone[1:3] + zone[4:]
        offset = f"{digits} {digits}"
    return (
        f"{year:04d}-{month:02d}-{day:02d} {hour:02d}:{minute:02d}:{second:02d}"
        + (f".{fraction}" if fraction else "")
        + f" {offset}"
    )


def _resolve(text: str) -> Any:
    """A plain scalar's value as yaml.v3 ``resolve("", text)`` decodes it into ``interface{}``."""
    hint = text[:1]
    if hint and not (hint.isascii() and (hint.isdigit() or hint in "+-.yYnNtTfFoO~")):
        return text
    if text in _WORDS:
        return _WORDS[text]
    if hint in "yYnNtTfFoO~":
        return text
    if hint == ".":
        if _GO_FLOAT.fullmatch(text) and math.isfinite(number := float(text)):
            return number
        return text
    timestamp = _go_timestamp(text)
    if timestamp is not None:
        return _GoTime(timestamp)
    plain = text.replace("_", "")
    integer = _go_int(plain)
    if integer is not None:
        return integer
    if _GO_FLOAT.fullmatch(plain) and math.isfinite(number := float(plain)):
        return number
    return text


class _Reader:
    """Turns a composed YAML document into plain values, collecting every problem."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.problems: list[str] = []
        self._open: set[int] = set()  # nodes being read: an alias back into one is a loop

    def where(self, node: Node) -> str:
        return f"{self.name} line {node.start_mark.line + 1}"

    def value(self, node: Node) -> Any:
        if isinstance(node, ScalarNode):
            return self.scalar(node)
        if id(node) in self._open:
            self.problems.append(f"{self.where(node)}: an alias refers to a node that holds it")
            return None
        self._open.add(id(node))
        try:
            if isinstance(node, MappingNode):
                return self.mapping(node)
            return [self.value(item) for item in node.value]
        finally:
            self._open.discard(id(node))

    def scalar(self, node: Node) -> Any:
        tag, text = str(node.tag), str(node.value)
        if tag == _PLAIN_TAG:
            return _resolve(text)
        if tag == _YAML_TAG + "binary":
            try:
                decoded = base64.b64decode("".join(text.split()), validate=True)
            except ValueError:
                self.problems.append(f"{self.where(node)}: the !!binary value is not base64")
                return text
            return decoded.decode("utf-8", "replace")
        kind = tag.removeprefix(_YAML_TAG)
        wanted = {
            "int": int,
            "float": float,
            "bool": bool,
            "null": type(None),
            "timestamp": _GoTime,
        }
        if kind not in wanted:
            return text  # quoted, block or !!str scalars; other tags keep the text (yaml.v3)
        value = _resolve(text)
        if kind == "float" and type(value) is int:
            return float(value)
        if type(value) is not wanted[kind]:
            self.problems.append(f"{self.where(node)}: {text!r} cannot be read as !!{kind}")
        return value

    def mapping(self, node: MappingNode) -> dict[str, Any]:
        seen: dict[str, int] = {}
        result: dict[str, Any] = {}
        merges: list[Node] = []
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            if not isinstance(key_node, ScalarNode):
                self.problems.append(f"{self.where(key_node)}: a key must be a string")
                continue
            text = str(key_node.value)
            if text in seen:
                self.problems.append(
                    f"{self.name} line {line}: key {text!r} is already defined at line "
                    f"{seen[text]} (the Pulumi CLI rejects a key written twice)"
                )
                continue
            seen[text] = line
            if text == "<<" and str(key_node.tag) == _PLAIN_TAG:
                merges.append(value_node)
                continue
            key = self.scalar(key_node)
            if isinstance(key, str) and not isinstance(key, _GoTime):
                result[key] = self.value(value_node)
            else:
                self.problems.append(
                    f"{self.name} line {line}: key {text} is read as {_kind(key)}, and the "
                    f"Pulumi CLI accepts only string keys; quote it: '{text}'"
                )
        for merge in merges:
            sources = merge.value if isinstance(merge, SequenceNode) else [merge]
            for source in sources:
                if not isinstance(source, MappingNode):
                    self.problems.append(
                        f"{self.where(source)}: `<<` merges a mapping or a list of mappings"
                    )
                    continue
                for key, value in self.value(source).items():
                    result.setdefault(key, value)
        return result


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    kinds = {bool: "a boolean", int: "a number", float: "a number", _GoTime: "a timestamp"}
    return kinds.get(type(value), "a value")


def parse_pulumi_yaml(text: str, name: str) -> Any:
    """Parse ``text`` (the file ``name``) as the Pulumi CLI parses it: see the rules above.

    Raises :class:`StackFileError` naming the file and line of every duplicate key, non-string
    key or syntax error. Only the first document counts, as for yaml.v3's ``Unmarshal``.

    A process that reads the same text again (several commands in one process, the
    Automation API driving stacks, the tests) parses it once: the pure-Python parser takes
    ~30 ms for a stack file. Each call returns its own copy, so callers may change it.
    """
    return copy.deepcopy(_parsed(text, name))


@functools.lru_cache(maxsize=32)
def _parsed(text: str, name: str) -> Any:
    """:func:`parse_pulumi_yaml`'s work, remembered for the last 32 texts (an error is not
    remembered: it is raised again by parsing again)."""
    loader = YAML(typ="safe", pure=True)
    loader.Resolver = _PlainScalars
    loader.version = (1, 2)
    try:
        node = next(iter(loader.compose_all(text)), None)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = exc.problem or exc.context or "syntax error"
        raise StackFileError(f"{name} is not valid YAML: {problem}{where}") from None
    except YAMLError as exc:
        raise StackFileError(f"{name} is not valid YAML: {exc}") from None
    if node is None:
        return None
    reader = _Reader(name)
    document = reader.value(node)
    if reader.problems:
        raise StackFileError("\n".join(dict.fromkeys(reader.problems)))
    return document


def read_pulumi_yaml(path: Path) -> Any:
    """Read ``Pulumi.yaml`` or a stack file as the Pulumi CLI does (a UTF-8 BOM is skipped).

    Raises :class:`StackFileError` when the file cannot be read or parsed.
    """
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise StackFileError(f"cannot read {Path(path).name}: {exc}") from None
    return parse_pulumi_yaml(text, Path(path).name)


# What the Pulumi CLI hands the program -----------------------------------------------------


def _go_float(number: float) -> str:
    """A float as Go's encoding/json writes it (shortest digits, exponent only when tiny/huge)."""
    if not math.isfinite(number):
        raise ValueError(f"{number} is not a number JSON can hold")
    if number.is_integer() and abs(number) < 1e21:
        return str(int(number))
    if 1e-6 <= abs(number) < 1e21:
        return format(Decimal(repr(number)), "f")
    return re.sub(r"e-0(\d)$", r"e-\1", repr(number))


def _go_string(text: str) -> str:
    """A string as Go's encoding/json writes it (HTML characters escaped as \\u00XX)."""
    out = ['"']
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch in "\n\r\t":
            out.append({"\n": "\\n", "\r": "\\r", "\t": "\\t"}[ch])
        elif ord(ch) < 0x20 or ch in "<>&\u2028\u2029":
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return "".join(out) + '"'


def go_json(value: Any) -> str:
    """``value`` as Go's ``json.Marshal`` writes it: compact, object keys sorted.

    Raises ValueError for NaN or infinity, which Go's encoder refuses too.
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _go_float(value)
    if isinstance(value, str):
        return _go_string(value)
    if isinstance(value, Mapping):
        items = sorted((str(k), v) for k, v in value.items())
        return "{" + ",".join(f"{_go_string(k)}:{go_json(v)}" for k, v in items) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(go_json(v) for v in value) + "]"
    raise ValueError(f"{type(value).__name__} is not a config value")


def is_secure_value(value: Any) -> bool:
    """A ``secure:`` entry: a mapping with the one key ``secure`` holding a string."""
    return isinstance(value, Mapping) and len(value) == 1 and isinstance(value.get("secure"), str)


def cli_config_value(value: Any) -> str:
    """A stack file's config value as the Pulumi CLI hands it to the program.

    Strings as written, an empty value as "", anything else as Go's JSON (``true``, ``493``,
    ``{"a":1}``) (sdk/go/common/resource/config/object.go ``MarshalString``; a null value is
    "", loaders_test.go TestEmptyValueWarning). Raises ValueError for NaN or infinity.
    """
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return go_json(value)
