"""Cascades through a real broadcaster: merged incidents stay out of the snapshot, their updates go out."""

from __future__ import annotations

from typing import Any

import pytest

from support.ws_broadcaster_live import Feed, StartBroadcaster
from support.ws_broadcaster_merged import merged_change, produce

pytestmark = pytest.mark.integration


async def test_merged_incidents_leave_the_snapshot_and_return_when_unmerged(
    start_broadcaster: StartBroadcaster, feed: Feed, connect: Any
) -> None:
    await produce(feed, merged_change("inc_db", 1, ["postgres-orders"], action="created", severity=5))
    await produce(feed, merged_change("inc_orders", 1, ["order-service"], action="created", severity=4))
    await produce(feed, merged_change("inc_orders", 2, ["order-service"], merged_into="inc_db", severity=4))
    await produce(
        feed, merged_change("inc_db", 2, ["postgres-orders", "order-service"], merged_ids=["inc_orders"], severity=5)
    )
    server = await start_broadcaster()

    watcher = await connect(server)
    snapshot = await watcher.next()
    assert snapshot["type"] == "snapshot"
    assert [i["incidentId"] for i in snapshot["data"]] == ["inc_db"]
    assert snapshot["data"][0]["mergedIncidentIds"] == ["inc_orders"]

    # The database recovered while order-service kept failing: split off again.
    await produce(feed, merged_change("inc_db", 3, ["postgres-orders"], status="resolved", action="resolved"))
    await produce(feed, merged_change("inc_orders", 3, ["order-service"], severity=4))
    unmerged = await watcher.until(lambda m: m["type"] == "incident" and m["data"]["incidentId"] == "inc_orders")
    assert unmerged["data"]["mergedInto"] is None

    newcomer = await connect(server)
    again = await newcomer.next()
    assert [i["incidentId"] for i in again["data"]] == ["inc_orders"]
