"""Replay: run the engine over a time range of the `events` topic (or a file of events), without
touching live state, and score the result against labels.

The consumer has no group (nothing is committed) and the engine runs over in-memory stores, with
event time as its clock, so the result is a function of the events and the config alone. Several
configs run side by side over one read of the events (a candidate and a baseline). The engine is
taught the fingerprints live handed out (from the incidents topic), so that a template replay
arrives at resolves to the fingerprint live gave it.
"""

from __future__ import annotations

import heapq
import sys
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from aggregator.backtest import assignments
from aggregator.engine import CorrelationConfig, CorrelationEngine, Linker, MemoryStore, link_in_process
from aggregator.engine.state import Pending
from aggregator.records import Invalid, decode
from incident_shared.schemas.events import Event, EventValidationError, parse_event
from incident_shared.schemas.incidents import Incident, IncidentChange
from incident_shared.timeutil import epoch_ms

Progress = Callable[[int, int], None]


@dataclass
class ReplayResult:
    incidents: list[Incident]
    events: int
    invalid: int
    duplicates: int
    held: list[Pending] = field(default_factory=list)  # failures a rule kept as events, with its decision
    assigned: dict[str, str | None] = field(default_factory=dict)  # event id -> incident (when tracked)

    def roots(self) -> dict[str, str]:
        """Incident id -> the root of its cascade (itself when it is no member of one)."""
        return {i.incidentId: i.mergedInto or i.incidentId for i in self.incidents}


@dataclass
class Counts:
    records: int = 0
    invalid: int = 0


class Run:
    """One config's engine, with its cross-key stage, over a stream of events in event-time order."""

    def __init__(self, config: CorrelationConfig, *, track: bool, live: Sequence[Incident] = ()) -> None:
        self.engine = CorrelationEngine(config, MemoryStore())
        self.linker = Linker({}, cascade_window=config.cascade_window)
        self.latest: dict[str, Incident] = {}
        self.duplicates = 0
        self._track = track
        self._outcomes: list[tuple[str, str | None, list[str]]] = []
        for inc in live:
            for t in inc.templates:
                self.engine.learn_fingerprint(t.service, t.errorType, t.template, t.fingerprint)

    def feed(self, event: Event) -> None:
        outcome = self.engine.process(event)
        if outcome is None:
            self.duplicates += 1
        elif self._track:
            self._outcomes.append((event.eventId, outcome.incident_id, outcome.assigned))

    def flush(self) -> None:
        for c in self.engine.flush() + link_in_process(self.engine, self.linker):
            self.latest[c.incident.incidentId] = c.incident

    def finish(self, end: float, counts: Counts) -> ReplayResult:
        self.flush()
        self.engine.finish(end)
        self.flush()
        incidents = sorted(self.latest.values(), key=lambda i: (i.firstSeen, i.incidentId))
        # Failures with enough events to count that a rule held back (not those merely too few).
        held = [p for p in self.engine.pending() if p.verdict.get("rule") not in (None, "threshold")]
        return ReplayResult(
            incidents,
            counts.records,
            counts.invalid,
            self.duplicates,
            held=held,
            assigned=assignments(self._outcomes) if self._track else {},
        )


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


async def kafka_events(  # noqa: PLR0912 - one read loop with its watermark; split, it hides the ordering
    bootstrap: str,
    topic: str,
    start: datetime,
    end: datetime,
    *,
    lateness: float,
    counts: Counts,
    progress: Progress | None = None,
) -> AsyncIterator[list[Event]]:
    """Batches of the range's events, in event-time order across partitions.

    A batch is released once every partition still being read has passed it (less `lateness`):
    the records of one group may sit on several partitions, and the order in which partitions are
    fetched must not matter.
    """
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None, client_id="incidentctl-replay"
    )
    try:
        await consumer.start()
    except Exception:
        await consumer.stop()
        raise
    try:
        # partitions_for_topic reads the client's cached metadata: load the topic into it first.
        consumer._client.add_topic(topic)
        await consumer._client.force_metadata_update()
        ranges = await _ranges(consumer, topic, start, end)
        ranges = {tp: r for tp, r in ranges.items() if r[1] > r[0]}
        total = sum(e - b for b, e in ranges.values())
        if not ranges:
            return
        consumer.assign(list(ranges))
        for tp, (b, _) in ranges.items():
            consumer.seek(tp, b)
        remaining = dict(ranges)
        newest = dict.fromkeys(ranges, float("-inf"))
        pending: list[tuple[float, str, int, Event]] = []
        seq = 0
        while remaining:
            batch = await consumer.getmany(*remaining, timeout_ms=2000, max_records=5000)
            if not batch:
                break
            for tp, records in batch.items():
                stop = remaining.get(tp, (0, 0))[1]
                for rec in records:
                    if rec.offset >= stop:
                        break
                    counts.records += 1
                    parsed = decode(
                        rec.value,
                        topic=rec.topic,
                        partition=rec.partition,
                        offset=rec.offset,
                        timestamp_ms=rec.timestamp,
                    )
                    if isinstance(parsed, Invalid):
                        counts.invalid += 1
                        continue
                    t = parsed.timestamp.timestamp()
                    newest[tp] = max(newest[tp], t)
                    heapq.heappush(pending, (t, parsed.eventId, seq, parsed))
                    seq += 1
                if tp in remaining and (not records or records[-1].offset + 1 >= stop):
                    del remaining[tp]
            active = [newest[tp] for tp in remaining]
            watermark = min(active) - lateness if active else float("inf")
            ready = []
            while pending and pending[0][0] < watermark:
                ready.append(heapq.heappop(pending)[3])
            yield ready
            if progress:
                progress(counts.records, total)
        yield [heapq.heappop(pending)[3] for _ in range(len(pending))]
    finally:
        await consumer.stop()


def file_events(path: str | Path, start: datetime | None, end: datetime | None, counts: Counts) -> list[Event]:
    """The events of a file (JSON lines, or one JSON array), as the contract documents them, in
    event-time order; those outside [start, end) are left out, invalid ones counted."""
    text = Path(path).read_text(encoding="utf-8")
    stripped = text.lstrip()
    raws: Iterable[Any] = orjson.loads(text) if stripped.startswith("[") else _json_lines(text)
    now = datetime.now(UTC)
    events = []
    for n, raw in enumerate(raws):
        counts.records += 1
        try:
            event = parse_event(
                raw, received_at=now, source="http", from_client=False, default_event_id=f"evt_line{n}",
                check_time_bounds=False,
            )  # fmt: skip
        except (EventValidationError, ValueError):
            counts.invalid += 1
            continue
        if (start is None or event.timestamp >= start) and (end is None or event.timestamp < end):
            events.append(event)
    events.sort(key=lambda e: e.timestamp)
    return events


def _json_lines(text: str) -> Iterator[Any]:
    for line in text.splitlines():
        if line.strip():
            try:
                yield orjson.loads(line)
            except orjson.JSONDecodeError:
                yield None  # counted as invalid


_FLUSH_EVERY = 10.0  # seconds of event time between flushes, as a live worker flushes every batch
_FLUSH_EVENTS = 1000


def run_all(batches: Iterable[list[Event]], runs: Sequence[Run]) -> None:
    """Feeds every event to every run, flushing (and linking across keys) every few seconds of
    event time: a live worker sees its batches come a fraction of a second apart, and a cascade
    that opens and ends within one long replayed batch would otherwise never be linked."""
    since = float("-inf")
    fed = 0
    for batch in batches:
        for event in batch:
            t = event.timestamp.timestamp()
            if fed and (t - since >= _FLUSH_EVERY or fed >= _FLUSH_EVENTS):
                for run in runs:
                    run.flush()
                since, fed = t, 0
            elif not fed:
                since = t
            for run in runs:
                run.feed(event)
            fed += 1
    for run in runs:
        run.flush()


async def replay(
    bootstrap: str,
    topic: str,
    start: datetime,
    end: datetime,
    config: CorrelationConfig,
    *,
    progress: Progress | None = None,
    others: Sequence[CorrelationConfig] = (),
    track: bool = False,
    live: Sequence[Incident] = (),
) -> ReplayResult:
    """Replays the range with `config`; `replay_many` for several configs in one read."""
    [result, *_] = await replay_many(
        bootstrap, topic, start, end, [config, *others], progress=progress, track=track, live=live
    )
    return result


async def replay_many(
    bootstrap: str,
    topic: str,
    start: datetime,
    end: datetime,
    configs: Sequence[CorrelationConfig],
    *,
    progress: Progress | None = None,
    track: bool = False,
    live: Sequence[Incident] = (),
) -> list[ReplayResult]:
    """One result per config, all from one read of the range."""
    runs = [Run(c, track=track, live=live) for c in configs]
    counts = Counts()
    lateness = max(c.allowed_lateness for c in configs)
    async for batch in kafka_events(bootstrap, topic, start, end, lateness=lateness, counts=counts, progress=progress):
        run_all([batch], runs)
    return [run.finish(end.timestamp(), counts) for run in runs]


def replay_file(
    path: str | Path,
    configs: Sequence[CorrelationConfig],
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    track: bool = False,
) -> list[ReplayResult]:
    """One result per config for the events of a file (no Kafka needed)."""
    counts = Counts()
    events = file_events(path, start, end, counts)
    runs = [Run(c, track=track) for c in configs]
    run_all([events], runs)
    finish = end.timestamp() if end else (events[-1].timestamp.timestamp() if events else 0.0)
    return [run.finish(finish, counts) for run in runs]


async def live_incidents(
    bootstrap: str, topic: str, start: datetime | None = None, end: datetime | None = None
) -> list[Incident]:
    """The latest state of every incident on the (compacted) incidents topic that began in the
    range (all of them without one)."""
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
                    # An equal version later on the topic is the same change published again after
                    # a restart (what compaction keeps too, and what the engine's state agrees with).
                    if prev is None or prev.version <= inc.version:
                        latest[inc.incidentId] = inc
    finally:
        await consumer.stop()
    return sorted(
        (i for i in latest.values() if (start is None or start <= i.firstSeen) and (end is None or i.firstSeen <= end)),
        key=lambda i: (i.firstSeen, i.incidentId),
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


def print_table(incidents: list[Incident], out: TextIO | None = None) -> None:
    """One line per incident; those merged into a cascade are listed under its root, indented."""
    out = out or sys.stdout
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


def print_explained(result: ReplayResult, out: TextIO | None = None) -> None:
    """Every incident with why it opened, why each template joined, what was merged into it and
    why, what it was not merged with and why, and what happened since; then the failures that
    stayed events and why."""
    out = out or sys.stdout
    for inc in result.incidents:
        merged = f" (merged into {inc.mergedInto})" if inc.mergedInto else ""
        print(f"{inc.incidentId}{merged}  {inc.status}  sev {inc.severityScore}  {inc.eventCount} events", file=out)
        print(f"  {inc.title}", file=out)
        why = inc.explanation
        if why is None:
            continue
        if why.opened:
            print(f"  opened: [{why.opened.rule}] {why.opened.detail}", file=out)
        for j in why.joined:
            print(f"  template {j.service}: {j.template}", file=out)
            print(f"    [{j.rule}] {j.detail}", file=out)
        for m in why.merged:
            print(f"  merged {m.incidentId}: [{m.rule}] {m.detail}", file=out)
        for n in why.notMerged:
            print(f"  not merged with {n.incidentId or n.service}: [{n.rule}] {n.detail}", file=out)
        for h in why.history:
            print(f"  {h.at:%H:%M:%S} {h.what}: {h.detail}", file=out)
        print(file=out)
    if result.held:
        print("Failures that stayed events:", file=out)
        for p in result.held:
            template = p.events[-1].template if p.events else p.fingerprint
            print(f"  {p.service}: {template} ({p.count} events)", file=out)
            print(f"    [{p.verdict.get('rule')}] {p.verdict.get('detail')}", file=out)
