"""The Faust-table store: state survives the JSON round trip of a changelog, and the tumbling
one-minute window keeps per-minute counts apart (driven by event time, outside stream iteration)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import faust
import orjson
import pytest

from aggregator.engine import CorrelationEngine, MemoryStore
from aggregator.engine.state import GroupState
from aggregator.faust_store import FaustStore
from aggregator.routing import partition_for, partitioner
from support.engine_scenarios import Scenario

pytestmark = pytest.mark.unit


class RoundTripStore(MemoryStore):
    """A memory store that keeps groups only as JSON, as a changelog would after a restart."""

    def __init__(self) -> None:
        super().__init__()
        self.raw: dict[str, bytes] = {}

    def get_group(self, key: str) -> GroupState | None:
        raw = self.raw.get(key)
        return GroupState.from_dict(orjson.loads(raw)) if raw else None

    def put_group(self, group: GroupState) -> None:
        self.raw[group.key] = orjson.dumps(group.to_dict())

    def group_keys(self) -> list[str]:
        return list(self.raw)


def test_state_that_went_through_json_gives_the_same_incidents() -> None:
    s = (
        Scenario()
        .emit("payments", 5, "ledger unreachable at 10.0.0.{i}", count=30, every=20)
        .emit("search", 4, "shard {i} unavailable", at=3, count=30)
        .emit("payments", 4, "ledger unreachable at 10.0.0.1", at=40, count=3)
    )
    reference = s.run()
    engine = CorrelationEngine(s.config, RoundTripStore())
    changes = []
    for e in sorted(s.events, key=lambda e: e.timestamp):
        engine.process(e)
        changes.extend(engine.flush())
    latest = {c.incident.incidentId: c.incident for c in changes}
    assert {k: v.model_dump() for k, v in latest.items()} == {i.incidentId: i.model_dump() for i in reference.incidents}


def _tables() -> tuple[Any, ...]:
    app = faust.App("store-test", broker="memory://", store="memory://", key_serializer="json", value_serializer="json")
    tables = (
        app.Table("groups", use_partitioner=True),
        app.Table("baselines", use_partitioner=True),
        app.Table("seen", use_partitioner=True),
        app.Table("minute_counts", default=int, use_partitioner=True).tumbling(60.0, expires=3600.0),
    )
    sent = SimpleNamespace(message=SimpleNamespace(partition=0))
    for t in (*tables[:3], tables[3].table):
        t.send_changelog = lambda *a, **k: sent  # no broker here: the changelog is not under test
    return tables


def test_minute_counts_are_kept_per_tumbling_window_of_event_time() -> None:
    store = FaustStore(*_tables())
    store.add_count("g\x1fs:api", 1000, 2)
    store.add_count("g\x1fs:api", 1001, 5)
    store.write_through()
    store.reset()  # read back from the table, not the cache
    assert store.get_count("g\x1fs:api", 1000) == 2
    assert store.get_count("g\x1fs:api", 1001) == 5
    assert store.get_count("g\x1fs:api", 1002) == 0
    store.add_count("g\x1fs:api", 1000, 1)  # a late event counts into its own minute
    store.write_through()
    store.reset()
    assert store.get_count("g\x1fs:api", 1000) == 3


def test_buffered_writes_reach_the_tables_only_on_write_through() -> None:
    groups, *rest = _tables()
    store = FaustStore(groups, *rest)
    store.put_group(GroupState(key="g"))
    store.remember("g\x1fevt_1", 1.0)
    assert "g" not in groups
    store.write_through()
    assert groups["g"]["key"] == "g"
    assert store.seen("g\x1fevt_1") is not None


def test_table_keys_route_to_the_partition_of_their_correlation_key() -> None:
    parts = list(range(6))
    for key in ["payments", "checkout", "search-service"]:
        p = partition_for(key, 6)
        assert partitioner(key.encode(), parts, parts) == p
        assert partitioner(orjson.dumps(key), parts, parts) == p
        assert partitioner(orjson.dumps(f"{key}\x1fs:api"), parts, parts) == p
        assert partitioner(orjson.dumps([f"{key}\x1fs:api", [60.0, 119.9]]), parts, parts) == p


def test_a_reset_drops_the_buffered_writes_of_a_cycle_that_never_finished() -> None:
    # The worker stopped between processing a batch and writing its state: the batch is replayed,
    # so its events must not be marked as seen (the replay would drop them from their incidents).
    groups, baselines, seen, counts = _tables()
    store = FaustStore(groups, baselines, seen, counts)
    store.put_group(GroupState(key="g"))
    store.remember("g\x1fevt_1", 1.0)
    store.reset()
    assert "g" not in groups
    assert store.get_group("g") is None
    assert store.seen("g\x1fevt_1") is None
