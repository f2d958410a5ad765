"""Incident changes on the `incidents` topic, as the aggregator publishes them, for tests of readers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from typing import Any

from aiokafka import AIOKafkaProducer

from incident_shared.codec import dumps
from incident_shared.schemas import Incident
from incident_shared.timeutil import utcnow


async def publish_incidents(bootstrap: str, topic: str, incidents: Iterable[dict[str, Any] | Incident]) -> None:
    """Publishes each incident as an `updated` change keyed by its id (what compaction keeps); a dict
    goes as it is, so that a test can send what an older aggregator wrote."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for incident in incidents:
            incident_id = incident.incidentId if isinstance(incident, Incident) else str(incident["incidentId"])
            change = {"action": "updated", "incident": incident, "emittedAt": utcnow()}
            await producer.send_and_wait(topic, dumps(change), key=incident_id.encode())
    finally:
        await producer.stop()


async def wait_for_versions(view: Any, versions: dict[str, int], limit_s: float = 15.0) -> None:
    """Waits until an incident view holds at least these versions."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if all((e := view.get(i)) is not None and e.version >= v for i, v in versions.items()):
            return
        await asyncio.sleep(0.05)
    missing = {i: v for i, v in versions.items() if (e := view.get(i)) is None or e.version < v}
    raise AssertionError(f"the incident view did not get {missing} within {limit_s:.0f}s")
