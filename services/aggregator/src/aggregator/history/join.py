"""Pairs the event records the history writer reads with the engine's assignments for them.

Pure and in memory: the consumer adds records (`add_body`, `add_assignment`) and takes the `Work`
that is ready, writes it, and then commits the offsets the work names. Per partition of the
assignments topic, assignments are applied strictly in the engine's order; each covers a range
of one body partition (`events/p`, or the re-keyed topic's `p`):

- a record in the range with a row is stored with the engine's result; one without a row is not
  stored (the engine dead-lettered it, forwarded it under its correlation key, or had seen it);
- rows for records this writer has already passed (a batch the engine processed again after a
  crash, or a writer restarted between its write and its commit) become updates of the stored
  event's results: the later assignment is the one the engine's state agrees with;
- a record that no assignment covers (the assignments of events older than the writer's group)
  is stored as it is, without results;
- a range whose records have not all arrived yet is applied as far as they have, and finished later.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass, field

from aggregator.assignments import Assignment, Row
from aggregator.steps import Record

log = logging.getLogger(__name__)
TP = tuple[str, int]


@dataclass(slots=True)
class Insert:
    """Event records to store, each with the engine's result for it (None: no assignment covers it)."""

    entries: list[tuple[Record, Row | None]] = field(default_factory=list)


@dataclass(slots=True)
class SetResults:
    """New results for events stored before."""

    rows: list[Row]


@dataclass(slots=True)
class Assign:
    """Earlier events (ids) that joined an incident when it opened."""

    incident_id: str
    event_ids: list[str]


Operation = Insert | SetResults | Assign


@dataclass(slots=True)
class Work:
    """What is ready to write, in the engine's order, and the offsets to commit once it is."""

    operations: list[Operation] = field(default_factory=list)
    rollups: dict[tuple[int, str, int], int] = field(default_factory=dict)
    commits: dict[TP, int] = field(default_factory=dict)
    records: int = 0  # body records settled by this work (stored, skipped or updated)

    def empty(self) -> bool:
        return not self.operations and not self.rollups and not self.commits

    def insert(self) -> Insert:
        if not self.operations or not isinstance(self.operations[-1], Insert):
            self.operations.append(Insert())
        last = self.operations[-1]
        assert isinstance(last, Insert)  # noqa: S101 - appended just above
        return last


@dataclass(slots=True)
class _Pending:
    offset: int  # of the assignment record
    assignment: Assignment
    rows: dict[int, Row]
    started: bool = False  # applied in part already (waiting for the rest of its records)


class Join:
    def __init__(self, *, assignments_topic: str, max_bodies: int = 20_000, max_assignments: int = 2_000) -> None:
        self.assignments_topic = assignments_topic
        self.max_bodies = max_bodies
        self.max_assignments = max_assignments
        self._queues: dict[int, deque[_Pending]] = {}
        self._bodies: dict[TP, deque[Record]] = {}
        self._received: dict[TP, int] = {}  # the highest body offset received
        self._next: dict[TP, int] = {}  # the next body offset to store (everything before is settled)

    # -- partitions --------------------------------------------------------------------------------

    def begin(self, tp: TP, position: int) -> None:
        """A body partition newly assigned, read from `position` (its committed offset)."""
        self._next[tp] = position
        self._received[tp] = position - 1
        self._bodies[tp] = deque()

    def forget(self, tps: list[TP]) -> None:
        """Partitions revoked: what was buffered for them is another writer's now."""
        for tp in tps:
            if tp[0] == self.assignments_topic:
                self._queues.pop(tp[1], None)
            else:
                self._bodies.pop(tp, None)
                self._received.pop(tp, None)
                self._next.pop(tp, None)

    # -- input -------------------------------------------------------------------------------------

    def add_body(self, record: Record) -> None:
        tp = (record.topic, record.partition)
        if tp not in self._next:
            raise KeyError(f"{record.source} was not begun")
        if record.offset < self._next[tp] or record.offset <= self._received[tp]:
            return  # read again after a seek: settled already, or buffered
        self._bodies[tp].append(record)
        self._received[tp] = record.offset

    def add_assignment(self, offset: int, partition: int, assignment: Assignment) -> None:
        rows = {r.offset: r for r in assignment.rows}
        self._queues.setdefault(partition, deque()).append(_Pending(offset, assignment, rows))

    def backlogged(self, tp: TP) -> bool:
        """Too much buffered for this partition: its consumer should pause until work is taken."""
        if tp[0] == self.assignments_topic:
            return len(self._queues.get(tp[1], ())) >= self.max_assignments
        return len(self._bodies.get(tp, ())) >= self.max_bodies

    def begun(self, tp: TP) -> bool:
        return tp in self._next

    def positions(self) -> dict[TP, int]:
        """The next body offset to store, per body partition (everything before it is settled)."""
        return dict(self._next)

    def buffered(self) -> int:
        return sum(len(b) for b in self._bodies.values())

    # -- output ------------------------------------------------------------------------------------

    def take(self) -> Work:
        work = Work()
        for partition, queue in self._queues.items():
            while queue:
                if not self._apply(queue[0], work):
                    break
                done = queue.popleft()
                work.commits[(self.assignments_topic, partition)] = done.offset + 1
        return work

    def _apply(self, p: _Pending, work: Work) -> bool:
        """Applies as much of `p` as the bodies received allow; True once all of it is."""
        a = p.assignment
        tp = a.source
        bodies = self._bodies.get(tp)
        if bodies is None:
            # The body partition is not ours (yet): with co-partitioned topics this lasts only
            # until the rebalance in progress is over.
            return False
        nxt = self._next[tp]
        if not p.started and nxt > a.first:
            # Records settled before: a batch the engine processed again, or a restart of this writer.
            behind = [r for o, r in p.rows.items() if o < nxt]
            if behind:
                work.operations.append(SetResults(behind))
        p.started = True
        # Records no assignment covered: stored as they are.
        while bodies and bodies[0].offset < a.first:
            record = bodies.popleft()
            work.insert().entries.append((record, None))
            work.records += 1
            nxt = record.offset + 1
        while bodies and bodies[0].offset <= a.last:
            record = bodies.popleft()
            row = p.rows.get(record.offset)
            if row is not None:
                work.insert().entries.append((record, row))
            work.records += 1
            nxt = record.offset + 1
        if nxt != self._next[tp]:
            self._next[tp] = nxt
            work.commits[tp] = nxt
        if self._received[tp] < a.last and nxt <= a.last:
            return False  # the rest of the range has not arrived yet
        for incident_id, event_ids in a.assigned.items():
            work.operations.append(Assign(incident_id, event_ids))
        for k, n in a.rollups.items():
            if n > work.rollups.get(k, 0):
                work.rollups[k] = n
        return True
