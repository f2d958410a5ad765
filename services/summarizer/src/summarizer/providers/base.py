"""The provider interface and the classification of every provider failure.

Every failure becomes a `ProviderError` with a `reason` (a metric label), whether a retry can help
(timeouts, 429, 5xx, connection errors), how long the provider asked us to wait (`Retry-After`),
and whether it says something about the provider's health (it counts for the circuit breaker).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any, Protocol

from incident_shared.timeutil import utcnow
from summarizer.prompt import Prompt


@dataclass(frozen=True, slots=True)
class Completion:
    raw: dict[str, Any] | str | None  # the structured answer (tool input) or the text to parse
    input_tokens: int
    output_tokens: int
    model: str  # as the provider reports it
    stop_reason: str | None = None


class Provider(Protocol):
    name: str  # anthropic | openai: what the incident records as its summary's provider
    model: str

    async def complete(self, prompt: Prompt, *, max_output_tokens: int) -> Completion: ...

    async def close(self) -> None: ...


class ProviderError(Exception):
    def __init__(
        self,
        reason: str,
        message: str,
        *,
        retryable: bool,
        counts_for_breaker: bool = True,
        retry_after: float | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.retryable = retryable
        self.counts_for_breaker = counts_for_breaker
        self.retry_after = retry_after
        self.status = status


def parse_retry_after(headers: Any) -> float | None:
    """Seconds to wait from `retry-after-ms`, or `Retry-After` (seconds or an HTTP date)."""
    if headers is None:
        return None
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(float(ms) / 1000, 0.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when: datetime = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max((when - utcnow()).total_seconds(), 0.0)


def classify_status(status: int, message: str, headers: Any) -> ProviderError:
    """An HTTP error answer from a provider, classified."""
    if status == 429:
        return ProviderError(
            "rate-limited", message, retryable=True, retry_after=parse_retry_after(headers), status=status
        )
    if status >= 500 or status in (408, 409):
        # 529 is Anthropic's "overloaded"; it may carry a Retry-After as well.
        return ProviderError(
            "server-error", message, retryable=True, retry_after=parse_retry_after(headers), status=status
        )
    if status in (401, 403, 404):
        # A bad key or an unknown model: no retry will fix it, and every call will fail the same way.
        return ProviderError("auth-or-config", message, retryable=False, status=status)
    # 400, 413, 422: this request is at fault, not the provider.
    return ProviderError("bad-request", message, retryable=False, counts_for_breaker=False, status=status)
