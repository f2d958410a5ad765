"""Decoding what the readers fetch: incident changes (with the fast path while loading) and events."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import orjson
import pytest
from prometheus_client import CollectorRegistry

from incident_shared.codec import dumps
from support.ws_broadcaster_fakes import NOW, make_change
from ws_broadcaster.consumers import EventsHandler, IncidentsHandler
from ws_broadcaster.hub import Hub
from ws_broadcaster.metrics import BroadcasterMetrics

pytestmark = pytest.mark.unit


def record(value: bytes | None, key: bytes | None = None, offset: int = 0) -> Any:
    return SimpleNamespace(value=value, key=key, topic="t.events", partition=0, offset=offset, timestamp=0)


def snapshot_ids(hub: Hub) -> list[str]:
    return [orjson.loads(d)["incidentId"] for d in hub.active.snapshot(frozenset({"all"}))]


def test_loading_the_compacted_topic_keeps_only_unresolved_incidents() -> None:
    metrics = BroadcasterMetrics(CollectorRegistry())
    hub = Hub(metrics=metrics, clock=lambda: NOW)
    handle = IncidentsHandler(hub, metrics)
    handle(
        [
            record(dumps(make_change("inc_a", 1, ["pay"], action="created"))),
            record(dumps(make_change("inc_b", 1, ["auth"], action="created"))),
            record(dumps(make_change("inc_a", 2, ["pay"], status="resolved", action="resolved"))),
            record(dumps(make_change("inc_a", 1, ["pay"], action="created"))),  # a stale redelivery
            record(dumps(make_change("inc_c", 1, ["db"], action="created"))),
            record(None, key=b"inc_c"),  # tombstone
            record(b"{broken"),
            record(b'{"action": "created", "incident": {"incidentId": "inc_x"}}'),
        ]
    )
    assert snapshot_ids(hub) == ["inc_b"]
    assert metrics.records_invalid.labels("incidents")._value.get() == 2
    assert metrics.active_incidents._value.get() == 1


def test_a_reopened_incident_comes_back() -> None:
    metrics = BroadcasterMetrics(CollectorRegistry())
    hub = Hub(metrics=metrics, clock=lambda: NOW)
    handle = IncidentsHandler(hub, metrics)
    handle([record(dumps(make_change("inc_a", 1, ["pay"], status="resolved", action="resolved")))])
    hub.mark_incidents_loaded()
    handle([record(dumps(make_change("inc_a", 2, ["pay"], action="updated")))])
    assert snapshot_ids(hub) == ["inc_a"]


def test_event_records_without_id_or_time_are_shown_and_bad_ones_counted() -> None:
    metrics = BroadcasterMetrics(CollectorRegistry())
    hub = Hub(metrics=metrics, clock=lambda: NOW)
    published: list[Any] = []
    hub.publish_events = published.extend  # type: ignore[method-assign]
    EventsHandler(hub, metrics)(
        [
            record(b'{"service": "legacy", "severity": 2, "extra": true}', offset=7),
            record(b'{"service": "", "severity": 9}'),
            record(None),
        ]
    )
    assert [e.service for e in published] == ["legacy"]
    assert metrics.records_invalid.labels("events")._value.get() == 2
