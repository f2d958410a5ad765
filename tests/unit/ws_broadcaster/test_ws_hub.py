"""The hub and client outboxes: filtering, snapshots, drop-oldest, and giving up on hopeless clients."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from support.ws_broadcaster_fakes import NOW, make_change, make_event, settle
from ws_broadcaster.client import Client, ClientLimits
from ws_broadcaster.hub import Hub
from ws_broadcaster.metrics import BroadcasterMetrics

pytestmark = pytest.mark.unit


async def test_a_new_client_gets_the_active_incidents_first(hub: Hub, connect: Any) -> None:
    hub.publish_incident(make_change("inc_a", 1, ["pay"], action="created", severity=2))
    hub.publish_incident(make_change("inc_b", 1, ["auth"], action="created", severity=5))
    hub.publish_incident(make_change("inc_c", 1, ["db"], action="created"))
    hub.publish_incident(make_change("inc_c", 2, ["db"], status="resolved", action="resolved"))
    _, sock = connect()
    await settle()
    first = sock.frames[0]
    assert first["type"] == "snapshot"
    assert first["complete"] is True
    assert [i["incidentId"] for i in first["data"]] == ["inc_b", "inc_a"]  # most severe first, no resolved


async def test_events_are_filtered_by_channel(hub: Hub, connect: Any) -> None:
    everyone, all_sock = connect()
    _, pay_sock = connect()
    hub.handle_message(_client_of(hub, pay_sock), '{"type":"subscribe","channels":["pay","db"]}')
    hub.publish_events([make_event("pay", 1), make_event("auth", 2), make_event("db", 3)])
    await settle()
    assert all_sock.event_ids() == ["evt_pay_1", "evt_auth_2", "evt_db_3"]
    assert pay_sock.event_ids() == ["evt_pay_1", "evt_db_3"]
    assert pay_sock.of_type("subscribed")[0]["channels"] == ["db", "pay"]
    assert everyone.channels == frozenset({"all"})


async def test_subscribe_adds_after_the_first_and_unsubscribe_removes(hub: Hub, connect: Any) -> None:
    client, sock = connect()
    hub.handle_message(client, '{"type":"subscribe","channels":["pay"]}')
    hub.handle_message(client, '{"type":"subscribe","channels":["db"]}')
    hub.handle_message(client, '{"type":"unsubscribe","channels":["pay"]}')
    hub.publish_events([make_event("pay", 1), make_event("db", 2)])
    await settle()
    assert client.channels == frozenset({"db"})
    assert sock.event_ids() == ["evt_db_2"]
    assert sock.of_type("unsubscribed")[0]["channels"] == ["db"]


async def test_incidents_reach_clients_whose_channels_touch_them(hub: Hub, connect: Any) -> None:
    pay, pay_sock = connect()
    auth, auth_sock = connect()
    hub.handle_message(pay, '{"type":"subscribe","channels":["pay"]}')
    hub.handle_message(auth, '{"type":"subscribe","channels":["auth"]}')
    hub.publish_incident(make_change("inc_1", 1, ["pay", "db"], action="created"))
    await settle()
    assert [f["data"]["incidentId"] for f in pay_sock.of_type("incident")] == ["inc_1"]
    assert pay_sock.of_type("incident")[0]["action"] == "created"
    assert auth_sock.of_type("incident") == []


async def test_a_client_hears_when_an_incident_leaves_its_channels(hub: Hub, connect: Any) -> None:
    client, sock = connect()
    hub.handle_message(client, '{"type":"subscribe","channels":["db"]}')
    hub.publish_incident(make_change("inc_1", 1, ["pay", "db"], action="created"))
    hub.publish_incident(make_change("inc_1", 2, ["pay"]))
    await settle()
    assert [f["data"]["version"] for f in sock.of_type("incident")] == [1, 2]


async def test_stale_and_repeated_incident_versions_are_ignored(hub: Hub, connect: Any) -> None:
    _, sock = connect()
    hub.publish_incident(make_change("inc_1", 2, ["pay"]))
    hub.publish_incident(make_change("inc_1", 2, ["pay"]))
    hub.publish_incident(make_change("inc_1", 1, ["pay"]))
    await settle()
    assert [f["data"]["version"] for f in sock.of_type("incident")] == [2]


async def test_changes_before_the_snapshot_is_loaded_are_not_broadcast(metrics: BroadcasterMetrics) -> None:
    hub = Hub(metrics=metrics, clock=lambda: NOW)
    sent: list[bytes] = []

    async def send(data: bytes) -> None:
        sent.append(data)

    client = Client(client_id="c", send=send, abort=lambda _: None, limits=ClientLimits(), metrics=metrics)
    hub.register(client)
    hub.publish_incident(make_change("inc_1", 1, ["pay"], action="created"))
    hub.mark_incidents_loaded()
    task = asyncio.create_task(client.run())
    await settle()
    task.cancel()
    assert [b'"complete":false' in s for s in sent] == [True, False]
    assert b'"type":"incident"' not in b"".join(sent)
    assert b"inc_1" in sent[1]


async def test_a_malformed_message_gets_an_error_and_changes_nothing(hub: Hub, connect: Any) -> None:
    client, sock = connect()
    hub.handle_message(client, "{nope")
    hub.handle_message(client, '{"type":"subscribe","channels":"pay"}')
    hub.publish_events([make_event("auth", 1)])
    await settle()
    errors = sock.of_type("error")
    assert len(errors) == 2
    assert "not valid JSON" in errors[0]["error"]
    assert sock.event_ids() == ["evt_auth_1"]


async def test_ping_is_answered(hub: Hub, connect: Any) -> None:
    client, sock = connect()
    hub.handle_message(client, '{"type":"ping"}')
    await settle()
    assert len(sock.of_type("pong")) == 1


async def test_batching_clients_get_one_frame_per_batch(hub: Hub, connect: Any) -> None:
    client, sock = connect(batching=True)
    hub.publish_events([make_event("pay", i) for i in range(250)])
    await settle()
    frames = sock.of_type("events")
    assert [len(f["data"]) for f in frames] == [100, 100, 50]  # max_batch_events = 100
    assert sock.event_ids() == [f"evt_pay_{i}" for i in range(250)]
    assert client.queued_events == 0


async def test_a_stalled_client_loses_the_oldest_events_and_is_told(
    hub: Hub, connect: Any, metrics: BroadcasterMetrics
) -> None:
    healthy, healthy_sock = connect()
    stalled, stalled_sock = connect(max_queued_events=10)
    await settle()
    stalled_sock.gate.clear()
    hub.publish_events([make_event("pay", 0)])  # taken by the writer, blocked in send
    await settle()
    for i in range(1, 31):
        hub.publish_events([make_event("pay", i)])
    hub.publish_incident(make_change("inc_1", 1, ["pay"], action="created"))
    await settle()
    assert len(healthy_sock.event_ids()) == 31  # the healthy client was never held up
    assert stalled.queued_events == 10
    stalled_sock.gate.set()
    await settle()
    dropped = stalled_sock.of_type("dropped")
    assert [d["count"] for d in dropped] == [20]
    assert stalled_sock.event_ids() == ["evt_pay_0"] + [f"evt_pay_{i}" for i in range(21, 31)]
    assert len(stalled_sock.of_type("incident")) == 1  # incident updates are never dropped
    assert metrics.messages_dropped._value.get() == 20
    assert healthy.closed is False


async def test_a_client_that_cannot_write_in_time_is_disconnected(hub: Hub, connect: Any) -> None:
    client, sock = connect(send_timeout=5)
    healthy, _ = connect(send_timeout=5)
    await settle()
    sock.gate.clear()
    hub.publish_events([make_event("pay", 1)])
    await settle()
    now = asyncio.get_running_loop().time()
    assert hub.check_stalled(now + 1) == 0  # blocked, but not for long yet
    assert hub.check_stalled(now + 6) == 1
    assert sock.aborted == "slow"
    assert client.closed
    assert not healthy.closed


async def test_a_client_with_too_many_pending_incident_updates_is_disconnected(hub: Hub, connect: Any) -> None:
    client, sock = connect(max_queued_priority=5)
    await settle()
    sock.gate.clear()
    for v in range(1, 10):
        hub.publish_incident(make_change("inc_1", v, ["pay"]))
    assert sock.aborted == "backlog"
    assert client.closed
    hub.unregister(client)
    assert len(hub) == 0


async def test_idle_clients_get_heartbeats(hub: Hub, connect: Any) -> None:
    _, sock = connect()
    await settle()
    hub.heartbeat()
    await settle()
    assert len(sock.of_type("heartbeat")) == 1


def _client_of(hub: Hub, sock: Any) -> Client:
    return next(c for c in hub.clients if c._send.__self__ is sock)  # type: ignore[attr-defined]


async def test_events_the_replica_skipped_are_reported_with_the_next_events(
    hub: Hub, connect: Any, metrics: BroadcasterMetrics
) -> None:
    _, sock = connect()
    await settle()
    hub.events_skipped(5000)
    hub.publish_events([make_event("pay", 1)])
    await settle()
    assert [f["type"] for f in sock.frames[-2:]] == ["dropped", "event"]
    assert sock.frames[-2]["count"] == 5000
    assert metrics.events_skipped._value.get() == 5000
