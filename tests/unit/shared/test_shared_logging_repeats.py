"""A library that logs every failed retry does not flood the log during an outage."""

from __future__ import annotations

import logging

import pytest

from incident_shared.logging import RepeatFilter

pytestmark = pytest.mark.unit


def record(name: str, msg: str, at: float) -> logging.LogRecord:
    r = logging.LogRecord(name, logging.ERROR, __file__, 1, msg, None, None)
    r.created = at
    return r


def test_a_repeated_library_error_passes_once_per_interval_with_the_count_left_out() -> None:
    f = RepeatFilter(interval=10.0)
    passed = [f.filter(record("aiokafka.conn", "Unable to update metadata from [1]", t / 100)) for t in range(1000)]
    assert passed.count(True) == 1  # 1000 in ten seconds: one line
    later = record("aiokafka.conn", "Unable to update metadata from [1]", 10.5)
    assert f.filter(later)
    assert later.repeated == 999
    assert f.filter(record("aiokafka.conn", "Unable connect to node with id 2", 10.6))  # another message


def test_our_own_lines_are_never_filtered() -> None:
    f = RepeatFilter(interval=10.0)
    assert all(f.filter(record("summarizer.service", "reading the incidents topic failed", 1.0)) for _ in range(5))
