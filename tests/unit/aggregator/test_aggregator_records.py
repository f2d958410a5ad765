"""Records from the events topic: decoding, stable fallback ids, and the invalid-ratio guard."""

from __future__ import annotations

import orjson
import pytest

from aggregator.records import Invalid, InvalidRatioGuard, TooManyInvalidError, decode

pytestmark = pytest.mark.unit


def test_a_record_without_id_or_timestamp_gets_stable_ones_from_its_position() -> None:
    value = orjson.dumps({"service": "api", "severity": 4, "message": "boom"})
    a = decode(value, topic="events", partition=2, offset=17, timestamp_ms=1_767_000_000_000)
    b = decode(value, topic="events", partition=2, offset=17, timestamp_ms=1_767_000_000_000)
    c = decode(value, topic="events", partition=2, offset=18, timestamp_ms=1_767_000_000_000)
    assert not isinstance(a, Invalid)
    assert not isinstance(b, Invalid)
    assert not isinstance(c, Invalid)
    assert a.eventId == b.eventId != c.eventId
    assert a.eventId.startswith("evt_")
    assert a.timestamp.timestamp() == 1_767_000_000
    assert a.source == "kafka"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"not json", "not valid JSON"),
        (b'{"service": "", "severity": 9}', "severity"),
        (b"[1, 2]", "JSON object"),
        (None, "empty record"),
    ],
)
def test_invalid_records_say_why(value: bytes | None, reason: str) -> None:
    result = decode(value, topic="events", partition=0, offset=0, timestamp_ms=0)
    assert isinstance(result, Invalid)
    assert reason in result.reason


def test_the_guard_lets_a_few_invalid_records_through() -> None:
    guard = InvalidRatioGuard(max_ratio=0.5, window=100)
    for i in range(1000):
        guard.record(i % 10 == 0)  # 10% invalid


def test_the_guard_halts_when_most_records_are_invalid() -> None:
    guard = InvalidRatioGuard(max_ratio=0.5, window=200)
    for _ in range(60):
        guard.record(False)
    for _ in range(60):
        guard.record(True)  # 50% so far: still going
    with pytest.raises(TooManyInvalidError, match="halting"):
        guard.record(True)
