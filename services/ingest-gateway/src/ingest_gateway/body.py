"""Reading request bodies: JSON only, size-capped, with errors that say what to fix."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from ingest_gateway.errors import ApiError


async def read_json(request: web.Request) -> Any:
    """The decoded JSON body; 415 for another content type, 400 for malformed JSON.

    The size cap is aiohttp's `client_max_size`, turned into a JSON 413 by the error middleware.
    """
    ctype = request.content_type
    if ctype != "application/json" and not ctype.endswith("+json"):
        raise ApiError(
            415,
            "unsupported_media_type",
            f"the body must be JSON: send 'Content-Type: application/json' (got {ctype or 'none'!r})",
        )
    raw = await request.read()
    if not raw:
        raise ApiError(400, "empty_body", "the request body is empty; send a JSON document")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, "malformed_json", f"the body is not valid JSON: {exc}") from exc
