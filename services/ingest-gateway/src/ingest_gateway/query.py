"""Query-string parsing for the read API: each bad parameter is a 400 that names it.

Each parser takes exactly what the OpenAPI document describes for its parameter: a parameter that
is present must hold a value of its type (`?to=` is not "no upper bound" but an error), and lists
are comma-separated without spaces. A parameter left out takes its default.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Final

from multidict import MultiMapping

from incident_shared.timeutil import parse_iso
from ingest_gateway.errors import ApiError

_INTEGER: Final = re.compile(r"^-?[0-9]{1,18}\Z")
# A page cursor is a position in the listing's order: the sort time in epoch milliseconds and the id
# of the last item. Any such position is a valid place to continue from.
CURSOR_PATTERN: Final = re.compile(r"^(-?[0-9]{1,15})~([A-Za-z0-9_.:-]{1,160})\Z")
# Epoch milliseconds of 0001-01-01 and 9999-12-31T23:59:59.999Z, the range of a datetime.
_MIN_MS: Final = -62_135_596_800_000
_MAX_MS: Final = 253_402_300_799_999


def _bad(param: str, message: str) -> ApiError:
    return ApiError(400, "invalid_query", f"query parameter '{param}' {message}", details={"parameter": param})


def get_int(query: MultiMapping[str], name: str, default: int, lo: int, hi: int) -> int:
    raw = query.get(name)
    if raw is None:
        return default
    if not _INTEGER.match(raw):
        raise _bad(name, f"must be an integer from {lo} to {hi}, got {raw!r}")
    value = int(raw)
    if not lo <= value <= hi:
        raise _bad(name, f"must be an integer from {lo} to {hi}, got {value}")
    return value


def get_int_list(query: MultiMapping[str], name: str, lo: int, hi: int) -> list[int]:
    raw = query.get(name)
    if raw is None:
        return []
    values: list[int] = []
    for part in raw.split(","):
        if not _INTEGER.match(part):
            raise _bad(name, f"must be integers from {lo} to {hi}, comma-separated; got {raw!r}")
        value = int(part)
        if not lo <= value <= hi:
            raise _bad(name, f"must be integers from {lo} to {hi}; got {value}")
        values.append(value)
    return values


def get_str_list(
    query: MultiMapping[str],
    name: str,
    allowed: frozenset[str] | None = None,
    pattern: re.Pattern[str] | None = None,
) -> list[str]:
    """Comma-separated values, each one of `allowed` or matching `pattern` (when given)."""
    raw = query.get(name)
    if raw is None:
        return []
    values = raw.split(",")
    for v in values:
        if allowed is not None and v not in allowed:
            raise _bad(name, f"must be one or more of {', '.join(sorted(allowed))}, comma-separated; got {v!r}")
        if pattern is not None and not pattern.match(v):
            raise _bad(name, f"must be one or more names, comma-separated, without spaces; got {v!r}")
    return values


def get_bool(query: MultiMapping[str], name: str, default: bool = False) -> bool:
    raw = query.get(name)
    if raw is None:
        return default
    if raw in ("true", "false"):
        return raw == "true"
    raise _bad(name, f"must be true or false, got {raw!r}")


def get_time(query: MultiMapping[str], name: str) -> datetime | None:
    raw = query.get(name)
    if raw is None:
        return None
    try:
        return parse_iso(raw)
    except ValueError:
        raise _bad(name, f"must be an ISO-8601 time such as 2026-01-31T12:00:00Z; got {raw!r}") from None


def encode_cursor(epoch_ms: int, item_id: str) -> str:
    return f"{epoch_ms}~{item_id}"


def decode_cursor(query: MultiMapping[str], name: str = "cursor") -> list[Any] | None:
    """[epoch ms, id] of the position to continue after; a time outside years 1-9999 is clamped."""
    raw = query.get(name)
    if raw is None:
        return None
    match = CURSOR_PATTERN.match(raw)
    if match is None:
        raise _bad(name, "is not a cursor this API returned; pass `nextCursor` from the previous page")
    return [min(max(int(match[1]), _MIN_MS), _MAX_MS), match[2]]
