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


def _big_version(change_bytes: bytes) -> bytes:
    """The same change with a version beyond 64 bits: valid for the schema, refused by the encoder."""
    return change_bytes.replace(b'"version":1,', b'"version":18446744073709551616,', 1)


@pytest.mark.parametrize("loaded", [False, True], ids=["while-loading", "live"])
def test_an_incident_change_that_cannot_be_sent_is_skipped_and_the_rest_applied(loaded: bool) -> None:
    metrics = BroadcasterMetrics(CollectorRegistry())
    hub = Hub(metrics=metrics, clock=lambda: NOW)
    if loaded:
        hub.mark_incidents_loaded()
    poison = _big_version(dumps(make_change("inc_big", 1, ["pay"], action="created")))
    assert b"18446744073709551616" in poison
    IncidentsHandler(hub, metrics)(
        [
            record(dumps(make_change("inc_a", 1, ["pay"], action="created")), offset=1),
            record(poison, offset=2),
            record(dumps(make_change("inc_b", 1, ["auth"], action="created")), offset=3),
        ]
    )
    assert sorted(snapshot_ids(hub)) == ["inc_a", "inc_b"]
    assert metrics.records_invalid.labels("incidents")._value.get() == 1


async def test_a_reader_whose_handler_fails_counts_the_batch_and_keeps_reading() -> None:
    from ws_broadcaster.consumers import TopicReader  # noqa: PLC0415 - only this test needs the reader

    metrics = BroadcasterMetrics(CollectorRegistry())
    calls: list[int] = []

    def handle(records: Any) -> None:
        calls.append(len(records))
        raise RuntimeError("a bug in a handler")

    reader = TopicReader(
        bootstrap_servers="127.0.0.1:1",
        topic="t.events",
        label="events",
        from_beginning=False,
        handle=handle,
        metrics=metrics,
        client_id="test",
    )
    reader._deliver([record(b"{}", offset=5), record(b"{}", offset=6)])
    reader._deliver([record(b"{}", offset=7)])
    assert calls == [2, 1]
    assert metrics.records_invalid.labels("events")._value.get() == 3
