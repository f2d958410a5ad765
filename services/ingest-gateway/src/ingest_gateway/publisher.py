"""Writes events to Kafka; a 2xx is only ever answered for events this reports as stored.

The producer is idempotent with `acks=all`, keyed by correlation key (the service, or the group the
topology puts it in), so everything that can join one incident stays in order on one partition.
When Kafka is unreachable at start the gateway still starts (health says so) and keeps trying to
connect in the background; sends fail fast until then.

A producer whose records expired unsent during an outage (longer than its request timeout) has a gap
in its sequence numbers: the broker refuses everything it sends afterwards (OutOfOrderSequenceNumber)
and aiokafka does not start a new sequence by itself. Such a producer is replaced by a new one (a new
producer id, sequences from zero); the events it was refused were answered 503, and their clients
retry them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence

from aiokafka import AIOKafkaProducer
from aiokafka.errors import OutOfOrderSequenceNumber

from incident_shared.kafka import stop_quietly
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
        self._retiring: set[asyncio.Task[None]] = set()

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

    def _replace(self, producer: AIOKafkaProducer, reason: BaseException) -> None:
        """Retires `producer` (if it is still the current one) and connects a new one in the background."""
        if self._producer is not producer:
            return  # another send saw it first
        log.warning(
            "Kafka refuses this producer's records after an outage; replacing the producer",
            extra={"error": repr(reason)[:300]},
        )
        self._producer = None
        retire = asyncio.create_task(self._retire(producer), name="kafka-producer-retire")
        self._retiring.add(retire)
        retire.add_done_callback(self._retiring.discard)
        if self._connector is None or self._connector.done():
            self._connector = asyncio.create_task(self._connect_loop(), name="kafka-connect")

    async def _retire(self, producer: AIOKafkaProducer) -> None:
        # Its pending records are refused too (answered 503 already); bounded, in case the broker hangs.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(max(self._timeout, 5.0)):
                await stop_quietly(producer, "gateway producer")

    async def stop(self) -> None:
        for retire in list(self._retiring):
            with contextlib.suppress(asyncio.CancelledError):
                await retire
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
                if isinstance(result, OutOfOrderSequenceNumber):
                    self._replace(producer, result)
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
        except OutOfOrderSequenceNumber as exc:
            self._replace(producer, exc)
            raise KafkaUnavailableError(f"Kafka refused the record: {exc}") from exc
        except TimeoutError as exc:
            self._metrics.produce_errors.labels("timeout").inc()
            raise KafkaUnavailableError(f"Kafka did not acknowledge within {self._timeout:g}s") from exc
