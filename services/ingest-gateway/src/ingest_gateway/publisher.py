"""Writes events to Kafka; a 2xx is only ever answered for events this reports as stored.

The producer is idempotent with `acks=all`, keyed by correlation key (the service, or the group the
topology puts it in), so everything that can join one incident stays in order on one partition.
When Kafka is unreachable at start the gateway still starts (health says so) and keeps trying to
connect in the background; sends fail fast until then.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence

from aiokafka import AIOKafkaProducer

from incident_shared.schemas import Event
from incident_shared.timeutil import epoch_ms
from ingest_gateway.metrics import GatewayMetrics

log = logging.getLogger(__name__)


class KafkaUnavailableError(Exception):
    """The events could not be confirmed stored in Kafka; the client should retry later."""


class EventPublisher:
    def __init__(
        self,
        producer_factory: Callable[[], AIOKafkaProducer],
        topic: str,
        metrics: GatewayMetrics,
        timeout: float,
        key_of: Callable[[str], str] = str,
    ) -> None:
        self._factory = producer_factory
        self._key_of = key_of
        self._topic = topic
        self._metrics = metrics
        self._timeout = timeout
        self._producer: AIOKafkaProducer | None = None
        self._connector: asyncio.Task[None] | None = None

    @property
    def connected(self) -> bool:
        return self._producer is not None

    async def start(self) -> None:
        """Connects now if Kafka answers, otherwise keeps trying in the background."""
        if not await self._try_connect():
            self._connector = asyncio.create_task(self._connect_loop(), name="kafka-connect")

    async def _try_connect(self) -> bool:
        producer = self._factory()
        try:
            await producer.start()
        except Exception as exc:  # noqa: BLE001 - any failure to connect means "try again later"
            log.warning("Kafka is not reachable yet; retrying in the background", extra={"error": str(exc)})
            with contextlib.suppress(Exception):
                await producer.stop()
            return False
        self._producer = producer
        log.info("connected to Kafka", extra={"topic": self._topic})
        return True

    async def _connect_loop(self) -> None:
        delay = 1.0
        while not await self._try_connect():
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)

    async def stop(self) -> None:
        if self._connector:
            self._connector.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._connector
        if self._producer:
            await self._producer.stop()  # flushes what is in flight
            self._producer = None

    async def publish(self, events: Sequence[Event]) -> list[BaseException | None]:
        """Sends `events`; returns, per event, None when stored or the error that stopped it.

        Raises KafkaUnavailableError when nothing could be confirmed (no connection, or the deadline
        passed): the caller answers 503 and the client retries, with its own eventIds to stay
        idempotent.
        """
        producer = self._producer
        if producer is None:
            self._metrics.produce_errors.labels("not_connected").inc()
            raise KafkaUnavailableError("not connected to Kafka")
        start = time.perf_counter()
        try:
            async with asyncio.timeout(self._timeout):
                futures = [
                    await producer.send(
                        self._topic,
                        value=event.to_record(),
                        key=self._key_of(event.service).encode(),
                        timestamp_ms=epoch_ms(event.receivedAt),
                    )
                    for event in events
                ]
                results = await asyncio.gather(*futures, return_exceptions=True)
        except TimeoutError as exc:
            self._metrics.produce_errors.labels("timeout").inc()
            raise KafkaUnavailableError(f"Kafka did not acknowledge within {self._timeout:g}s") from exc
        self._metrics.produce_seconds.observe(time.perf_counter() - start)
        outcome: list[BaseException | None] = []
        for result in results:
            if isinstance(result, BaseException):
                self._metrics.produce_errors.labels(type(result).__name__).inc()
                outcome.append(result)
            else:
                outcome.append(None)
        if all(o is not None for o in outcome):
            raise KafkaUnavailableError(f"Kafka refused every record: {outcome[0]}")
        return outcome

    async def send_one(self, topic: str, key: bytes, value: bytes) -> None:
        """Sends one record (an incident command) and waits for its acknowledgement."""
        producer = self._producer
        if producer is None:
            raise KafkaUnavailableError("not connected to Kafka")
        try:
            async with asyncio.timeout(self._timeout):
                await producer.send_and_wait(topic, value=value, key=key)
        except TimeoutError as exc:
            self._metrics.produce_errors.labels("timeout").inc()
            raise KafkaUnavailableError(f"Kafka did not acknowledge within {self._timeout:g}s") from exc
