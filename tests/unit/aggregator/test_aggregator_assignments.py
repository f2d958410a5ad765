"""The engine's per-batch assignments for the history writer: what the wire carries, and that only
what it documents is accepted."""

from __future__ import annotations

import orjson
import pytest

from aggregator.assignments import Assignment, Row, build
from aggregator.engine import Outcome
from aggregator.steps import Record, Span
from support.engine_scenarios import T0, make_event

pytestmark = pytest.mark.unit


def test_an_assignment_survives_the_wire_with_templates_and_incidents_listed_once() -> None:
    a = Assignment(
        "events",
        3,
        100,
        104,
        [
            Row(100, "evt_a", "inc_1", "fp1", "Timeout after <NUM>"),
            Row(102, "evt_b", None, "fp1", "Timeout after <NUM>"),
            Row(104, "evt_c", "inc_1", "fp2", "disk full"),
        ],
        assigned={"inc_1": ["evt_z"]},
        rollups={(29_000_000, "api", 4): 17},
    )
    raw = a.encode()
    wire = orjson.loads(raw)
    assert wire["templates"] == [["fp1", "Timeout after <NUM>"], ["fp2", "disk full"]]
    assert wire["incidents"] == ["inc_1"]
    assert Assignment.decode(raw) == a


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b"[]",
        b'{"v": 2}',
        orjson.dumps({"v": 1, "topic": "events"}),
        b'{"v":1,"topic":"e","partition":0,'
        b'"first":0,"last":0,"templates":[],"incidents":[],"rows":[[0,"evt",5,-1]],"assigned":{},"rollups":[]}',
    ],
)
def test_anything_else_is_refused_with_a_reason(raw: bytes) -> None:
    with pytest.raises(ValueError, match=r"assignment|JSON|unexpected|char"):
        Assignment.decode(raw)


def test_every_partition_of_the_batch_gets_one_even_when_nothing_was_taken() -> None:
    records = [Record("events", 0, 5, None, b"", 0), Record("events", 1, 9, None, b"", 0)]
    e = make_event("api", 4, "boom", T0)
    out = build(Span.of(records), [(records[0], Outcome(e, "api", "boom", "fp", "inc_1", ["evt_p"], rollup=3))])
    by_partition = {a.partition: a for a in out}
    assert by_partition[1].rows == []
    assert (by_partition[1].first, by_partition[1].last) == (9, 9)
    taken = by_partition[0]
    assert taken.rows == [Row(5, e.eventId, "inc_1", "fp", "boom")]
    assert taken.assigned == {"inc_1": ["evt_p"]}
    assert taken.rollups == {(int(T0.timestamp() // 60), "api", 4): 3}
