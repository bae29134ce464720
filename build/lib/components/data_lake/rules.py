"""The data lake's pure rules: zone names, lifecycle transitions S3 accepts, the log
bucket's delivery statement, and the key prefixes grants may be scoped to.

Plain functions with plain tests; the stack configuration checks use them too, so a bad
``mlops:dataLake`` is reported before any resource exists.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from components.buckets import STORAGE_CLASSES, Transition
from components.checks import duplicates
from components.kms import KeyContext

#: The zones a lake has unless told otherwise, in the order data flows through them.
DEFAULT_ZONES: tuple[str, ...] = ("raw", "curated", "features", "models")

#: Zone names: lowercase, usable in bucket names, role names and tag values.
ZONE_NAME_RE = re.compile(r"^[a-z](?:[a-z0-9-]{0,18}[a-z0-9])?$")
ZONE_NAME_RULE = (
    "1-20 lowercase letters, digits or '-', starting with a letter and not ending with '-'"
)

#: Lifecycle transitions S3 supports (the "waterfall"): storage class -> the classes an
#: object in it may move on to.
NEXT_STORAGE_CLASSES: Mapping[str, frozenset[str]] = {
    "STANDARD_IA": frozenset(
        {"INTELLIGENT_TIERING", "ONEZONE_IA", "GLACIER_IR", "GLACIER", "DEEP_ARCHIVE"}
    ),
    "INTELLIGENT_TIERING": frozenset({"ONEZONE_IA", "GLACIER_IR", "GLACIER", "DEEP_ARCHIVE"}),
    "ONEZONE_IA": frozenset({"GLACIER", "DEEP_ARCHIVE"}),
    "GLACIER_IR": frozenset({"GLACIER", "DEEP_ARCHIVE"}),
    "GLACIER": frozenset({"DEEP_ARCHIVE"}),
    "DEEP_ARCHIVE": frozenset(),
}

#: Classes objects may only enter 30 days after creation, and must stay in for 30 days
#: before the next transition (S3 rejects lifecycle rules that do otherwise).
THIRTY_DAY_CLASSES = frozenset({"STANDARD_IA", "ONEZONE_IA"})

#: Server access log delivery principal (writes the log bucket).
LOG_DELIVERY_SERVICE = "logging.s3.amazonaws.com"


def zone_problems(zones: Sequence[str]) -> list[str]:
    """What is wrong with a list of zone names (empty list, bad names, duplicates)."""
    if not zones:
        return ["no zones given; list at least one (e.g. raw, curated, features, models)"]
    out = []
    bad = [z for z in zones if not isinstance(z, str) or not ZONE_NAME_RE.match(z)]
    if bad:
        out.append(f"{bad} are not zone names; use {ZONE_NAME_RULE}")
    dupes = duplicates(z for z in zones if isinstance(z, str))
    if dupes:
        out.append(f"{dupes} listed more than once")
    return out


def transition_problems(transitions: Sequence[Transition]) -> list[str]:
    """What S3 would reject in one zone's list of transitions of current objects.

    Rules (S3 lifecycle "supported transitions" and constraints): a class lifecycle rules
    can move objects to; days >= 0, >= 30 for STANDARD_IA and ONEZONE_IA; each transition
    later than the previous one, to a class the previous one may move on to, and at least
    30 days later when the previous class is STANDARD_IA or ONEZONE_IA.
    """
    out: list[str] = []
    previous: Transition | None = None
    for i, t in enumerate(transitions):
        where = f"transition {i + 1} ({t.storage_class} at day {t.days})"
        if t.storage_class not in STORAGE_CLASSES:
            out.append(
                f"{where}: {t.storage_class!r} is not a storage class lifecycle rules move "
                f"objects to; use one of {', '.join(STORAGE_CLASSES)}"
            )
            previous = None
            continue
        minimum = 30 if t.storage_class in THIRTY_DAY_CLASSES else 0
        if t.days < minimum:
            out.append(f"{where}: days must be at least {minimum} for {t.storage_class}")
        if previous is not None:
            if t.storage_class not in NEXT_STORAGE_CLASSES[previous.storage_class]:
                allowed = sorted(NEXT_STORAGE_CLASSES[previous.storage_class])
                out.append(
                    f"{where}: S3 cannot move objects from {previous.storage_class} to "
                    f"{t.storage_class}; after {previous.storage_class} use one of "
                    f"{allowed or 'nothing (it is the last class)'}"
                )
            gap = 30 if previous.storage_class in THIRTY_DAY_CLASSES else 1
            if t.days < previous.days + gap:
                out.append(
                    f"{where}: must come at least {gap} day(s) after the "
                    f"{previous.storage_class} transition at day {previous.days}; use day "
                    f"{previous.days + gap} or later"
                )
        previous = t
    return out


def log_delivery_statement(
    log_bucket_arn: str,
    prefixes: Sequence[str],
    source_bucket_arns: Sequence[str],
    account_id: str,
) -> dict[str, Any]:
    """Bucket policy statement: S3 server access log delivery may write the lake's logs.

    Only under the zones' log prefixes, only for the given source buckets of this account.
    """
    return {
        "Sid": "S3ServerAccessLogDelivery",
        "Effect": "Allow",
        "Principal": {"Service": LOG_DELIVERY_SERVICE},
        "Action": "s3:PutObject",
        "Resource": [f"{log_bucket_arn}/{p.strip('/')}/*" for p in prefixes],
        "Condition": {
            "ArnLike": {"aws:SourceArn": list(source_bucket_arns)},
            "StringEquals": {"aws:SourceAccount": account_id},
        },
    }


def s3_via_service(ctx: KeyContext) -> str:
    """The ``kms:ViaService`` value of S3 in the key's region."""
    suffix = "amazonaws.com.cn" if ctx.partition == "aws-cn" else "amazonaws.com"
    return f"s3.{ctx.region}.{suffix}"


def camel(text: str) -> str:
    """``text`` as one CamelCase word (statement ids are alphanumeric)."""
    return "".join(part.capitalize() for part in re.split(r"[^a-zA-Z0-9]+", text) if part)


def clean_prefix(prefix: str | None) -> str:
    """A key prefix without surrounding slashes; ValueError for wildcards or empty input."""
    if prefix is None:
        return ""
    if not isinstance(prefix, str):
        raise ValueError(f"prefix must be a string, got {type(prefix).__name__}")
    clean = prefix.strip("/")
    if not clean:
        raise ValueError(f"prefix {prefix!r} is empty; pass prefix=None to grant the whole zone")
    if any(c in clean for c in "*?$"):
        raise ValueError(
            f"prefix {prefix!r} contains a wildcard or policy variable ('*', '?', '$'); "
            "give a literal key prefix such as 'runs/2024'"
        )
    return clean
