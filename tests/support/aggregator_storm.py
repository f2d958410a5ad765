"""The aggregator's storm scenarios over real Kafka and MongoDB: a storm produced straight to the
events topic, and a worker killed or stopped mid-stream and restarted."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from pymongo import AsyncMongoClient

from aggregator.engine import load_config
from incident_shared.schemas.events import Event
from incident_shared.topics import Topics

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


async def read_topic(bootstrap: str, topic: str, idle: float = 5.0) -> list[Any]:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    out: list[Any] = []
    try:
        while True:
            batch = await consumer.getmany(timeout_ms=int(idle * 1000))
            if not batch:
                return out
            for records in batch.values():
                out.extend(records)
    finally:
        await consumer.stop()


async def wait_for(db: Any, predicate: Any, limit: float = 180.0) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if await predicate(db):
            return
        await asyncio.sleep(1.0)
    raise AssertionError("the aggregator did not get there in time")


async def wait_consumed(bootstrap: str, group: str, topic: str, limit: float = 300.0) -> None:
    """Waits until the consumer group has committed every record of `topic`."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await admin.start()
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(6)]
        end = sum((await consumer.end_offsets(tps)).values())
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            offsets = await admin.list_consumer_group_offsets(group)
            if sum(o.offset for tp, o in offsets.items() if tp.topic == topic and o.offset > 0) >= end:
                return
            await asyncio.sleep(1.0)
        raise AssertionError("the aggregator did not consume everything in time")
    finally:
        await consumer.stop()
        await admin.close()


async def all_events_projected(db: Any, n: int) -> bool:
    return await db.events.count_documents({}) >= n and await db.incidents.count_documents({}) >= 2


async def engine_events(port: int) -> float:
    """The events a worker's engine has processed so far (0 while it does not answer)."""
    try:
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"http://127.0.0.1:{port}/metrics", timeout=aiohttp.ClientTimeout(total=2)) as resp,
        ):
            text = await resp.text()
    except (aiohttp.ClientError, TimeoutError):
        return 0.0
    for line in text.splitlines():
        if line.startswith("aggregator_events_total "):
            return float(line.split()[1])
    return 0.0


async def stop_while_processing(worker: Any) -> None:
    """Starts the worker and stops it gracefully (SIGTERM) as soon as its engine has processed a
    batch: with a backlog and small batches, the stop lands in the middle of a later one."""
    worker.start()
    deadline = time.monotonic() + 120
    while await engine_events(worker.port) == 0:
        if time.monotonic() > deadline:
            raise AssertionError("the worker processed nothing in time")
        await asyncio.sleep(0.05)
    worker.stop()


async def kill_mid_stream_and_restart(
    worker: Any, topics: Topics, bootstrap: str, mongo_uri: str, mongo_db_name: str, *, graceful_stops: int = 0
) -> None:
    """Kills the worker (SIGKILL) once some events are projected, or stops it gracefully (SIGTERM)
    `graceful_stops` times while it processes a backlog, restarts it, and checks that the storm
    ends as exactly the expected incidents, rollups and changes, every record committed."""
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
    events = storm(start, n_db=1000, n_search=600)
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_uri, tz_aware=True)
    db = client[mongo_db_name]
    try:
        if graceful_stops:
            await produce(bootstrap, topics.events, events)
            for _ in range(graceful_stops):
                await stop_while_processing(worker)
        else:
            worker.start()
            await produce(bootstrap, topics.events, events)

            async def some_progress(d: Any) -> bool:
                return await d.events.count_documents({}) >= 300

            await wait_for(db, some_progress)
            worker.kill()
        worker.start()
        # The first worker may have projected events it never committed: wait for the second one to
        # have consumed (and so finished with) every record, not just for the events to be there.
        await wait_for(db, lambda d: all_events_projected(d, len(events)), limit=300)
        await wait_consumed(bootstrap, worker.env["AGGREGATOR_APP_ID"], topics.events)
        # History is its own consumer: it has caught up once it has committed both topics.
        history = f"{worker.env['AGGREGATOR_APP_ID']}-history"
        await wait_consumed(bootstrap, history, topics.events)
        await wait_consumed(bootstrap, history, topics.incidents)
        incidents = [d async for d in db.incidents.find({})]
        assert sorted(i["eventCount"] for i in incidents) == [600, 2000]
        rollups = [r async for r in db.event_rollups.find({})]
        assert sum(r["count"] for r in rollups) == len(events)
        records = await read_topic(bootstrap, topics.incidents)
        ids = {orjson.loads(r.value)["incident"]["incidentId"] for r in records}
        assert ids == {i["incidentId"] for i in incidents}
    finally:
        await client.close()
