"""Retries of provider calls with tenacity: exponential backoff with jitter, `Retry-After` honoured.

Only retryable failures are retried (timeouts, 429, 5xx, connection errors); a 4xx that will not
change is raised at once. A provider's `Retry-After` replaces the backoff for that wait; when it
asks for longer than `max_wait`, the call fails at once instead (a summary and a concurrency slot
are not held for minutes) and the breaker and the rule-based fallback take over.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)
from tenacity.wait import wait_base

from summarizer.providers.base import ProviderError

T = TypeVar("T")


class wait_retry_after_or_backoff(wait_base):  # noqa: N801 - tenacity's naming for wait strategies
    def __init__(self, *, initial: float, max_wait: float) -> None:
        self._backoff = wait_exponential_jitter(multiplier=initial, max=max_wait, jitter=initial)
        self._max = max_wait

    def __call__(self, retry_state: RetryCallState) -> float:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        if isinstance(exc, ProviderError) and exc.retry_after is not None:
            return min(exc.retry_after, self._max)
        return float(min(self._backoff(retry_state), self._max))


async def call_with_retries(
    fn: Callable[[], Awaitable[T]],
    *,
    attempts: int,
    initial_wait: float = 0.5,
    max_wait: float = 30.0,
    sleep: Callable[[float], Awaitable[None]] | None = None,
    on_retry: Callable[[ProviderError, float], None] | None = None,
) -> T:
    """Calls `fn` until it succeeds, raises something not retryable, or `attempts` are used up."""

    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        if on_retry is not None and isinstance(exc, ProviderError):
            on_retry(exc, state.upcoming_sleep)

    def retryable(exc: BaseException) -> bool:
        if not isinstance(exc, ProviderError) or not exc.retryable:
            return False
        # A provider asking for a longer wait than we allow: give up now instead of ignoring it.
        return exc.retry_after is None or exc.retry_after <= max_wait

    retrying = AsyncRetrying(
        stop=stop_after_attempt(attempts),
        wait=wait_retry_after_or_backoff(initial=initial_wait, max_wait=max_wait),
        retry=retry_if_exception(retryable),
        before_sleep=before_sleep,
        reraise=True,
        sleep=sleep or asyncio.sleep,
    )
    return await retrying(fn)
