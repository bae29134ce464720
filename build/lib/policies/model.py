"""The neutral resource model the policy rules work on.

Both the offline plan (`python -m stacks plan`) and the CrossGuard engine are adapted to these
types, so the rules never see Pulumi's own classes. Nothing here imports `pulumi` or
`pulumi_policy`.

Property names in `Resource.props` are the Pulumi wire names (camelCase, as in the pulumi-aws
schema). A value that cannot be known yet (CrossGuard during `pulumi preview`) is the `UNKNOWN`
singleton; a secret recorded by the offline plan is the string `SECRET`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

Enforcement = Literal["mandatory", "advisory"]
ENFORCEMENT_LEVELS: Final = ("mandatory", "advisory")

SECRET: Final = "[secret]"
"""How the offline plan records a secret value."""

STACK_TYPE: Final = "pulumi:pulumi:Stack"
AWS_PROVIDER_TYPE: Final = "pulumi:providers:aws"


class _Unknown:
    """Type of `UNKNOWN`: a value the engine cannot know yet (computed during preview)."""

    _instance: _Unknown | None = None

    def __new__(cls) -> _Unknown:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "<unknown>"


UNKNOWN: Final = _Unknown()


@dataclass(frozen=True)
class Options:
    """The resource options the rules may look at."""

    protect: bool = False
    ignore_changes: tuple[str, ...] = ()
    retain_on_delete: bool = False
    delete_before_replace: bool = False


@dataclass(frozen=True)
class Resource:
    """One resource of a stack, independent of where it was read from.

    `props` holds the resource's inputs (offline plan) or outputs (CrossGuard), keyed by wire
    name. `id` is the provider id when known (the offline plan records it; for a bucket it
    equals the bucket name). `property_dependencies` maps a property to the URNs its value came
    from; CrossGuard provides it, the offline plan does not (its values are all resolved).
    """

    urn: str
    type: str
    name: str
    props: Mapping[str, Any] = field(default_factory=dict)
    region: str | None = None
    options: Options = field(default_factory=Options)
    parent: str | None = None
    provider: str | None = None
    dependencies: tuple[str, ...] = ()
    id: str | None = None
    property_dependencies: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def get(self, *path: str | int, default: Any = None) -> Any:
        """Return the nested property at `path` (keys and list indexes), or `default`.

        A missing key, an index out of range or a non-container on the way gives `default`;
        `UNKNOWN` on the way gives `UNKNOWN`.
        """
        value: Any = self.props
        for step in path:
            if value is UNKNOWN:
                return UNKNOWN
            if isinstance(step, int):
                if not isinstance(value, Sequence) or isinstance(value, str):
                    return default
                if not -len(value) <= step < len(value):
                    return default
                value = value[step]
            else:
                if not isinstance(value, Mapping) or step not in value:
                    return default
                value = value[step]
        return default if value is None else value


@dataclass(frozen=True)
class Violation:
    """A rule broken by one resource (or by the stack, with the stack's URN or "")."""

    urn: str
    type: str
    rule: str
    message: str
    how_to_fix: str
    enforcement: Enforcement = "mandatory"


# ---------------------------------------------------------------------------------------------
# Value helpers. Rules treat UNKNOWN as "cannot judge": it satisfies presence checks and is
# never reported as a violation of an equality check.


def is_unknown(value: Any) -> bool:
    """True when `value` is the UNKNOWN marker."""
    return value is UNKNOWN


def is_true(value: Any) -> bool:
    """True for `True` and the string "true" (some pulumi-aws booleans are strings)."""
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def is_false_or_unset(value: Any) -> bool:
    """True when `value` is known and not true (None, False, "false", anything else)."""
    return not is_unknown(value) and not is_true(value)


def present(value: Any) -> bool:
    """True when a value was given: not None, not "", not an empty list/dict. UNKNOWN counts."""
    if value is UNKNOWN:
        return True
    if value is None:
        return False
    if isinstance(value, (str, list, tuple, dict)) and len(value) == 0:
        return False
    return True


def as_list(value: Any) -> list[Any]:
    """None -> [], list/tuple -> list, anything else -> [value]."""
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


def as_mapping(value: Any) -> Mapping[str, Any]:
    """`value` when it is a mapping, else an empty dict."""
    return value if isinstance(value, Mapping) else {}


def lower(value: Any) -> str | None:
    """Lower-cased string value, or None when `value` is not a string."""
    return value.lower() if isinstance(value, str) else None


def tags_of(resource: Resource) -> Mapping[str, Any]:
    """The resource's `tags` (or a provider's `defaultTags.tags`), JSON strings decoded."""
    if resource.type.startswith("pulumi:providers:"):
        default_tags = _maybe_json(resource.props.get("defaultTags"))
        return as_mapping(_maybe_json(as_mapping(default_tags).get("tags")))
    return as_mapping(_maybe_json(resource.props.get("tags")))


def _maybe_json(value: Any) -> Any:
    """Decode a JSON string (provider inputs arrive JSON-encoded); other values unchanged."""
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


# ---------------------------------------------------------------------------------------------
# The stack view: an index over the resources plus reference resolution.


REFERENCE_PROPS: Final = ("arn", "name", "bucket", "keyId", "functionName", "logGroupName")
"""Properties whose value other resources use to refer to a resource (besides its id)."""


class Stack(Sequence[Resource]):
    """Index over a stack's resources for rules that correlate several of them.

    A Stack is itself a sequence of its resources, so it can be passed wherever a rule
    expects `Sequence[Resource]` (the check builds the index once for all rules).
    """

    def __init__(self, resources: Iterable[Resource]) -> None:
        self.resources: list[Resource] = list(resources)
        self.by_urn: dict[str, Resource] = {r.urn: r for r in self.resources}

    def __len__(self) -> int:
        return len(self.resources)

    def __getitem__(self, index: Any) -> Any:
        return self.resources[index]

    def of(self, *types: str) -> list[Resource]:
        """All resources whose type token is one of `types`, in stack order."""
        wanted = set(types)
        return [r for r in self.resources if r.type in wanted]

    def stack_urn(self) -> str:
        """URN of the stack resource when present, else ""."""
        for r in self.resources:
            if r.type == STACK_TYPE:
                return r.urn
        return ""

    @staticmethod
    def identifiers(resource: Resource) -> set[str]:
        """Values other resources use to refer to `resource`: id, ARN, name and the like."""
        values: set[str] = set()
        if isinstance(resource.id, str) and resource.id:
            values.add(resource.id)
        for prop in REFERENCE_PROPS:
            value = resource.props.get(prop)
            if isinstance(value, str) and value and value != SECRET:
                values.add(value)
        if resource.type in ("aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2"):
            for name in list(values):
                if not name.startswith("arn:"):
                    values.add(f"arn:aws:s3:::{name}")
        return values

    def refers(
        self, source: Resource, prop: str, value: Any, candidates: Sequence[Resource]
    ) -> list[Resource]:
        """The candidates that `value` (read from `source`'s property `prop`) refers to.

        Only candidates in `source`'s region (or of unknown region) are considered. A known
        value refers to the candidates having it among their identifiers, or to those whose
        identifier ends the value when it is an ARN of the candidate's region
        (`arn:aws:sns:eu-west-1:123456789012:alerts` refers to topic `alerts`). When the value is
        UNKNOWN or matches no candidate, the dependency graph decides: the candidates `prop`
        depends on (CrossGuard's property dependencies), or else the single candidate among
        `source`'s dependencies.
        """
        if source.region is not None:
            candidates = [c for c in candidates if c.region in (None, source.region)]
        found: list[Resource] = []
        for item in as_list(value) if not is_unknown(value) else [UNKNOWN]:
            if isinstance(item, str) and not is_unknown(item):
                matches = [c for c in candidates if _names(item, c, self.identifiers(c))]
                if matches:
                    found.extend(m for m in matches if m not in found)
                    continue
            for dep in self._dependency_targets(source, prop, candidates):
                if dep not in found:
                    found.append(dep)
        return found

    @staticmethod
    def _dependency_targets(
        source: Resource, prop: str, candidates: Sequence[Resource]
    ) -> list[Resource]:
        """Candidates reachable through `source`'s dependencies (see `refers`)."""
        by_prop = source.property_dependencies.get(prop)
        if by_prop:
            return [c for c in candidates if c.urn in by_prop]
        deps = [c for c in candidates if c.urn in source.dependencies]
        return deps if len(deps) == 1 else []

    def referencing(
        self, target: Resource, sources: Sequence[Resource], prop: str
    ) -> list[Resource]:
        """The `sources` whose property `prop` refers to `target`."""
        return [s for s in sources if target in self.refers(s, prop, s.props.get(prop), [target])]


def _names(value: str, candidate: Resource, identifiers: set[str]) -> bool:
    """True when `value` is one of the identifiers, or an ARN in the candidate's region whose
    resource part ends with one of them after a ':' or '/'."""
    if value in identifiers:
        return True
    parts = value.split(":", 5)
    if len(parts) < 6 or parts[0] != "arn":
        return False
    region = parts[3]
    if region and candidate.region is not None and region != candidate.region:
        return False
    resource = parts[5]
    return any(
        resource == ident or resource.endswith((f":{ident}", f"/{ident}"))
        for ident in identifiers
        if ident and not ident.startswith("arn:")
    )


# ---------------------------------------------------------------------------------------------
# IAM-style policy documents (identity policies, key/bucket/topic/queue policies, trust policies).


class DocumentError(ValueError):
    """A policy document that is not valid JSON or not a JSON object."""


def parse_document(value: Any) -> dict[str, Any] | None:
    """Parse a policy document given as a JSON string or a dict.

    Returns None when the document cannot be judged (absent, UNKNOWN, a masked secret).
    Raises DocumentError when it is not a JSON object.
    """
    if value is None or is_unknown(value) or value == SECRET or value == "":
        return None
    if isinstance(value, Mapping):
        return dict(value)
    if not isinstance(value, str):
        raise DocumentError(f"expected a JSON string, got {type(value).__name__}")
    try:
        doc = json.loads(value)
    except json.JSONDecodeError as exc:
        raise DocumentError(f"not valid JSON ({exc.msg} at position {exc.pos})") from None
    if not isinstance(doc, dict):
        raise DocumentError(f"expected a JSON object, got {type(doc).__name__}")
    return doc


def statements(doc: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The document's statements as a list of mappings (a single statement is wrapped)."""
    return [s for s in as_list(doc.get("Statement")) if isinstance(s, Mapping)]


def statement_actions(statement: Mapping[str, Any]) -> list[str]:
    """The statement's `Action` values (strings only)."""
    return [a for a in as_list(statement.get("Action")) if isinstance(a, str)]


def statement_resources(statement: Mapping[str, Any]) -> list[str]:
    """The statement's `Resource` values (strings only)."""
    return [r for r in as_list(statement.get("Resource")) if isinstance(r, str)]


def is_allow(statement: Mapping[str, Any]) -> bool:
    """True for an Allow statement."""
    return statement.get("Effect") == "Allow"


def is_deny(statement: Mapping[str, Any]) -> bool:
    """True for a Deny statement."""
    return statement.get("Effect") == "Deny"


def principal_is_everyone(principal: Any) -> bool:
    """True for `"*"`, `{"AWS": "*"}` or `{"AWS": [..., "*", ...]}`."""
    if principal == "*":
        return True
    if isinstance(principal, Mapping):
        return "*" in as_list(principal.get("AWS"))
    return False


def condition_keys(statement: Mapping[str, Any]) -> set[str]:
    """Lower-cased condition keys used by the statement, across all operators."""
    keys: set[str] = set()
    for block in as_mapping(statement.get("Condition")).values():
        keys.update(k.lower() for k in as_mapping(block) if isinstance(k, str))
    return keys


def condition_values(statement: Mapping[str, Any], operators: Iterable[str], key: str) -> list[Any]:
    """Values of condition `key` under any of `operators` (both compared case-insensitively)."""
    wanted = {o.lower() for o in operators}
    values: list[Any] = []
    for operator, block in as_mapping(statement.get("Condition")).items():
        if not isinstance(operator, str) or operator.lower() not in wanted:
            continue
        for k, v in as_mapping(block).items():
            if isinstance(k, str) and k.lower() == key.lower():
                values.extend(as_list(v))
    return values


def denies_insecure_transport(statement: Mapping[str, Any]) -> bool:
    """True for a Deny to everyone conditioned on `aws:SecureTransport` being false."""
    if not is_deny(statement) or not principal_is_everyone(statement.get("Principal")):
        return False
    values = condition_values(statement, ("Bool", "BoolIfExists"), "aws:SecureTransport")
    return any(v is False or (isinstance(v, str) and v.lower() == "false") for v in values)
