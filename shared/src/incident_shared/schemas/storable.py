"""What the store can hold: the one set of rules for client-shaped JSON that reaches MongoDB.

An event's `metadata` is free-form JSON from the sender, and it is stored as it is (in the event's
document, and in the sample events of its incident). Every value legal in JSON is kept; the few that
a MongoDB-protocol server cannot hold are kept in a form it can, and each such place is listed so
that a reader can tell, and undo it:

- **An array directly inside an array** (`[[1, 2], [3]]`): FerretDB 1.x refuses nested arrays
  ("nested arrays are not supported"), MongoDB holds them. The outer array is kept as its JSON text.
- **An integer outside the signed 64-bit range** (`18446744073709551615`): BSON has no such integer;
  the driver refuses the whole document. Kept as its JSON text (the digits, exactly).
- **A number that is not finite** (NaN, ±Infinity; never from JSON text, but from code such as an
  OTLP double attribute): FerretDB refuses infinities and JSON has no spelling for them. Kept as
  the text `"NaN"`, `"Infinity"` or `"-Infinity"`.
- **An object or array nested deeper than `MAX_DEPTH` levels** (metadata itself is level 1):
  MongoDB refuses documents nested deeper than 100 levels, and events and incidents wrap metadata
  in up to four levels of their own. The deepest part is kept as its JSON text.
- **A key with `.`, a leading `$`, or NUL**: FerretDB refuses `.` and a leading `$` in any key,
  MongoDB needs special operators to reach such fields, and BSON cannot hold NUL in a key. The key
  keeps its meaning with look-alikes: `.` becomes U+FF0E (fullwidth full stop), a leading `$`
  becomes U+FF04 (fullwidth dollar sign), NUL becomes U+2400 (symbol for null): the substitutes
  MongoDB's own documentation recommends.
- **NUL inside text** (a string value; and the message, error type, tags and dedup key, through
  `storable_text`): PostgreSQL's JSON, where the local server keeps its documents, cannot hold
  U+0000 and refuses the whole document. It becomes U+2400 too.

Kept-as-text rather than refused because the sender did nothing wrong: its JSON is valid, and an
incident system that drops a real alert over the shape of one label loses exactly what it exists
to keep. Keys are renamed rather than their object turned into text so that the common dotted
keys (OpenTelemetry's `exception.type`, Kubernetes' `app.kubernetes.io/name`) stay readable and
structured, even at the top of `metadata`.

Refused (`UnstorableError`, which the gateway answers with a 400 naming the place and the
aggregator dead-letters) is only what is not JSON at all: strings with lone surrogates (not UTF-8),
keys that are not strings, values of other types, and two keys that become one once renamed. Text
that is not UTF-8, `NaN`/`Infinity` literals and numbers too large for a double never get this far:
the JSON parser refuses them first.

Not a rule here: empty keys, `$` inside a key and non-characters are held by every server as they
are. Size is bounded before this (`metadata` is at most 16 KiB as JSON, far
below the 16 MiB document limit).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Final, Literal

import orjson

MAX_DEPTH: Final = 32
INT64_MIN: Final = -(2**63)
INT64_MAX: Final = 2**63 - 1

KeptAs = Literal["json-text", "renamed-key", "replaced-character"]
_KEPT_AS: Final = frozenset(("json-text", "renamed-key", "replaced-character"))

_KEY_SUBSTITUTES: Final = {".": "\uff0e", "\x00": "\u2400"}
_DOLLAR_SUBSTITUTE: Final = "\uff04"


@dataclass(frozen=True, slots=True)
class Adjustment:
    """One place where the stored value differs from what was sent, and why."""

    path: str  # a JSON Pointer (RFC 6901) into the stored object
    kept_as: KeptAs
    reason: str
    key: str | None = None  # for a renamed key: the key as sent

    def to_dict(self) -> dict[str, str]:
        out = {"path": self.path, "keptAs": self.kept_as, "reason": self.reason}
        if self.key is not None:
            out["key"] = self.key
        return out

    @classmethod
    def from_dict(cls, raw: Any) -> Adjustment | None:
        """An adjustment read back from a record; None unless it has the shape `to_dict` writes."""
        if not isinstance(raw, dict):
            return None
        path, kept_as, reason, key = raw.get("path"), raw.get("keptAs"), raw.get("reason"), raw.get("key")
        if not (isinstance(path, str) and isinstance(reason, str) and kept_as in _KEPT_AS):
            return None
        if key is not None and not isinstance(key, str):
            return None
        key = storable_text(key[:1000]) if key else None  # a record written before NUL was replaced
        return cls(path=path[:1000], kept_as=kept_as, reason=reason[:200], key=key)


class UnstorableError(ValueError):
    """The value is not JSON the store could hold in any form; `path` is a JSON Pointer to it."""

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        self.message = message
        super().__init__(f"{path or '/'}: {message}")


def _pointer(parts: list[str]) -> str:
    return "".join("/" + p.replace("~", "~0").replace("/", "~1") for p in parts)


def _check_text(text: str, parts: list[str], what: str) -> None:
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise UnstorableError(_pointer(parts), f"{what} is not valid UTF-8 (it holds a lone surrogate)") from None


def check_text(text: str, field: str) -> None:
    """Raises UnstorableError for a string that UTF-8 (and so BSON and JSON) cannot encode."""
    _check_text(text, [field], "the text")


def storable_text(text: str) -> str:
    """`text` with NUL, which not every store can hold in text, replaced by U+2400."""
    return text.replace("\x00", "\u2400") if "\x00" in text else text


def storable_key(key: str) -> str:
    """`key` with the characters no store can hold in a key replaced by their look-alikes."""
    for char, substitute in _KEY_SUBSTITUTES.items():
        if char in key:
            key = key.replace(char, substitute)
    if key.startswith("$"):
        key = _DOLLAR_SUBSTITUTE + key[1:]
    return key


def _key_reason(key: str) -> str:
    problems = []
    if "." in key:
        problems.append("'.'")
    if key.startswith("$"):
        problems.append("a leading '$'")
    if "\x00" in key:
        problems.append("NUL")
    return f"a key with {' and '.join(problems)} cannot be stored; look-alike characters replace them"


def _as_json_text(value: Any, parts: list[str]) -> str:
    try:
        return orjson.dumps(value).decode()
    except orjson.JSONEncodeError as exc:
        raise UnstorableError(_pointer(parts), f"not a JSON value ({exc})") from None


class _Walker:
    """One pass over a JSON value; containers are copied only where something had to change."""

    __slots__ = ("adjustments", "parts")

    def __init__(self) -> None:
        self.adjustments: list[Adjustment] = []
        self.parts: list[str] = []

    def _text(self, value: Any, reason: str) -> str:
        self.adjustments.append(Adjustment(_pointer(self.parts), "json-text", reason))
        return _as_json_text(value, self.parts)

    def value(self, value: Any, depth: int) -> Any:
        kind = type(value)
        if kind is str:
            _check_text(value, self.parts, "the text")
            if "\x00" in value:
                reason = "text with NUL cannot be stored by every server; U+2400 replaces it"
                self.adjustments.append(Adjustment(_pointer(self.parts), "replaced-character", reason))
                return storable_text(value)
            return value
        if kind is bool or value is None:
            return value
        if kind is int:
            if INT64_MIN <= value <= INT64_MAX:
                return value
            reason = "an integer outside the signed 64-bit range is kept as its digits"
            self.adjustments.append(Adjustment(_pointer(self.parts), "json-text", reason))
            return str(value)
        if kind is float:
            if math.isfinite(value):
                return value
            self.adjustments.append(
                Adjustment(_pointer(self.parts), "json-text", "a number that is not finite is kept as text")
            )
            return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
        if kind is dict:
            if depth > MAX_DEPTH:
                return self._text(value, f"nested deeper than {MAX_DEPTH} levels: kept as its JSON text")
            return self.object(value, depth)
        if kind is list:
            if depth > MAX_DEPTH:
                return self._text(value, f"nested deeper than {MAX_DEPTH} levels: kept as its JSON text")
            if any(type(item) is list for item in value):
                return self._text(value, "an array that holds arrays is kept as its JSON text")
            return self.array(value, depth)
        raise UnstorableError(_pointer(self.parts), f"{kind.__name__} is not a JSON value")

    def object(self, obj: dict[Any, Any], depth: int) -> dict[str, Any]:
        out: dict[str, Any] | None = None
        parts = self.parts
        for i, (key, item) in enumerate(obj.items()):
            if type(key) is not str:
                raise UnstorableError(_pointer(parts), f"the key {key!r} is not a string")
            _check_text(key, parts, f"the key {key[:40]!r}")
            stored_key = key
            if "." in key or "\x00" in key or key.startswith("$"):
                stored_key = storable_key(key)
                if stored_key in obj:
                    raise UnstorableError(
                        _pointer(parts),
                        f"the keys {key!r} and {stored_key!r} would collide once {key!r} is made storable; rename one",
                    )
                # The key as sent, but for NUL: the adjustment is stored too, and no NUL can be.
                self.adjustments.append(
                    Adjustment(_pointer([*parts, stored_key]), "renamed-key", _key_reason(key), key=storable_text(key))
                )
            parts.append(stored_key)
            stored = self.value(item, depth + 1)
            parts.pop()
            if out is None and (stored_key is not key or stored is not item):
                out = dict(list(obj.items())[:i])
            if out is not None:
                out[stored_key] = stored
        return obj if out is None else out

    def array(self, items: list[Any], depth: int) -> list[Any]:
        out: list[Any] | None = None
        parts = self.parts
        for i, item in enumerate(items):
            parts.append(str(i))
            stored = self.value(item, depth + 1)
            parts.pop()
            if out is None and stored is not item:
                out = items[:i]
            if out is not None:
                out.append(stored)
        return items if out is None else out


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _plain(value: Any, depth: int) -> bool:
    """True when `value` needs nothing from the rules: the fast path, run for every event."""
    kind = type(value)
    if kind is str:
        return "\x00" not in value and (bool(value.isascii()) or _utf8(value))
    if kind is dict:
        if depth > MAX_DEPTH:
            return False
        for key, item in value.items():
            if type(key) is not str or "." in key or "\x00" in key or key[:1] == "$" or not _plain(key, depth):
                return False
            if not _plain(item, depth + 1):
                return False
        return True
    if kind is list:
        return depth <= MAX_DEPTH and all(type(item) is not list and _plain(item, depth + 1) for item in value)
    if kind is int:
        return bool(INT64_MIN <= value <= INT64_MAX)
    if kind is float:
        return math.isfinite(value)
    return kind is bool or value is None


def make_storable(obj: dict[str, Any]) -> tuple[dict[str, Any], list[Adjustment]]:
    """`obj` in a form every supported store holds, and where it differs from what was sent.

    Returns `obj` itself (no copy) when nothing had to change, which is the common case. Raises
    UnstorableError for what is not JSON at all (see the module's docstring).
    """
    if _plain(obj, 1):
        return obj, []
    walker = _Walker()
    stored = walker.object(obj, 1)
    return stored, walker.adjustments
