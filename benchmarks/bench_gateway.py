"""Ingest gateway throughput and latency, each against its yardstick, measured side by side.

1. Batch ingest (300-byte events, 250 per request) through the gateway, in events/s, against a bare
   aiokafka producer sending the same payloads with the same settings (acks=all, idempotent).
2. Single-event POSTs per second through the gateway against a bare aiohttp endpoint that only parses
   the JSON and answers 201, with the same load generator (vegeta, max rate, 64 workers).
3. p50/p99 latency of single-event POSTs at a fixed rate of 1000 req/s.

Loopback only; every loop is bounded in time.
"""

from __future__ import annotations

import asyncio
import secrets
import sys
import time
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).parent))
from _support import KAFKA, PYTHON, ROOT, attack, free_port, gateway_process, post_repeatedly, process, row

from incident_shared.kafka import ensure_topics, make_producer
from incident_shared.topics import Topics

BATCH = 250
DURATION_S = 10.0
SERVICES = [f"service-{i}" for i in range(12)]


def event(i: int) -> dict[str, Any]:
    """An event of about 300 bytes as JSON."""
    return {
        "service": SERVICES[i % len(SERVICES)],
        "severity": 1 + i % 5,
        "message": f"upstream request {i} to inventory-api:8080 failed after 1500ms: connection reset by peer",
        "errorType": "ConnectionResetError",
        "metadata": {"region": "eu-west-1", "pod": f"checkout-7d9f8-{i % 97:05d}", "attempt": i % 3},
        "tags": ["checkout", "upstream"],
    }


async def bare_producer(topic: str) -> float:
    """Events/s of a bare aiokafka producer: same records, same settings, same run time."""
    producer = make_producer(KAFKA, "bench-bare")
    await producer.start()
    sent = 0
    try:
        records = [orjson.dumps(event(i)) for i in range(BATCH)]
        start = time.perf_counter()
        while time.perf_counter() - start < DURATION_S:
            futures = [
                await producer.send(topic, value=r, key=SERVICES[i % len(SERVICES)].encode())
                for i, r in enumerate(records)
            ]
            await asyncio.gather(*futures)
            sent += len(records)
        return sent / (time.perf_counter() - start)
    finally:
        await producer.stop()


async def gateway_batches(base: str) -> float:
    body = orjson.dumps([event(i) for i in range(BATCH)])
    return await post_repeatedly(
        f"{base}/api/events/batch", body, "application/json", per_request=BATCH, seconds=DURATION_S
    )


async def main() -> None:
    topics = Topics(prefix=f"bench{secrets.token_hex(3)}.")
    await ensure_topics(KAFKA, topics)
    print(f"== ingest gateway (topics {topics.prefix}*, {DURATION_S:.0f}s per run, 2-core machine)")

    bare_eps = await bare_producer(topics.events)
    with gateway_process(topics.prefix) as base:
        gw_eps = await gateway_batches(base)
        single = attack(f"{base}/api/events", orjson.dumps(event(1)), 0, "10s")
        fixed = attack(f"{base}/api/events", orjson.dumps(event(1)), 1000, "15s")

    bare_port = free_port()
    with process(
        [PYTHON, str(ROOT / "benchmarks/bare_http_server.py")],
        {"PORT": str(bare_port)},
        f"http://127.0.0.1:{bare_port}/health/ready",
    ):
        bare_single = attack(f"http://127.0.0.1:{bare_port}/api/events", orjson.dumps(event(1)), 0, "10s")

    row("batch ingest via gateway (events/s)", f"{gw_eps:,.0f}")
    row("bare aiokafka producer, same payloads (events/s)", f"{bare_eps:,.0f}")
    row("ratio (goal >= 60%)", f"{gw_eps / bare_eps:.0%}")
    g_rps, b_rps = single["throughput"], bare_single["throughput"]
    row("single-event POST via gateway (req/s, 64 workers)", f"{g_rps:,.0f}  (success {single['success']:.1%})")
    row("bare aiohttp parse-and-201 endpoint (req/s)", f"{b_rps:,.0f}  (success {bare_single['success']:.1%})")
    row("ratio (goal >= 70%)", f"{g_rps / b_rps:.0%}")
    lat = fixed["latencies"]
    row("POST /api/events at 1000 req/s for 15s: p50 / p99", f"{lat['50th'] / 1e6:.1f} ms / {lat['99th'] / 1e6:.1f} ms")
    row("  achieved rate, success", f"{fixed['throughput']:,.0f} req/s, {fixed['success']:.1%}")


if __name__ == "__main__":
    asyncio.run(main())
