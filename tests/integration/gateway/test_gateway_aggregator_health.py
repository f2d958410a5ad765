"""The gateway's health says when incidents are not being updated, from the aggregator's consumer
group on the real Kafka: a consumer group stands in for the aggregator here (the fault suite stops
and starts the real one)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from incident_shared.topics import Topics

pytestmark = pytest.mark.integration


async def _aggregator_health(gw: Any, want: Callable[[dict[str, Any]], bool], within: float = 30.0) -> dict[str, Any]:
    """Polls /health/detailed until the aggregator dependency matches `want`; returns the body."""
    async with asyncio.timeout(within):
        while True:
            body = await (await gw.get("/health/detailed")).json()
            if want(body["dependencies"]["aggregator"]):
                return body
            await asyncio.sleep(0.3)


async def test_the_gateway_reports_a_missing_then_stuck_aggregator_and_its_recovery(
    make_gateway: Callable[..., Awaitable[Any]], topics: Topics, kafka_bootstrap: str, unique_name: Any
) -> None:
    group = unique_name("agg-health-")
    gw = await make_gateway(aggregator_app_id=group, aggregator_check_seconds=0.3, aggregator_stall_seconds=3)
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        for i in range(5):
            await producer.send_and_wait(topics.events, b'{"service": "api", "severity": 3}', partition=i % 6)

        # No aggregator: the gateway stays ready, but says incidents are not being updated (once it
        # has looked since the events were sent: a look before them found none waiting).
        body = await _aggregator_health(gw, lambda d: d["status"] == "down" and "5 events wait" in d["error"])
        assert "no aggregator is running" in body["dependencies"]["aggregator"]["error"]
        assert "5 events wait" in body["dependencies"]["aggregator"]["error"]
        assert (body["status"], body["ready"]) == ("degraded", True)
        assert (await gw.get("/health/ready")).status == 200
        assert "no aggregator is running" in (await (await gw.get("/health")).json())["problems"]["aggregator"]

        # An aggregator that consumes and commits: up to date.
        stand_in = AIOKafkaConsumer(
            topics.events,
            bootstrap_servers=kafka_bootstrap,
            group_id=group,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        await stand_in.start()
        try:
            seen = 0
            async with asyncio.timeout(30):
                while seen < 5:
                    seen += sum(len(r) for r in (await stand_in.getmany(timeout_ms=500)).values())
            await stand_in.commit()
            body = await _aggregator_health(gw, lambda d: d["status"] == "up" and "up to date" in d["detail"])
            assert body["status"] == "ok"
            metrics = await (await gw.get("/metrics")).text()
            assert "ingest_gateway_aggregator_waiting_events 0.0" in metrics
            assert "ingest_gateway_aggregator_workers 1.0" in metrics

            # Still in the group, but no longer getting through the events: stuck after the stall time.
            for _ in range(3):
                await producer.send_and_wait(topics.events, b'{"service": "api", "severity": 3}', partition=0)
            body = await _aggregator_health(gw, lambda d: d["status"] == "down")
            assert "has processed nothing for" in body["dependencies"]["aggregator"]["error"]
            assert "3 events wait" in body["dependencies"]["aggregator"]["error"]

            # Progress again: clear.
            await stand_in.getmany(timeout_ms=2000)
            await stand_in.commit()
            await _aggregator_health(gw, lambda d: d["status"] == "up")
        finally:
            await stand_in.stop()
    finally:
        await producer.stop()
