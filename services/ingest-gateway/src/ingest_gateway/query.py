"""Query-string parsing for the read API: each bad parameter is a 400 that names it."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Any

import orjson
from multidict import MultiMapping

from incident_shared.timeutil import parse_iso
from ingest_gateway.errors import ApiError


def _bad(param: str, message: str) -> ApiError:
    return ApiError(400, "invalid_query", f"query parameter '{param}' {message}", details={"parameter": param})


def get_int(query: MultiMapping[str], name: str, default: int, lo: int, hi: int) -> int:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise _bad(name, f"must be an integer from {lo} to {hi}, got {raw!r}") from None
    if not lo <= value <= hi:
        raise _bad(name, f"must be an integer from {lo} to {hi}, got {value}")
    return value


def get_int_list(query: MultiMapping[str], name: str, lo: int, hi: int) -> list[int]:
    raw = query.get(name)
    if not raw:
        return []
    values: list[int] = []
    for part in raw.split(","):
        try:
            value = int(part)
        except ValueError:
            raise _bad(name, f"must be integers from {lo} to {hi}, comma-separated; got {raw!r}") from None
        if not lo <= value <= hi:
            raise _bad(name, f"must be integers from {lo} to {hi}; got {value}")
        values.append(value)
    return values


def get_str_list(query: MultiMapping[str], name: str, allowed: frozenset[str] | None = None) -> list[str]:
    raw = query.get(name)
    if not raw:
        return []
    values = [v.strip() for v in raw.split(",") if v.strip()]
    if allowed is not None:
        for v in values:
            if v not in allowed:
                raise _bad(name, f"must be one of {', '.join(sorted(allowed))}; got {v!r}")
    return values


def get_bool(query: MultiMapping[str], name: str, default: bool = False) -> bool:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    if raw in ("true", "false"):
        return raw == "true"
    raise _bad(name, f"must be true or false, got {raw!r}")


def get_time(query: MultiMapping[str], name: str) -> datetime | None:
    raw = query.get(name)
    if not raw:
        return None
    try:
        return parse_iso(raw)
    except ValueError:
        raise _bad(name, f"must be an ISO-8601 time such as 2026-01-31T12:00:00Z; got {raw!r}") from None


def encode_cursor(*parts: Any) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(list(parts))).decode().rstrip("=")


def decode_cursor(query: MultiMapping[str], name: str = "cursor") -> list[Any] | None:
    raw = query.get(name)
    if not raw:
        return None
    try:
        parts = orjson.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    except (binascii.Error, ValueError):
        raise _bad(name, "is not a cursor this API returned; pass `nextCursor` from the previous page") from None
    if not isinstance(parts, list):
        raise _bad(name, "is not a cursor this API returned; pass `nextCursor` from the previous page")
    return parts
