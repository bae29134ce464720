"""KMS rules: symmetric keys rotate automatically."""

from __future__ import annotations

from collections.abc import Iterable

from policies.model import Stack, is_true, is_unknown
from policies.rules.helpers import quote
from policies.rules.registry import Finding, rule
from policies.rules.types import KMS_KEY


@rule("kms-key-rotation", "Symmetric KMS keys rotate automatically.")
def kms_key_rotation(stack: Stack) -> Iterable[Finding]:
    """`enableKeyRotation` must be true for symmetric encryption keys."""
    for key in stack.of(KMS_KEY):
        spec = key.props.get("customerMasterKeySpec") or "SYMMETRIC_DEFAULT"
        usage = key.props.get("keyUsage") or "ENCRYPT_DECRYPT"
        if spec != "SYMMETRIC_DEFAULT" or usage != "ENCRYPT_DECRYPT":
            continue
        rotation = key.props.get("enableKeyRotation")
        if not is_unknown(rotation) and not is_true(rotation):
            yield (
                key,
                f"enableKeyRotation is {quote(rotation)}; expected true",
                "Set enable_key_rotation=True.",
            )
