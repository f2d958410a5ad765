"""Who may open the live feed, with real WebSocket handshakes against a real broadcaster."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

pytestmark = pytest.mark.integration

DASHBOARD = "http://localhost:3000"


async def handshake(server: Any, path: str = "/ws", **kwargs: Any) -> int:
    """The status of a WebSocket handshake (101 when the feed opened); the feed is closed at once."""
    async with aiohttp.ClientSession() as session:
        try:
            ws = await session.ws_connect(server.make_url(path), **kwargs)
        except aiohttp.WSServerHandshakeError as exc:
            return exc.status
        first = await ws.receive_json(timeout=10)
        assert first["type"] == "snapshot"
        await ws.close()
        return 101


async def test_a_page_from_another_origin_cannot_open_the_live_feed(start_broadcaster: Any) -> None:
    server = await start_broadcaster()
    assert await handshake(server, origin="https://evil.example") == 403
    assert await handshake(server, "/", origin="https://evil.example") == 403


async def test_the_dashboard_and_clients_without_origin_can(start_broadcaster: Any) -> None:
    server = await start_broadcaster()
    assert await handshake(server, origin=DASHBOARD) == 101
    assert await handshake(server) == 101


async def test_configured_origins_replace_the_default(start_broadcaster: Any) -> None:
    server = await start_broadcaster(CORS_ORIGINS="https://incidents.example.com")
    assert await handshake(server, origin="https://incidents.example.com") == 101
    assert await handshake(server, origin=DASHBOARD) == 403


async def test_with_read_tokens_the_feed_needs_one(start_broadcaster: Any) -> None:
    server = await start_broadcaster(READ_TOKENS="reader", API_TOKENS="writer")
    assert await handshake(server) == 401
    assert await handshake(server, "/ws?token=wrong") == 401
    assert await handshake(server, "/ws?token=reader") == 101
    assert await handshake(server, headers={"Authorization": "Bearer writer"}) == 101
