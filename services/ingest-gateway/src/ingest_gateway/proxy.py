"""Forwarding to the services behind the API base, so that clients see one origin.

`/api/ai/*` goes to the summarizer; the WebSocket (`/ws`, and `/` for clients that connect to the
bare origin) goes to the ws-broadcaster. In Kubernetes an ingress routes these paths directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import aiohttp
import orjson
from aiohttp import web

from ingest_gateway.appkeys import HTTP, SETTINGS
from ingest_gateway.errors import ApiError, error_response

log = logging.getLogger(__name__)

routes = web.RouteTableDef()
FORWARDED_HEADERS = ("Authorization", "Content-Type", "Accept")
WEBSOCKETS = web.AppKey("websockets", set[web.WebSocketResponse])


_ERROR_CODES = {404: "not_found", 405: "method_not_allowed", 413: "body_too_large", 415: "unsupported_media_type"}


def _in_error_shape(payload: bytes) -> bool:
    try:
        body = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return False
    error = body.get("error") if isinstance(body, dict) else None
    return body.get("success") is False and isinstance(error, dict) and "code" in error and "message" in error


def _upstream_answer(status: int, payload: bytes, headers: dict[str, str]) -> web.Response:
    """The summarizer's answer as the client gets it: errors always in the API's one JSON shape
    (the summarizer's own are; its framework's 404 and 405 are plain text)."""
    if status < 400 or _in_error_shape(payload):
        return web.Response(status=status, body=payload, headers=headers)
    text = payload.decode("utf-8", "replace").strip()[:300] or f"the summarizer answered {status}"
    headers.pop("Content-Type", None)
    return error_response(ApiError(status, _ERROR_CODES.get(status, "upstream_error"), text, headers=headers))


@routes.route("*", "/api/ai/{tail:.*}")
async def forward_ai(request: web.Request) -> web.Response:
    base = request.app[SETTINGS].summarizer_url.rstrip("/")
    headers = {h: request.headers[h] for h in FORWARDED_HEADERS if h in request.headers}
    body = await request.read()
    try:
        async with request.app[HTTP].request(
            request.method,
            base + request.rel_url.path_qs,
            data=body or None,
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=60, connect=3),
        ) as upstream:
            payload = await upstream.read()
            kept = ("Content-Type", "Retry-After", "Allow", "WWW-Authenticate")
            out = {h: upstream.headers[h] for h in kept if h in upstream.headers}
            return _upstream_answer(upstream.status, payload, out)
    except (aiohttp.ClientConnectionError, TimeoutError) as exc:
        raise ApiError(
            503,
            "summarizer_unavailable",
            f"the summarizer at {base} is not reachable ({type(exc).__name__}); is it running? (make up starts it)",
            headers={"Retry-After": "5"},
        ) from exc


async def _pump(
    src: web.WebSocketResponse | aiohttp.ClientWebSocketResponse,
    dst: web.WebSocketResponse | aiohttp.ClientWebSocketResponse,
) -> None:
    async for msg in src:
        if msg.type == aiohttp.WSMsgType.TEXT:
            await dst.send_str(msg.data)
        elif msg.type == aiohttp.WSMsgType.BINARY:
            await dst.send_bytes(msg.data)
        else:
            break


async def forward_websocket(request: web.Request) -> web.StreamResponse:
    base = request.app[SETTINGS].broadcaster_url.rstrip("/")
    url = base.replace("http://", "ws://", 1).replace("https://", "wss://", 1) + "/ws"
    if request.query_string:
        url += "?" + request.query_string
    try:
        # The token, if the client sent one as a header, goes along (the broadcaster checks it too).
        headers = {"Authorization": request.headers["Authorization"]} if "Authorization" in request.headers else None
        upstream = await request.app[HTTP].ws_connect(
            url, timeout=aiohttp.ClientWSTimeout(ws_close=5), autoping=True, headers=headers
        )
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise ApiError(
            503,
            "broadcaster_unavailable",
            f"the live-update service at {base} is not reachable ({type(exc).__name__}); retry shortly",
            headers={"Retry-After": "5"},
        ) from exc
    ws = web.WebSocketResponse(autoping=True)
    await ws.prepare(request)
    request.app[WEBSOCKETS].add(ws)
    tasks = [asyncio.create_task(_pump(ws, upstream)), asyncio.create_task(_pump(upstream, ws))]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        await upstream.close()
        await ws.close()
        request.app[WEBSOCKETS].discard(ws)
    return ws


@routes.get("/ws")
async def websocket(request: web.Request) -> web.StreamResponse:
    if not web.WebSocketResponse().can_prepare(request).ok:
        raise ApiError(400, "websocket_required", "this is the WebSocket endpoint: connect with a WebSocket client")
    return await forward_websocket(request)


@routes.get("/")
async def index(request: web.Request) -> web.StreamResponse:
    """The bare origin: a WebSocket upgrade is forwarded; a plain GET lists where things are."""
    if web.WebSocketResponse().can_prepare(request).ok:
        return await forward_websocket(request)
    return web.json_response(
        {
            "service": "incident-intelligence",
            "api": "/api",
            "openapi": "/api/openapi.json",
            "websocket": "/ws",
            "health": "/health/detailed",
            "metrics": "/metrics",
        }
    )


async def close_websockets(app: web.Application) -> None:
    """On shutdown, close client WebSockets first (aiohttp's documented order), then resources."""
    sockets: set[web.WebSocketResponse] = app[WEBSOCKETS]
    for ws in list(sockets):
        await ws.close(code=aiohttp.WSCloseCode.GOING_AWAY, message=b"server shutdown")
