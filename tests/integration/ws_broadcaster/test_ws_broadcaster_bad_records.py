"""Records on the real topics that no valid producer writes never stop the live feed."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from prometheus_client import CollectorRegistry

from incident_shared.codec import dumps
from support.ws_broadcaster_fakes import make_change
from support.ws_broadcaster_live import Feed, StartBroadcaster, app_of, is_event
from ws_broadcaster.app import METRICS, build_app
from ws_broadcaster.settings import BroadcasterSettings

pytestmark = pytest.mark.integration


async def test_poison_incident_records_neither_block_the_snapshot_nor_the_feed(
    start_broadcaster: StartBroadcaster, feed: Feed, connect: Any
) -> None:
    # Before the replica starts: it must get past these while loading the snapshot.
    big = dumps(make_change("inc_big", 1, ["pay"], action="created"))
    big = big.replace(b'"version":1,', b'"version":18446744073709551616,', 1)
    for value in (big, b"\xff not json", b'{"action": "created", "incident": {"incidentId": "inc_half"}}'):
        await feed.producer.send_and_wait(feed.topics.incidents, value, key=b"poison", partition=0)
    await feed.incident("inc_before", 1, ["pay"], action="created")

    server = await start_broadcaster()  # returns once the snapshot is loaded
    client = await connect(server)
    snapshot = await client.until(lambda m: m["type"] == "snapshot")
    assert [i["incidentId"] for i in snapshot["data"]] == ["inc_before"]
    assert snapshot["complete"] is True

    # And live: a poison record, then news that must still arrive.
    await feed.producer.send_and_wait(feed.topics.incidents, big, key=b"poison", partition=0)
    await feed.producer.send_and_wait(feed.topics.events, b'{"service": "pay", "severity": 99}', partition=0)
    await feed.incident("inc_after", 1, ["pay"], action="created")
    await feed.event("pay", "evt_after")
    incident = await client.until(lambda m: m["type"] == "incident")
    assert incident["data"]["incidentId"] == "inc_after"
    await client.until(is_event("evt_after"))

    async with aiohttp.ClientSession() as http:
        ready = await http.get(server.make_url("/health/ready"))
        assert ready.status == 200
    metrics = app_of(server)[METRICS]
    assert metrics.records_invalid.labels("incidents")._value.get() == 4
    assert metrics.records_invalid.labels("events")._value.get() == 1


async def test_an_unreachable_kafka_shows_in_readiness_with_what_fails_and_is_retried() -> None:
    settings = BroadcasterSettings(KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:9", KAFKA_TOPIC_PREFIX="nowhere.")
    server = TestServer(build_app(settings, registry=CollectorRegistry()), host="127.0.0.1")
    await server.start_server()
    try:
        metrics = app_of(server)[METRICS]
        async with aiohttp.ClientSession() as http:
            while metrics.reader_errors.labels("incidents")._value.get() < 2:  # noqa: ASYNC110 - bounded by the test timeout
                await asyncio.sleep(0.1)
            ready = await http.get(server.make_url("/health/ready"))
            assert ready.status == 503
            assert "consumers" in (await ready.json())["down"]
            detailed = await (await http.get(server.make_url("/health/detailed"))).json()
            error = detailed["dependencies"]["consumers"]["error"]
            assert "reading the" in error
            assert "tries" in error
    finally:
        await server.close()
