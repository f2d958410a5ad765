"""A circuit breaker around the AI provider: stop calling a provider that keeps failing.

closed --(failure_threshold consecutive failures)--> open --(cooldown)--> half-open
half-open --(the one probe call succeeds)--> closed;  half-open --(it fails)--> open again.

While open (and while a half-open probe is in flight) calls are refused at once and the caller
writes a rule-based summary instead. Pure state over an injected clock; one event loop owns it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Literal

from incident_shared.timeutil import iso

BreakerState = Literal["closed", "open", "half-open"]


class CircuitBreaker:
    def __init__(
        self,
        *,
        failure_threshold: int,
        cooldown_seconds: float,
        clock: Callable[[], datetime],
        on_transition: Callable[[BreakerState], None] | None = None,
    ) -> None:
        self.failure_threshold = failure_threshold
        self.cooldown = timedelta(seconds=cooldown_seconds)
        self._clock = clock
        self._on_transition = on_transition
        self._state: BreakerState = "closed"
        self._consecutive_failures = 0
        self._opened_at: datetime | None = None
        self._probe_in_flight = False
        self.successes = 0
        self.failures = 0
        self.rejected = 0
        self.times_opened = 0
        self.last_failure: str | None = None
        self.last_failure_at: datetime | None = None
        self.last_transition_at: datetime | None = None

    @property
    def state(self) -> BreakerState:
        if self._state == "open" and self._cooled_down():
            return "half-open"
        return self._state

    def _cooled_down(self) -> bool:
        return self._opened_at is not None and self._clock() >= self._opened_at + self.cooldown

    def _move(self, state: BreakerState) -> None:
        if state != self._state:
            self._state = state
            self.last_transition_at = self._clock()
            if self._on_transition is not None:
                self._on_transition(state)

    def allow(self) -> bool:
        """May a call go to the provider now? In half-open, only one probe at a time is let through."""
        if self._state == "open" and self._cooled_down():
            self._move("half-open")
        if self._state == "closed":
            return True
        if self._state == "half-open" and not self._probe_in_flight:
            self._probe_in_flight = True
            return True
        self.rejected += 1
        return False

    def record_success(self) -> None:
        self.successes += 1
        self._consecutive_failures = 0
        self._probe_in_flight = False
        self._opened_at = None
        self._move("closed")

    def record_failure(self, reason: str) -> None:
        self.failures += 1
        self._consecutive_failures += 1
        self.last_failure = reason
        self.last_failure_at = self._clock()
        if self._state == "half-open" or self._consecutive_failures >= self.failure_threshold:
            self._probe_in_flight = False
            self._opened_at = self._clock()
            if self._state != "open":
                self.times_opened += 1
            self._move("open")

    def record_neutral(self) -> None:
        """A call ended in a way that says nothing about the provider's health (e.g. a bad request)."""
        self._probe_in_flight = False

    def reset(self) -> None:
        """An operator's reset: closed, counters of consecutive failures cleared."""
        self._consecutive_failures = 0
        self._probe_in_flight = False
        self._opened_at = None
        self._move("closed")

    def snapshot(self) -> dict[str, Any]:
        retry_at = self._opened_at + self.cooldown if self._opened_at is not None else None
        return {
            "state": self.state,
            "consecutiveFailures": self._consecutive_failures,
            "failureThreshold": self.failure_threshold,
            "cooldownSeconds": self.cooldown.total_seconds(),
            "openedAt": iso(self._opened_at) if self._opened_at else None,
            "halfOpenAt": iso(retry_at) if retry_at and self.state == "open" else None,
            "successes": self.successes,
            "failures": self.failures,
            "rejected": self.rejected,
            "timesOpened": self.times_opened,
            "lastFailure": self.last_failure,
            "lastFailureAt": iso(self.last_failure_at) if self.last_failure_at else None,
            "lastTransitionAt": iso(self.last_transition_at) if self.last_transition_at else None,
        }
