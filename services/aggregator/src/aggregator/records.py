"""Turning `events` records into events, and the guard against dead-lettering a whole stream."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from incident_shared.ids import stable_id
from incident_shared.schemas.events import Event, EventValidationError, event_from_record
from incident_shared.timeutil import from_epoch_ms


class TooManyInvalidError(RuntimeError):
    """More invalid records than the configured ratio: halt rather than dead-letter everything."""


@dataclass(frozen=True, slots=True)
class Invalid:
    reason: str


def decode(value: bytes | None, *, topic: str, partition: int, offset: int, timestamp_ms: int) -> Event | Invalid:
    """The event in a record, or why it is not one. The fallback id is stable across replays."""
    if value is None:
        return Invalid("body: empty record")
    try:
        return event_from_record(
            value,
            record_timestamp=from_epoch_ms(timestamp_ms),
            fallback_id=lambda: stable_id("evt_", topic, partition, offset),
        )
    except EventValidationError as exc:
        return Invalid(str(exc)[:500])
    except ValueError as exc:
        return Invalid(f"body: {exc}"[:500])


class InvalidRatioGuard:
    """Counts invalid records over the last `window`; raises when their share exceeds `max_ratio`."""

    def __init__(self, max_ratio: float, window: int) -> None:
        self.max_ratio = max_ratio
        self.window = window
        self._recent: deque[bool] = deque(maxlen=window)
        self._invalid = 0

    def record(self, invalid: bool) -> None:
        if len(self._recent) == self.window and self._recent[0]:
            self._invalid -= 1
        self._recent.append(invalid)
        self._invalid += invalid
        if len(self._recent) >= min(self.window, 100) and self._invalid / len(self._recent) > self.max_ratio:
            raise TooManyInvalidError(
                f"{self._invalid} of the last {len(self._recent)} records were invalid (limit "
                f"{self.max_ratio:.0%}): halting instead of dead-lettering the stream; check the producers"
            )
