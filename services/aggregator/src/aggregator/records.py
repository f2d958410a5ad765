"""Turning `events` records into events, and the guard against dead-lettering a whole stream.

A record's timestamp is read in milliseconds, as Kafka keeps it: a record produced without a
`timestamp` field takes its event time from it, identically live (the worker) and in a replay.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from aggregator.steps import Record
from incident_shared.ids import stable_id
from incident_shared.schemas.events import Event, EventValidationError, event_from_record
from incident_shared.timeutil import from_epoch_ms, utcnow


class TooManyInvalidError(RuntimeError):
    """More invalid records than the configured ratio: halt rather than dead-letter everything."""


@dataclass(frozen=True, slots=True)
class Invalid:
    reason: str


def decode(
    value: bytes | None, *, topic: str, partition: int, offset: int, timestamp_ms: int | None
) -> Event | Invalid:
    """The event in a record, or why it is not one. The fallback id is stable across replays.

    `timestamp_ms` is the record's timestamp in milliseconds; a record without one (None, or the
    -1 of the oldest message format) is taken to have been received now.
    """
    if value is None:
        return Invalid("body: empty record")
    received = from_epoch_ms(timestamp_ms) if timestamp_ms is not None and timestamp_ms >= 0 else utcnow()
    try:
        return event_from_record(
            value,
            record_timestamp=received,
            fallback_id=lambda: stable_id("evt_", topic, partition, offset),
        )
    except EventValidationError as exc:
        return Invalid(str(exc)[:500])
    except ValueError as exc:
        return Invalid(f"body: {exc}"[:500])


def decode_record(record: Record) -> Event | Invalid:
    return decode(
        record.value,
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        timestamp_ms=record.timestamp_ms,
    )


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
