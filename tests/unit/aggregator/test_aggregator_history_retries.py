"""The history writer's retry policy, driven by a store that fails on cue: a document that keeps
failing for no known reason is dead-lettered after a bounded number of attempts while the rest
of its batch is written; a store that is down holds the write (visibly) until it is back."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pymongo.errors import OperationFailure, ServerSelectionTimeoutError

from aggregator.assignments import Row
from aggregator.history.join import Insert, Work
from aggregator.history.writer import Backoff, HistoryWriter
from support import aggregator_steps as s
from support.engine_scenarios import T0, make_event

pytestmark = pytest.mark.unit


class FailingCollection:
    def __init__(self, store: FailingStore) -> None:
        self.store = store

    async def insert_many(self, docs: list[dict[str, Any]], ordered: bool = True) -> None:
        self.store.calls += 1
        failure = self.store.fail(docs)
        if failure is not None:
            raise failure
        self.store.docs.extend(docs)


class FailingStore:
    """A database whose inserts fail as `fail(docs)` says; updates always succeed."""

    def __init__(self, fail: Callable[[list[dict[str, Any]]], BaseException | None]) -> None:
        self.fail = fail
        self.docs: list[dict[str, Any]] = []
        self.calls = 0

    def __getitem__(self, name: str) -> FailingCollection:
        return FailingCollection(self)

    async def command(self, command: dict[str, Any]) -> dict[str, Any]:
        return {"ok": 1.0}


async def _no_wait(seconds: float) -> None:
    return None


def _work(messages: list[str]) -> Work:
    entries = []
    for i, message in enumerate(messages):
        event = make_event("api", 4, message, T0)
        entries.append((s.event_record(event, offset=i), Row(i, event.eventId, None, "fp", "t")))
    return Work(operations=[Insert(entries)])


async def test_a_document_failing_every_attempt_is_dead_lettered_and_the_rest_is_written() -> None:
    store = FailingStore(
        lambda docs: (
            OperationFailure("cannot index it", code=17280) if any("poison" in d["message"] for d in docs) else None
        )
    )
    m, registry = s.metrics()
    dead, dlq = s.dead_letters(m)
    writer = HistoryWriter(store, dead_letters=dead, metrics=m, max_attempts=3, backoff=Backoff(sleep=_no_wait))  # type: ignore[arg-type]
    await writer.write(_work(["fine 1", "poison", "fine 2", "fine 3"]))
    assert sorted(d["message"] for d in store.docs) == ["fine 1", "fine 2", "fine 3"]
    [letter] = dlq.sent
    assert letter.headers["dlq-kind"] == b"store-failed"
    assert letter.headers["dlq-reason"].startswith(b"MongoDB: failed 3 attempts, the last: OperationFailure")
    assert letter.headers["dlq-origin"] == b"events/0/1"
    assert s.value(registry, "aggregator_history_retries_total", kind="unknown") == 2
    assert s.value(registry, "aggregator_dead_letters_total", reason="store-failed") == 1


async def test_a_store_that_is_down_holds_the_write_until_it_is_back() -> None:
    outage = [ServerSelectionTimeoutError("127.0.0.1:27017: [Errno 111] Connection refused")] * 4
    holding: list[float] = []
    m, registry = s.metrics()

    async def watch(seconds: float) -> None:
        holding.append(s.value(registry, "aggregator_history_holding"))

    store = FailingStore(lambda docs: outage.pop() if outage else None)
    dead, dlq = s.dead_letters(m)
    writer = HistoryWriter(store, dead_letters=dead, metrics=m, max_attempts=1, backoff=Backoff(sleep=watch))  # type: ignore[arg-type]
    await writer.write(_work(["a", "b"]))
    assert len(store.docs) == 2
    assert dlq.sent == []  # a store that is down is never a reason to give up on a record
    assert holding == [1.0, 1.0, 1.0, 1.0]
    assert s.value(registry, "aggregator_history_holding") == 0
    assert s.value(registry, "aggregator_history_retries_total", kind="transient") == 4
    assert writer.holding_since is None
    assert writer.last_error is not None
    assert "Connection refused" in writer.last_error
