"""Old -> new values of changed inputs, as a reviewer wants to read them.

A changed input is reported at the deepest path where old and new differ (``tags.Name``, not
the whole ``tags`` map), and JSON documents carried as strings (IAM policies, container
definitions, dashboards) are compared as documents, so a one-statement change in a 2 KB policy
reads as that statement. Multi-line text (scripts, cloud-init user data, base64-encoded or not)
reads as a line diff. Secrets stay masked: the plan records them as ``"[secret]"`` and a value
that is secret on either side is shown masked on both.
"""

from __future__ import annotations

import base64
import binascii
import difflib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final

#: How the offline engine masks a secret (``stacks.offline.engine.SECRET_MASK``).
SECRET_MASK: Final = "[secret]"


class _Absent:
    """The marker for "no value on this side" (a key added or removed)."""

    _instance: _Absent | None = None

    def __new__(cls) -> _Absent:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "ABSENT"


ABSENT: Final = _Absent()

#: At most this many changed lines of a text value are shown; the rest are counted.
TEXT_DIFF_LINES: Final = 40


@dataclass(frozen=True)
class ValueChange:
    """One changed value: ``path`` as ``key.sub[2].leaf``; ``old``/``new`` may be ABSENT."""

    path: str
    old: Any
    new: Any
    #: "" or a note: "now secret", "no longer secret", "text" (see ``lines``).
    note: str = ""
    #: For text values: unified-diff lines ("-old", "+new", " context"), at most TEXT_DIFF_LINES.
    lines: tuple[str, ...] = ()
    #: Changed lines left out of ``lines``.
    more_lines: int = 0

    @property
    def top(self) -> str:
        """The input key at the root of the path (``tags`` for ``tags.Name``)."""
        return split_path(self.path)[0]


def split_path(path: str) -> list[str]:
    """``a.b[2].c`` -> ``["a", "b", "c"]``: the keys, without list positions."""
    keys: list[str] = []
    for part in path.split("."):
        name = part.split("[", 1)[0]
        if name:
            keys.append(name)
    return keys


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _as_document(value: Any) -> Any:
    """A JSON object/array carried as a string, decoded; otherwise ABSENT."""
    if isinstance(value, str) and value[:1] in "{[" and len(value) > 1:
        try:
            decoded = json.loads(value)
        except ValueError:
            return ABSENT
        if isinstance(decoded, dict | list):
            return decoded
    return ABSENT


def _as_text(value: Any, key: str) -> str | None:
    """Multi-line text, or base64 that decodes to text (EC2 user data is sent base64-encoded)."""
    if not isinstance(value, str):
        return None
    if "\n" in value:
        return value
    if key == "userData" and len(value) >= 16:
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return decoded
    return None


def _text_change(path: str, old: str, new: str) -> ValueChange:
    diff = [
        line
        for line in difflib.unified_diff(old.splitlines(), new.splitlines(), n=1, lineterm="")
        if not line.startswith(("---", "+++"))
    ]
    changed = [line for line in diff if not line.startswith("@@")]
    return ValueChange(
        path,
        old,
        new,
        note="text",
        lines=tuple(changed[:TEXT_DIFF_LINES]),
        more_lines=max(0, len(changed) - TEXT_DIFF_LINES),
    )


def _leaf(path: str, old: Any, new: Any) -> ValueChange:
    old_secret, new_secret = old == SECRET_MASK, new == SECRET_MASK
    if old_secret or new_secret:
        note = ""
        if old is not ABSENT and new is not ABSENT:
            note = "now secret" if new_secret else "no longer secret"
        masked_old = ABSENT if old is ABSENT else SECRET_MASK
        masked_new = ABSENT if new is ABSENT else SECRET_MASK
        return ValueChange(path, masked_old, masked_new, note=note)
    key = split_path(path)[-1] if path else ""
    old_text, new_text = _as_text(old, key), _as_text(new, key)
    if old_text is not None and new_text is not None:
        return _text_change(path, old_text, new_text)
    return ValueChange(path, old, new)


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _list_changes(path: str, old: list[Any], new: list[Any]) -> Iterator[ValueChange]:
    if len(old) == len(new):
        for i, (a, b) in enumerate(zip(old, new, strict=True)):
            yield from diff_values(a, b, f"{path}[{i}]")
        return
    matcher = difflib.SequenceMatcher(
        a=[_canonical(v) for v in old], b=[_canonical(v) for v in new], autojunk=False
    )
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        pairs = min(i2 - i1, j2 - j1) if tag == "replace" else 0
        for k in range(pairs):
            yield from diff_values(old[i1 + k], new[j1 + k], f"{path}[{j1 + k}]")
        for i in range(i1 + pairs, i2):
            yield _leaf(f"{path}[{i}]", old[i], ABSENT)
        for j in range(j1 + pairs, j2):
            yield _leaf(f"{path}[{j}]", ABSENT, new[j])


def diff_values(old: Any, new: Any, path: str = "") -> Iterator[ValueChange]:
    """Every difference between ``old`` and ``new``, at the deepest path where they differ."""
    if old == new:
        return
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new)):
            yield from diff_values(old.get(key, ABSENT), new.get(key, ABSENT), _join(path, key))
        return
    if isinstance(old, list) and isinstance(new, list):
        yield from _list_changes(path, old, new)
        return
    old_doc, new_doc = _as_document(old), _as_document(new)
    if old_doc is not ABSENT and new_doc is not ABSENT:
        yield from diff_values(old_doc, new_doc, path)
        return
    yield _leaf(path, old, new)


# Showing values ------------------------------------------------------------------------------


def shorten(text: str, limit: int) -> str:
    """``text`` cut in the middle to about ``limit`` characters, saying how long it was."""
    if len(text) <= limit:
        return text
    keep = max(8, limit - 24)
    head, tail = keep * 2 // 3, keep - keep * 2 // 3
    return f"{text[:head]} ... {text[-tail:]} ({len(text):,} chars)"


def show(value: Any, limit: int = 120) -> str:
    """A value as JSON on one line, shortened; ``(absent)`` for no value."""
    if value is ABSENT:
        return "(absent)"
    if value == SECRET_MASK:
        return SECRET_MASK
    return shorten(json.dumps(value, sort_keys=True, ensure_ascii=False, default=str), limit)
