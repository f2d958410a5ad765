"""Cascades through the running summarizer: only the root of a cascade gets a summary."""

from __future__ import annotations

from datetime import timedelta

import pytest

from incident_shared.timeutil import utcnow
from support.openapi_check import check_answer

pytestmark = pytest.mark.integration


async def test_only_the_root_is_summarized_and_asking_for_a_merged_one_names_the_root(
    summarizer_app, kafka_io, incident_factory, change_of, store_incident
):
    client = await summarizer_app()
    now = utcnow()
    fresh = {"createdAt": now, "updatedAt": now, "firstSeen": now - timedelta(minutes=1), "lastSeen": now}
    merged = incident_factory(incidentId="inc_orders", routingKey="orders", eventCount=40, mergedInto="inc_db", **fresh)
    root = incident_factory(
        incidentId="inc_db",
        routingKey="postgres-orders",
        eventCount=60,
        affectedServices=["postgres-orders", "order-service"],
        mergedIncidentIds=["inc_orders"],
        **fresh,
    )
    # The merged incident comes first: were it summarized, its summary would be the first one out.
    await kafka_io.send_change(change_of(merged, "created"))
    await kafka_io.send_change(change_of(root, "created"))
    _, summary = await kafka_io.next_summary()
    assert summary.incidentId == "inc_db"
    # A later incident's summary comes next: nothing was written for the merged one in between.
    later = incident_factory(incidentId="inc_search", routingKey="search", eventCount=40, **fresh)
    await kafka_io.send_change(change_of(later, "created"))
    _, summary = await kafka_io.next_summary()
    assert summary.incidentId == "inc_search"

    await store_incident(merged)
    resp = await client.post("/api/ai/summarize/inc_orders")
    body = await resp.json()
    assert resp.status == 409
    check_answer("/api/ai/summarize/{incidentId}", "post", resp.status, body)
    assert body["error"]["code"] == "merged"
    assert "inc_db" in body["error"]["message"]
