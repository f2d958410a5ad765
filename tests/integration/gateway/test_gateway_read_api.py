"""The read API: events from the MongoDB projection, incidents from the incident view of the
`incidents` topic, and PATCH as a command to the aggregator.

Events and rollups are stored here with the same document builders the projection uses, and
incidents are published the way the aggregator publishes them, so these tests pin the contract
between the two.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import orjson
import pytest

from incident_shared import mongo
from incident_shared.schemas import Event, Incident, IncidentCommand
from incident_shared.timeutil import iso, utcnow
from support.incident_records import publish_incidents

pytestmark = pytest.mark.integration

# An hour ago, on a whole minute: recent enough to be kept, and the events span two minutes.
T0 = utcnow().replace(second=0, microsecond=0) - timedelta(hours=1)


def event_doc(i: int, service: str, severity: int, incident_id: str | None = None) -> dict[str, Any]:
    ts = T0 + timedelta(seconds=i * 5)
    event = Event(
        eventId=f"evt_{i:04d}", service=service, severity=severity, timestamp=ts, message=f"failure {i}", receivedAt=ts
    )
    return mongo.event_document(event, incident_id=incident_id, fingerprint=f"fp-{service}", template="failure <NUM>")


def incident_doc(
    incident_id: str, *, status: str, severity: int, services: list[str], last_seen: datetime, **extra: Any
) -> dict[str, Any]:
    return Incident(
        incidentId=incident_id,
        version=1,
        status=status,
        title=f"{services[0]}: connection refused",
        severityScore=severity,
        affectedServices=services,
        eventCount=10,
        firstSeen=last_seen - timedelta(minutes=5),
        lastSeen=last_seen,
        createdAt=last_seen - timedelta(minutes=5),
        updatedAt=last_seen,
        routingKey=services[0],
        **extra,
    ).model_dump()


async def test_events_filter_and_paginate_with_a_cursor(gateway: Any, mongo_db: Any) -> None:
    docs = [event_doc(i, "checkout" if i % 2 else "auth", 1 + i % 5, "inc_a" if i < 10 else None) for i in range(25)]
    await mongo_db.events.insert_many(docs)

    page1 = await (await gateway.get("/api/events", params={"service": "checkout", "limit": "5"})).json()
    assert [e["eventId"] for e in page1["data"]] == ["evt_0023", "evt_0021", "evt_0019", "evt_0017", "evt_0015"]
    assert page1["data"][0]["timestamp"] == iso(T0 + timedelta(seconds=115))
    assert not mongo.STORE_FIELDS & set(page1["data"][0])
    page2 = await (
        await gateway.get("/api/events", params={"service": "checkout", "limit": "5", "cursor": page1["nextCursor"]})
    ).json()
    assert [e["eventId"] for e in page2["data"]] == ["evt_0013", "evt_0011", "evt_0009", "evt_0007", "evt_0005"]
    page3 = await (
        await gateway.get("/api/events", params={"service": "checkout", "limit": "5", "cursor": page2["nextCursor"]})
    ).json()
    assert [e["eventId"] for e in page3["data"]] == ["evt_0003", "evt_0001"]
    assert page3["nextCursor"] is None

    by_incident = await (await gateway.get("/api/events", params={"incidentId": "inc_a", "limit": "100"})).json()
    assert len(by_incident["data"]) == 10
    severe = await (await gateway.get("/api/events", params={"minSeverity": "5", "limit": "100"})).json()
    assert {e["severity"] for e in severe["data"]} == {5}
    since, until = iso(T0 + timedelta(seconds=100)), iso(T0 + timedelta(seconds=110))
    ranged = await (await gateway.get("/api/events", params={"from": since, "to": until})).json()
    assert [e["eventId"] for e in ranged["data"]] == ["evt_0021", "evt_0020"]
    older = await (
        await gateway.get("/api/events", params={"to": iso(T0 + timedelta(seconds=10)), "limit": "5"})
    ).json()
    assert [e["eventId"] for e in older["data"]] == ["evt_0001", "evt_0000"]

    one = await (await gateway.get("/api/events/evt_0003")).json()
    assert one["data"]["incidentId"] == "inc_a"
    assert one["data"]["template"] == "failure <NUM>"
    missing = await gateway.get("/api/events/evt_nope")
    assert missing.status == 404

    bad = await gateway.get("/api/events", params={"limit": "5000"})
    assert bad.status == 400
    assert "limit" in (await bad.json())["error"]["message"]
    bad_cursor = await gateway.get("/api/events", params={"cursor": "garbage!"})
    assert bad_cursor.status == 400


async def test_event_stats_come_from_the_rollups(gateway: Any, mongo_db: Any) -> None:
    now = utcnow().replace(second=0, microsecond=0)
    rollups = [
        mongo.rollup_document(now - timedelta(minutes=2), "checkout", 4, 30),
        mongo.rollup_document(now - timedelta(minutes=2), "auth", 2, 10),
        mongo.rollup_document(now - timedelta(minutes=1), "checkout", 5, 5),
        mongo.rollup_document(now - timedelta(hours=3), "old", 1, 999),
    ]
    await mongo_db.event_rollups.insert_many(rollups)
    stats = (await (await gateway.get("/api/events/stats", params={"minutes": "60"})).json())["data"]
    assert stats["total"] == 45
    assert stats["byService"] == {"checkout": 35, "auth": 10}
    assert stats["bySeverity"] == {"4": 30, "2": 10, "5": 5}
    assert [p["total"] for p in stats["perMinute"]] == [40, 5]
    assert stats["perMinute"][0]["bySeverity"] == {"4": 30, "2": 10}
    assert stats["eventsPerMinute"] == 9.0


async def test_incident_lists_active_and_stats(gateway: Any, mongo_db: Any, publish: Any) -> None:
    now = utcnow()
    await publish(
        gateway,
        [
            incident_doc("inc_1", status="active", severity=5, services=["db", "checkout"], last_seen=now),
            incident_doc(
                "inc_2",
                status="acknowledged",
                severity=3,
                services=["auth"],
                last_seen=now - timedelta(minutes=1),
                acknowledgedAt=now - timedelta(minutes=4),
            ),
            incident_doc(
                "inc_3",
                status="resolved",
                severity=4,
                services=["checkout"],
                last_seen=now - timedelta(hours=1),
                acknowledgedAt=now - timedelta(minutes=62),
                resolvedAt=now - timedelta(minutes=50),
            ),
        ],
    )
    active = (await (await gateway.get("/api/incidents/active")).json())["data"]
    assert [i["incidentId"] for i in active] == ["inc_1", "inc_2"]
    for field in (
        "incidentId",
        "severityScore",
        "status",
        "affectedServices",
        "aiGeneratedSummary",
        "suggestedActions",
        "rootCause",
        "eventCount",
        "firstSeen",
        "lastSeen",
    ):
        assert field in active[0]

    checkout = (await (await gateway.get("/api/incidents", params={"service": "checkout"})).json())["data"]
    assert [i["incidentId"] for i in checkout] == ["inc_1", "inc_3"]
    resolved = (await (await gateway.get("/api/incidents", params={"status": "resolved"})).json())["data"]
    assert [i["incidentId"] for i in resolved] == ["inc_3"]
    searched = (await (await gateway.get("/api/incidents", params={"q": "AUTH"})).json())["data"]
    assert [i["incidentId"] for i in searched] == ["inc_2"]
    bad = await gateway.get("/api/incidents", params={"status": "sleeping"})
    assert bad.status == 400

    stats = (await (await gateway.get("/api/incidents/stats")).json())["data"]
    assert stats["byStatus"] == {"active": 1, "acknowledged": 1, "resolved": 1}
    assert stats["open"] == 2
    assert stats["bySeverity"]["5"] == 1
    assert stats["bySeverity"]["4"] == 0  # resolved incidents are not open
    # First seen 6 and 65 minutes ago; acknowledged 4 and 62 minutes ago: MTTA (2 + 3) / 2 min. MTTR 65 - 50 min.
    assert stats["mttaSeconds"] == pytest.approx(150, abs=1)
    assert stats["mttrSeconds"] == pytest.approx(900, abs=1)

    # The lists leave out the per-incident detail; one incident has it, from the store.
    assert "timeline" not in active[0]
    await mongo_db.incidents.insert_one(
        {
            "_id": "inc_2",
            **mongo.incident_document(
                Incident.model_validate(
                    incident_doc("inc_2", status="acknowledged", severity=3, services=["auth"], last_seen=now)
                )
            ),
        }
    )
    one = await (await gateway.get("/api/incidents/inc_2")).json()
    assert one["data"]["status"] == "acknowledged"
    assert one["data"]["timeline"] == []
    assert not mongo.STORE_FIELDS & set(one["data"])
    # Not projected yet: the view's list form stands in for it.
    pending = await (await gateway.get("/api/incidents/inc_3")).json()
    assert pending["data"]["status"] == "resolved"
    assert (await gateway.get("/api/incidents/inc_missing")).status == 404


async def test_patch_sends_a_command_and_answers_with_the_applied_incident(
    gateway: Any, publish: Any, topics: Any, read_topic: Any, kafka_bootstrap: str
) -> None:
    incident = incident_doc("inc_p", status="active", severity=4, services=["payments"], last_seen=utcnow())
    await publish(gateway, [incident])

    async def aggregator() -> None:
        records = await read_topic(topics.incident_commands, 1)
        assert records[0].key == b"payments"  # the incident's routing key
        command = IncidentCommand.model_validate(orjson.loads(records[0].value))
        applied = {
            **incident,
            "status": "acknowledged",
            "acknowledgedBy": command.actor,
            "lastCommandId": command.commandId,
            "version": 2,
        }
        await publish_incidents(kafka_bootstrap, topics.incidents, [applied])

    applier = asyncio.create_task(aggregator())
    resp = await gateway.patch("/api/incidents/inc_p", json={"action": "acknowledge", "actor": "alice"})
    await applier
    assert resp.status == 200
    data = (await resp.json())["data"]
    assert data["status"] == "acknowledged"
    assert data["acknowledgedBy"] == "alice"
    assert data["version"] == 2


async def test_patch_validation_and_conflicts(gateway: Any, publish: Any) -> None:
    await publish(
        gateway, [incident_doc("inc_r", status="resolved", severity=2, services=["auth"], last_seen=utcnow())]
    )
    cases = [
        ({"action": "explode"}, 400, "action"),
        ({"action": "assign"}, 400, "assignee"),
        ({"action": "note"}, 400, "note"),
        ({"status": "sleeping"}, 400, "status"),
        ({"colour": "red"}, 400, "unknown"),
        ({}, 400, "nothing to change"),
        ({"action": "acknowledge"}, 409, "reopen"),
    ]
    for body, status, fragment in cases:
        resp = await gateway.patch("/api/incidents/inc_r", json=body)
        assert resp.status == status, body
        assert fragment in (await resp.json())["error"]["message"], body
    assert (await gateway.patch("/api/incidents/inc_nope", json={"action": "resolve"})).status == 404


async def test_patch_not_applied_in_time_is_202_with_the_command_id(make_gateway: Any, publish: Any) -> None:
    gw = await make_gateway(command_wait_seconds=0.5)
    await publish(gw, [incident_doc("inc_slow", status="active", severity=3, services=["search"], last_seen=utcnow())])
    resp = await gw.patch("/api/incidents/inc_slow", json={"note": "looking into it", "actor": "bob"})
    assert resp.status == 202
    assert (await resp.json())["data"]["commandId"].startswith("cmd_")
