"""Helpers for the broadcaster's live tests: replicas on real Kafka, real WebSocket clients.

`start_broadcaster(**settings)` runs the whole app (Kafka readers included) on a loopback port and
waits until both topics are being read; `Feed` produces events and incident changes; `WsClient`
wraps an aiohttp WebSocket with "receive until" helpers; `RawWebSocket` is a client that can stop
reading its socket altogether, as a frozen browser tab does.
"""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import struct
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import aiohttp
import orjson
from aiohttp import web
from aiohttp.test_utils import TestServer

from incident_shared.codec import dumps
from incident_shared.schemas.events import Event
from incident_shared.schemas.incidents import Incident, IncidentChange
from incident_shared.timeutil import utcnow
from incident_shared.topics import Topics

RECEIVE_TIMEOUT = 60.0


class Feed:
    """Produces to the test's topics. Everything goes to partition 0 so that order is predictable."""

    def __init__(self, producer: Any, topics: Topics) -> None:
        self.producer = producer
        self.topics = topics

    async def event(self, service: str, event_id: str, *, message: str = "boom") -> None:
        now = utcnow()
        event = Event(eventId=event_id, service=service, severity=4, timestamp=now, receivedAt=now, message=message)
        await self.producer.send(self.topics.events, event.to_record(), key=service.encode(), partition=0)

    async def events(self, items: list[tuple[str, str]], *, message: str = "boom") -> None:
        now = utcnow()
        futures = []
        for service, event_id in items:
            event = Event(eventId=event_id, service=service, severity=4, timestamp=now, receivedAt=now, message=message)
            futures.append(await self.producer.send(self.topics.events, event.to_record(), partition=0))
        await asyncio.gather(*futures)

    async def incident(
        self,
        incident_id: str,
        version: int,
        services: list[str],
        *,
        status: str = "active",
        action: str = "updated",
        severity: int = 3,
    ) -> None:
        now = utcnow()
        incident = Incident.model_validate(
            {
                "incidentId": incident_id,
                "version": version,
                "status": status,
                "severityScore": severity,
                "affectedServices": services,
                "firstSeen": now - timedelta(minutes=1),
                "lastSeen": now,
                "createdAt": now,
                "updatedAt": now,
                "title": f"{services[0]} is failing",
            }
        )
        change = IncidentChange(action=action, incident=incident, emittedAt=now)  # type: ignore[arg-type]
        await self.producer.send_and_wait(self.topics.incidents, dumps(change), key=incident_id.encode(), partition=0)


Broadcaster = TestServer
StartBroadcaster = Callable[..., Awaitable[TestServer]]


class WsClient:
    def __init__(self, session: aiohttp.ClientSession, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.session = session
        self.ws = ws
        self.received: list[dict[str, Any]] = []

    async def send(self, message: dict[str, Any] | str) -> None:
        await self.ws.send_str(message if isinstance(message, str) else orjson.dumps(message).decode())

    async def next(self) -> dict[str, Any]:
        msg = await self.ws.receive(timeout=RECEIVE_TIMEOUT)
        if msg.type != aiohttp.WSMsgType.TEXT:
            raise ConnectionError(f"connection ended: {msg.type.name} {msg.data!r}")
        decoded: dict[str, Any] = orjson.loads(msg.data)
        self.received.append(decoded)
        return decoded

    async def until(self, predicate: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        """Receives until a message matches; returns it (everything is kept in `received`)."""
        async with asyncio.timeout(RECEIVE_TIMEOUT):
            while True:
                message = await self.next()
                if predicate(message):
                    return message

    def event_ids(self) -> list[str]:
        return event_ids(self.received)

    async def close(self) -> None:
        await self.ws.close()
        await self.session.close()


def event_ids(messages: list[dict[str, Any]]) -> list[str]:
    ids: list[str] = []
    for m in messages:
        if m["type"] == "event":
            ids.append(m["data"]["eventId"])
        elif m["type"] == "events":
            ids.extend(e["eventId"] for e in m["data"])
    return ids


def is_event(event_id: str) -> Callable[[dict[str, Any]], bool]:
    return lambda m: event_id in event_ids([m])


class RawWebSocket:
    """A WebSocket client over a bare socket with a tiny receive buffer, that reads only when asked."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, host: str, port: int, path: str = "/ws") -> RawWebSocket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, (host, port))
        reader, writer = await asyncio.open_connection(sock=sock, limit=4096)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        if b" 101 " not in head.split(b"\r\n", 1)[0]:
            raise ConnectionError(head.decode(errors="replace"))
        return cls(reader, writer)

    async def next(self) -> dict[str, Any] | None:
        """The next text message, or None when the server closed (or dropped) the connection."""
        try:
            return await self._next()
        except (asyncio.IncompleteReadError, ConnectionError):
            return None

    async def _next(self) -> dict[str, Any] | None:
        while True:
            b0, b1 = await self.reader.readexactly(2)
            length = b1 & 0x7F
            if length == 126:
                (length,) = struct.unpack("!H", await self.reader.readexactly(2))
            elif length == 127:
                (length,) = struct.unpack("!Q", await self.reader.readexactly(8))
            payload = await self.reader.readexactly(length)
            opcode = b0 & 0x0F
            if opcode == 0x8:
                return None
            if opcode == 0x1:
                message: dict[str, Any] = orjson.loads(payload)
                return message

    def close(self) -> None:
        self.writer.close()


def served_port(server: TestServer) -> int:
    assert server.port is not None
    return server.port


def app_of(server: TestServer) -> web.Application:
    app = server.app
    assert app is not None
    return app
