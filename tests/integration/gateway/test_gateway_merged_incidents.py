"""Cascades in the read API: an incident merged into another one is part of its root, not one of its own.

The incidents are published the way the aggregator publishes them: the root lists the merged
incidents in `mergedIncidentIds`; each merged incident stays open and names its root in `mergedInto`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from incident_shared.timeutil import utcnow
from support.gateway_merged import cascade_incidents, event_doc, legacy_incident_doc
from support.openapi_check import check_answer

pytestmark = pytest.mark.integration


async def ids_of(gateway: Any, path: str, **params: str) -> list[str]:
    resp = await gateway.get(path, params=params)
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    check_answer(path, "get", resp.status, body)
    return [i["incidentId"] for i in body["data"]]


async def test_lists_show_the_root_and_leave_out_what_is_merged_into_it(gateway: Any, publish: Any) -> None:
    now = utcnow()
    await publish(gateway, [*cascade_incidents(now), legacy_incident_doc("inc_old", now)])

    assert await ids_of(gateway, "/api/incidents/active") == ["inc_db", "inc_old"]
    assert await ids_of(gateway, "/api/incidents") == ["inc_db", "inc_old"]
    assert await ids_of(gateway, "/api/incidents", service="checkout-api") == ["inc_db"]

    assert sorted(await ids_of(gateway, "/api/incidents/active", includeMerged="true")) == [
        "inc_checkout",
        "inc_db",
        "inc_old",
        "inc_orders",
    ]
    assert len(await ids_of(gateway, "/api/incidents", includeMerged="true")) == 4
    assert await ids_of(gateway, "/api/incidents", includeMerged="false") == ["inc_db", "inc_old"]

    merged = (await (await gateway.get("/api/incidents/inc_orders")).json())["data"]
    assert merged["mergedInto"] == "inc_db"
    assert merged["status"] == "active"
    root = (await (await gateway.get("/api/incidents/inc_db")).json())["data"]
    assert root["mergedInto"] is None
    assert root["mergedIncidentIds"] == ["inc_orders", "inc_checkout"]


async def test_an_unmerged_incident_is_listed_again(gateway: Any, publish: Any) -> None:
    now = utcnow()
    root, orders, _ = cascade_incidents(now)
    await publish(gateway, cascade_incidents(now))
    # The root resolved while order-service kept failing: the aggregator splits it off again.
    await publish(
        gateway,
        [
            {**root, "status": "resolved", "resolvedAt": now, "mergedIncidentIds": [], "version": 2},
            {**orders, "mergedInto": None, "version": 2},
        ],
    )
    assert await ids_of(gateway, "/api/incidents/active") == ["inc_orders"]


@pytest.mark.parametrize("path", ["/api/incidents", "/api/incidents/active"])
async def test_include_merged_must_be_true_or_false(gateway: Any, path: str) -> None:
    resp = await gateway.get(path, params={"includeMerged": "yes"})
    body = await resp.json()
    assert resp.status == 400
    check_answer(path, "get", resp.status, body)
    assert "includeMerged" in body["error"]["message"]


async def test_stats_count_a_cascade_once(gateway: Any, publish: Any) -> None:
    now = utcnow()
    incidents = cascade_incidents(now, acknowledged_at=now - timedelta(minutes=2))
    await publish(gateway, incidents)
    stats = (await (await gateway.get("/api/incidents/stats")).json())["data"]
    assert stats["byStatus"] == {"active": 0, "acknowledged": 1, "resolved": 0}
    assert stats["open"] == 1
    assert stats["total"] == 1
    assert sum(stats["bySeverity"].values()) == 1
    # Only the root's response counts: first seen 10 minutes ago, acknowledged 2 minutes ago.
    assert stats["acknowledgedInWindow"] == 1
    assert stats["mttaSeconds"] == pytest.approx(480, abs=1)


async def test_the_root_lists_the_events_of_the_whole_cascade(gateway: Any, mongo_db: Any, publish: Any) -> None:
    now = utcnow()
    await publish(gateway, cascade_incidents(now))
    await mongo_db.events.insert_many(
        [
            event_doc(1, "postgres-orders", "inc_db"),
            event_doc(2, "order-service", "inc_orders"),
            event_doc(3, "checkout-api", "inc_checkout"),
            event_doc(4, "search", "inc_other"),
            event_doc(5, "order-service", "inc_orders"),
        ]
    )
    root = await (await gateway.get("/api/events", params={"incidentId": "inc_db", "limit": "2"})).json()
    assert [e["eventId"] for e in root["data"]] == ["evt_0005", "evt_0003"]
    rest = await (
        await gateway.get("/api/events", params={"incidentId": "inc_db", "limit": "2", "cursor": root["nextCursor"]})
    ).json()
    assert [e["eventId"] for e in rest["data"]] == ["evt_0002", "evt_0001"]
    assert rest["nextCursor"] is None

    merged = await (await gateway.get("/api/events", params={"incidentId": "inc_orders"})).json()
    assert [e["eventId"] for e in merged["data"]] == ["evt_0005", "evt_0002"]
