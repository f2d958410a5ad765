"""Summarizer: the cost of its pure parts, its overhead around a provider, and its Kafka round trip.

1. Pure logic, per call: the digest of a huge incident (300 templates, 600 timeline points, 50
   samples of 8 KB), the prompt, the rule-based summary; the decision policy over 10,000 incidents.
2. Summaries/s and latency through the real anthropic and openai SDKs against the local protocol
   stand-in (in process, answering at once): what the summarizer itself costs per call, with the
   concurrency limit at 8.
3. Kafka round trip, rule-based: incident changes produced to `incidents`, summaries read back from
   `incident-summaries` (a fresh topic prefix), throughput and p50/p99 latency per incident.

Loopback only; every loop is bounded in count and in time.
"""

from __future__ import annotations

import asyncio
import secrets
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp import web
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

sys.path.insert(0, str(Path(__file__).parent))
from _support import KAFKA, row

from incident_shared.codec import dumps, loads
from incident_shared.kafka import ensure_topics
from incident_shared.schemas import Incident, IncidentChange
from incident_shared.timeutil import utcnow
from incident_shared.topics import Topics
from summarizer.app import build_service
from summarizer.breaker import CircuitBreaker
from summarizer.budget import Budget
from summarizer.decision import DecisionConfig, SummaryPolicy
from summarizer.digest import build_digest
from summarizer.engine import SummaryEngine
from summarizer.fakeprovider import FakeProvider
from summarizer.metrics import SummarizerMetrics
from summarizer.prompt import build_prompt
from summarizer.providers import Provider
from summarizer.providers.claude import ClaudeProvider
from summarizer.providers.openai_compat import OpenAIProvider
from summarizer.rules import summarize_by_rules
from summarizer.settings import SummarizerSettings

T0 = datetime(2026, 1, 31, 12, 0, tzinfo=UTC)


def incident(i: int = 0, *, huge: bool = False, now: datetime = T0) -> Incident:
    n_templates, n_minutes, n_samples = (300, 600, 50) if huge else (3, 5, 2)
    return Incident.model_validate(
        {
            "incidentId": f"inc_bench{i:06d}",
            "version": 1,
            "routingKey": f"svc-{i % 50}",
            "title": "payment-service: Timeout after <NUM>ms calling db-primary:<NUM>",
            "severityScore": 4,
            "affectedServices": [f"svc-{k}" for k in range(40 if huge else 2)],
            "probableOrigin": "svc-0",
            "eventCount": 50_000 if huge else 40,
            "firstSeen": now - timedelta(minutes=10),
            "lastSeen": now,
            "templates": [
                {
                    "fingerprint": f"fp{k}",
                    "template": f"Timeout after <NUM>ms calling db-{k}:<NUM> " + "x" * 300,
                    "service": f"svc-{k % 40}",
                    "errorType": "TimeoutError",
                    "count": 1000 - k,
                    "firstSeen": now - timedelta(minutes=10),
                    "lastSeen": now,
                }
                for k in range(n_templates)
            ],
            "timeline": [
                {"minute": now - timedelta(minutes=m), "service": f"svc-{m % 7}", "count": m + 1, "maxSeverity": 4}
                for m in range(n_minutes)
            ],
            "sampleEvents": [{"service": "svc-1", "severity": 5, "message": "y" * 8000} for _ in range(n_samples)],
            "createdAt": now - timedelta(minutes=10),
            "updatedAt": now,
        }
    )


def per_call(fn: Any, n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - start) / n * 1e6


def bench_pure() -> None:
    print("1. pure logic")
    huge = incident(huge=True)
    digest = build_digest(huge)
    row("digest of a huge incident (estimated tokens)", f"{digest.estimated_tokens}")
    row("digest of a huge incident", f"{per_call(lambda: build_digest(huge), 200):,.0f} µs/call")
    row("prompt from the digest", f"{per_call(lambda: build_prompt(digest), 2000):,.1f} µs/call")
    row(
        "rule-based summary",
        f"{per_call(lambda: summarize_by_rules(huge, digest, generated_at=T0), 2000):,.1f} µs/call",
    )

    now = [T0]
    policy = SummaryPolicy(DecisionConfig(), lambda: now[0])
    changes = [IncidentChange(action="created", incident=incident(i), emittedAt=T0) for i in range(10_000)]
    start = time.perf_counter()
    for c in changes:
        policy.observe(c)
    observe_us = (time.perf_counter() - start) / len(changes) * 1e6
    start = time.perf_counter()
    due = policy.due()
    due_ms = (time.perf_counter() - start) * 1000
    row("policy: observe one change", f"{observe_us:,.1f} µs")
    row(f"policy: due() over 10,000 incidents ({len(due)} due)", f"{due_ms:,.1f} ms")


async def bench_sdk(kind: str, base_url: str, n: int = 300) -> None:
    provider: Provider
    if kind == "anthropic":
        provider = ClaudeProvider(api_key=SecretStr("bench"), model="claude-haiku-4-5", base_url=base_url, timeout=10)
    else:
        provider = OpenAIProvider(
            api_key=SecretStr("bench"), model="gpt-4o-mini", base_url=base_url + "/v1", timeout=10
        )
    engine = SummaryEngine(
        provider=provider,
        breaker=CircuitBreaker(failure_threshold=5, cooldown_seconds=60, clock=utcnow),
        budget=Budget(daily_usd=1e9, clock=utcnow),
        metrics=SummarizerMetrics.create(CollectorRegistry()),
        clock=utcnow,
        concurrency=8,
    )
    incidents = [incident(i) for i in range(n)]

    async def one(inc: Incident) -> None:
        outcome = await engine.summarize(inc)
        assert outcome.summary.kind == "ai"  # noqa: S101 - a benchmark that silently fell back would lie

    await one(incidents[0])  # warm-up: connection pool, imports (one sample among n + 1)
    start = time.perf_counter()
    await asyncio.gather(*(one(i) for i in incidents))
    elapsed = time.perf_counter() - start
    await provider.close()
    # The engine's own latency figures: from the slot being granted to the answer, queueing excluded.
    call = engine.stats()["latencyMs"]
    row(
        f"{kind} SDK via the stand-in: {n} summaries, concurrency 8",
        f"{n / elapsed:,.0f}/s  per call p50 {call['p50']:.1f} ms  p95 {call['p95']:.1f} ms",
    )


async def bench_provider_overhead() -> None:
    print("2. provider overhead (SDK + HTTP + validation, stand-in answers at once)")
    fake = FakeProvider()
    runner = web.AppRunner(fake.app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        for kind in ("anthropic", "openai"):
            await bench_sdk(kind, f"http://127.0.0.1:{port}")
    finally:
        await runner.cleanup()


async def bench_kafka(n: int = 500) -> None:
    print("3. Kafka round trip (rule-based): incident change in -> summary out")
    topics = Topics(prefix=f"bench{secrets.token_hex(3)}.")
    await ensure_topics(KAFKA, topics)
    settings = SummarizerSettings(
        kafka_bootstrap_servers=KAFKA,
        kafka_topic_prefix=topics.prefix,
        ai_provider="rule-based",
        summary_settle_events=1,
    )
    service = build_service(settings, SummarizerMetrics.create(CollectorRegistry()), tick_seconds=0.2)
    producer = AIOKafkaProducer(bootstrap_servers=KAFKA, linger_ms=2)
    consumer = AIOKafkaConsumer(
        topics.incident_summaries,
        bootstrap_servers=KAFKA,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await asyncio.gather(producer.start(), consumer.start(), service.start())
    try:
        async with asyncio.timeout(60):
            while True:
                if service.connected and service.caught_up:
                    break
                await asyncio.sleep(0.1)
        sent: dict[str, float] = {}
        now = utcnow()
        start = time.perf_counter()
        for i in range(n):
            inc = incident(i, now=now)
            sent[inc.incidentId] = time.perf_counter()
            change = IncidentChange(action="created", incident=inc, emittedAt=now)
            await producer.send(topics.incidents, dumps(change), key=inc.incidentId.encode())
        await producer.flush()
        latencies: list[float] = []
        async with asyncio.timeout(120):
            while len(latencies) < n:
                batches = await consumer.getmany(timeout_ms=500)
                got = time.perf_counter()
                for records in batches.values():
                    for r in records:
                        latencies.append(got - sent[loads(r.value)["incidentId"]])
        elapsed = time.perf_counter() - start
        lat = sorted(latencies)
        row(f"{n} incidents: summaries/s", f"{n / elapsed:,.0f}")
        row(
            "latency produce -> summary read back",
            f"p50 {statistics.median(lat) * 1000:.0f} ms  p99 {lat[int(0.99 * n) - 1] * 1000:.0f} ms",
        )
    finally:
        await service.stop()
        await asyncio.gather(producer.stop(), consumer.stop())


async def main() -> None:
    bench_pure()
    await bench_provider_overhead()
    await bench_kafka()


if __name__ == "__main__":
    asyncio.run(main())
