"""What the engine made of a batch's records, for the history writer: one compact record per source
partition per batch, on the internal topic `<app id>-event-assignments`.

The history writer reads the events themselves from the same topics the engine read (its own
consumer group and offsets) and takes from an assignment only what the engine alone knows: each
event's incident, fingerprint and template, the earlier events that joined an incident when it
opened, and the exact per-minute counts behind the rollups. An assignment covers a range of
offsets (`first`..`last`, both included) of one partition; a record in the range without a row
is one the engine did not take (dead-lettered, forwarded under its correlation key, or already
seen), and the history writer stores nothing for it.

Assignments are sent before the engine's state is saved, so a worker killed in between sends the
batch's assignment again on its restart: the later one of two for the same position is the one the
engine's state agrees with, and the history writer applies them in order.

Wire format (JSON, version 1), with templates and incidents listed once per record:
    {"v": 1, "topic": "events", "partition": 3, "first": 1200, "last": 1699,
     "templates": [[fingerprint, template], ...], "incidents": [incidentId, ...],
     "rows": [[offset, eventId, template index, incident index or -1], ...],
     "assigned": {incidentId: [eventId, ...]},
     "rollups": [[epoch minute, service, severity, count], ...]}
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import orjson

from aggregator.engine import Outcome
from aggregator.steps import Record, Span

VERSION = 1


class Row(NamedTuple):
    """The engine's result for the event at `offset`."""

    offset: int
    event_id: str
    incident_id: str | None
    fingerprint: str
    template: str


@dataclass(slots=True)
class Assignment:
    topic: str
    partition: int
    first: int
    last: int
    rows: list[Row] = field(default_factory=list)
    # incident id -> ids of earlier events (waiting in a pending cluster) that joined it
    assigned: dict[str, list[str]] = field(default_factory=dict)
    # (epoch minute, service, severity) -> the exact count of events so far
    rollups: dict[tuple[int, str, int], int] = field(default_factory=dict)

    @property
    def source(self) -> tuple[str, int]:
        return (self.topic, self.partition)

    def encode(self) -> bytes:
        templates: dict[tuple[str, str], int] = {}
        incidents: dict[str, int] = {}
        rows = []
        for r in self.rows:
            t = templates.setdefault((r.fingerprint, r.template), len(templates))
            i = -1 if r.incident_id is None else incidents.setdefault(r.incident_id, len(incidents))
            rows.append([r.offset, r.event_id, t, i])
        return orjson.dumps(
            {
                "v": VERSION,
                "topic": self.topic,
                "partition": self.partition,
                "first": self.first,
                "last": self.last,
                "templates": [list(k) for k in templates],
                "incidents": list(incidents),
                "rows": rows,
                "assigned": self.assigned,
                "rollups": [[m, s, sev, n] for (m, s, sev), n in self.rollups.items()],
            }
        )

    @classmethod
    def decode(cls, raw: bytes) -> Assignment:
        """Raises ValueError for anything but a version-1 assignment."""
        try:
            d: dict[str, Any] = orjson.loads(raw)
            if d.get("v") != VERSION:
                raise ValueError(f"assignment version {d.get('v')!r} is not {VERSION}")
            templates = d["templates"]
            incidents = d["incidents"]
            rows = [
                Row(int(o), str(e), None if i < 0 else str(incidents[i]), str(templates[t][0]), str(templates[t][1]))
                for o, e, t, i in d["rows"]
            ]
            return cls(
                topic=str(d["topic"]),
                partition=int(d["partition"]),
                first=int(d["first"]),
                last=int(d["last"]),
                rows=rows,
                assigned={str(k): [str(e) for e in v] for k, v in d["assigned"].items()},
                rollups={(int(m), str(s), int(sev)): int(n) for m, s, sev, n in d["rollups"]},
            )
        except (KeyError, IndexError, TypeError, AttributeError) as exc:
            raise ValueError(f"not an assignment: {type(exc).__name__}: {exc}") from exc


def build(span: Span, processed: Iterable[tuple[Record, Outcome]]) -> list[Assignment]:
    """One assignment per partition the batch covers (even one whose records all dropped out: the
    history writer must learn that those positions are settled)."""
    out = {tp: Assignment(tp[0], tp[1], first, last) for tp, (first, last) in span.ranges.items()}
    current: Assignment | None = None
    for record, o in processed:
        if current is None or current.partition != record.partition or current.topic != record.topic:
            current = out[(record.topic, record.partition)]
        e = o.event
        current.rows.append(Row(record.offset, e.eventId, o.incident_id, o.fingerprint, o.template))
        if o.assigned and o.incident_id:
            current.assigned.setdefault(o.incident_id, []).extend(o.assigned)
        k = (int(e.timestamp.timestamp()) // 60, e.service, e.severity)
        rollups = current.rollups
        if o.rollup > rollups.get(k, 0):
            rollups[k] = o.rollup
    return list(out.values())


def rows_by_offset(rows: Sequence[Row]) -> dict[int, Row]:
    return {r.offset: r for r in rows}
