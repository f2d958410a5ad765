"""What every source's translation into events shares: service names and metadata MongoDB can store.

Other systems name things their own way (`service.name` = `unknown_service:python`, a PagerDuty
component `db primary`), and their structured fields hold keys that MongoDB cannot store (OpenTelemetry
attribute names are dotted, a custom detail may start with `$` or hold an array of arrays, which
FerretDB refuses as well). A source turns them into what the event contract and the projection accept
here, rather than refusing an alert that a monitoring tool cannot reword.
"""

from __future__ import annotations

from typing import Any, Final

import orjson

from incident_shared.schemas.events import MAX_METADATA_BYTES, SERVICE_PATTERN

# Longest string kept whole in metadata once it must shrink; a stack trace keeps its first lines.
_SHRUNK_STRING_CHARS: Final = 1024
_SERVICE_CHARS: Final = 100
# An object or list trimmed to less than this is replaced by a note instead.
_MIN_KEPT_BYTES: Final = 256
_MORE_NOTE_BYTES: Final = 64


def service_name(value: object) -> str | None:
    """`value` as a valid service name (other characters become `-`), or None when nothing is left."""
    if not isinstance(value, str):
        return None
    cleaned = "".join(c if c.isalnum() and c.isascii() else c if c in "._-" else "-" for c in value.strip())
    cleaned = cleaned.lstrip("._-")[:_SERVICE_CHARS].rstrip("-")
    return cleaned if cleaned and SERVICE_PATTERN.match(cleaned) else None


def storable_key(key: str) -> str:
    """A field name MongoDB stores: `.` becomes `_`, a leading `$` gets a `_` before it, NUL goes."""
    key = key.replace(".", "_").replace("\x00", "")
    return "_" + key if key.startswith("$") else key


def storable(value: Any) -> Any:
    """`value` (decoded JSON) with every object key storable and arrays inside arrays as JSON text."""
    if isinstance(value, dict):
        return {storable_key(str(k)): storable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [orjson.dumps(v).decode() if isinstance(v, list) else storable(v) for v in value]
    return value


def _shrink_strings(value: Any) -> Any:
    if isinstance(value, str) and len(value) > _SHRUNK_STRING_CHARS:
        return value[:_SHRUNK_STRING_CHARS] + f"… [{len(value) - _SHRUNK_STRING_CHARS} characters cut]"
    if isinstance(value, dict):
        return {k: _shrink_strings(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shrink_strings(v) for v in value]
    return value


def _size(value: Any) -> int:
    return len(orjson.dumps(value))


def _fit_list(items: list[Any], budget: int) -> list[Any]:
    kept: list[Any] = []
    used = 2 + _MORE_NOTE_BYTES
    for item in items:
        used += _size(item) + 1
        if used > budget:
            break
        kept.append(item)
    return [*kept, f"[{len(items) - len(kept)} more items removed: over the metadata limit]"]


def _fit(value: dict[str, Any], budget: int) -> dict[str, Any]:
    fitted = dict(value)
    for size, key in sorted(((_size(v), k) for k, v in value.items()), reverse=True):
        overflow = _size(fitted) - budget
        if overflow <= 0:
            break
        entry = fitted[key]
        room = size - overflow
        if isinstance(entry, dict) and room > _MIN_KEPT_BYTES:
            fitted[key] = _fit(entry, room)
        elif isinstance(entry, list) and room > _MIN_KEPT_BYTES:
            fitted[key] = _fit_list(entry, room)
        else:
            fitted[key] = f"[removed: {size} bytes as JSON, over the metadata limit]"
    return fitted


def fit_metadata(metadata: dict[str, Any], limit: int = MAX_METADATA_BYTES) -> dict[str, Any]:
    """`metadata` within the event's size limit, keeping as much as possible.

    Long strings are cut first (a stack trace keeps its start); if that is not enough, the largest
    entries are trimmed (an object's own largest entries, a list's last items) or replaced by a note
    saying how big they were, until it fits. An alert is worth more than its details: monitoring
    tools do the same (Alertmanager drops PagerDuty custom details past PagerDuty's size limit).
    """
    if _size(metadata) <= limit:
        return metadata
    fitted = _fit(_shrink_strings(metadata), limit)
    if _size(fitted) > limit:  # thousands of small entries: none of them alone is the cause
        return {"removed": f"{len(fitted)} entries, over the {limit}-byte metadata limit"}
    return fitted
