"""A dependency that keeps failing, as a loop that must never give up sees it.

A consumer loop does not stop because Kafka is down: it waits and tries again, for as long as it
takes. `Outage` is the one policy for that wait (exponential, with jitter so that replicas do not
retry in step, capped) and the one place that knows whether the dependency is failing right now,
so that readiness and logs say what fails, since when, and when the next try is:

    outage = Outage("kafka", what="reading the incidents topic", log=log, errors=metrics.kafka_errors)
    while True:
        try:
            batch = await consumer.getmany(...)
        except KafkaError as exc:
            await asyncio.sleep(outage.failed(exc))
            continue
        outage.recovered()

`check()` raises while the outage lasts: a readiness probe built on it turns red on the first
failure and green on the first success.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import Protocol


class _Counter(Protocol):
    def inc(self, amount: float = 1) -> None: ...


class DependencyDownError(ConnectionError):
    """Raised by `Outage.check()`; the message says what fails and what happens next."""


class Outage:
    def __init__(
        self,
        dependency: str,
        *,
        what: str,
        log: logging.Logger,
        errors: _Counter | None = None,
        initial_seconds: float = 0.5,
        max_seconds: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.dependency = dependency
        self.what = what
        self._log = log
        self._errors = errors
        self._initial = initial_seconds
        self._max = max_seconds
        self._clock = clock
        self._jitter = jitter
        self.failures = 0  # consecutive failures of the outage in progress; 0 when none
        self.since: float | None = None
        self.last_error = ""
        self.retry_at: float | None = None

    @property
    def failing(self) -> bool:
        return self.failures > 0

    def failed(self, exc: BaseException) -> float:
        """Records a failure; returns how long to wait before the next try (seconds)."""
        now = self._clock()
        self.failures += 1
        if self.since is None:
            self.since = now
        self.last_error = f"{type(exc).__name__}: {exc}"[:300]
        ceiling = min(self._max, self._initial * 2.0 ** min(self.failures - 1, 30))
        delay = ceiling / 2 + ceiling / 2 * self._jitter()
        self.retry_at = now + delay
        if self._errors is not None:
            self._errors.inc()
        self._log.warning(
            "%s failed; retrying (check that %s is up and reachable)",
            self.what,
            self.dependency,
            extra={
                "dependency": self.dependency,
                "attempt": self.failures,
                "failingForSeconds": round(now - self.since, 1),
                "retryInSeconds": round(delay, 2),
                "error": self.last_error,
            },
        )
        return delay

    def recovered(self) -> None:
        """Records a success: ends the outage in progress, if any (and says how long it lasted)."""
        if self.since is None:
            return
        self._log.info(
            "%s works again",
            self.what,
            extra={
                "dependency": self.dependency,
                "failedAttempts": self.failures,
                "outageSeconds": round(self._clock() - self.since, 1),
            },
        )
        self.failures = 0
        self.since = None
        self.last_error = ""
        self.retry_at = None

    def describe(self) -> str:
        """One line for a person: what fails, for how long, why, and when the next try is."""
        if self.since is None:
            return f"{self.what}: ok"
        now = self._clock()
        retry = f"; next try in {max(0.0, self.retry_at - now):.0f}s" if self.retry_at is not None else ""
        return f"{self.what} has failed for {now - self.since:.0f}s ({self.failures} tries): {self.last_error}{retry}"

    def check(self) -> None:
        """Raises `DependencyDownError` while the outage lasts."""
        if self.failing:
            raise DependencyDownError(self.describe())
