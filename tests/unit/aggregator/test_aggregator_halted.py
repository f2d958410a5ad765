"""The worker's health pages say when it is stopping or crashed, so that a liveness probe restarts it."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from aggregator.worker import halted

pytestmark = pytest.mark.unit


def test_a_running_worker_is_not_halted() -> None:
    assert halted(SimpleNamespace(should_stop=False, crash_reason=None)) is None


def test_a_crashed_worker_says_why() -> None:
    state = halted(SimpleNamespace(should_stop=True, crash_reason=KeyError("nModified")))
    assert state == {"status": "crashed", "reason": "KeyError('nModified')"}


def test_a_worker_asked_to_stop_says_it_is_stopping() -> None:
    assert halted(SimpleNamespace(should_stop=True, crash_reason=None)) == {"status": "stopping", "reason": None}
