"""The summarizer's loop under bad records and a Kafka that refuses summaries, without a broker.

The service is driven through its record and dispatch steps with a stand-in producer; the real
topic and broker are covered by tests/integration/summarizer and the fault suite.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from aiokafka import TopicPartition
from aiokafka.errors import KafkaConnectionError
from prometheus_client import CollectorRegistry

from incident_shared.codec import dumps
from incident_shared.outage import Outage
from summarizer.breaker import CircuitBreaker
from summarizer.budget import Budget
from summarizer.decision import DecisionConfig, SummaryPolicy
from summarizer.engine import SummaryEngine
from summarizer.metrics import SummarizerMetrics
from summarizer.service import SummarizerService

pytestmark = pytest.mark.unit

TP = TopicPartition("t.incidents", 3)


class FlakyProducer:
    """Refuses the first `failures` sends with `error`, then keeps what it is sent."""

    def __init__(self, failures: int, error: Exception) -> None:
        self.failures = failures
        self.error = error
        self.sent: list[tuple[str, bytes, bytes]] = []

    async def send_and_wait(self, topic: str, value: bytes, key: bytes) -> None:
        if self.failures > 0:
            self.failures -= 1
            raise self.error
        self.sent.append((topic, value, key))


def build(clock: Any) -> SummarizerService:
    metrics = SummarizerMetrics.create(CollectorRegistry())
    engine = SummaryEngine(
        provider=None,
        breaker=CircuitBreaker(failure_threshold=3, cooldown_seconds=60, clock=clock),
        budget=Budget(daily_usd=1.0, clock=clock),
        metrics=metrics,
        clock=clock,
    )
    service = SummarizerService(
        policy=SummaryPolicy(DecisionConfig(settle_seconds=20, settle_events=25), clock),
        engine=engine,
        consumer_factory=lambda: None,  # type: ignore[arg-type,return-value]
        producer_factory=lambda: None,  # type: ignore[arg-type,return-value]
        incidents_topic="t.incidents",
        summaries_topic="t.incident-summaries",
    )
    # Short waits between publish attempts, so that the test takes milliseconds.
    service.publishing = Outage(
        "kafka",
        what="publishing summaries",
        log=logging.getLogger("test"),
        errors=metrics.kafka_errors.labels("publish"),
        initial_seconds=0.01,
        max_seconds=0.02,
    )
    service.caught_up = True
    service.connected = True
    return service


def one_incident_due(clock: Any, producer: FlakyProducer, change: Any) -> SummarizerService:
    """A service that has read one incident change due for a summary, and has started writing it."""
    service = build(clock)
    service._producer = producer  # type: ignore[assignment]
    service._observe(TP, dumps(change), 0)
    assert service.dispatch() == 1
    return service


def counted(service: SummarizerService, action: str) -> float:
    return float(service.engine.metrics.records.labels(action)._value.get())


async def settle(service: SummarizerService) -> None:
    while service._tasks:  # noqa: ASYNC110 - the tasks the service started; bounded by the test's timeout
        await asyncio.sleep(0.01)


async def test_malformed_records_are_counted_and_skipped_and_the_next_one_is_summarized(
    clock: Any, incident_factory: Any, change_of: Any
) -> None:
    service = build(clock)
    producer = FlakyProducer(0, KafkaConnectionError())
    service._producer = producer  # type: ignore[assignment]
    # Valid JSON and schema, but a time without a zone, which no valid producer writes.
    naive = dumps(change_of(incident_factory(incidentId="inc_naive", eventCount=3), "created"))
    naive = naive.replace(b'"createdAt":"2026-01-31T12:00:00.000Z"', b'"createdAt":"2026-01-31T12:00:00"')
    assert b'"createdAt":"2026-01-31T12:00:00"' in naive
    bad = [
        b"not json",
        b"[1, 2]",
        b'{"action": "created"}',
        b'{"action": "created", "incident": {"incidentId": "inc_x", "version": 99999999999999999999999}}',
        b"\xff\xfe\x00",
        naive,
    ]
    for offset, value in enumerate(bad):
        service._observe(TP, value, offset)
    service._observe(TP, None, 6)  # a tombstone is not an error
    service._observe(TP, dumps(change_of(incident_factory(incidentId="inc_ok", eventCount=30), "created")), 7)

    assert service.dispatch() == 1
    await settle(service)

    assert counted(service, "invalid") == 5
    assert counted(service, "unprocessable") == 1
    assert counted(service, "tombstone") == 1
    assert [key for _, _, key in producer.sent] == [b"payments"]
    assert b'"incidentId":"inc_ok"' in producer.sent[0][1]
    status = service.records_status()
    assert "last skipped (unprocessable) at partition 3 offset 5" in status
    assert "offset-naive" in status


async def test_a_summary_kafka_refuses_is_kept_and_published_once_kafka_is_back(
    clock: Any, incident_factory: Any, change_of: Any
) -> None:
    producer = FlakyProducer(4, KafkaConnectionError("Connection to broker 1 lost"))
    service = one_incident_due(
        clock, producer, change_of(incident_factory(incidentId="inc_a", eventCount=30), "created")
    )

    while not service.publishing.failing:  # noqa: ASYNC110 - set by the task just started
        await asyncio.sleep(0.001)
    with pytest.raises(ConnectionError, match="publishing summaries has failed"):
        service.kafka_status()
    # Held: an incident due meanwhile waits, since its summary could not be published either.
    service._observe(TP, dumps(change_of(incident_factory(incidentId="inc_b", eventCount=30), "created")), 1)
    assert service.dispatch() == 0

    await settle(service)
    assert not service.publishing.failing
    assert service.kafka_status().startswith("reading and publishing")
    assert [key for _, _, key in producer.sent] == [b"payments"]
    # Written once (one rule-based summary), published once, after four refusals.
    assert service.engine.fallbacks["no-provider"] == 1
    assert service.engine.metrics.kafka_errors.labels("publish")._value.get() == 4
    # Once Kafka takes summaries again, the held incident goes out too.
    assert service.dispatch() == 1
    await settle(service)
    assert len(producer.sent) == 2


async def test_a_summary_kafka_will_never_take_is_dropped_not_retried(
    clock: Any, incident_factory: Any, change_of: Any
) -> None:
    producer = FlakyProducer(100, TypeError("cannot encode"))
    service = one_incident_due(
        clock, producer, change_of(incident_factory(incidentId="inc_a", eventCount=30), "created")
    )
    await settle(service)
    assert producer.failures == 99  # one attempt: not a Kafka outage, so no retry
    assert not service.publishing.failing
    assert counted(service, "unprocessable") == 1
    assert service.policy.get("inc_a") is None
