"""Judging whether incidents are being updated from the aggregator's consumer group."""

from __future__ import annotations

import pytest

from ingest_gateway.pipeline import AggregatorProgress, Observation

pytestmark = pytest.mark.unit


def progress() -> AggregatorProgress:
    return AggregatorProgress(group="aggregator", topic="events", stall_seconds=60)


def test_nothing_is_said_before_the_first_look() -> None:
    p = progress()
    assert p.problem(0.0) is None
    assert p.describe(0.0) == "not checked yet"


def test_a_group_without_members_means_no_aggregator_is_running() -> None:
    p = progress()
    p.observe(Observation(members=0, committed=100, end=130, at=0.0))
    problem = p.problem(0.0)
    assert problem is not None
    assert problem.startswith("incidents are not being updated: no aggregator is running")
    assert "consumer group 'aggregator' has no members" in problem
    assert "30 events wait in 'events'" in problem
    assert "Start the aggregator" in problem


def test_no_aggregator_is_reported_even_with_nothing_waiting() -> None:
    p = progress()
    p.observe(Observation(members=0, committed=100, end=100, at=0.0))
    problem = p.problem(0.0)
    assert problem is not None
    assert "no events wait yet" in problem


def test_a_caught_up_aggregator_is_fine_however_long_it_is_quiet() -> None:
    p = progress()
    for t in range(0, 600, 5):
        p.observe(Observation(members=2, committed=500, end=500, at=float(t)))
    assert p.problem(600.0) is None
    assert p.describe(600.0) == "up to date: 'aggregator' (2 worker(s)) has processed every event"


def test_events_waiting_without_progress_for_the_stall_time_mean_it_is_stuck() -> None:
    p = progress()
    p.observe(Observation(members=1, committed=500, end=500, at=0.0))
    p.observe(Observation(members=1, committed=500, end=800, at=10.0))
    assert p.problem(59.0) is None  # events wait, but the last progress is 59 s old only
    assert p.describe(59.0) == "300 events behind, progressing (1 worker(s) in 'aggregator')"
    p.observe(Observation(members=1, committed=500, end=900, at=61.0))
    problem = p.problem(61.0)
    assert problem is not None
    assert "has processed nothing for 61s while 400 events wait in 'events'" in problem
    assert "MongoDB down holds its batches" in problem


def test_any_progress_clears_a_stall() -> None:
    p = progress()
    p.observe(Observation(members=1, committed=0, end=100, at=0.0))
    p.observe(Observation(members=1, committed=0, end=100, at=120.0))
    assert p.problem(120.0) is not None
    p.observe(Observation(members=1, committed=40, end=100, at=125.0))
    assert p.problem(125.0) is None
    assert p.stalled_for(130.0) == 5.0
