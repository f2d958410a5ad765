"""Pages of events, read bucket by bucket: every filter, paged to the end, gives exactly the events a
sort of everything would, in the same order, across quiet hours, busy minutes and hour boundaries."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

import pytest

from incident_shared import mongo
from incident_shared.schemas import Event
from incident_shared.timeutil import iso, utcnow
from support.gateway_merged import incident_doc

pytestmark = pytest.mark.integration

NOW = utcnow().replace(microsecond=0)
SERVICES = ("checkout", "auth", "search")


def stored_events() -> list[dict[str, Any]]:
    """About 1,300 events: a thin background over the last five hours, a busy hour, a minute with 300
    events (a storm), an incident's 150 events, events on both sides of an hour boundary, and a few
    on quieter days before (read a day at a time)."""
    rng = random.Random(5)
    times: list[datetime] = [NOW - timedelta(seconds=rng.uniform(0, 5 * 3600)) for _ in range(300)]
    busy = NOW - timedelta(hours=2)
    times += [busy - timedelta(seconds=rng.uniform(0, 3600)) for _ in range(400)]
    storm = mongo.minute_of(NOW - timedelta(minutes=30))
    times += [storm + timedelta(seconds=rng.uniform(0, 59.999)) for _ in range(300)]
    boundary = mongo.hour_of(NOW) - timedelta(hours=1)
    times += [boundary + timedelta(seconds=rng.uniform(-90, 90)) for _ in range(50)]
    times += [NOW - timedelta(days=2, seconds=rng.uniform(0, 86400)) for _ in range(60)]
    times += [NOW - timedelta(days=4, seconds=rng.uniform(0, 3600)) for _ in range(7)]
    docs = []
    for i, at in enumerate(times):
        ts = at.replace(microsecond=at.microsecond // 1000 * 1000)
        service = SERVICES[i % 3]
        event = Event(
            eventId=f"evt_{i:05d}", service=service, severity=1 + i % 5, timestamp=ts, receivedAt=ts, message=f"m {i}"
        )
        docs.append(mongo.event_document(event, incident_id=None, fingerprint="fp", template="m <NUM>"))
    # Same timestamp, different ids: the cursor orders ties by eventId.
    tie = NOW - timedelta(minutes=7)
    for i in range(5):
        event = Event(eventId=f"evt_tie{i}", service="auth", severity=3, timestamp=tie, receivedAt=tie)
        docs.append(mongo.event_document(event, incident_id=None, fingerprint="fp", template="t"))
    incident_start = NOW - timedelta(hours=3, minutes=20)
    for i in range(150):
        ts = incident_start + timedelta(seconds=20 * i)
        event = Event(eventId=f"evt_inc{i:03d}", service="payments", severity=4, timestamp=ts, receivedAt=ts)
        docs.append(mongo.event_document(event, incident_id="inc_pay", fingerprint="fp", template="pay"))
    return docs


def expected(docs: list[dict[str, Any]], keep: Any) -> list[str]:
    chosen = sorted((d for d in docs if keep(d)), key=lambda d: (d["timestamp"], d["eventId"]), reverse=True)
    return [d["eventId"] for d in chosen]


async def page_through(gateway: Any, params: dict[str, str], limit: int = 37) -> list[str]:
    seen: list[str] = []
    cursor = None
    for _ in range(200):
        query = {**params, "limit": str(limit), **({"cursor": cursor} if cursor else {})}
        resp = await gateway.get("/api/events", params=query)
        assert resp.status == 200, await resp.text()
        body = await resp.json()
        assert len(body["data"]) <= limit
        seen += [e["eventId"] for e in body["data"]]
        cursor = body["nextCursor"]
        if cursor is None:
            return seen
        assert len(body["data"]) == limit
    raise AssertionError("paging did not end")


async def test_every_filter_pages_through_exactly_what_a_full_sort_gives(gateway: Any, mongo_db: Any) -> None:
    docs = stored_events()
    await mongo_db.events.insert_many(docs)
    cases: list[tuple[dict[str, str], Any]] = [
        ({}, lambda d: True),
        ({"service": "auth"}, lambda d: d["service"] == "auth"),
        ({"service": "auth,search"}, lambda d: d["service"] in {"auth", "search"}),
        ({"minSeverity": "4"}, lambda d: d["severity"] >= 4),
        ({"severity": "2,5", "service": "checkout"}, lambda d: d["severity"] in {2, 5} and d["service"] == "checkout"),
        ({"incidentId": "inc_pay"}, lambda d: d["incidentId"] == "inc_pay"),
        (
            {"from": iso(NOW - timedelta(hours=2, minutes=30)), "to": iso(NOW - timedelta(minutes=29))},
            lambda d: NOW - timedelta(hours=2, minutes=30) <= d["timestamp"] < NOW - timedelta(minutes=29),
        ),
    ]
    for params, keep in cases:
        assert await page_through(gateway, params) == expected(docs, keep), params
    # A busy page size, and the largest one.
    assert await page_through(gateway, {}, limit=500) == expected(docs, lambda d: True)


async def test_an_incidents_events_come_from_its_span(gateway: Any, mongo_db: Any, publish: Any) -> None:
    """With the incident in the view, its events are read within its first and last event time: in
    one query when it has few, hour by hour when it has many; the same events either way."""
    docs = stored_events()
    await mongo_db.events.insert_many(docs)
    first = NOW - timedelta(hours=3, minutes=20)
    for count in (150, 5000):  # few (one query), then "many" (the walk)
        await publish(
            gateway,
            [
                {
                    **incident_doc("inc_pay", ["payments"], first + timedelta(seconds=20 * 149), eventCount=count),
                    "firstSeen": first,
                    "version": count,
                }
            ],
        )
        got = await page_through(gateway, {"incidentId": "inc_pay"}, limit=40)
        assert got == expected(docs, lambda d: d["incidentId"] == "inc_pay")


async def test_an_event_is_read_by_its_id(gateway: Any, mongo_db: Any) -> None:
    docs = stored_events()[:10]
    await mongo_db.events.insert_many(docs)
    one = (await (await gateway.get(f"/api/events/{docs[3]['eventId']}")).json())["data"]
    assert one["eventId"] == docs[3]["eventId"]
    assert one["timestamp"] == iso(docs[3]["timestamp"])
    assert not mongo.STORE_FIELDS & set(one)
