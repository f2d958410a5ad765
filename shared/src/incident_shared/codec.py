"""JSON encoding for the wire and for HTTP answers, with orjson.

Datetimes are written as ISO-8601 UTC with a `Z`; pydantic models are dumped by alias.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from pydantic import BaseModel

from incident_shared.timeutil import iso

# Datetimes pass through to `_default` so that every timestamp has the same shape, milliseconds included.
_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, BaseModel):
        return value.model_dump(mode="python", by_alias=True, exclude_none=False)
    if isinstance(value, set | frozenset):
        return sorted(value)
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def dumps(value: Any) -> bytes:
    """Encodes `value` (dicts, lists, models, datetimes) as compact JSON bytes."""
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="python", by_alias=True)
    return orjson.dumps(value, default=_default, option=_OPTIONS)


def loads(data: bytes | bytearray | memoryview | str) -> Any:
    """Decodes JSON; raises `orjson.JSONDecodeError` (a ValueError) on malformed input."""
    return orjson.loads(data)


def dumps_str(value: Any) -> str:
    return dumps(value).decode()
