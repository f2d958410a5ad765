"""Storms for the aggregator's integration tests, and how they reach Kafka."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer

from aggregator.engine import load_config
from incident_shared.schemas.events import Event

ROOT = Path(__file__).parents[2]


def storm(start: datetime, n_db: int = 300, n_search: int = 200) -> list[Event]:
    """payments-db fails, then payment-service and checkout-service (its callers); search fails on its own."""
    events = []
    for i in range(n_db):
        events.append(
            Event(
                eventId=f"evt_db{i:05d}",
                service="payments-db",
                severity=5,
                timestamp=start + timedelta(seconds=i * 0.5),
                message=f"too many connections ({i})",
                receivedAt=start,
            )
        )
        if i % 2 == 0:
            events.append(
                Event(
                    eventId=f"evt_pay{i:05d}",
                    service="payment-service",
                    severity=4,
                    timestamp=start + timedelta(seconds=30 + i * 0.5),
                    message=f"Timeout after {1000 + i}ms calling payments-db:5432",
                    receivedAt=start,
                )
            )
            events.append(
                Event(
                    eventId=f"evt_chk{i:05d}",
                    service="checkout-service",
                    severity=4,
                    timestamp=start + timedelta(seconds=60 + i * 0.5),
                    message=f"HTTP 502 from payment-service for order {i}",
                    receivedAt=start,
                )
            )
    for i in range(n_search):
        events.append(
            Event(
                eventId=f"evt_srch{i:05d}",
                service="search",
                severity=4,
                timestamp=start + timedelta(seconds=i),
                message=f"shard {i % 7} unavailable on node-{i}",
                receivedAt=start,
            )
        )
    return sorted(events, key=lambda e: e.timestamp)


def cross_key_cascade(start: datetime, n: int = 60) -> list[Event]:
    """A database outside any topology group fails; its caller names it; the caller's caller names the caller."""
    events = []
    for i in range(n):
        for service, offset, message in (
            ("postgres-orders", 0, f"could not connect to server: Connection refused at 10.0.3.{i % 250}:5432"),
            ("order-service", 20, f"Timeout after 5000ms calling postgres-orders (query {i})"),
            ("checkout-api", 40, f"Upstream order-service returned 503 for order {40000 + i}"),
        ):
            events.append(
                Event(
                    eventId=f"evt_{service}{i:04d}",
                    service=service,
                    severity=4,
                    timestamp=start + timedelta(seconds=offset + i * 2),
                    message=message,
                    receivedAt=start,
                )
            )
    return sorted(events, key=lambda e: e.timestamp)


GROUPS = load_config(ROOT / "deploy/config/correlation.toml").topology.group_index()


async def produce(bootstrap: str, topic: str, events: list[Event], *, keyed: bool = True) -> None:
    """Produces in order, keyed by correlation key (the service's group) as producers should."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    try:
        for e in events:
            key = GROUPS.get(e.service, e.service).encode() if keyed else None
            await producer.send(topic, e.to_record(), key=key)
        await producer.send(topic, b'{"service": "", "severity": 9}', key=b"broken")
        await producer.flush()
    finally:
        await producer.stop()


async def wait_for(db: Any, predicate: Any, limit: float = 180.0) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if await predicate(db):
            return
        await asyncio.sleep(1.0)
    raise AssertionError("the aggregator did not get there in time")
