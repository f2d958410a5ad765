"""The engine's store over Faust tables (changelog-backed), with write-behind per batch.

- `groups`: correlation key -> the group's state (open and recent incidents, pending clusters).
- `baselines`: `<key>\\x1f<s:service|f:fingerprint>` -> EWMA of events per minute.
- `minute_counts`: a tumbling one-minute windowed table, relative to the event time the engine
  passes, expiring after a few hours: the per-minute counts the baselines are learned from.
- `seen`: `<key>\\x1f<eventId>` -> event time, for dropping an event delivered twice.

Reads go through a cache of decoded objects; writes are buffered until `write_through()`, which the
worker calls after the cycle's side effects (incident changes, candidates, assignments) are on the
broker, so that a crash in between replays the batch instead of losing it.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable
from typing import Any

from aggregator.engine.state import Baseline, GroupState


class FaustStore:
    def __init__(self, groups: Any, baselines: Any, seen: Any, minute_counts: Any) -> None:
        self._groups_table = groups
        self._baselines_table = baselines
        self._seen_table = seen
        # The windowed table's window arithmetic is used with the event time the engine gives,
        # not Faust's "current event", since writes happen after the batch, outside iteration.
        self._counts = minute_counts.table
        self.reset()

    def reset(self) -> None:
        """Forgets every cached object and buffered write (partitions were revoked or assigned).

        The worker calls this under the engine lock, which a cycle holds until its state is
        written: buffered writes left here are those of a cycle that never finished (the worker
        was stopped or failed in the middle of it). Its input is not acknowledged and is replayed
        from the saved state; writing them would mark its events as seen, and the replay would
        drop them from their incidents.
        """
        self._groups: dict[str, GroupState] = {}
        self._dirty_groups: set[str] = set()
        self._deleted_groups: set[str] = set()
        self._baselines: dict[str, Baseline] = {}
        self._dirty_baselines: set[str] = set()
        self._deleted_baselines: set[str] = set()
        self._seen_buckets: dict[str, dict[str, list[Any]]] = {}
        self._dirty_buckets: set[str] = set()
        self._counts_pending: dict[tuple[str, int], int] = {}
        self._counts_cache: dict[tuple[str, int], int] = {}

    # groups
    def get_group(self, key: str) -> GroupState | None:
        group = self._groups.get(key)
        if group is None and key not in self._deleted_groups:
            raw = self._groups_table.get(key)
            if raw is not None:
                group = self._groups[key] = GroupState.from_dict(raw)
        return group

    def put_group(self, group: GroupState) -> None:
        self._groups[group.key] = group
        self._dirty_groups.add(group.key)
        self._deleted_groups.discard(group.key)

    def delete_group(self, key: str) -> None:
        self._groups.pop(key, None)
        self._dirty_groups.discard(key)
        self._deleted_groups.add(key)

    def group_keys(self) -> Iterable[str]:
        keys = dict.fromkeys(self._groups_table.keys())
        keys.update(dict.fromkeys(self._groups))
        return [k for k in keys if k not in self._deleted_groups]

    # baselines
    def get_baseline(self, key: str) -> Baseline | None:
        b = self._baselines.get(key)
        if b is None and key not in self._deleted_baselines:
            raw = self._baselines_table.get(key)
            if raw is not None:
                b = self._baselines[key] = Baseline.from_dict(raw)
        return b

    def put_baseline(self, key: str, baseline: Baseline) -> None:
        self._baselines[key] = baseline
        self._dirty_baselines.add(key)
        self._deleted_baselines.discard(key)

    def baseline_keys(self) -> Iterable[str]:
        keys = dict.fromkeys(self._baselines_table.keys())
        keys.update(dict.fromkeys(self._baselines))
        return [k for k in keys if k not in self._deleted_baselines]

    def delete_baseline(self, key: str) -> None:
        self._baselines.pop(key, None)
        self._dirty_baselines.discard(key)
        self._deleted_baselines.add(key)

    # windowed minute counts
    def add_count(self, key: str, minute: int, n: int) -> int:
        k = (key, minute)
        self._counts_pending[k] = self._counts_pending.get(k, 0) + n
        count = self._counts_cache[k] = self.get_count(key, minute) + n
        return count

    def get_count(self, key: str, minute: int) -> int:
        k = (key, minute)
        cached = self._counts_cache.get(k)
        if cached is None:
            cached = self._counts_cache[k] = int(self._counts._windowed_timestamp(key, minute * 60.0 + 30.0) or 0)
        return cached

    # seen event ids
    def _bucket(self, bucket_key: str) -> dict[str, list[Any]]:
        bucket = self._seen_buckets.get(bucket_key)
        if bucket is None:
            bucket = self._seen_buckets[bucket_key] = dict(self._seen_table.get(bucket_key) or {})
        return bucket

    def seen(self, event_id: str) -> str | None:
        bucket_key, _, eid = event_id.rpartition("\x1f")
        entry = self._bucket(bucket_key).get(eid)
        return None if entry is None else str(entry[1])

    def remember(self, event_id: str, t: float, tag: str = "") -> None:
        bucket_key, _, eid = event_id.rpartition("\x1f")
        self._bucket(bucket_key)[eid] = [t, tag]
        self._dirty_buckets.add(bucket_key)

    def expire(self, before: float) -> None:
        cutoff = int(before // 60)

        def minute_of(bucket_key: str) -> int:
            tail = bucket_key.rpartition("\x1f")[2]
            return int(tail) if tail.lstrip("-").isdigit() else cutoff

        for key in list(self._seen_table.keys()):
            if minute_of(key) < cutoff:
                del self._seen_table[key]
        self._seen_buckets = {
            k: v for k, v in self._seen_buckets.items() if minute_of(k) >= cutoff or k in self._dirty_buckets
        }
        # Minute counts expire with their window (the table's `expires`); the read cache goes too.
        self._counts_cache = {k: v for k, v in self._counts_cache.items() if k[1] >= cutoff}

    def commit(self) -> None:
        """Nothing: the worker decides when buffered state is written (`write_through`)."""

    def write_through(self) -> None:
        """Writes every buffered change to the tables (and so to their changelog topics)."""
        for key in self._deleted_groups:
            self._groups_table.pop(key, None)
        for key in self._dirty_groups:
            self._groups_table[key] = self._groups[key].to_dict()
        for key in self._deleted_baselines:
            self._baselines_table.pop(key, None)
        for key in self._dirty_baselines:
            self._baselines_table[key] = self._baselines[key].to_dict()
        for bucket_key in self._dirty_buckets:
            self._seen_table[bucket_key] = dict(self._seen_buckets[bucket_key])
        for (key, minute), n in self._counts_pending.items():
            self._counts._apply_window_op(operator.add, key, n, minute * 60.0 + 30.0)
        self._dirty_groups.clear()
        self._deleted_groups.clear()
        self._dirty_baselines.clear()
        self._deleted_baselines.clear()
        self._dirty_buckets.clear()
        self._counts_pending.clear()
        if len(self._counts_cache) > 200_000:
            self._counts_cache.clear()
