"""Every retained incident, as lists show it, rebuilt from the compacted `incidents` topic.

The incident lists, the open incidents and their statistics are answered from here, in memory, not
from MongoDB: a list must filter and sort thousands of incidents, which the local MongoDB-protocol
server can do only by decoding every one of them (seconds at 20,000 incidents), and incident reads
then never wait for the history store. The topic is the source of truth anyway: the aggregator
publishes the whole incident at each change, and compaction keeps the latest version of each.

An entry holds what lists filter and sort on, and the incident's *list form*, serialized once: the
whole incident but its per-incident detail (timeline, templates, sample events, notes), which
`GET /api/incidents/:id` reads from MongoDB. About 2.5 KB per incident.

`IncidentView` is the pure state (unit-tested with plain records); `IncidentViewReader` feeds it
from Kafka: every partition, from the beginning, no consumer group (each gateway replica keeps its
own view), and is `ready` once it has read what the topic held when it started. A failure (Kafka
away) closes the consumer and connects again with backoff (`Outage`), from the positions reached.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from statistics import mean
from typing import Any, Final

import orjson
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from incident_shared.kafka import stop_quietly
from incident_shared.outage import Outage
from incident_shared.timeutil import epoch_ms, parse_iso, utcnow

log = logging.getLogger(__name__)

# The per-incident detail that lists leave out (GET /api/incidents/:id has it).
DETAIL_FIELDS: Final = frozenset({"timeline", "templates", "sampleEvents", "notes"})
OPEN_STATUSES: Final = frozenset({"active", "acknowledged"})
STATUSES: Final = ("acknowledged", "active", "resolved")


class BadIncidentRecordError(ValueError):
    """A record on the incidents topic that is not an incident change."""


@dataclass(frozen=True, slots=True)
class Entry:
    incident_id: str
    version: int
    status: str
    severity: int
    services: frozenset[str]
    first_seen: datetime
    last_seen: datetime
    last_seen_ms: int
    merged_into: str | None
    merged_ids: tuple[str, ...]
    event_count: int
    title: str  # case-folded, for the text search
    acknowledged_at: datetime | None
    resolved_at: datetime | None
    routing_key: str
    last_command_id: str | None
    data: bytes  # the list form, as JSON


def _time(value: Any, name: str) -> datetime:
    if not isinstance(value, str):
        raise BadIncidentRecordError(f"{name} is not an ISO-8601 string")
    try:
        return parse_iso(value)
    except ValueError:
        raise BadIncidentRecordError(f"{name} is not an ISO-8601 time: {value[:40]!r}") from None


def _optional_time(value: Any, name: str) -> datetime | None:
    return None if value is None else _time(value, name)


def entry_from_incident(incident: dict[str, Any]) -> Entry:
    """Builds an entry from an incident as the topic carries it; raises BadIncidentRecordError."""
    try:
        incident_id = incident["incidentId"]
        version = incident["version"]
        status = incident["status"]
        severity = incident["severityScore"]
        services = incident.get("affectedServices") or []
    except (KeyError, TypeError) as exc:
        raise BadIncidentRecordError(f"missing field {exc}") from None
    if not isinstance(incident_id, str) or not isinstance(version, int) or not isinstance(severity, int):
        raise BadIncidentRecordError("incidentId, version or severityScore has the wrong type")
    if status not in STATUSES or not isinstance(services, list):
        raise BadIncidentRecordError(f"status {status!r} or affectedServices is not valid")
    last_seen = _time(incident.get("lastSeen"), "lastSeen")
    merged = incident.get("mergedIncidentIds") or []
    return Entry(
        incident_id=incident_id,
        version=version,
        status=status,
        severity=severity,
        services=frozenset(str(s) for s in services),
        first_seen=_time(incident.get("firstSeen"), "firstSeen"),
        last_seen=last_seen,
        last_seen_ms=epoch_ms(last_seen),
        merged_into=incident.get("mergedInto"),
        merged_ids=tuple(str(i) for i in merged) if isinstance(merged, list) else (),
        event_count=int(incident.get("eventCount") or 0),
        title=str(incident.get("title") or "").casefold(),
        acknowledged_at=_optional_time(incident.get("acknowledgedAt"), "acknowledgedAt"),
        resolved_at=_optional_time(incident.get("resolvedAt"), "resolvedAt"),
        routing_key=str(incident.get("routingKey") or incident_id),
        last_command_id=incident.get("lastCommandId"),
        # A copy of exactly its size: orjson's own result keeps a buffer of about 16 KB, which for
        # tens of thousands of entries held for days is most of the gateway's memory.
        data=memoryview(orjson.dumps({k: v for k, v in incident.items() if k not in DETAIL_FIELDS})).tobytes(),
    )


@dataclass(frozen=True, slots=True)
class IncidentFilter:
    """What `GET /api/incidents` can ask for; empty fields match everything."""

    statuses: frozenset[str] = frozenset()
    services: frozenset[str] = frozenset()
    severities: frozenset[int] = frozenset()
    min_severity: int = 0
    text: str = ""  # case-folded
    since: datetime | None = None  # seen at or after (lastSeen)
    until: datetime | None = None  # started before (firstSeen)
    include_merged: bool = False

    def matches(self, e: Entry) -> bool:
        return (
            (self.include_merged or e.merged_into is None)
            and (not self.statuses or e.status in self.statuses)
            and (not self.services or not self.services.isdisjoint(e.services))
            and (not self.severities or e.severity in self.severities)
            and e.severity >= self.min_severity
            and (self.since is None or e.last_seen >= self.since)
            and (self.until is None or e.first_seen < self.until)
            and (not self.text or self.text in e.title)
        )


def _recency(e: Entry) -> tuple[int, str]:
    return (e.last_seen_ms, e.incident_id)


class IncidentView:
    """The latest version of every incident last seen within `max_age`; older versions are ignored."""

    def __init__(self, max_age: timedelta, clock: Callable[[], datetime] = utcnow) -> None:
        self.max_age = max_age
        self.clock = clock
        self._entries: dict[str, Entry] = {}
        # Oldest first by (lastSeen, incidentId); a plain sorted list: inserting into 20,000 entries
        # moves a few pointers, far less than answering one page.
        self._by_recency: list[Entry] = []
        self._open: dict[str, Entry] = {}
        # Versions of incidents dropped for their age, so that a late older version cannot return one.
        self._expired: dict[str, int] = {}
        self._waiters: dict[str, list[tuple[str, asyncio.Future[bytes]]]] = {}
        # Statistics go over every incident: computed at most once a second, or once per change.
        self._changes = 0
        self._stats: dict[int, tuple[int, float, dict[str, Any]]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, incident_id: str) -> Entry | None:
        return self._entries.get(incident_id)

    def apply(self, incident: dict[str, Any]) -> bool:
        """Applies one incident (as the topic carries it); returns whether it changed the view."""
        entry = entry_from_incident(incident)
        known = self._entries.get(entry.incident_id)
        if entry.version <= (known.version if known else self._expired.get(entry.incident_id, 0)):
            return False
        if known is not None:
            self._remove(known)
        self._changes += 1
        self._resolve_waiters(entry, incident)
        if entry.last_seen < self.clock() - self.max_age:
            self._expired[entry.incident_id] = entry.version
            return known is not None
        self._entries[entry.incident_id] = entry
        bisect.insort(self._by_recency, entry, key=_recency)
        if entry.status in OPEN_STATUSES:
            self._open[entry.incident_id] = entry
        return True

    def forget(self, incident_id: str) -> None:
        """A tombstone: the incident is gone from the topic."""
        known = self._entries.get(incident_id)
        if known is not None:
            self._remove(known)
            self._changes += 1

    def _remove(self, entry: Entry) -> None:
        del self._entries[entry.incident_id]
        i = bisect.bisect_left(self._by_recency, _recency(entry), key=_recency)
        del self._by_recency[i]  # keys are unique: (lastSeen, incidentId)
        self._open.pop(entry.incident_id, None)

    def expire(self) -> int:
        """Drops the incidents last seen longer than `max_age` ago (what MongoDB's retention drops)."""
        cutoff = epoch_ms(self.clock() - self.max_age)
        stop = bisect.bisect_left(self._by_recency, (cutoff, ""), key=_recency)
        for entry in self._by_recency[:stop]:
            del self._entries[entry.incident_id]
            self._open.pop(entry.incident_id, None)
            self._expired[entry.incident_id] = entry.version
        del self._by_recency[:stop]
        self._changes += stop
        return stop

    def page(
        self, flt: IncidentFilter, limit: int, before: tuple[int, str] | None = None
    ) -> tuple[list[Entry], Entry | None]:
        """Up to `limit` matching incidents, most recently seen first, strictly before the cursor
        `(lastSeen ms, incidentId)`; and the last one returned when there are more."""
        found: list[Entry] = []
        for entry in self._newest_first(before):
            if flt.matches(entry):
                if len(found) == limit:
                    return found, found[-1]
                found.append(entry)
        return found, None

    def _newest_first(self, before: tuple[int, str] | None) -> Iterator[Entry]:
        stop = len(self._by_recency) if before is None else bisect.bisect_left(self._by_recency, before, key=_recency)
        return (self._by_recency[i] for i in range(stop - 1, -1, -1))

    def open_incidents(self, include_merged: bool) -> list[Entry]:
        """Open incidents, most severe first, then most recently seen."""
        entries = [e for e in self._open.values() if include_merged or e.merged_into is None]
        entries.sort(key=lambda e: (e.severity, e.last_seen_ms), reverse=True)
        return entries

    def merged_into(self, root_id: str) -> list[str]:
        """The incidents merged into `root_id` (as the root lists them)."""
        root = self._entries.get(root_id)
        return list(root.merged_ids) if root else []

    def stats(self, days: int) -> dict[str, Any]:
        """Counts by status and open ones by severity, MTTA and MTTR over `days`; merged incidents left
        out (the root stands for its cascade, acknowledged and resolved with it)."""
        cached = self._stats.get(days)
        now = time.monotonic()
        if cached is not None and (cached[0] == self._changes or now - cached[1] < 1.0):
            return cached[2]
        result = self._compute_stats(days)
        self._stats[days] = (self._changes, now, result)
        return result

    def _compute_stats(self, days: int) -> dict[str, Any]:
        since = self.clock() - timedelta(days=days)
        by_status = dict.fromkeys(STATUSES, 0)
        by_severity = {str(s): 0 for s in range(1, 6)}
        mtta: list[float] = []
        mttr: list[float] = []
        for e in self._entries.values():
            if e.merged_into is not None:
                continue
            by_status[e.status] += 1
            if e.status in OPEN_STATUSES:
                by_severity[str(e.severity)] = by_severity.get(str(e.severity), 0) + 1
            if e.acknowledged_at is not None and e.acknowledged_at >= since:
                mtta.append((e.acknowledged_at - e.first_seen).total_seconds())
            if e.resolved_at is not None and e.resolved_at >= since:
                mttr.append((e.resolved_at - e.first_seen).total_seconds())
        return {
            "total": sum(by_status.values()),
            "open": by_status["active"] + by_status["acknowledged"],
            "byStatus": by_status,
            "bySeverity": by_severity,
            "windowDays": days,
            "mttaSeconds": round(mean(mtta), 1) if mtta else None,
            "mttrSeconds": round(mean(mttr), 1) if mttr else None,
            "acknowledgedInWindow": len(mtta),
            "resolvedInWindow": len(mttr),
        }

    def expect_command(self, incident_id: str, command_id: str) -> asyncio.Future[bytes]:
        """A future resolved with the whole incident (JSON) once a version applying `command_id`
        arrives. Register before sending the command, so that a fast answer is not missed."""
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(incident_id, []).append((command_id, future))
        return future

    def cancel_command(self, incident_id: str, future: asyncio.Future[bytes]) -> None:
        waiting = self._waiters.get(incident_id, [])
        waiting[:] = [(c, f) for c, f in waiting if f is not future]
        if not waiting:
            self._waiters.pop(incident_id, None)

    def _resolve_waiters(self, entry: Entry, incident: dict[str, Any]) -> None:
        waiting = self._waiters.get(entry.incident_id)
        if not waiting or entry.last_command_id is None:
            return
        keep = []
        for command_id, future in waiting:
            if command_id == entry.last_command_id:
                if not future.done():
                    future.set_result(orjson.dumps(incident))
            else:
                keep.append((command_id, future))
        if keep:
            self._waiters[entry.incident_id] = keep
        else:
            del self._waiters[entry.incident_id]


def incident_of(value: bytes) -> dict[str, Any]:
    """The incident inside an `incidents` record (an IncidentChange); raises BadIncidentRecordError."""
    try:
        change = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise BadIncidentRecordError(f"not JSON: {exc}") from None
    incident = change.get("incident") if isinstance(change, dict) else None
    if not isinstance(incident, dict):
        raise BadIncidentRecordError("no incident object in the record")
    return incident


class IncidentViewReader:
    """Keeps an `IncidentView` up to date from the `incidents` topic."""

    def __init__(
        self,
        view: IncidentView,
        *,
        bootstrap_servers: str,
        topic: str,
        on_bad_record: Callable[[str], None] = lambda reason: None,
        partition_refresh_seconds: float = 60.0,
    ) -> None:
        self.view = view
        self.topic = topic
        self.ready = asyncio.Event()
        self.records = 0
        self._bootstrap = bootstrap_servers
        self._on_bad_record = on_bad_record
        self._refresh_seconds = partition_refresh_seconds
        self._task: asyncio.Task[None] | None = None
        self._targets: dict[TopicPartition, int] = {}
        self._positions: dict[TopicPartition, int] = {}  # next offset to read, where a record was read
        self._stopping = False
        self.outage = Outage("kafka", what=f"reading the {topic} topic for incident lists", log=log)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="incident-view")

    async def stop(self) -> None:
        """Ends the reader and closes its consumer (quietly: aiokafka's own clean-up may raise the
        cancellation of its fetch tasks out of `stop()`)."""
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        """Connects and reads until stopped; after a failure (Kafka away, topic missing) closes the
        consumer and connects again, waiting longer after each failure in a row."""
        while not self._stopping:
            consumer = self._consumer()
            try:
                await consumer.start()
                await self._assign(consumer)
                self.outage.recovered()
                await self._read(consumer)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - a reader never gives up; the outage logs the reason
                delay = self.outage.failed(exc)
            else:
                delay = 0.0
            finally:
                await stop_quietly(consumer, "incident view reader")
            if not self._stopping:
                await asyncio.sleep(delay)

    def _consumer(self) -> AIOKafkaConsumer:
        return AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap,
            client_id="ingest-gateway-incident-view",
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=200,
            max_partition_fetch_bytes=4 * 1024 * 1024,
        )

    async def _assign(self, consumer: AIOKafkaConsumer) -> None:
        """Reads every partition of the topic, partitions added later included (from their start);
        after a reconnect, from where the previous consumer was."""
        ids = await self._partition_ids()
        if not ids:
            raise RuntimeError(
                f"topic {self.topic!r} does not exist; create it: python -m incident_shared.admin create-topics"
            )
        known = set(consumer.assignment())
        added = [tp for p in ids if (tp := TopicPartition(self.topic, p)) not in known]
        if not added:
            return
        positions = {tp: await consumer.position(tp) for tp in known}
        consumer.assign([*known, *added])
        for tp, offset in positions.items():
            consumer.seek(tp, offset)
        for tp in added:
            if tp in self._positions:
                consumer.seek(tp, self._positions[tp])
        fresh = [tp for tp in added if tp not in self._positions]
        if fresh:
            await consumer.seek_to_beginning(*fresh)
            ends = await consumer.end_offsets(fresh)
            self._targets.update({tp: end for tp, end in ends.items() if end > 0})

    async def _partition_ids(self) -> list[int]:
        # A consumer learns a topic's partitions only through a subscription; ask the admin API.
        admin = AIOKafkaAdminClient(bootstrap_servers=self._bootstrap, client_id="ingest-gateway-incident-view")
        try:
            await admin.start()
            described = await admin.describe_topics([self.topic])
        finally:
            await admin.close()
        return sorted(p["partition"] for d in described if d.get("error_code") == 0 for p in d["partitions"])

    async def _read(self, consumer: AIOKafkaConsumer) -> None:
        await self._check_caught_up(consumer)
        refreshed = expired = time.monotonic()
        while not self._stopping:
            batches = await consumer.getmany(timeout_ms=1000, max_records=2000)
            for records in batches.values():
                self._apply(records)
            await self._check_caught_up(consumer)
            now = time.monotonic()
            if now - expired >= 60:
                self.view.expire()
                expired = now
            if now - refreshed >= self._refresh_seconds:
                with contextlib.suppress(Exception):  # a failed look is retried at the next refresh
                    await self._assign(consumer)
                refreshed = now

    def _apply(self, records: list[ConsumerRecord[bytes, bytes]]) -> None:
        if records:
            last = records[-1]
            self._positions[TopicPartition(last.topic, last.partition)] = last.offset + 1
        for record in records:
            self.records += 1
            if record.value is None:
                if record.key:
                    self.view.forget(record.key.decode(errors="replace"))
                continue
            try:
                self.view.apply(incident_of(record.value))
            except BadIncidentRecordError as exc:
                log.warning(
                    "skipped an incidents record that is not an incident change",
                    extra={"partition": record.partition, "offset": record.offset, "reason": str(exc)},
                )
                self._on_bad_record(str(exc))

    async def _check_caught_up(self, consumer: AIOKafkaConsumer) -> None:
        if self.ready.is_set():
            return
        # Compaction leaves gaps, so compare the fetch positions, not the last offsets seen.
        for tp, target in list(self._targets.items()):
            if await consumer.position(tp) >= target:
                del self._targets[tp]
        if not self._targets:
            log.info("incident view loaded", extra={"incidents": len(self.view), "records": self.records})
            self.ready.set()
