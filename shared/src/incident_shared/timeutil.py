"""Time in one form: timezone-aware UTC `datetime` inside the code, ISO-8601 with `Z` on the wire."""

from __future__ import annotations

import re
from datetime import UTC, datetime

_LEAP_SECOND = re.compile(r"(?<=T\d\d:\d\d):60(?:\.\d+)?")


def utcnow() -> datetime:
    """The current time, UTC, millisecond precision (what the wire format keeps)."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def to_utc(value: datetime) -> datetime:
    """`value` in UTC; a naive datetime is taken to be UTC already."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def iso(value: datetime) -> str:
    """ISO-8601 in UTC with millisecond precision and a `Z` suffix: `2026-01-02T03:04:05.678Z`."""
    if value.tzinfo is not UTC:
        value = to_utc(value)
    # Called twice per event on the hot paths: slice off "+00:00" rather than search for it.
    return value.isoformat(timespec="milliseconds")[:-6] + "Z"


def parse_iso(text: str) -> datetime:
    """Parses ISO-8601 (a trailing `Z` included) into an aware UTC datetime; raises ValueError.

    Also takes what RFC 3339 allows beyond Python's parser: a lower-case `t`/`z`, and a leap second
    (`:60`, read as the last millisecond of the minute). A time that falls outside years 1-9999 once
    moved to UTC is a ValueError too, never an OverflowError.
    """
    try:
        return to_utc(datetime.fromisoformat(text))
    except ValueError:
        normalised = text.upper()
        leap = _LEAP_SECOND.search(normalised)
        if leap is not None:
            normalised = normalised[: leap.start()] + ":59.999" + normalised[leap.end() :]
        if normalised == text:
            raise
        try:
            return to_utc(datetime.fromisoformat(normalised))
        except OverflowError as exc:
            raise ValueError(f"{text!r} is outside the years 1-9999 in UTC") from exc
    except OverflowError as exc:
        raise ValueError(f"{text!r} is outside the years 1-9999 in UTC") from exc


def epoch_ms(value: datetime) -> int:
    """Milliseconds since the epoch, as Kafka record timestamps count them."""
    return int(to_utc(value).timestamp() * 1000)


def from_epoch_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)
