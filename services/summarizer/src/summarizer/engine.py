"""Writes one incident summary: the provider when it can, the rules when it cannot.

The order of the gates matters: the concurrency limit first (a storm of incidents queues here, not
at the provider), then the daily budget (a reservation of the worst-case cost), then the circuit
breaker (so a refused budget never takes the half-open probe slot), then the call with retries.
Every path ends with a summary: a failure is classified, counted, and becomes a rule-based summary
that says why.
"""

from __future__ import annotations

import asyncio
import logging
import statistics
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from incident_shared.schemas import Incident, IncidentSummary
from incident_shared.schemas.incidents import SummaryUsage
from summarizer.breaker import CircuitBreaker
from summarizer.budget import Budget
from summarizer.digest import Digest, build_digest, estimate_tokens
from summarizer.metrics import BREAKER_STATE_VALUE, SummarizerMetrics
from summarizer.prompt import InvalidOutput, build_prompt, parse_answer, to_summary
from summarizer.providers import Completion, Provider, ProviderError
from summarizer.retry import call_with_retries
from summarizer.rules import summarize_by_rules

log = logging.getLogger(__name__)

# Why a summary is rule-based, in words a person reads in the root cause.
FALLBACK_TEXT: Final = {
    "no-provider": "no AI provider is configured",
    "breaker-open": "the AI provider is failing and its circuit breaker is open",
    "budget-exhausted": "today's AI budget is spent",
    "invalid-output": "the AI answer was unusable",
    "timeout": "the AI provider timed out",
    "rate-limited": "the AI provider is rate limiting",
    "server-error": "the AI provider returned server errors",
    "connection": "the AI provider is unreachable",
    "auth-or-config": "the AI provider refused the key or model",
    "bad-request": "the AI provider refused the request",
}


@dataclass(frozen=True, slots=True)
class Outcome:
    summary: IncidentSummary
    fallback_reason: str | None  # None: written by the provider


class SummaryEngine:
    def __init__(
        self,
        *,
        provider: Provider | None,
        breaker: CircuitBreaker,
        budget: Budget,
        metrics: SummarizerMetrics,
        clock: Callable[[], datetime],
        max_digest_tokens: int = 2000,
        max_output_tokens: int = 1024,
        attempts: int = 3,
        retry_max_wait: float = 30.0,
        concurrency: int = 4,
        sleep: Callable[[float], Awaitable[None]] | None = None,
    ) -> None:
        self.provider = provider
        self.breaker = breaker
        self.budget = budget
        self.metrics = metrics
        self._clock = clock
        self._max_digest_tokens = max_digest_tokens
        self._max_output_tokens = max_output_tokens
        self._attempts = attempts
        self._retry_max_wait = retry_max_wait
        self._sleep = sleep
        self._slots = asyncio.Semaphore(concurrency)
        self.concurrency = concurrency
        self.in_flight = 0
        self._latencies: deque[float] = deque(maxlen=1000)
        self.calls: Counter[str] = Counter()
        self.failures: Counter[str] = Counter()
        self.fallbacks: Counter[str] = Counter()
        self.retries: Counter[str] = Counter()
        self.published: Counter[str] = Counter()
        metrics.breaker_state.set(BREAKER_STATE_VALUE[breaker.state])
        metrics.budget_remaining_usd.set(budget.remaining)

    @property
    def ai_available(self) -> bool:
        """Would a summary asked for now go to the provider (as far as we can tell)?"""
        return self.provider is not None and self.breaker.state != "open" and not self.budget.exhausted

    async def summarize(self, incident: Incident) -> Outcome:
        digest = build_digest(incident, max_tokens=self._max_digest_tokens)
        if self.provider is None:
            return self._fallback(incident, digest, "no-provider")
        provider = self.provider
        async with self._slots:
            self.in_flight += 1
            self.metrics.in_flight.inc()
            try:
                return await self._call(provider, incident, digest)
            finally:
                self.in_flight -= 1
                self.metrics.in_flight.dec()
                self.metrics.breaker_state.set(BREAKER_STATE_VALUE[self.breaker.state])
                self.metrics.budget_remaining_usd.set(self.budget.remaining)

    async def _call(self, provider: Provider, incident: Incident, digest: Digest) -> Outcome:
        prompt = build_prompt(digest)
        input_estimate = estimate_tokens(prompt.system) + estimate_tokens(prompt.user)
        reservation = self.budget.reserve(provider.model, input_estimate, self._max_output_tokens)
        if reservation is None:
            return self._fallback(incident, digest, "budget-exhausted")
        if not self.breaker.allow():
            self.budget.release(reservation)
            return self._fallback(incident, digest, "breaker-open")

        def on_retry(exc: ProviderError, wait: float) -> None:
            self.retries[exc.reason] += 1
            self.metrics.provider_retries.labels(exc.reason).inc()
            log.info(
                "retrying the provider",
                extra={"incidentId": incident.incidentId, "reason": exc.reason, "waitSeconds": round(wait, 2)},
            )

        async def attempt() -> Completion:
            return await provider.complete(prompt, max_output_tokens=self._max_output_tokens)

        started = time.perf_counter()
        try:
            completion = await call_with_retries(
                attempt,
                attempts=self._attempts,
                max_wait=self._retry_max_wait,
                sleep=self._sleep,
                on_retry=on_retry,
            )
        except ProviderError as exc:
            self.budget.release(reservation)
            self._observe_call(provider, started, exc.reason)
            if exc.counts_for_breaker:
                self.breaker.record_failure(exc.reason)
            else:
                self.breaker.record_neutral()
            log.warning(
                "the provider failed; writing a rule-based summary",
                extra={
                    "incidentId": incident.incidentId,
                    "reason": exc.reason,
                    "status": exc.status,
                    "error": str(exc)[:300],
                    "breaker": self.breaker.state,
                },
            )
            return self._fallback(incident, digest, exc.reason)
        except BaseException:
            self.budget.release(reservation)
            self.breaker.record_neutral()
            raise

        cost = self.budget.settle(reservation, provider.model, completion.input_tokens, completion.output_tokens)
        self.metrics.tokens.labels(provider.model, "input").inc(completion.input_tokens)
        self.metrics.tokens.labels(provider.model, "output").inc(completion.output_tokens)
        self.metrics.cost_usd.labels(provider.model).inc(cost)
        # An answer, usable or not, means the provider is up.
        self.breaker.record_success()
        try:
            answer = parse_answer(completion.raw)
        except InvalidOutput as exc:
            self._observe_call(provider, started, "invalid-output")
            log.warning(
                "the provider's answer is unusable; writing a rule-based summary",
                extra={
                    "incidentId": incident.incidentId,
                    "error": str(exc)[:300],
                    "stopReason": completion.stop_reason,
                },
            )
            return self._fallback(incident, digest, "invalid-output")
        self._observe_call(provider, started, "success")
        usage = SummaryUsage(
            inputTokens=completion.input_tokens, outputTokens=completion.output_tokens, costUsd=round(cost, 6)
        )
        summary = to_summary(
            answer,
            digest=digest,
            incident=incident,
            provider=provider.name,
            model=completion.model,
            usage=usage,
            generated_at=self._clock(),
        )
        return Outcome(summary, None)

    def _observe_call(self, provider: Provider, started: float, outcome: str) -> None:
        elapsed = time.perf_counter() - started
        self._latencies.append(elapsed)
        self.calls[outcome] += 1
        self.metrics.provider_calls.labels(provider.name, provider.model, outcome).inc()
        self.metrics.provider_call_seconds.labels(provider.name).observe(elapsed)
        if outcome != "success":
            self.failures[outcome] += 1
            self.metrics.failures.labels(outcome).inc()

    def _fallback(self, incident: Incident, digest: Digest, reason: str) -> Outcome:
        self.fallbacks[reason] += 1
        self.metrics.fallbacks.labels(reason).inc()
        summary = summarize_by_rules(
            incident, digest, generated_at=self._clock(), reason=FALLBACK_TEXT.get(reason, reason)
        )
        return Outcome(summary, reason)

    def record_published(self, kind: str, trigger: str) -> None:
        self.published[kind] += 1
        self.metrics.summaries.labels(kind, trigger).inc()

    def provider_info(self) -> dict[str, Any]:
        if self.provider is None:
            return {"provider": "rule-based", "model": None, "configured": False}
        return {"provider": self.provider.name, "model": self.provider.model, "configured": True}

    def stats(self) -> dict[str, Any]:
        """What `GET /api/ai/metrics` shows."""
        lat = sorted(self._latencies)

        def pct(q: float) -> float | None:
            return round(lat[min(int(q * len(lat)), len(lat) - 1)] * 1000, 1) if lat else None

        return {
            **self.provider_info(),
            "calls": {"total": sum(self.calls.values()), "byOutcome": dict(self.calls)},
            "latencyMs": {
                "count": len(lat),
                "mean": round(statistics.fmean(lat) * 1000, 1) if lat else None,
                "p50": pct(0.5),
                "p95": pct(0.95),
                "max": round(lat[-1] * 1000, 1) if lat else None,
            },
            "tokens": {
                "input": sum(u.input_tokens for u in self.budget.models.values()),
                "output": sum(u.output_tokens for u in self.budget.models.values()),
            },
            "costUsd": round(sum(u.cost_usd for u in self.budget.models.values()), 6),
            "retries": dict(self.retries),
            "failures": dict(self.failures),
            "fallbacks": dict(self.fallbacks),
            "summariesPublished": dict(self.published),
            "inFlight": self.in_flight,
            "concurrencyLimit": self.concurrency,
            "budget": self.budget.snapshot(),
            "circuitBreaker": self.breaker.snapshot(),
        }
