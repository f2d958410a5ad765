"""The aggregator's stream throughput, side by side with a Faust agent that does nothing, and the
history writer's projection rate.

Produces N events (a storm over a few services, plus steady errors of twenty more) to a fresh topic
prefix once, then reads that same topic (each run with its own consumer group):

1. side by side, at the same time (so that both see the same machine, whatever else runs on it):
   - no-op Faust: `benchmarks/noop_faust.py`, a worker with the aggregator's Faust settings whose
     agent takes the same batches and does nothing (the ceiling while Faust drives the stream);
   - aggregator: one `python -m aggregator` worker, events to incident changes, publishing what the
     history writer needs but not writing MongoDB itself (AGGREGATOR_HISTORY_IN_WORKER=false);
   twice, to show how much the figures move between runs;
2. history: `python -m aggregator.history` alone on that backlog (every assignment is there), into
   a throwaway FerretDB on SQLite, the embedded default (never the shared one);
3. aggregator with the history writer inside it (the default deployment), into a fresh FerretDB:
   the time until both the engine and history have committed everything.

Rates are from the consumer groups' committed offsets, first commit to last, so start-up (table
recovery, connecting) is left out. Needs the local Kafka and the FerretDB binary (`make infra`).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

sys.path.insert(0, str(Path(__file__).parent))
from _support import KAFKA, PYTHON, ROOT, ferretdb, free_port, process, row

from incident_shared.kafka import ensure_topics
from incident_shared.schemas.events import Event
from incident_shared.topics import Topics

N = int(os.environ.get("BENCH_EVENTS", "60000"))
LIMIT_S = 900.0


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
        batch = [await producer.send(topic, e.to_record(), key=e.service.encode()) for e in evs]
        await asyncio.gather(*batch)
    finally:
        await producer.stop()


async def committed(group: str, topic: str) -> int:
    consumer = AIOKafkaConsumer(bootstrap_servers=KAFKA, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        offsets = [await consumer.committed(TopicPartition(topic, p)) for p in range(6)]
        return sum(o or 0 for o in offsets)
    finally:
        await consumer.stop()


async def rate(group: str, topic: str, n: int) -> float:
    """Records per second between the group's first commit and the commit of the n-th record."""
    first_t = first_n = None
    deadline = time.monotonic() + LIMIT_S
    done = 0
    while time.monotonic() < deadline:
        await asyncio.sleep(0.25)
        done = await committed(group, topic)
        if done and first_t is None:
            first_t, first_n = time.perf_counter(), done
        if done >= n:
            break
    if first_t is None or first_n is None or done <= first_n:
        return 0.0
    return (done - first_n) / (time.perf_counter() - first_t)


def env(topics: Topics, app_id: str, mongo: str = "mongodb://127.0.0.1:1", **extra: str) -> dict[str, str]:
    return {
        "KAFKA_BOOTSTRAP_SERVERS": KAFKA,
        "KAFKA_TOPIC_PREFIX": topics.prefix,
        "MONGODB_URI": mongo,
        "MONGODB_DATABASE": "bench",
        "PORT": str(free_port()),
        "AGGREGATOR_APP_ID": app_id,
        "AGGREGATOR_DATA_DIR": tempfile.mkdtemp(prefix=app_id),
        "LOG_LEVEL": "WARNING",
        **extra,
    }


@contextmanager
def worker(variables: dict[str, str], *args: str) -> Iterator[None]:
    with process([PYTHON, *args], variables):
        yield


async def main() -> None:
    topics = Topics(prefix=f"bench{secrets.token_hex(3)}.")
    await ensure_topics(KAFKA, topics)
    t = time.perf_counter()
    await produce(topics.events, events(N))
    print(f"aggregator throughput: {N:,} events produced in {time.perf_counter() - t:.1f}s")

    agg_id = ""
    for run in (1, 2):
        noop_id = f"bench-noop-{secrets.token_hex(3)}"
        agg_id = f"bench-agg-{secrets.token_hex(3)}"
        with (
            worker(env(topics, noop_id), str(ROOT / "benchmarks/noop_faust.py")),
            worker(env(topics, agg_id, AGGREGATOR_HISTORY_IN_WORKER="false"), "-m", "aggregator"),
        ):
            noop, engine = await asyncio.gather(rate(noop_id, topics.events, N), rate(agg_id, topics.events, N))
        ratio = engine / noop if noop else 0.0
        row(
            f"run {run}: aggregator worker vs a no-op Faust agent, side by side",
            f"{engine:,.0f} vs {noop:,.0f} events/s ({ratio:.0%})",
        )

    with ferretdb() as mongo, worker(env(topics, agg_id, mongo), "-m", "aggregator.history"):
        history = await rate(f"{agg_id}-history", topics.events, N)
    row("history writer alone, into FerretDB/SQLite (embedded default)", f"{history:,.0f} events/s")

    both_id = f"bench-both-{secrets.token_hex(3)}"
    with ferretdb() as mongo, worker(env(topics, both_id, mongo), "-m", "aggregator"):
        started = time.perf_counter()
        engine_both, history_both = await asyncio.gather(
            rate(both_id, topics.events, N), rate(f"{both_id}-history", topics.events, N)
        )
        whole = time.perf_counter() - started
    row(
        "one worker with history inside it (default)",
        f"engine {engine_both:,.0f} events/s, history {history_both:,.0f} events/s, all stored after {whole:.0f}s",
    )


if __name__ == "__main__":
    asyncio.run(main())
