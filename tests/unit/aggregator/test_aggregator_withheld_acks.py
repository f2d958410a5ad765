"""A batch the worker did not finish is never acknowledged to Faust, so its offsets are never
committed and the next worker replays it (Faust's `take_events` acknowledges a batch in a `finally`,
also when the agent was cancelled in the middle of it)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from faust.types.tuples import ConsumerMessage

from aggregator.worker import withhold_acks

pytestmark = pytest.mark.unit


class Consumer:
    def __init__(self) -> None:
        self.acked: list[int] = []

    def ack(self, message: Any) -> bool:
        self.acked.append(message.offset)
        return True


def _message(offset: int) -> ConsumerMessage:
    return ConsumerMessage("events", 0, offset, 0.0, 0, None, b"k", b"{}", None)


def test_an_unfinished_batch_is_never_acknowledged_to_the_consumer() -> None:
    consumer = Consumer()
    finished, unfinished = [_message(0), _message(1)], [_message(2), _message(3)]
    withhold_acks([SimpleNamespace(message=m) for m in unfinished])
    for m in [*finished, *unfinished]:  # what take_events' `finally` does for each batch
        m.ack(consumer)  # type: ignore[arg-type]
    assert consumer.acked == [0, 1]
