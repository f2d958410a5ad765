"""The aggregator end to end, per worker, against a bare aiokafka consume-and-decode loop on the same topic.

Produces N events (a storm over a few services plus background noise) to a fresh topic prefix, then:
1. bare: one aiokafka consumer reads and JSON-decodes every record (the ceiling for any consumer);
2. aggregator: one `python -m aggregator` worker (with and without the MongoDB projection) processes
   the same records; the time is from the first to the last committed offset of its group.
Prints events/s for each and the ratio. Needs the local Kafka and MongoDB-protocol server.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from pymongo import AsyncMongoClient

from incident_shared.kafka import ensure_topics
from incident_shared.schemas.events import Event
from incident_shared.topics import Topics

ROOT = Path(__file__).parents[1]
KAFKA = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
MONGO = os.environ.get("MONGODB_URI", "mongodb://127.0.0.1:27017")
N = int(os.environ.get("BENCH_EVENTS", "40000"))


def events(n: int) -> list[Event]:
    start = datetime.now(UTC) - timedelta(hours=1)
    services = ["payments-db", "payment-service", "checkout-service", "search", "auth-service"] + [
        f"svc-{k}" for k in range(20)
    ]
    out = []
    for i in range(n):
        s = services[i % len(services)]
        ts = start + timedelta(milliseconds=i * 50)
        out.append(
            Event(
                eventId=f"evt_b{i:08d}",
                service=s,
                severity=3 + (i % 3),
                timestamp=ts,
                message=f"Timeout after {i % 977}ms calling db-{i % 5}:5432 for request {i}",
                receivedAt=ts,
            )
        )
    return out


async def produce(topic: str, evs: list[Event]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=KAFKA, acks="all", linger_ms=20, max_batch_size=512 * 1024)
    await producer.start()
    try:
        batch = []
        for e in evs:
            batch.append(await producer.send(topic, e.to_record(), key=e.service.encode()))
        await asyncio.gather(*batch)
    finally:
        await producer.stop()


async def bare(topic: str, n: int) -> float:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=KAFKA,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
        max_partition_fetch_bytes=4 << 20,
    )
    await consumer.start()
    seen = 0
    start = time.perf_counter()
    try:
        while seen < n:
            batch = await consumer.getmany(timeout_ms=1000, max_records=10000)
            for records in batch.values():
                for r in records:
                    orjson.loads(r.value)
                    seen += 1
    finally:
        await consumer.stop()
    return seen / (time.perf_counter() - start)


async def committed(group: str, topic: str) -> int:
    consumer = AIOKafkaConsumer(bootstrap_servers=KAFKA, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        total = 0
        for p in range(6):
            off = await consumer.committed(TopicPartition(topic, p))
            total += off or 0
        return total
    finally:
        await consumer.stop()


async def aggregator(topics: Topics, n: int, *, project: bool) -> tuple[float, float]:
    app_id = f"bench-agg-{secrets.token_hex(3)}"
    db = f"bench_{secrets.token_hex(3)}"
    port = 17000 + secrets.randbelow(2000)
    env = dict(
        os.environ,
        KAFKA_BOOTSTRAP_SERVERS=KAFKA,
        KAFKA_TOPIC_PREFIX=topics.prefix,
        MONGODB_URI=MONGO,
        MONGODB_DATABASE=db,
        PORT=str(port),
        AGGREGATOR_APP_ID=app_id,
        LOG_LEVEL="WARNING",
        AGGREGATOR_PROJECT_TO_MONGO=str(project).lower(),
        AGGREGATOR_DATA_DIR=tempfile.mkdtemp(prefix=app_id),
    )
    proc = subprocess.Popen(  # noqa: ASYNC220 - started once, outside the measured loop
        [sys.executable, "-m", "aggregator"], env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        first_t = None
        deadline = time.monotonic() + 900
        done = 0
        while time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            done = await committed(app_id, topics.events)
            if done and first_t is None:
                first_t, first_n = time.perf_counter(), done
            if done >= n:
                break
        if first_t is None or done <= first_n:
            return 0.0, 0.0
        rate = (done - first_n) / (time.perf_counter() - first_t)
        busy = await asyncio.to_thread(_busy_rate, port)
        return rate, busy
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
        client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(MONGO)
        await client.drop_database(db)
        await client.close()


def _busy_rate(port: int) -> float:
    """Events per second of batch processing time, from the worker's own metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    values = {}
    for line in text.splitlines():
        if line.startswith(("aggregator_events_total ", "aggregator_batch_seconds_sum ")):
            name, value = line.split()
            values[name] = float(value)
    seconds = values.get("aggregator_batch_seconds_sum", 0.0)
    return values.get("aggregator_events_total", 0.0) / seconds if seconds else 0.0


async def main() -> None:
    topics = Topics(prefix=f"bench{secrets.token_hex(3)}.")
    await ensure_topics(KAFKA, topics)
    evs = events(N)
    t = time.perf_counter()
    await produce(topics.events, evs)
    print(f"produced {N} events in {time.perf_counter() - t:.1f}s")
    base = await bare(topics.events, N)
    print(f"bare aiokafka consume + decode: {base:,.0f} events/s")
    for project in (False, True):
        rate, busy = await aggregator(topics, N, project=project)
        label = "with MongoDB projection" if project else "no MongoDB projection"
        print(
            f"aggregator, {label}: {rate:,.0f} events/s end to end ({rate / base:.1%} of bare); "
            f"{busy:,.0f} events per second of batch processing"
        )


if __name__ == "__main__":
    asyncio.run(main())
