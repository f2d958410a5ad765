"""The circuit breaker's states and the daily budget's arithmetic, on an injected clock."""

from __future__ import annotations

from datetime import timedelta

import pytest

from summarizer.breaker import CircuitBreaker
from summarizer.budget import Budget, price_of
from summarizer.providers.base import classify_status, parse_retry_after

pytestmark = pytest.mark.unit


def test_the_breaker_opens_after_consecutive_failures_only(clock):
    transitions = []
    b = CircuitBreaker(failure_threshold=3, cooldown_seconds=60, clock=clock, on_transition=transitions.append)
    b.record_failure("timeout")
    b.record_failure("timeout")
    b.record_success()  # resets the run
    b.record_failure("server-error")
    b.record_failure("server-error")
    assert b.state == "closed"
    b.record_failure("server-error")
    assert b.state == "open"
    assert not b.allow()
    assert b.snapshot()["halfOpenAt"] == "2026-01-31T12:01:00.000Z"
    assert transitions == ["open"]


def test_half_open_lets_one_probe_through(clock):
    b = CircuitBreaker(failure_threshold=1, cooldown_seconds=60, clock=clock)
    b.record_failure("timeout")
    clock.advance(60)
    assert b.state == "half-open"
    assert b.allow()
    assert not b.allow()  # a second caller while the probe is out
    b.record_success()
    assert b.state == "closed"
    assert b.allow()


def test_an_operator_reset_closes_the_breaker(clock):
    b = CircuitBreaker(failure_threshold=1, cooldown_seconds=600, clock=clock)
    b.record_failure("auth-or-config")
    b.reset()
    assert b.state == "closed"
    assert b.snapshot()["consecutiveFailures"] == 0
    assert b.snapshot()["timesOpened"] == 1


def test_prices_match_dated_model_names_and_overrides():
    assert price_of("claude-haiku-4-5-20251001") == (1.0, 5.0)
    assert price_of("gpt-4o-mini-2024-07-18") == (0.15, 0.6)
    assert price_of("my-local-llama", (0.0, 0.0)) == (0.0, 0.0)
    assert price_of("my-local-llama") == (3.0, 15.0)


def test_concurrent_reservations_cannot_overshoot_the_budget(clock):
    budget = Budget(daily_usd=0.01, clock=clock)
    # Worst case of each call: 1000 in at $1 + 1000 out at $5 per million = $0.006.
    first = budget.reserve("claude-haiku-4-5", 1000, 1000)
    assert first is not None
    assert budget.reserve("claude-haiku-4-5", 1000, 1000) is None
    cost = budget.settle(first, "claude-haiku-4-5", 1000, 100)
    assert cost == pytest.approx(0.0015)
    assert budget.reserve("claude-haiku-4-5", 1000, 1000) is not None
    assert budget.snapshot()["models"]["claude-haiku-4-5"] == {
        "calls": 1,
        "inputTokens": 1000,
        "outputTokens": 100,
        "costUsd": 0.0015,
    }


def test_the_budget_starts_afresh_each_utc_day(clock):
    budget = Budget(daily_usd=0.001, clock=clock)
    rid = budget.reserve("gpt-4o-mini", 1000, 1000)
    budget.settle(rid, "gpt-4o-mini", 5000, 500)
    assert budget.exhausted
    clock.now += timedelta(days=1)
    assert not budget.exhausted
    assert budget.snapshot()["models"]["gpt-4o-mini"]["calls"] == 1  # the totals are kept


def test_a_zero_budget_means_rule_based_only(clock):
    assert Budget(daily_usd=0, clock=clock).reserve("claude-haiku-4-5", 10, 10) is None


@pytest.mark.parametrize(
    "case",
    [
        (429, {"retry-after": "12"}, "rate-limited", True, 12.0),
        (429, {"retry-after-ms": "1500"}, "rate-limited", True, 1.5),
        (529, {}, "server-error", True, None),
        (500, {}, "server-error", True, None),
        (401, {}, "auth-or-config", False, None),
        (400, {}, "bad-request", False, None),
    ],
)
def test_every_provider_error_is_classified(case):
    status, headers, reason, retryable, retry_after = case
    err = classify_status(status, "x", headers)
    assert (err.reason, err.retryable, err.retry_after) == (reason, retryable, retry_after)


def test_retry_after_as_an_http_date():
    assert parse_retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0
    assert parse_retry_after({"retry-after": "soon"}) is None
