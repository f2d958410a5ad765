"""The live feed end to end: events posted to the API show up on the dashboard's WebSocket.

The whole stack runs as processes (tests/e2e/conftest.py). A client connects where the dashboard
does (the gateway's `/ws`, forwarded to the ws-broadcaster), subscribes to one service, and sees the
events posted for it and the incident the aggregator opens from them; a client that connects later
finds that incident in its first snapshot.
"""

from __future__ import annotations

import asyncio
import secrets
from datetime import timedelta
from typing import Any

import aiohttp
import orjson
import pytest

from incident_shared.timeutil import iso, utcnow

pytestmark = pytest.mark.e2e


async def _until(ws: aiohttp.ClientWebSocketResponse, seen: list[dict[str, Any]], predicate: Any) -> dict[str, Any]:
    async with asyncio.timeout(180):
        while True:
            msg = await ws.receive()
            assert msg.type == aiohttp.WSMsgType.TEXT, f"the live feed ended: {msg.type.name} {msg.data!r}"
            message: dict[str, Any] = orjson.loads(msg.data)
            seen.append(message)
            if predicate(message):
                return message


async def test_posted_events_and_their_incident_arrive_live(stack: Any) -> None:
    service = f"e2e-live-{secrets.token_hex(3)}"
    other = f"e2e-other-{secrets.token_hex(3)}"
    now = utcnow()
    storm = [
        {
            "eventId": f"evt_live_{i}",
            "service": service,
            "severity": 4,
            "timestamp": iso(now - timedelta(seconds=60 - i)),
            "message": f"Connection refused after {100 + i}ms calling cache-{i % 3}:6379",
            "errorType": "ConnectionError",
        }
        for i in range(60)
    ]
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(stack.ws_url)
        seen: list[dict[str, Any]] = []
        await ws.send_str(orjson.dumps({"type": "subscribe", "channels": [service], "batch": True}).decode())
        await _until(ws, seen, lambda m: m["type"] == "subscribed")

        resp = await http.post(f"{stack.api_url}/api/events", json={"service": other, "severity": 2})
        assert resp.status == 201, await resp.text()
        resp = await http.post(f"{stack.api_url}/api/events/batch", json=storm)
        assert resp.status == 201, await resp.text()

        def events_of(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
            out: list[dict[str, Any]] = []
            for m in messages:
                if m["type"] == "event":
                    out.append(m["data"])
                elif m["type"] == "events":
                    out.extend(m["data"])
            return out

        await _until(ws, seen, lambda _: len(events_of(seen)) >= len(storm))
        assert {e["eventId"] for e in events_of(seen)} == {e["eventId"] for e in storm}
        assert all(e["service"] == service for e in events_of(seen))  # nothing from the other service

        incident_message = await _until(ws, seen, lambda m: m["type"] == "incident")
        incident = incident_message["data"]
        assert incident_message["action"] in ("created", "updated")
        assert service in incident["affectedServices"]
        assert incident["incidentId"].startswith("inc_")

        # A dashboard opened now is complete at once: the incident is in its first message.
        async with http.ws_connect(stack.ws_url) as late:
            first = orjson.loads((await late.receive(timeout=30)).data)
        assert first["type"] == "snapshot"
        assert incident["incidentId"] in {i["incidentId"] for i in first["data"]}
        await ws.close()
