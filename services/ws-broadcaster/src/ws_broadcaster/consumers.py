"""Kafka readers: every replica reads every partition of `events` and `incidents` for itself.

There is no consumer group: a group would split the partitions among replicas, while each replica
must see every message to serve its own clients. Nothing is committed either; a replica starts
`events` at the end (a live view has no use for old events) and `incidents` at the beginning (the
compacted topic holds the latest version of every incident, from which the snapshot is rebuilt).

No single record stops a reader: a record that cannot be decoded, or whose fan-out fails, is counted
(`ws_broadcaster_records_invalid_total`), logged with its offset and skipped, and reading goes on
from the next one. Were a bad record allowed to end the reader, the reconnect would read the
compacted incidents topic from its beginning again and fail on the same record, forever, with the
snapshot never complete. Nothing is dead-lettered here: the aggregator dead-letters bad events (this
replica reads the same records), and the incidents topic is the aggregator's own output. Kafka
failing is waited out with backoff (`Outage`), shown by `/health/ready` and counted in
`ws_broadcaster_reader_errors_total`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Any, TypeAlias

import orjson
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from pydantic import ValidationError

from incident_shared.ids import stable_id
from incident_shared.kafka import stop_quietly
from incident_shared.outage import Outage
from incident_shared.schemas.events import EventValidationError, event_from_record
from incident_shared.schemas.incidents import IncidentChange
from incident_shared.timeutil import from_epoch_ms, utcnow
from ws_broadcaster.hub import Hub
from ws_broadcaster.metrics import BroadcasterMetrics
from ws_broadcaster.protocol import EncodedEvent, encode_event

log = logging.getLogger(__name__)
REFRESH_TIMEOUT_SECONDS = 10.0  # how long a look for new partitions may take before the feed goes on

Record: TypeAlias = ConsumerRecord[bytes, bytes]
Handler = Callable[[Sequence[Record]], None]


class TopicMissingError(RuntimeError):
    """The topic is not there (yet); topics are created from the registry, never automatically."""


class TopicReader:
    """Reads all partitions of one topic and hands each fetched batch to `handle`.

    `caught_up` is set once the reader has reached the partition ends it saw when it started
    (immediately for a reader that starts at the end).
    """

    def __init__(
        self,
        *,
        bootstrap_servers: str,
        topic: str,
        label: str,
        from_beginning: bool,
        handle: Handler,
        metrics: BroadcasterMetrics,
        client_id: str,
        max_records: int = 2000,
        max_lag: int | None = None,
        on_skip: Callable[[int], None] | None = None,
        refresh_seconds: float = 60.0,
    ) -> None:
        self.topic = topic
        self.label = label
        self.caught_up = asyncio.Event()
        self.partitions: list[TopicPartition] = []
        self._stopping = False
        self._bootstrap = bootstrap_servers
        self._from_beginning = from_beginning
        self._handle = handle
        self._metrics = metrics
        self._client_id = client_id
        self._max_records = max_records
        self._max_lag = max_lag
        self._on_skip = on_skip
        self._refresh_seconds = refresh_seconds
        self._next: dict[TopicPartition, int] = {}
        self._targets: dict[TopicPartition, int] = {}
        self.outage = Outage(
            "kafka", what=f"reading the {label} topic", log=log, errors=metrics.reader_errors.labels(label)
        )
        self._handler_errors = metrics.records_invalid.labels(label)

    def _consumer(self) -> AIOKafkaConsumer:
        return AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap,
            client_id=self._client_id,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest" if self._from_beginning else "latest",
            # A fetch returns as soon as one record is there; this only bounds an idle poll.
            fetch_max_wait_ms=200,
            max_partition_fetch_bytes=4 * 1024 * 1024,
        )

    async def _partition_ids(self) -> list[int]:
        # The consumer only learns a topic's partitions through a subscription; ask the admin API.
        admin = AIOKafkaAdminClient(bootstrap_servers=self._bootstrap, client_id=self._client_id)
        await admin.start()
        try:
            described = await admin.describe_topics([self.topic])
        finally:
            await admin.close()
        return sorted(p["partition"] for d in described if d.get("error_code") == 0 for p in d["partitions"])

    async def _assign(self, consumer: AIOKafkaConsumer) -> None:
        partitions = await self._partition_ids()
        if not partitions:
            raise TopicMissingError(
                f"topic {self.topic!r} does not exist; create it with `python -m incident_shared.admin create-topics`"
            )
        self.partitions = [TopicPartition(self.topic, p) for p in partitions]
        consumer.assign(self.partitions)
        if self._from_beginning:
            await consumer.seek_to_beginning(*self.partitions)
            self._targets = dict(await consumer.end_offsets(self.partitions))
        else:
            await consumer.seek_to_end(*self.partitions)
        for tp in self.partitions:
            self._next[tp] = await consumer.position(tp)
        self._check_caught_up()

    def _check_caught_up(self) -> None:
        if not self.caught_up.is_set() and all(self._next.get(tp, 0) >= end for tp, end in self._targets.items()):
            self.caught_up.set()

    def _update_lag(self, consumer: AIOKafkaConsumer) -> int:
        lag = 0
        for tp in self.partitions:
            highwater = consumer.highwater(tp)
            if highwater is not None:
                lag += max(0, highwater - self._next.get(tp, highwater))
        self._metrics.consumer_lag.labels(self.label).set(lag)
        return lag

    async def _skip_to_end(self, consumer: AIOKafkaConsumer, lag: int) -> None:
        """A live view is worth nothing minutes late: jump to the newest records, and say so."""
        await consumer.seek_to_end(*self.partitions)
        for tp in self.partitions:
            self._next[tp] = await consumer.position(tp)
        log.warning("fell behind the topic; skipped to its end", extra={"topic": self.topic, "skipped": lag})
        if self._on_skip is not None:
            self._on_skip(lag)

    async def _refresh_partitions(self, consumer: AIOKafkaConsumer) -> None:
        """Picks up partitions added since the start (read from their beginning), keeping positions."""
        known = set(self.partitions)
        added = [tp for p in await self._partition_ids() if (tp := TopicPartition(self.topic, p)) not in known]
        if not added:
            return
        positions = {tp: self._next[tp] for tp in self.partitions}
        consumer.assign([*self.partitions, *added])
        for tp, offset in positions.items():
            consumer.seek(tp, offset)
        try:
            # A partition just added may have no leader yet: its position would wait for one forever,
            # and with it the live feed. Bounded, it is looked at again at the next refresh.
            async with asyncio.timeout(REFRESH_TIMEOUT_SECONDS):
                await consumer.seek_to_beginning(*added)
                starts = {tp: await consumer.position(tp) for tp in added}
        except TimeoutError:
            consumer.assign(self.partitions)
            for tp, offset in positions.items():
                consumer.seek(tp, offset)
            raise TimeoutError(f"new partitions {[tp.partition for tp in added]} have no leader yet") from None
        self.partitions = [*self.partitions, *added]
        self._next.update(starts)
        log.info("reading new partitions", extra={"topic": self.topic, "partitions": [tp.partition for tp in added]})

    def stop(self) -> None:
        """Asks `run` to end after its current poll (half a second at most), its consumer closed.

        Cancelling alone is not enough: a cancellation that lands in a Kafka client's own clean-up
        can come out as an ordinary error, which the loop takes for a failed look and reads on."""
        self._stopping = True

    async def run(self) -> None:
        """Reads until stopped or cancelled; reconnects (from the same positions' rules) after a
        failure, waiting longer after each failure in a row (see `Outage`)."""
        while not self._stopping:
            consumer = self._consumer()
            try:
                await consumer.start()
                await self._assign(consumer)
                self.outage.recovered()
                log.info(
                    "reading topic",
                    extra={
                        "topic": self.topic,
                        "partitions": len(self.partitions),
                        "fromBeginning": self._from_beginning,
                    },
                )
                await self._loop(consumer)  # returns once stopped
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - a reader never gives up; the outage logs the reason
                delay = self.outage.failed(exc)
            else:
                delay = 0.0
            finally:
                await stop_quietly(consumer, f"{self.label} reader")
            if not self._stopping:
                await asyncio.sleep(delay)

    def _deliver(self, records: list[Record]) -> None:
        """Hands a batch to the handler. Handlers skip bad records themselves; should one still raise,
        the batch is counted as skipped and reading goes on (its positions are already past it)."""
        try:
            self._handle(records)
        except Exception:
            self._handler_errors.inc(len(records))
            first, last = records[0], records[-1]
            log.exception(
                "skipping a batch whose handling failed",
                extra={"topic": self.topic, "records": len(records), "from": first.offset, "to": last.offset},
            )

    async def _loop(self, consumer: AIOKafkaConsumer) -> None:
        consumed = self._metrics.records_consumed.labels(self.label)
        loop = asyncio.get_running_loop()
        next_refresh = loop.time() + self._refresh_seconds
        while not self._stopping:
            if loop.time() >= next_refresh:
                next_refresh = loop.time() + self._refresh_seconds
                try:
                    await self._refresh_partitions(consumer)
                except Exception as exc:  # noqa: BLE001 - the consumer itself still works; look again later
                    self._metrics.reader_errors.labels(self.label).inc()
                    log.warning(
                        "could not look for new partitions; trying again at the next refresh",
                        extra={"topic": self.topic, "error": repr(exc)[:300]},
                    )
            batches = await consumer.getmany(timeout_ms=500, max_records=self._max_records)
            records: list[Record] = []
            for tp, batch in batches.items():
                if batch:
                    records.extend(batch)
                    self._next[tp] = batch[-1].offset + 1
            if records:
                consumed.inc(len(records))
                self._deliver(records)
            self.outage.recovered()
            if not self.caught_up.is_set():
                # Compaction leaves gaps, so compare the fetch positions, not the last offsets seen.
                for tp in self.partitions:
                    self._next[tp] = max(self._next.get(tp, 0), await consumer.position(tp))
                self._check_caught_up()
            lag = self._update_lag(consumer)
            if self._max_lag is not None and lag > self._max_lag:
                await self._skip_to_end(consumer, lag)


class EventsHandler:
    """Decodes event records (tolerating unknown fields) and fans them out; bad records are skipped."""

    def __init__(self, hub: Hub, metrics: BroadcasterMetrics) -> None:
        self._hub = hub
        self._invalid = metrics.records_invalid.labels("events")

    def __call__(self, records: Sequence[Record]) -> None:
        now = utcnow()
        encoded: list[EncodedEvent] = []
        for record in records:
            if record.value is None:
                self._invalid.inc()
                continue
            try:
                event = event_from_record(
                    record.value,
                    record_timestamp=from_epoch_ms(record.timestamp),
                    # The same id the aggregator derives for a record without one: its position.
                    fallback_id=stable_id("evt_", record.topic, record.partition, record.offset),
                )
            except (EventValidationError, ValueError):
                # The aggregator dead-letters such records; here they are only counted.
                self._invalid.inc()
                continue
            except Exception:  # one record must never stop the live feed
                self._invalid.inc()
                log.exception(
                    "skipping an event record that broke the decoder",
                    extra={"partition": record.partition, "offset": record.offset},
                )
                continue
            try:
                encoded.append(encode_event(event, now))
            except Exception:  # a value that cannot be encoded for clients
                self._invalid.inc()
                log.exception(
                    "skipping an event that cannot be encoded",
                    extra={"partition": record.partition, "offset": record.offset},
                )
        self._hub.publish_events(encoded)


class IncidentsHandler:
    """Applies incident changes to the snapshot and broadcasts them; tombstones remove incidents."""

    def __init__(self, hub: Hub, metrics: BroadcasterMetrics) -> None:
        self._hub = hub
        self._invalid = metrics.records_invalid.labels("incidents")

    def __call__(self, records: Sequence[Record]) -> None:
        for record in records:
            if record.value is None:
                if record.key is not None:
                    self._hub.forget_incident(record.key.decode(errors="replace"))
                continue
            if not self._hub.incidents_loaded and (resolved := _resolved_id_version(record.value)):
                self._hub.note_resolved(*resolved)
                continue
            try:
                change = IncidentChange.model_validate_json(record.value)
            except ValidationError as exc:
                self._invalid.inc()
                log.warning(
                    "skipping an undecodable incident change",
                    extra={"partition": record.partition, "offset": record.offset, "error": str(exc)[:300]},
                )
                continue
            except Exception:  # the snapshot is rebuilt from this topic: never crash-loop on it
                self._invalid.inc()
                log.exception(
                    "skipping an incident change that broke the decoder",
                    extra={"partition": record.partition, "offset": record.offset},
                )
                continue
            try:
                self._hub.publish_incident(change)
            except Exception:  # e.g. a value the JSON encoder refuses: this incident, not the topic
                self._invalid.inc()
                log.exception(
                    "skipping an incident change that cannot be applied or sent",
                    extra={
                        "partition": record.partition,
                        "offset": record.offset,
                        "incidentId": change.incident.incidentId,
                    },
                )


def _resolved_id_version(value: bytes) -> tuple[str, int] | None:
    """(incidentId, version) when the change is a resolution; None otherwise or when unsure."""
    try:
        raw = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    incident = raw.get("incident") if isinstance(raw, dict) else None
    if not isinstance(incident, dict) or incident.get("status") != "resolved":
        return None
    incident_id, version = incident.get("incidentId"), incident.get("version")
    if isinstance(incident_id, str) and isinstance(version, int) and not isinstance(version, bool):
        return incident_id, version
    return None


def describe(reader: TopicReader) -> dict[str, Any]:
    return {
        "topic": reader.topic,
        "partitions": len(reader.partitions),
        "caughtUp": reader.caught_up.is_set(),
        "failing": reader.outage.describe() if reader.outage.failing else None,
    }
