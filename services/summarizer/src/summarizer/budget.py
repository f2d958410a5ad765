"""Token and cost accounting per model, and the daily budget past which summaries are rule-based.

A call reserves its worst-case cost (estimated input plus the full output allowance) before it goes
out, so concurrent calls cannot overshoot the budget together; the reservation is replaced by the
real cost (from the provider's usage report) when the call returns, or released when it fails.
The day is the UTC calendar day of the injected clock.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Final

# USD per million tokens (input, output), from the providers' public price lists. A model is matched
# by the longest known prefix, so dated snapshots (claude-haiku-4-5-20251001) find their family.
PRICES_PER_MTOK: Final[dict[str, tuple[float, float]]] = {
    "claude-haiku-4-5": (1.0, 5.0),
    "claude-3-5-haiku": (0.8, 4.0),
    "claude-3-haiku": (0.25, 1.25),
    "claude-sonnet-4": (3.0, 15.0),
    "claude-3-7-sonnet": (3.0, 15.0),
    "claude-opus-4-5": (5.0, 25.0),
    "claude-opus-4": (15.0, 75.0),
    "gpt-4o-mini": (0.15, 0.6),
    "gpt-4o": (2.5, 10.0),
    "gpt-4.1-nano": (0.1, 0.4),
    "gpt-4.1-mini": (0.4, 1.6),
    "gpt-4.1": (2.0, 8.0),
    "gpt-5-nano": (0.05, 0.4),
    "gpt-5-mini": (0.25, 2.0),
    "gpt-5": (1.25, 10.0),
}
# An unknown model is priced like a mid-size one, so that the budget still bites; a self-hosted
# model sets AI_PRICE_INPUT_PER_MTOK / AI_PRICE_OUTPUT_PER_MTOK to 0.
UNKNOWN_MODEL_PRICE: Final = (3.0, 15.0)


def price_of(model: str, override: tuple[float | None, float | None] = (None, None)) -> tuple[float, float]:
    known = max((p for p in PRICES_PER_MTOK if model.startswith(p)), key=len, default=None)
    base = PRICES_PER_MTOK[known] if known else UNKNOWN_MODEL_PRICE
    return (override[0] if override[0] is not None else base[0], override[1] if override[1] is not None else base[1])


@dataclass(slots=True)
class ModelUsage:
    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0

    def to_api(self) -> dict[str, Any]:
        return {
            "calls": self.calls,
            "inputTokens": self.input_tokens,
            "outputTokens": self.output_tokens,
            "costUsd": round(self.cost_usd, 6),
        }


class Budget:
    def __init__(
        self,
        *,
        daily_usd: float,
        clock: Callable[[], datetime],
        price_override: tuple[float | None, float | None] = (None, None),
    ) -> None:
        self.daily_usd = daily_usd
        self._clock = clock
        self._override = price_override
        self._day: date = clock().date()
        self._spent_today = 0.0
        self._reserved: dict[int, float] = {}
        self._ids = itertools.count(1)
        self.models: dict[str, ModelUsage] = {}
        self.exhausted_refusals = 0

    def _roll(self) -> None:
        today = self._clock().date()
        if today != self._day:
            self._day, self._spent_today = today, 0.0

    def cost(self, model: str, input_tokens: int, output_tokens: int) -> float:
        price_in, price_out = price_of(model, self._override)
        return (input_tokens * price_in + output_tokens * price_out) / 1_000_000

    @property
    def spent_today(self) -> float:
        self._roll()
        return self._spent_today

    @property
    def remaining(self) -> float:
        return max(self.daily_usd - self.spent_today - sum(self._reserved.values()), 0.0)

    @property
    def exhausted(self) -> bool:
        return self.remaining <= 0

    def reserve(self, model: str, input_tokens: int, max_output_tokens: int) -> int | None:
        """Reserves a call's worst-case cost; None when that would exceed today's budget."""
        worst = self.cost(model, input_tokens, max_output_tokens)
        if worst > self.remaining:
            self.exhausted_refusals += 1
            return None
        rid = next(self._ids)
        self._reserved[rid] = worst
        return rid

    def release(self, reservation: int) -> None:
        self._reserved.pop(reservation, None)

    def settle(self, reservation: int, model: str, input_tokens: int, output_tokens: int) -> float:
        """Replaces the reservation with the real cost; returns that cost."""
        self._reserved.pop(reservation, None)
        self._roll()
        cost = self.cost(model, input_tokens, output_tokens)
        self._spent_today += cost
        usage = self.models.setdefault(model, ModelUsage())
        usage.calls += 1
        usage.input_tokens += input_tokens
        usage.output_tokens += output_tokens
        usage.cost_usd += cost
        return cost

    def snapshot(self) -> dict[str, Any]:
        return {
            "day": self._clock().date().isoformat(),
            "dailyBudgetUsd": self.daily_usd,
            "spentTodayUsd": round(self.spent_today, 6),
            "reservedUsd": round(sum(self._reserved.values()), 6),
            "remainingUsd": round(self.remaining, 6),
            "exhausted": self.exhausted,
            "refusedCalls": self.exhausted_refusals,
            "models": {m: u.to_api() for m, u in sorted(self.models.items())},
        }
