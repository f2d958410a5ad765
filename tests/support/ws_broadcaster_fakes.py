"""Fakes for the broadcaster's tests: a client whose socket is a list, incidents and events."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from incident_shared.schemas.events import Event
from incident_shared.schemas.incidents import Incident, IncidentChange
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


async def settle() -> None:
    """Lets every writer task run until it has nothing left to send."""
    for _ in range(50):
        await asyncio.sleep(0)
