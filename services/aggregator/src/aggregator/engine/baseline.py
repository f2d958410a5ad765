"""Per-key event-rate baselines learned from the stream, the spike factor, and the departure test.

Counts per one-minute tumbling window (event time) live in the store's windowed counts. When a key
moves to a new minute, the closed minute's count is folded into an exponentially weighted mean and
variance (half-life from the config), and the empty minutes in between decay it: a steady chronic
stream raises its own baseline, a quiet service keeps a low one.

A template's baseline starts with its service's history: a template first seen on a service
watched for an hour has been absent for that hour, which is what makes its first burst unusual.

`usual_rate` answers "how often did this key fire before the last few minutes?": the mean is
unfolded minute by minute out of the recent window (whose counts the store still has), so that a
burst under test does not raise the rate it is tested against, then corrected for the bias of a
young baseline (an EWMA started at zero). `surprise` turns a count against that rate into a
probability, widened by how little history backs the rate: more honest than a z-score at the low
counts that matter here.
"""

from __future__ import annotations

import math

from aggregator.engine.state import Baseline
from aggregator.engine.store import EngineStore

_MAX_CLOSED_SUMS = 100_000


class Baselines:
    def __init__(self, store: EngineStore, *, half_life: float, max_keys: int, idle_expiry: float) -> None:
        self._store = store
        self._alpha = 1.0 - 0.5 ** (60.0 / half_life)
        self._max_keys = max_keys
        self._idle_expiry = idle_expiry
        self._closed: dict[str, tuple[int, int, int]] = {}  # key -> (minute, window, sum of closed minutes)

    def observe(self, key: str, t: float, *, history: int = 0) -> float:
        """Counts one event of `key` at event time `t`; returns the spike factor of its minute.

        The spike factor compares this minute's count with the mean of the minutes before it:
        `(count + 1) / (mean + 1)`, so that a handful of events on a silent service is a spike and
        the same handful on a service that always has them is not. A new key starts with `history`
        minutes of silence behind it.
        """
        minute = int(t // 60)
        store = self._store
        b = store.get_baseline(key)
        if b is None:
            b = Baseline(minute=minute, minutes=history, last_t=t)
        elif minute > b.minute:
            self._roll(key, b, minute)
        if minute == b.minute:
            # The minute being counted is counted in the baseline itself, and written to the
            # store's minute counts when it closes: one store write per key and minute.
            b.count += 1
            count = b.count
        else:  # a late event: counted into its own minute, compared with the baseline as it is now
            count = store.add_count(key, minute, 1)
            self._closed.pop(key, None)
        b.last_t = max(b.last_t, t)
        store.put_baseline(key, b)
        return (count + 1) / (b.mean + 1)

    def observe_pair(self, service_key: str, template_key: str, t: float) -> float:
        """Counts one event of a service and of its template; returns the higher spike factor.
        A template new to the service starts with the service's history behind it."""
        spike = self.observe(service_key, t)
        store = self._store
        if store.get_baseline(template_key) is None:
            service = store.get_baseline(service_key)
            return max(spike, self.observe(template_key, t, history=service.minutes if service else 0))
        return max(spike, self.observe(template_key, t))

    def _roll(self, key: str, b: Baseline, minute: int) -> None:
        a = self._alpha
        closed = self._store.add_count(key, b.minute, b.count) if b.count else self._store.get_count(key, b.minute)
        b.count = 0
        self._closed.pop(key, None)  # the minute just written may be one a cached sum left out
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

    def get(self, key: str) -> Baseline | None:
        return self._store.get_baseline(key)

    def minutes(self, key: str) -> int:
        """How many minutes the key has been watched (0 for a key never seen)."""
        b = self._store.get_baseline(key)
        return b.minutes if b else 0

    def recent(self, key: str, t: float, window: int) -> int:
        """Events of `key` in the `window` minutes up to and including the minute of `t`."""
        minute = int(t // 60)
        # The minutes before this one are closed: their sum is kept until the minute moves on
        # (or a late event lands in one of them).
        cached = self._closed.get(key)
        if cached is not None and cached[0] == minute and cached[1] == window:
            closed = cached[2]
        else:
            get = self._store.get_count
            closed = sum(get(key, m) for m in range(minute - window + 1, minute))
            if len(self._closed) >= _MAX_CLOSED_SUMS:
                self._closed.clear()
            self._closed[key] = (minute, window, closed)
        total = closed + self._store.get_count(key, minute)
        b = self._store.get_baseline(key)
        if b is not None and minute - window < b.minute <= minute:
            total += b.count  # the minute being counted
        return total

    def usual_rate(self, key: str, t: float, window: int) -> tuple[float, float]:
        """The key's usual events per minute before the last `window` minutes, and how many minutes
        of history that rate rests on (0: none, the rate is unknown): the minutes folded in, up to
        the averaging's own memory (about 1.44 half-lives)."""
        b = self._store.get_baseline(key)
        if b is None:
            return 0.0, 0
        minute = int(t // 60)
        a = self._alpha
        mean, folded = b.mean, b.minutes
        # Minutes folded in so far run up to b.minute - 1; unfold those inside the window.
        get = self._store.get_count
        for m in range(b.minute - 1, minute - window, -1):
            if folded <= 0:
                break
            mean = max(0.0, (mean - a * get(key, m)) / (1 - a))
            folded -= 1
        if folded <= 0:
            return 0.0, 0.0
        return mean / (1 - (1 - a) ** folded), min(float(folded), 1 / a)

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


def surprise(k: int, rate: float, history: float, minutes: float) -> float:
    """How likely `k` or more events in `minutes` are, for a key that fired at `rate` per minute
    over `history` minutes: the chance under the rate, widened by how little history backs it.

    The count in the window given what was seen is negative binomial (a Poisson whose rate is
    itself uncertain, with a half-event prior): after a few minutes of history one unlucky burst
    is not unusual, after hours the same count is.
    """
    if k <= 0:
        return 1.0
    if history <= 0:
        return 0.0
    r = rate * history + 0.5
    p = history / (history + minutes)
    mean = r * (1 - p) / p
    if mean > 200:  # the normal approximation, with continuity correction
        return 0.5 * math.erfc((k - 0.5 - mean) / math.sqrt(2 * mean / p))
    term = math.exp(r * math.log(p))
    below = term
    for i in range(1, k):
        term *= (r + i - 1) / i * (1 - p)
        below += term
    return max(0.0, 1.0 - below)
