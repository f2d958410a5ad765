"""The dead-letter topic, for operators: list what was refused and why, and replay it after a fix.

`events.dlq` holds every record of `events` the aggregator could not accept, unchanged, with the
reason in the `dlq-reason` header and where it came from in `dlq-origin` (`topic/partition/offset`).

Replaying produces a dead-lettered record to `events` again, once the cause is fixed: a producer
bug worked around by editing the record (`--set severity=4`), or an aggregator that now accepts it.
A replay never creates a second event:

- a record without its own `eventId` gets the id the aggregator derives from its original position
  (`dlq-origin`), the same it would have had if accepted the first time, so replaying it twice (or
  replaying one that was accepted after all) is one event downstream;
- a record without `timestamp` gets the dead-letter record's time, which is when the aggregator first
  read it (within a batch of its receipt unless the aggregator was behind), instead of the replay's;
- the replayed record carries `dlq-replayed-from` (`topic/partition/offset` in the dead-letter topic).

A record that is not a JSON object is replayed unchanged: only an aggregator that now accepts it can
make anything of it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from incident_shared.ids import stable_id
from incident_shared.kafka import make_producer
from incident_shared.timeutil import from_epoch_ms, iso

REASON, ORIGIN, REPLAYED_FROM = "dlq-reason", "dlq-origin", "dlq-replayed-from"


@dataclass(frozen=True, slots=True)
class DeadLetter:
    partition: int
    offset: int
    timestamp: datetime
    key: bytes | None
    value: bytes | None
    reason: str
    origin: str  # topic/partition/offset of the refused record, or "" when unknown

    @property
    def position(self) -> str:
        return f"{self.partition}/{self.offset}"

    def summary(self) -> dict[str, Any]:
        """What `dlq list --json` prints: the record with its value as text (or base64-free repr)."""
        return {
            "partition": self.partition,
            "offset": self.offset,
            "timestamp": iso(self.timestamp),
            "origin": self.origin,
            "reason": self.reason,
            "key": self.key.decode(errors="replace") if self.key is not None else None,
            "value": self.value.decode(errors="replace") if self.value is not None else None,
        }


def _header(headers: Iterable[tuple[str, bytes]] | None, name: str) -> str:
    for key, value in headers or ():
        if key == name:
            return value.decode(errors="replace")
    return ""


async def read_dead_letters(
    bootstrap: str, topic: str, *, progress: Callable[[int, int], None] | None = None
) -> list[DeadLetter]:
    """Every record on the dead-letter topic, oldest first (read-only: no consumer group)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        # partitions_for_topic reads the client's cached metadata: load the topic into it first.
        consumer._client.add_topic(topic)
        await consumer._client.force_metadata_update()
        partitions = sorted(consumer.partitions_for_topic(topic) or [])
        if not partitions:
            raise LookupError(f"topic '{topic}' does not exist (check KAFKA_TOPIC_PREFIX)")
        tps = [TopicPartition(topic, p) for p in partitions]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        starts = await consumer.beginning_offsets(tps)
        total = sum(ends[tp] - starts[tp] for tp in tps)
        remaining = {tp for tp in tps if ends[tp] > starts[tp]}
        letters: list[DeadLetter] = []
        while remaining:
            batch = await consumer.getmany(*remaining, timeout_ms=2000)
            if not batch:
                break
            for tp, records in batch.items():
                for r in records:
                    if r.offset >= ends[tp]:
                        break
                    letters.append(
                        DeadLetter(
                            partition=r.partition,
                            offset=r.offset,
                            timestamp=from_epoch_ms(r.timestamp),
                            key=r.key,
                            value=r.value,
                            reason=_header(r.headers, REASON),
                            origin=_header(r.headers, ORIGIN),
                        )
                    )
                if await consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
            if progress is not None:
                progress(len(letters), total)
        return sorted(letters, key=lambda d: (d.timestamp, d.partition, d.offset))
    finally:
        await consumer.stop()


def select(
    letters: list[DeadLetter], *, offsets: set[int] | None = None, reason: str | None = None
) -> list[DeadLetter]:
    """The records with one of `offsets` (all if None) whose reason contains `reason` (any if None)."""
    return [
        d
        for d in letters
        if (offsets is None or d.offset in offsets) and (reason is None or reason.lower() in d.reason.lower())
    ]


def replay_value(letter: DeadLetter, edits: dict[str, Any]) -> bytes | None:
    """The value to produce again: edited, with the original event's id and time when it has none."""
    if letter.value is None:
        return None
    try:
        body = orjson.loads(letter.value)
    except orjson.JSONDecodeError:
        body = None
    if not isinstance(body, dict):
        if edits:
            raise ValueError(f"the record at offset {letter.offset} is not a JSON object: --set cannot edit it")
        return letter.value
    body.update(edits)
    if not body.get("eventId") and letter.origin.count("/") >= 2:
        topic, partition, offset = letter.origin.rsplit("/", 2)
        body["eventId"] = stable_id("evt_", topic, int(partition), int(offset))
    if not body.get("timestamp"):
        body["timestamp"] = iso(letter.timestamp)
    return orjson.dumps(body)


async def replay(
    bootstrap: str, dlq_topic: str, events_topic: str, letters: list[DeadLetter], edits: dict[str, Any]
) -> int:
    """Produces `letters` to `events_topic` (acks=all, idempotent); returns how many."""
    values = [(d, replay_value(d, edits)) for d in letters]  # every edit is checked before anything is sent
    producer = make_producer(bootstrap, "incidentctl-dlq")
    await producer.start()
    try:
        futures = [
            await producer.send(
                events_topic,
                value,
                key=d.key,
                headers=[(REPLAYED_FROM, f"{dlq_topic}/{d.partition}/{d.offset}".encode())],
            )
            for d, value in values
        ]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return len(values)


def parse_edits(pairs: list[str]) -> dict[str, Any]:
    """`--set field=value` pairs; the value is JSON when it parses as JSON, else a string."""
    edits: dict[str, Any] = {}
    for pair in pairs:
        field, sep, raw = pair.partition("=")
        if not sep or not field:
            raise ValueError(f"--set {pair!r}: expected FIELD=VALUE, e.g. --set severity=4")
        try:
            edits[field] = orjson.loads(raw)
        except orjson.JSONDecodeError:
            edits[field] = raw
    return edits
