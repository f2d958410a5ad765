"""The history writer's join: event records paired with the engine's assignments, in the engine's
order, whatever arrives first; batches the engine processed twice; records no assignment covers."""

from __future__ import annotations

import pytest

from aggregator.assignments import Assignment, Row
from aggregator.history.join import Assign, Insert, Join, SetResults, Work
from aggregator.steps import Record

pytestmark = pytest.mark.unit
A = "agg-event-assignments"


def body(offset: int, partition: int = 0, topic: str = "events") -> Record:
    return Record(topic, partition, offset, b"k", b"{}", 0)


def row(offset: int, incident: str | None = "inc_1") -> Row:
    return Row(offset, f"evt_{offset}", incident, "fp", "tpl")


def assignment(first: int, last: int, rows: list[Row], partition: int = 0, **extra: object) -> Assignment:
    return Assignment("events", partition, first, last, rows, **extra)  # type: ignore[arg-type]


def inserted(work: Work) -> list[tuple[int, str | None]]:
    return [
        (r.offset, None if row is None else row.incident_id)
        for op in work.operations
        if isinstance(op, Insert)
        for r, row in op.entries
    ]


def test_records_wait_for_their_assignment_and_are_stored_with_the_engines_results() -> None:
    join = Join(assignments_topic=A)
    join.begin(("events", 0), 10)
    for o in range(10, 13):
        join.add_body(body(o))
    assert join.take().empty()
    join.add_assignment(0, 0, assignment(10, 12, [row(10), row(12, None)]))  # 11: dead-lettered
    work = join.take()
    assert inserted(work) == [(10, "inc_1"), (12, None)]
    assert work.commits == {("events", 0): 13, (A, 0): 1}
    assert work.records == 3


def test_an_assignment_that_comes_first_waits_for_its_records_and_is_finished_in_parts() -> None:
    join = Join(assignments_topic=A)
    join.begin(("events", 0), 0)
    join.add_assignment(7, 0, assignment(0, 3, [row(o) for o in range(4)], rollups={(1, "api", 4): 4}))
    join.add_body(body(0))
    join.add_body(body(1))
    first = join.take()
    assert inserted(first) == [(0, "inc_1"), (1, "inc_1")]
    assert first.commits == {("events", 0): 2}  # not the assignment: it is not done
    assert first.rollups == {}
    join.add_body(body(2))
    join.add_body(body(3))
    rest = join.take()
    assert inserted(rest) == [(2, "inc_1"), (3, "inc_1")]
    assert rest.commits == {("events", 0): 4, (A, 0): 8}
    assert rest.rollups == {(1, "api", 4): 4}
    assert not any(isinstance(op, SetResults) for op in rest.operations)


def test_a_batch_the_engine_processed_again_updates_what_was_stored() -> None:
    join = Join(assignments_topic=A)
    join.begin(("events", 0), 0)
    for o in range(3):
        join.add_body(body(o))
    join.add_assignment(0, 0, assignment(0, 2, [row(o, None) for o in range(3)]))
    join.take()
    # A worker killed after sending that assignment and before saving its state processes the
    # batch again: the second assignment is the one its state agrees with.
    join.add_assignment(1, 0, assignment(0, 2, [row(o, "inc_2") for o in range(3)]))
    work = join.take()
    [op] = work.operations
    assert isinstance(op, SetResults)
    assert [(r.offset, r.incident_id) for r in op.rows] == [(0, "inc_2"), (1, "inc_2"), (2, "inc_2")]
    assert work.commits == {(A, 0): 2}


def test_after_a_restart_rows_before_the_committed_position_become_updates() -> None:
    join = Join(assignments_topic=A)
    join.begin(("events", 0), 5)  # records 0-4 were stored and committed by the writer before
    join.add_assignment(3, 0, assignment(0, 9, [row(o) for o in range(10)]))
    for o in range(5, 10):
        join.add_body(body(o))
    work = join.take()
    assert isinstance(work.operations[0], SetResults)
    assert [r.offset for r in work.operations[0].rows] == [0, 1, 2, 3, 4]
    assert inserted(work) == [(o, "inc_1") for o in range(5, 10)]


def test_records_no_assignment_covers_are_stored_as_they_are() -> None:
    join = Join(assignments_topic=A)
    join.begin(("events", 0), 0)
    for o in range(4):
        join.add_body(body(o))
    join.add_assignment(0, 0, assignment(2, 3, [row(2), row(3)]))
    assert inserted(join.take()) == [(0, None), (1, None), (2, "inc_1"), (3, "inc_1")]


def test_late_assignments_and_both_body_topics_keep_the_engines_order() -> None:
    join = Join(assignments_topic=A)
    rekeyed = "agg-events-by-key"
    join.begin(("events", 0), 0)
    join.begin((rekeyed, 0), 0)
    join.add_body(body(0))
    join.add_body(body(0, topic=rekeyed))
    join.add_assignment(0, 0, assignment(0, 0, [row(0, None)]))
    join.add_assignment(
        1, 0, Assignment(rekeyed, 0, 0, 0, [Row(0, "evt_r", "inc_9", "fp", "tpl")], assigned={"inc_9": ["evt_0"]})
    )
    work = join.take()
    kinds = [type(op).__name__ for op in work.operations]
    assert kinds == ["Insert", "Assign"]
    assert [(r.topic, row.event_id if row else None) for r, row in work.operations[0].entries] == [  # type: ignore[union-attr]
        ("events", "evt_0"),
        (rekeyed, "evt_r"),
    ]
    assert work.operations[1] == Assign("inc_9", ["evt_0"])
    assert work.commits == {("events", 0): 1, (rekeyed, 0): 1, (A, 0): 2}


def test_partitions_of_other_writers_are_not_waited_for_and_revoked_ones_are_forgotten() -> None:
    join = Join(assignments_topic=A, max_bodies=2)
    join.begin(("events", 1), 0)
    join.add_assignment(0, 0, assignment(0, 0, [row(0)]))  # events/0 is not this writer's (yet)
    assert join.take().empty()
    join.add_body(body(0, partition=1))
    join.add_body(body(1, partition=1))
    assert join.backlogged(("events", 1))
    join.forget([("events", 1), (A, 0)])
    assert not join.backlogged(("events", 1))
    assert join.buffered() == 0
    with pytest.raises(KeyError):
        join.add_body(body(2, partition=1))
