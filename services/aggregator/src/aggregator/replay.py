# ruff: noqa: PLR0912 - the read loop handles each partition end in place
"""Replay: run the engine over a time range of the `events` topic, without touching live state.

The consumer has no group (nothing is committed) and the engine runs over in-memory stores, with
event time as its clock, so the result is a function of the events and the config alone.
"""

from __future__ import annotations

import heapq
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TextIO

from aiokafka import AIOKafkaConsumer, TopicPartition

from aggregator.engine import CorrelationConfig, CorrelationEngine, Linker, MemoryStore, link_in_process
from aggregator.records import Invalid, decode
from incident_shared.schemas.events import Event
from incident_shared.schemas.incidents import Incident, IncidentChange
from incident_shared.timeutil import epoch_ms

Progress = Callable[[int, int], None]


@dataclass
class ReplayResult:
    incidents: list[Incident]
    events: int
    invalid: int
    duplicates: int


async def _ranges(
    consumer: AIOKafkaConsumer, topic: str, start: datetime, end: datetime
) -> dict[TopicPartition, tuple[int, int]]:
    parts = consumer.partitions_for_topic(topic) or set()
    tps = [TopicPartition(topic, p) for p in sorted(parts)]
    begin = await consumer.offsets_for_times({tp: epoch_ms(start) for tp in tps})
    stop = await consumer.offsets_for_times({tp: epoch_ms(end) for tp in tps})
    ends = await consumer.end_offsets(tps)
    out: dict[TopicPartition, tuple[int, int]] = {}
    for tp in tps:
        b = begin.get(tp)
        if b is None:
            continue
        s = stop.get(tp)
        out[tp] = (b.offset, s.offset if s is not None else ends[tp])
    return out


async def replay(  # noqa: PLR0915 - one read loop with its watermark; split, it hides the ordering
    bootstrap: str,
    topic: str,
    start: datetime,
    end: datetime,
    config: CorrelationConfig,
    *,
    progress: Progress | None = None,
) -> ReplayResult:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None, client_id="incidentctl-replay"
    )
    try:
        await consumer.start()
    except Exception:
        await consumer.stop()
        raise
    engine = CorrelationEngine(config, MemoryStore())
    linker = Linker({}, cascade_window=config.cascade_window)
    latest: dict[str, Incident] = {}
    n = invalid = duplicates = seq = 0
    pending: list[tuple[float, str, int, Event]] = []

    def flush() -> None:
        for c in engine.flush() + link_in_process(engine, linker):
            latest[c.incident.incidentId] = c.incident

    try:
        # partitions_for_topic reads the client's cached metadata: load the topic into it first.
        consumer._client.add_topic(topic)
        await consumer._client.force_metadata_update()
        ranges = await _ranges(consumer, topic, start, end)
        ranges = {tp: r for tp, r in ranges.items() if r[1] > r[0]}
        total = sum(e - b for b, e in ranges.values())
        if not ranges:
            return ReplayResult([], 0, 0, 0)
        consumer.assign(list(ranges))
        for tp, (b, _) in ranges.items():
            consumer.seek(tp, b)
        remaining = dict(ranges)
        newest = dict.fromkeys(ranges, float("-inf"))
        while remaining:
            batch = await consumer.getmany(*remaining, timeout_ms=2000, max_records=5000)
            if not batch:
                break
            for tp, records in batch.items():
                stop = remaining.get(tp, (0, 0))[1]
                for rec in records:
                    if rec.offset >= stop:
                        break
                    n += 1
                    parsed = decode(
                        rec.value,
                        topic=rec.topic,
                        partition=rec.partition,
                        offset=rec.offset,
                        timestamp_ms=rec.timestamp,
                    )
                    if isinstance(parsed, Invalid):
                        invalid += 1
                        continue
                    t = parsed.timestamp.timestamp()
                    newest[tp] = max(newest[tp], t)
                    heapq.heappush(pending, (t, parsed.eventId, seq, parsed))
                    seq += 1
                if tp in remaining and (not records or records[-1].offset + 1 >= stop):
                    del remaining[tp]
            # Release in event-time order what every partition still being read has passed (less the
            # allowed lateness): the records of one group may sit on several partitions, and the
            # order in which partitions are fetched must not matter.
            active = [newest[tp] for tp in remaining]
            watermark = min(active) - config.allowed_lateness if active else float("inf")
            while pending and pending[0][0] < watermark:
                duplicates += engine.process(heapq.heappop(pending)[3]) is None
            flush()
            if progress:
                progress(n, total)
        while pending:
            duplicates += engine.process(heapq.heappop(pending)[3]) is None
        flush()
        engine.finish(end.timestamp())
        flush()
    finally:
        await consumer.stop()
    incidents = sorted(latest.values(), key=lambda i: (i.firstSeen, i.incidentId))
    return ReplayResult(incidents, n, invalid, duplicates)


async def live_incidents(bootstrap: str, topic: str, start: datetime, end: datetime) -> list[Incident]:
    """The latest state of every incident on the (compacted) incidents topic that began in the range."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        group_id=None,
        auto_offset_reset="earliest",
        client_id="incidentctl-replay",
    )
    await consumer.start()
    latest: dict[str, Incident] = {}
    try:
        while True:
            batch = await consumer.getmany(timeout_ms=3000, max_records=5000)
            if not batch:
                break
            for records in batch.values():
                for rec in records:
                    if rec.value is None:
                        continue
                    inc = IncidentChange.model_validate_json(rec.value).incident
                    prev = latest.get(inc.incidentId)
                    if prev is None or prev.version < inc.version:
                        latest[inc.incidentId] = inc
    finally:
        await consumer.stop()
    return sorted(
        (i for i in latest.values() if start <= i.firstSeen <= end), key=lambda i: (i.firstSeen, i.incidentId)
    )


COMPARED = ("status", "eventCount", "severityScore", "affectedServices", "probableOrigin", "flapping", "mergedInto")


def diff(live: list[Incident], replayed: list[Incident]) -> dict[str, Any]:
    """Incidents only live had, only the replay has, and those whose compared fields differ."""
    a = {i.incidentId: i for i in live}
    b = {i.incidentId: i for i in replayed}
    changed = []
    for iid in sorted(a.keys() & b.keys()):
        fields = {
            f: {"live": getattr(a[iid], f), "replay": getattr(b[iid], f)}
            for f in COMPARED
            if getattr(a[iid], f) != getattr(b[iid], f)
        }
        if fields:
            changed.append({"incidentId": iid, "title": b[iid].title, "fields": fields})
    return {
        "onlyLive": [_row(a[i]) for i in sorted(a.keys() - b.keys())],
        "onlyReplay": [_row(b[i]) for i in sorted(b.keys() - a.keys())],
        "changed": changed,
        "same": len(a.keys() & b.keys()) - len(changed),
    }


def _row(i: Incident) -> dict[str, Any]:
    return {
        "incidentId": i.incidentId,
        "status": i.status,
        "severityScore": i.severityScore,
        "eventCount": i.eventCount,
        "affectedServices": i.affectedServices,
        "probableOrigin": i.probableOrigin,
        "firstSeen": i.firstSeen,
        "title": i.title,
        "mergedInto": i.mergedInto,
    }


def print_table(incidents: list[Incident], out: TextIO = sys.stdout) -> None:
    """One line per incident; those merged into a cascade are listed under its root, indented."""
    header = f"{'incident':<31} {'status':<12} {'sev':>3} {'events':>7}  {'first seen':<20} {'services':<40} title"
    print(header, file=out)
    known = {i.incidentId for i in incidents}
    members: dict[str, list[Incident]] = {}
    for i in incidents:
        if i.mergedInto in known:
            members.setdefault(i.mergedInto, []).append(i)

    def line(i: Incident, indent: str) -> None:
        services = ",".join(i.affectedServices)
        print(
            f"{indent + i.incidentId:<31} {i.status:<12} {i.severityScore:>3} {i.eventCount:>7}  "
            f"{i.firstSeen:%Y-%m-%d %H:%M:%S}  {services[:40]:<40} {i.title[:80]}",
            file=out,
        )

    for i in incidents:
        if i.mergedInto in known:
            continue
        line(i, "")
        for m in members.get(i.incidentId, []):
            line(m, "+ ")
