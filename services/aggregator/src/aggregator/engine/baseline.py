"""Per-key event-rate baselines learned from the stream, and the spike factor against them.

Counts per one-minute tumbling window (event time) live in the store's windowed counts. When a key
moves to a new minute, the closed minute's count is folded into an exponentially weighted mean and
variance (half-life from the config), and the empty minutes in between decay it: a steady chronic
stream raises its own baseline, a quiet service keeps a low one.
"""

from __future__ import annotations

import math

from aggregator.engine.state import Baseline
from aggregator.engine.store import EngineStore


class Baselines:
    def __init__(self, store: EngineStore, *, half_life: float, max_keys: int, idle_expiry: float) -> None:
        self._store = store
        self._alpha = 1.0 - 0.5 ** (60.0 / half_life)
        self._max_keys = max_keys
        self._idle_expiry = idle_expiry

    def observe(self, key: str, t: float) -> float:
        """Counts one event of `key` at event time `t`; returns the spike factor of its minute.

        The spike factor compares this minute's count with the mean of the minutes before it:
        `(count + 1) / (mean + 1)`, so that a handful of events on a silent service is a spike and
        the same handful on a service that always has them is not.
        """
        minute = int(t // 60)
        store = self._store
        b = store.get_baseline(key)
        if b is None:
            b = Baseline(minute=minute, last_t=t)
        elif minute > b.minute:
            self._roll(key, b, minute)
        count = store.add_count(key, minute, 1)
        b.last_t = max(b.last_t, t)
        store.put_baseline(key, b)
        # A late event (minute < b.minute) is compared with the baseline as it is now.
        return (count + 1) / (b.mean + 1)

    def _roll(self, key: str, b: Baseline, minute: int) -> None:
        a = self._alpha
        closed = self._store.get_count(key, b.minute)
        diff = closed - b.mean
        b.mean += a * diff
        b.var = (1 - a) * (b.var + a * diff * diff)
        b.minutes += 1
        gap = minute - b.minute - 1
        if gap > 0:
            decay = (1 - a) ** min(gap, 10_000)
            # Empty minutes pull the mean toward zero; the variance keeps the memory of the bursts.
            b.var = b.var * decay + b.mean * b.mean * decay * (1 - decay)
            b.mean *= decay
            b.minutes += gap
        b.minute = minute

    def mean(self, key: str) -> float:
        b = self._store.get_baseline(key)
        return b.mean if b else 0.0

    def zscore(self, key: str, count: int) -> float:
        b = self._store.get_baseline(key)
        if b is None:
            return 0.0
        return (count - b.mean) / math.sqrt(b.var + 1.0)

    def expire(self, now: float) -> None:
        """Drops baselines idle for longer than the expiry, then the least recent beyond the cap."""
        store = self._store
        stale: list[tuple[float, str]] = []
        for key in store.baseline_keys():
            b = store.get_baseline(key)
            if b is None:
                continue
            if now - b.last_t > self._idle_expiry:
                store.delete_baseline(key)
            else:
                stale.append((b.last_t, key))
        excess = len(stale) - self._max_keys
        if excess > 0:
            for _, key in sorted(stale)[:excess]:
                store.delete_baseline(key)
