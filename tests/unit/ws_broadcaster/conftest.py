"""Helpers for the broadcaster's unit tests: a client whose socket is a list, incidents and events."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from prometheus_client import CollectorRegistry

from incident_shared.schemas.events import Event
from incident_shared.schemas.incidents import Incident, IncidentChange
from ws_broadcaster.client import Client, ClientLimits
from ws_broadcaster.hub import Hub
from ws_broadcaster.metrics import BroadcasterMetrics
from ws_broadcaster.protocol import EncodedEvent, encode_event

NOW = datetime(2026, 1, 31, 12, 0, tzinfo=UTC)


class FakeSocket:
    """Collects sent frames as decoded JSON; `gate` (when cleared) blocks sends like a full socket."""

    def __init__(self) -> None:
        self.frames: list[dict[str, Any]] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.aborted: str | None = None

    async def send(self, data: bytes) -> None:
        await self.gate.wait()
        self.frames.append(orjson.loads(data))

    def abort(self, reason: str) -> None:
        self.aborted = reason

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [f for f in self.frames if f["type"] == kind]

    def event_ids(self) -> list[str]:
        ids: list[str] = []
        for f in self.frames:
            if f["type"] == "event":
                ids.append(f["data"]["eventId"])
            elif f["type"] == "events":
                ids.extend(e["eventId"] for e in f["data"])
        return ids


def make_event(service: str, n: int) -> EncodedEvent:
    event = Event(
        eventId=f"evt_{service}_{n}", service=service, severity=3, timestamp=NOW, receivedAt=NOW, message=f"boom {n}"
    )
    return encode_event(event, NOW)


def make_change(
    incident_id: str,
    version: int,
    services: list[str],
    *,
    status: str = "active",
    action: str = "updated",
    severity: int = 3,
) -> IncidentChange:
    incident = Incident.model_validate(
        {
            "incidentId": incident_id,
            "version": version,
            "status": status,
            "severityScore": severity,
            "affectedServices": services,
            "firstSeen": NOW,
            "lastSeen": NOW + timedelta(seconds=version),
            "createdAt": NOW,
            "updatedAt": NOW,
        }
    )
    return IncidentChange.model_validate({"action": action, "incident": incident, "emittedAt": NOW})


@pytest.fixture
def metrics() -> BroadcasterMetrics:
    return BroadcasterMetrics(CollectorRegistry())


@pytest.fixture
def hub(metrics: BroadcasterMetrics) -> Hub:
    h = Hub(metrics=metrics, max_batch_events=100, clock=lambda: NOW)
    h.mark_incidents_loaded()
    return h


ClientFactory = Callable[..., tuple[Client, FakeSocket]]


@pytest.fixture
def connect(hub: Hub, metrics: BroadcasterMetrics) -> Any:
    """connect(**limits) -> (client, socket): a registered client with its writer running."""
    tasks: list[asyncio.Task[None]] = []

    def _connect(batching: bool = False, **limits: Any) -> tuple[Client, FakeSocket]:
        sock = FakeSocket()
        client = Client(
            client_id=f"c{len(tasks)}",
            send=sock.send,
            abort=sock.abort,
            limits=ClientLimits(**{"max_batch_events": 100, **limits}),
            metrics=metrics,
            batching=batching,
            clock=lambda: NOW,
        )
        hub.register(client)
        tasks.append(asyncio.create_task(client.run()))
        return client, sock

    yield _connect
    for task in tasks:
        task.cancel()


async def settle() -> None:
    """Lets every writer task run until it has nothing left to send."""
    for _ in range(50):
        await asyncio.sleep(0)
