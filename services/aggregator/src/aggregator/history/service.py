"""The history writer as a service: its MongoDB client, its Kafka clients, its consumer, its health.

It runs inside each aggregator worker (the default), or as a process of its own beside the workers
(`python -m aggregator.history`, with AGGREGATOR_HISTORY_IN_WORKER=false for the workers), which
keeps its CPU off the engine's and lets it scale apart. Either way it is the same consumer group,
`<app id>-history`, so the two can be switched without writing anything twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable
from typing import Any

from aiokafka import AIOKafkaProducer
from pymongo import AsyncMongoClient

from aggregator.deadletters import DeadLetters
from aggregator.history.consumer import HistoryConsumer, HistoryTopics
from aggregator.history.writer import HistoryWriter
from aggregator.metrics import Metrics
from aggregator.settings import AggregatorSettings
from incident_shared import kafka, mongo

log = logging.getLogger(__name__)
_STOP_SECONDS = 10.0


def history_topics(settings: AggregatorSettings) -> HistoryTopics:
    """What the history writer reads: the event records (as sent, and as re-keyed by the engine),
    the engine's assignments, the incident changes."""
    return HistoryTopics(
        bodies=(settings.topics.events, f"{settings.app_id}-events-by-key"),
        assignments=f"{settings.app_id}-event-assignments",
        incidents=settings.topics.incidents,
    )


class ProducerSink:
    """An aiokafka producer and a topic, as the steps' `Sink`."""

    def __init__(self, producer: AIOKafkaProducer, topic: str) -> None:
        self._producer = producer
        self._topic = topic

    async def send(
        self, *, key: bytes | None, value: bytes | None, partition: int | None = None, headers: Any = None
    ) -> Awaitable[Any]:
        fut: Awaitable[Any] = await self._producer.send(
            self._topic, value=value, key=key, partition=partition, headers=headers
        )
        return fut


class History:
    def __init__(self, settings: AggregatorSettings, metrics: Metrics) -> None:
        self.settings = settings
        self.metrics = metrics
        self.consumer: HistoryConsumer | None = None
        self._task: asyncio.Future[None] | None = None

    async def run(self) -> None:
        """Connects (waiting, holding, while MongoDB is down or failing) and consumes until stopped."""
        s = self.settings
        client: AsyncMongoClient[dict[str, Any]] = mongo.make_client(
            s.mongodb_uri.get_secret_value(), app_name="aggregator-history"
        )
        producer = AIOKafkaProducer(**kafka.producer_config(s.kafka_bootstrap_servers, "aggregator-history"))
        try:
            await producer.start()
            dead_letters = DeadLetters(ProducerSink(producer, s.topics.events_dlq), self.metrics.dead_letters)
            writer = HistoryWriter(
                client[s.mongodb_database], dead_letters=dead_letters, metrics=self.metrics, max_attempts=s.max_attempts
            )
            self.consumer = HistoryConsumer(
                bootstrap_servers=s.kafka_bootstrap_servers,
                group_id=f"{s.app_id}-history",
                topics=history_topics(s),
                writer=writer,
                dead_letters=dead_letters,
                metrics=self.metrics,
                max_records=s.batch_size,
            )
            await writer.prepare()
            await self.consumer.run()
        finally:
            await producer.stop()
            await client.close()

    def started(self, task: asyncio.Future[None]) -> None:
        self._task = task

    async def stop(self) -> None:
        """Lets the writer finish its write and commit, within a bound: a write held on a MongoDB
        that is down is cut short, and its records are written again after the restart."""
        task = self._task
        if task is None:
            return
        if self.consumer is not None:
            await self.consumer.stop()
        with contextlib.suppress(TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(asyncio.shield(task), timeout=_STOP_SECONDS)
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    def ready(self) -> bool:
        """Connected and consuming, not holding on a failure."""
        return self.consumer is not None and self.consumer.started and not self.consumer.status()["holding"]

    def status(self) -> dict[str, Any]:
        out: dict[str, Any] = {"consuming": False}
        if self.consumer is not None:
            out.update(self.consumer.status())
        return out
