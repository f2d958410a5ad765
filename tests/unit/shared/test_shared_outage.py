"""A loop's outage: the wait before each retry, and what readiness says while it lasts."""

from __future__ import annotations

import logging

import pytest
from prometheus_client import CollectorRegistry, Counter

from incident_shared.outage import DependencyDownError, Outage

pytestmark = pytest.mark.unit


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def outage(clock: Clock, jitter: float = 1.0, errors: Counter | None = None) -> Outage:
    return Outage(
        "kafka",
        what="reading the incidents topic",
        log=logging.getLogger("test"),
        errors=errors,
        initial_seconds=0.5,
        max_seconds=30.0,
        clock=clock,
        jitter=lambda: jitter,
    )


def test_the_wait_doubles_per_failure_up_to_the_cap() -> None:
    o = outage(Clock())
    assert [o.failed(OSError("refused")) for _ in range(9)] == [0.5, 1, 2, 4, 8, 16, 30, 30, 30]


def test_jitter_keeps_at_least_half_the_wait() -> None:
    o = outage(Clock(), jitter=0.0)
    assert [o.failed(OSError("refused")) for _ in range(3)] == [0.25, 0.5, 1.0]


def test_readiness_names_the_failure_while_it_lasts_and_clears_on_success(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    errors = Counter("test_errors_total", "errors", registry=CollectorRegistry())
    o = outage(clock, errors=errors)
    o.check()  # nothing failing: no exception

    o.failed(ConnectionError("Connect call failed ('127.0.0.1', 9092)"))
    clock.now += 12
    o.failed(ConnectionError("Connect call failed ('127.0.0.1', 9092)"))
    with pytest.raises(DependencyDownError) as raised:
        o.check()
    message = str(raised.value)
    assert message.startswith("reading the incidents topic has failed for 12s (2 tries)")
    assert "Connect call failed" in message
    assert "next try in 1s" in message
    assert errors._value.get() == 2
    assert "check that kafka is up" in caplog.text

    with caplog.at_level(logging.INFO):
        o.recovered()
    o.check()
    assert not o.failing
    assert "reading the incidents topic works again" in caplog.text
    # A later outage starts from the shortest wait again.
    assert o.failed(OSError("x")) == 0.5
