"""The broadcaster against the real Kafka, through real WebSocket connections."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import aiohttp
import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewPartitions

from incident_shared.ids import stable_id
from incident_shared.schemas.events import Event
from incident_shared.timeutil import utcnow
from support.ws_broadcaster_live import Feed, RawWebSocket, StartBroadcaster, app_of, event_ids, is_event, served_port
from ws_broadcaster.app import HUB, METRICS, READERS

pytestmark = pytest.mark.integration


async def test_each_client_gets_only_its_channels(
    start_broadcaster: StartBroadcaster, feed: Feed, connect: Any
) -> None:
    server = await start_broadcaster()
    payments = await connect(server)
    everything = await connect(server, "/")  # the bare origin works too
    await payments.send({"type": "subscribe", "channels": ["payment-service"]})
    await payments.until(lambda m: m["type"] == "subscribed")
    await everything.send({"type": "subscribe", "channels": ["all"]})
    await everything.until(lambda m: m["type"] == "subscribed")

    await feed.incident("inc_auth", 1, ["auth-service"], action="created")
    await feed.incident("inc_pay", 1, ["payment-service", "db"], action="created")
    await feed.events([("auth-service", "evt_a1"), ("db", "evt_d1"), ("payment-service", "evt_p1")])

    await payments.until(is_event("evt_p1"))
    await everything.until(is_event("evt_p1"))
    assert payments.event_ids() == ["evt_p1"]
    assert everything.event_ids() == ["evt_a1", "evt_d1", "evt_p1"]
    event = next(m for m in payments.received if m["type"] == "event")
    assert event["data"]["service"] == "payment-service"
    assert event["timestamp"].endswith("Z")
    assert [m["data"]["incidentId"] for m in payments.received if m["type"] == "incident"] == ["inc_pay"]
    assert [m["data"]["incidentId"] for m in everything.received if m["type"] == "incident"] == ["inc_auth", "inc_pay"]
    assert next(m for m in everything.received if m["type"] == "incident")["action"] == "created"


async def test_a_malformed_message_gets_an_error_and_the_feed_goes_on(
    start_broadcaster: StartBroadcaster, feed: Feed, connect: Any
) -> None:
    server = await start_broadcaster()
    client = await connect(server)
    await client.send("{not json")
    error = await client.until(lambda m: m["type"] == "error")
    assert "not valid JSON" in error["error"]
    await client.send({"type": "subscribe", "channels": ["all"], "batch": True})
    ack = await client.until(lambda m: m["type"] == "subscribed")
    assert ack["batch"] is True
    await feed.events([("api", f"evt_{i}") for i in range(20)])
    await client.until(is_event("evt_19"))
    assert client.event_ids() == [f"evt_{i}" for i in range(20)]


async def test_a_new_client_first_gets_the_active_incidents(
    start_broadcaster: StartBroadcaster, feed: Feed, connect: Any
) -> None:
    await feed.incident("inc_low", 1, ["search"], action="created", severity=2)
    await feed.incident("inc_high", 1, ["payment-service"], action="created", severity=5)
    await feed.incident("inc_gone", 1, ["auth-service"], action="created")
    await feed.incident("inc_gone", 2, ["auth-service"], action="resolved", status="resolved")
    await feed.incident("inc_low", 2, ["search"], action="summary_updated", severity=2)
    server = await start_broadcaster()

    client = await connect(server)
    snapshot = await client.next()
    assert snapshot["type"] == "snapshot"
    assert snapshot["complete"] is True
    assert [(i["incidentId"], i["version"]) for i in snapshot["data"]] == [("inc_high", 1), ("inc_low", 2)]

    filtered = await connect(server)
    await filtered.send({"type": "subscribe", "channels": ["search"]})
    narrowed = await filtered.until(lambda m: m["type"] == "snapshot" and len(filtered.received) > 1)
    assert [i["incidentId"] for i in narrowed["data"]] == ["inc_low"]

    await feed.incident("inc_high", 2, ["payment-service"], action="resolved", status="resolved")
    resolved = await client.until(lambda m: m["type"] == "incident")
    assert (resolved["action"], resolved["data"]["status"]) == ("resolved", "resolved")

    async with aiohttp.ClientSession() as http:
        async with http.get(server.make_url("/health/ready")) as response:
            assert response.status == 200
        async with http.get(server.make_url("/metrics")) as response:
            metrics = await response.text()
    assert "ws_broadcaster_connections 2.0" in metrics
    assert 'ws_broadcaster_messages_sent_total{type="snapshot"}' in metrics


async def test_a_stalled_client_does_not_delay_a_healthy_one(
    start_broadcaster: StartBroadcaster, feed: Feed, connect: Any
) -> None:
    server = await start_broadcaster(WS_MAX_QUEUED_EVENTS=500, WS_SEND_TIMEOUT_SECONDS=120)
    stalled = await RawWebSocket.connect("127.0.0.1", served_port(server))  # never reads until told
    healthy = await connect(server)
    await healthy.until(lambda m: m["type"] == "snapshot")

    total = 2000
    big = "x" * 4000  # ~8 MB in all: far more than the stalled client's socket buffers hold
    reading = asyncio.create_task(healthy.until(is_event(f"evt_{total - 1}")))  # a browser reads all along
    for start in range(0, total, 250):
        await feed.events([("api", f"evt_{i}") for i in range(start, start + 250)], message=big)
    await feed.incident("inc_1", 1, ["api"], action="created")
    await reading
    assert healthy.event_ids() == [f"evt_{i}" for i in range(total)]
    assert not [m for m in healthy.received if m["type"] == "dropped"]

    received: list[dict[str, Any]] = []
    while sum(m["count"] for m in received if m["type"] == "dropped") + len(event_ids(received)) < total:
        message = await stalled.next()
        assert message is not None, "the stalled client was disconnected"
        received.append(message)
    while not any(m["type"] == "incident" for m in received):
        message = await stalled.next()
        assert message is not None
        received.append(message)
    stalled.close()
    dropped = sum(m["count"] for m in received if m["type"] == "dropped")
    assert dropped > 0  # it fell behind, and was told by how much
    ids = event_ids(received)
    assert ids == sorted(ids, key=lambda e: int(e.split("_")[1]))  # what it got is in order
    assert ids[-1] == f"evt_{total - 1}"  # and it kept the newest events


async def test_a_hopeless_client_is_disconnected(start_broadcaster: StartBroadcaster, feed: Feed, connect: Any) -> None:
    server = await start_broadcaster(WS_MAX_QUEUED_EVENTS=100, WS_SEND_TIMEOUT_SECONDS=1)
    stalled = await RawWebSocket.connect("127.0.0.1", served_port(server))
    healthy = await connect(server)
    await healthy.until(lambda m: m["type"] == "snapshot")
    big = "x" * 4000
    reading = asyncio.create_task(healthy.until(is_event("evt_1499")))
    for start in range(0, 1500, 250):
        await feed.events([("api", f"evt_{i}") for i in range(start, start + 250)], message=big)
    await reading

    metrics = app_of(server)[METRICS]
    closed = metrics.connections_closed.labels("slow")
    while closed._value.get() < 1:
        await feed.event("api", "evt_more")
        await healthy.until(is_event("evt_more"))
    while (message := await stalled.next()) is not None:
        assert message["type"] != "incident"
    assert metrics.connections._value.get() == 1  # the healthy client is still there


async def test_a_client_reconnecting_to_another_replica_catches_up(
    start_broadcaster: StartBroadcaster, feed: Feed, connect: Any
) -> None:
    replica_a = await start_broadcaster()
    replica_b = await start_broadcaster()
    client = await connect(replica_a)
    await client.send({"type": "subscribe", "channels": ["checkout"]})
    await client.until(lambda m: m["type"] == "subscribed")
    await feed.event("checkout", "evt_before")
    await client.until(is_event("evt_before"))
    await client.close()

    # While the client is away an incident opens; it must be on the screen right after reconnecting.
    await feed.incident("inc_away", 1, ["checkout"], action="created", severity=4)
    hub_b = app_of(replica_b)[HUB]
    while not hub_b.active.snapshot(frozenset({"all"})):  # noqa: ASYNC110 - replica B has read it
        await asyncio.sleep(0.05)
    again = await connect(replica_b)
    await again.send({"type": "subscribe", "channels": ["checkout"]})
    snapshot = await again.until(
        lambda m: m["type"] == "snapshot" and any(i["incidentId"] == "inc_away" for i in m["data"])
    )
    assert snapshot["complete"] is True
    await feed.event("checkout", "evt_after")
    await again.until(is_event("evt_after"))
    assert "evt_before" not in again.event_ids()


async def test_records_straight_from_producers_are_shown_and_bad_ones_skipped(
    start_broadcaster: StartBroadcaster, feed: Feed, connect: Any
) -> None:
    server = await start_broadcaster()
    client = await connect(server)
    await client.until(lambda m: m["type"] == "snapshot")
    topic = feed.topics.events
    await feed.producer.send_and_wait(topic, b"{not json", partition=0)
    await feed.producer.send_and_wait(topic, b'{"service": "", "severity": 9}', partition=0)
    bare = await feed.producer.send_and_wait(
        topic, b'{"service": "legacy-app", "severity": 2, "message": "disk full", "extra": 1}', partition=0
    )
    await feed.event("api", "evt_marker")
    await client.until(is_event("evt_marker"))

    shown = [m["data"] for m in client.received if m["type"] == "event"]
    assert [e["service"] for e in shown] == ["legacy-app", "api"]
    # The id a record without one gets is the aggregator's: derived from the record's position.
    assert shown[0]["eventId"] == stable_id("evt_", topic, bare.partition, bare.offset)
    assert shown[0]["source"] == "kafka"
    invalid = app_of(server)[METRICS].records_invalid.labels("events")._value.get()
    assert invalid == 2


async def test_a_replica_far_behind_skips_to_the_newest_events_and_says_so(
    start_broadcaster: StartBroadcaster, feed: Feed, connect: Any
) -> None:
    server = await start_broadcaster(WS_MAX_QUEUED_EVENTS=20, WS_MAX_EVENTS_LAG=100)
    client = await connect(server)
    await client.until(lambda m: m["type"] == "snapshot")
    total = 2000
    await feed.events([("api", f"evt_{i}") for i in range(total)])
    skipped = app_of(server)[METRICS].events_skipped
    while skipped._value.get() == 0:  # noqa: ASYNC110 - the reader notices its lag after a fetch
        await asyncio.sleep(0.05)
    # A marker produced while the reader is still catching up may be skipped too: send until one shows.
    for n in range(100):
        await feed.event("api", f"evt_marker{n}")
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(1):
                await client.until(lambda m: any(e.startswith("evt_marker") for e in event_ids([m])))
                break
    assert any(e.startswith("evt_marker") for e in client.event_ids())
    dropped = sum(m["count"] for m in client.received if m["type"] == "dropped")
    assert dropped > 0  # the client was told it missed events
    assert skipped._value.get() > 0
    assert len(client.event_ids()) < total


async def test_partitions_added_while_running_are_read(
    start_broadcaster: StartBroadcaster, feed: Feed, connect: Any, kafka_bootstrap: str
) -> None:
    server = await start_broadcaster(WS_PARTITION_REFRESH_SECONDS=0.5)
    client = await connect(server)
    await client.until(lambda m: m["type"] == "snapshot")
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_partitions({feed.topics.events: NewPartitions(total_count=8)})
    finally:
        await admin.close()
    events_reader = next(r for r in app_of(server)[READERS] if r.label == "events")
    while len(events_reader.partitions) < 8:  # noqa: ASYNC110 - the reader looks every half second
        await asyncio.sleep(0.1)
    now = utcnow()
    event = Event(eventId="evt_new_partition", service="api", severity=3, timestamp=now, receivedAt=now)
    await feed.producer.send_and_wait(feed.topics.events, event.to_record(), partition=7)
    await client.until(is_event("evt_new_partition"))


async def test_shutting_down_sends_clients_elsewhere(start_broadcaster: StartBroadcaster, connect: Any) -> None:
    server = await start_broadcaster()
    client = await connect(server)
    await client.until(lambda m: m["type"] == "snapshot")
    closing = asyncio.create_task(server.close())
    message = await client.ws.receive(timeout=30)
    await closing
    # 1001 "going away": a browser reconnects (to another replica) rather than giving up.
    assert message.type == aiohttp.WSMsgType.CLOSE
    assert message.data == aiohttp.WSCloseCode.GOING_AWAY
