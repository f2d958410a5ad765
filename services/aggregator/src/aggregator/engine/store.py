"""The store interface the engine keeps its state behind, and the in-memory implementation.

The aggregator implements it over Faust tables (a windowed one for the per-minute counts); replay,
tests and benchmarks use `MemoryStore`. Mutations go through the store so that an implementation
may buffer them and write once per batch (`commit`).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from typing import Protocol

from aggregator.engine.state import Baseline, GroupState


class EngineStore(Protocol):
    def get_group(self, key: str) -> GroupState | None: ...
    def put_group(self, group: GroupState) -> None: ...
    def delete_group(self, key: str) -> None: ...
    def group_keys(self) -> Iterable[str]: ...
    def get_baseline(self, key: str) -> Baseline | None: ...
    def put_baseline(self, key: str, baseline: Baseline) -> None: ...
    def baseline_keys(self) -> Iterable[str]: ...
    def delete_baseline(self, key: str) -> None: ...
    def add_count(self, key: str, minute: int, n: int) -> int:
        """Adds `n` to the key's count in the tumbling one-minute window `minute` (epoch minutes);
        returns the new count."""

    def get_count(self, key: str, minute: int) -> int: ...
    def seen(self, event_id: str) -> str | None:
        """The position tag the event id was remembered with, or None if it was not."""

    def remember(self, event_id: str, t: float, tag: str = "") -> None: ...
    def expire(self, before: float) -> None:
        """Forgets event ids and minute counts older than `before` (event time, epoch seconds)."""

    def commit(self) -> None:
        """Makes buffered mutations durable (a no-op for memory)."""


class MemoryStore:
    """Plain maps. Deterministic iteration order (insertion), bounded by `expire`."""

    def __init__(self) -> None:
        self.groups: dict[str, GroupState] = {}
        self.baselines: dict[str, Baseline] = {}
        self.counts: dict[tuple[str, int], int] = {}
        self.ids: OrderedDict[str, tuple[float, str]] = OrderedDict()

    def get_group(self, key: str) -> GroupState | None:
        return self.groups.get(key)

    def put_group(self, group: GroupState) -> None:
        self.groups[group.key] = group

    def delete_group(self, key: str) -> None:
        self.groups.pop(key, None)

    def group_keys(self) -> Iterable[str]:
        return list(self.groups)

    def get_baseline(self, key: str) -> Baseline | None:
        return self.baselines.get(key)

    def put_baseline(self, key: str, baseline: Baseline) -> None:
        self.baselines[key] = baseline

    def baseline_keys(self) -> Iterable[str]:
        return list(self.baselines)

    def delete_baseline(self, key: str) -> None:
        self.baselines.pop(key, None)

    def add_count(self, key: str, minute: int, n: int) -> int:
        k = (key, minute)
        count = self.counts[k] = self.counts.get(k, 0) + n
        return count

    def get_count(self, key: str, minute: int) -> int:
        return self.counts.get((key, minute), 0)

    def seen(self, event_id: str) -> str | None:
        entry = self.ids.get(event_id)
        return entry[1] if entry else None

    def remember(self, event_id: str, t: float, tag: str = "") -> None:
        self.ids[event_id] = (t, tag)

    def expire(self, before: float) -> None:
        # Ids arrive roughly in event-time order; an id with a late timestamp is kept a little longer.
        while self.ids:
            event_id, (t, _) = next(iter(self.ids.items()))
            if t >= before:
                break
            del self.ids[event_id]
        cutoff = int(before // 60)
        for k in [k for k in self.counts if k[1] < cutoff]:
            del self.counts[k]

    def commit(self) -> None:
        return None
