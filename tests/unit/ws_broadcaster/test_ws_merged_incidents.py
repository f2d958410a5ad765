"""Cascades on the live feed: an incident merged into another leaves the snapshot, its changes still go out."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from support.ws_broadcaster_fakes import settle
from support.ws_broadcaster_merged import merged_change
from ws_broadcaster.hub import Hub
from ws_broadcaster.metrics import BroadcasterMetrics

pytestmark = pytest.mark.unit


def snapshot_ids(hub: Hub, channels: frozenset[str] = frozenset({"all"})) -> list[str]:
    return [orjson.loads(d)["incidentId"] for d in hub.active.snapshot(channels)]


async def test_a_merged_incident_leaves_the_snapshot_and_comes_back_when_unmerged(
    hub: Hub, connect: Any, metrics: BroadcasterMetrics
) -> None:
    hub.publish_incident(merged_change("inc_db", 1, ["postgres-orders"], action="created", severity=5))
    hub.publish_incident(merged_change("inc_orders", 1, ["order-service"], action="created", severity=4))
    assert snapshot_ids(hub) == ["inc_db", "inc_orders"]

    _, sock = connect()
    hub.publish_incident(merged_change("inc_orders", 2, ["order-service"], merged_into="inc_db"))
    hub.publish_incident(
        merged_change("inc_db", 2, ["postgres-orders", "order-service"], merged_ids=["inc_orders"], severity=5)
    )
    assert snapshot_ids(hub) == ["inc_db"]
    assert snapshot_ids(hub, frozenset({"order-service"})) == ["inc_db"]
    assert metrics.active_incidents._value.get() == 1
    # A redelivered older version does not bring it back.
    hub.publish_incident(merged_change("inc_orders", 1, ["order-service"], severity=4))
    assert snapshot_ids(hub) == ["inc_db"]

    hub.publish_incident(merged_change("inc_orders", 3, ["order-service"], merged_into=None))
    assert snapshot_ids(hub) == ["inc_db", "inc_orders"]
    assert metrics.active_incidents._value.get() == 2

    await settle()
    # Every change went out, so that a dashboard can drop the merged incident and restore it.
    frames = [f["data"] for f in sock.of_type("incident")]
    updates = [(d["incidentId"], d["version"], d["mergedInto"]) for d in frames]
    assert updates == [("inc_orders", 2, "inc_db"), ("inc_db", 2, None), ("inc_orders", 3, None)]


async def test_a_new_client_never_sees_merged_incidents(hub: Hub, connect: Any) -> None:
    hub.publish_incident(merged_change("inc_db", 1, ["postgres-orders", "checkout-api"], merged_ids=["inc_co"]))
    hub.publish_incident(merged_change("inc_co", 5, ["checkout-api"], merged_into="inc_db", severity=5))
    _, sock = connect()
    await settle()
    assert [i["incidentId"] for i in sock.of_type("snapshot")[0]["data"]] == ["inc_db"]


def test_a_merged_incident_that_resolves_stays_out(hub: Hub) -> None:
    hub.publish_incident(merged_change("inc_co", 1, ["checkout-api"], merged_into="inc_db"))
    hub.publish_incident(merged_change("inc_co", 2, ["checkout-api"], merged_into="inc_db", status="resolved"))
    hub.publish_incident(merged_change("inc_co", 1, ["checkout-api"]))  # stale: ignored
    assert snapshot_ids(hub) == []
