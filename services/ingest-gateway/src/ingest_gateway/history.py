"""Pages of stored events, newest first, read one time bucket at a time.

A page is never "sort the matching events, take the first fifty": the local MongoDB-protocol server
(FerretDB 1.x) would decode every matching event to sort them, seconds for a week of history. Each
query names a bucket of event time by equality instead (`hour`, or `minute`), which its storage
serves from an index, and the gateway sorts the few events it gets:

1. a walk goes back from the newest time the page can hold to the oldest, a day at a time;
2. a day is read whole when it holds few matching events (a query with a limit tells: it stops
   early on a busy one), else hour by hour; an hour likewise, else ten minutes at a time; those
   likewise, else minute by minute;
3. the walk stops as soon as it holds more than a page of events: everything older is older than
   all of them.

An incident's events are read whole when the incident has few of them, and its walk covers only the
time the incident spans. Equality filters (a service, an incident, a severity) go into each query,
where the server filters before decoding; several values run one walk per value, merged. What a
walk learns about busy buckets is kept for a minute (`BusyBuckets`), so that the next page of the
same filter does not probe them again. On MongoDB each query is an index lookup (`mongo.INDEXES`).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

from pymongo.asynchronous.collection import AsyncCollection

from incident_shared import mongo

# Every read carries a time limit. On MongoDB it bounds a runaway query; on FerretDB it also makes the
# server cancel the storage's query when the cursor closes early: without it, a probe that stops
# after a hundred events of a busy hour still makes PostgreSQL produce the whole hour.
READ_TIMEOUT_MS: Final = 30_000
# Walks run side by side for filters with several values, up to this many; past it, one walk with
# the values as `$in` (filtered by the server after decoding, so slower per bucket, never wrong).
MAX_WALKS: Final = 8
SPAN_MARGIN: Final = timedelta(hours=1)
_MINUTE: Final = timedelta(minutes=1)
# The buckets a walk reads, coarsest first: (field, length, the bucket a time falls in).
LEVELS: Final[tuple[tuple[str, timedelta, Callable[[datetime], datetime]], ...]] = (
    ("day", timedelta(days=1), mongo.day_of),
    ("hour", timedelta(hours=1), mongo.hour_of),
    ("tenMinutes", timedelta(minutes=10), mongo.ten_minutes_of),
    ("minute", _MINUTE, mongo.minute_of),
)
Doc = dict[str, Any]


@dataclass(frozen=True, slots=True)
class EventQuery:
    """A page request: equality filters (any of the values), a time range, and the cursor."""

    services: Sequence[str] = ()
    severities: Sequence[int] = ()
    incident_ids: Sequence[str] = ()
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive
    before: tuple[datetime, str] | None = None  # the cursor: strictly older than (timestamp, eventId)


@dataclass(frozen=True, slots=True)
class IncidentSpan:
    """What the gateway knows of an incident without reading it: when it started and was last seen,
    and how many events it has (so that a small one is read in one query)."""

    first_seen: datetime
    last_seen: datetime
    event_count: int


class BusyBuckets:
    """Buckets that recent walks found busy for a filter (more matching events than a probe reads):
    the next walk of that filter reads them by their finer buckets at once. Remembered for `ttl`
    seconds; a busy past bucket stays busy, and the current one only grows."""

    def __init__(self, ttl: float = 60.0, limit: int = 10_000) -> None:
        self.ttl = ttl
        self.limit = limit
        self._seen: dict[tuple[Any, ...], float] = {}

    def busy(self, key: tuple[Any, ...]) -> bool:
        at = self._seen.get(key)
        return at is not None and time.monotonic() - at < self.ttl

    def mark(self, key: tuple[Any, ...]) -> None:
        if len(self._seen) >= self.limit:
            self._seen.clear()
        self._seen[key] = time.monotonic()


@dataclass(slots=True)
class _Walk:
    """One walk: fixed equality filters, the rest of the filter, and the time it may cover.

    It adapts to what it finds. A bucket is probed (read whole if it holds few matching events)
    unless it is known busy: found busy by a recent walk of the same filter (`BusyBuckets`), or its
    newer neighbour was; a busy one is read by its finer buckets. Days are special: the walk's first
    day (busy, in a live system) is never probed, and an older one only after a quiet day, because
    a probe of a busy day costs the whole day's index entries.
    """

    coll: AsyncCollection[Doc]
    equal: dict[str, Any]
    rest: dict[str, Any]
    newest: datetime
    oldest: datetime
    whole_limit: int  # at most this many matching events: read in one query (the incident case)
    hints: BusyBuckets
    found: list[Doc] = field(default_factory=list)
    queries: int = 0

    def _filter(self, bucket: dict[str, Any]) -> dict[str, Any]:
        return {**bucket, **self.equal, **self.rest}

    async def _find(self, flt: dict[str, Any], limit: int = 0) -> list[Doc]:
        self.queries += 1
        return await self.coll.find(flt).limit(limit).max_time_ms(READ_TIMEOUT_MS).to_list()

    async def run(self, want: int, probe: int) -> list[Doc]:
        if self.whole_limit:
            self.found = await self._find(self._filter({}))
        else:
            await self._level(0, self.newest, self.oldest, want, probe)
        return self.found

    async def _level(self, level: int, newest: datetime, oldest: datetime, want: int, probe: int) -> None:
        """Reads the buckets of `level` from `newest`'s down to `oldest`'s, until the walk has enough."""
        name, size, floor = LEVELS[level]
        finest = level == len(LEVELS) - 1
        busy_before = False
        quiet_before = False
        bucket = floor(newest)
        while bucket >= floor(oldest) and len(self.found) < want:
            flt = self._filter({name: bucket})
            if finest:
                self.found.extend(await self._find(flt))
            else:
                before = len(self.found)
                key = (name, bucket, *sorted(self.equal.items()))
                known_busy = self.hints.busy(key)
                worth = quiet_before if level == 0 else not busy_before
                if not (worth and not known_busy and await self._whole(flt, probe)):
                    if worth and not known_busy:
                        self.hints.mark(key)  # the probe said so
                    inner_newest = min(newest, bucket + size - _MINUTE)
                    await self._level(level + 1, inner_newest, max(oldest, bucket), want, probe)
                gave = len(self.found) - before
                busy_before, quiet_before = gave > probe, gave <= probe
            bucket -= size

    async def _whole(self, flt: dict[str, Any], probe: int) -> bool:
        """Reads a bucket whole if it holds at most `probe` matching events; says whether it did."""
        docs = await self._find(flt, probe + 1)
        if len(docs) > probe:
            return False
        self.found.extend(docs)
        return True


def _key(doc: Doc) -> tuple[datetime, str]:
    return (doc["timestamp"], str(doc["eventId"]))


async def newest_events(
    coll: AsyncCollection[Doc],
    q: EventQuery,
    limit: int,
    *,
    now: datetime,
    retention: timedelta,
    spans: dict[str, IncidentSpan] | None = None,
    hints: BusyBuckets | None = None,
) -> tuple[list[Doc], bool]:
    """The newest `limit` events matching `q`, newest first, and whether there are more."""
    newest = now + timedelta(minutes=5)  # the furthest ahead an event's time may be (its validation)
    oldest = now - retention
    if q.until is not None:
        newest = min(newest, q.until)
    if q.before is not None:
        newest = min(newest, q.before[0])
    if q.since is not None:
        oldest = max(oldest, q.since)
    if newest < oldest:
        return [], False

    rest: dict[str, Any] = {"timestamp": {"$gte": oldest, "$lte": newest}}
    if q.before is not None:
        ts, event_id = q.before
        rest["$or"] = [{"timestamp": {"$lt": ts}}, {"timestamp": ts, "eventId": {"$lt": event_id}}]
    if q.until is not None:
        rest["timestamp"]["$lt"] = q.until

    want = limit + 1
    probe = max(2 * want, 100)
    # Severity too is a walk of its own per value: the server then filters it before decoding, which
    # is most of the cost of a query on FerretDB (a quarter of the events are of severity 4).
    dimensions: list[tuple[str, list[Any]]] = [
        ("incidentId", list(q.incident_ids)),
        ("service", list(q.services)),
        ("severity", list(q.severities)),
    ]
    walks = _plan(
        coll,
        dimensions=dimensions,
        rest=rest,
        newest=newest,
        oldest=oldest,
        spans=spans or {},
        probe=probe,
        hints=hints or BusyBuckets(),
    )
    results = await asyncio.gather(*(w.run(want, probe) for w in walks))
    docs = sorted(itertools.chain.from_iterable(results), key=_key, reverse=True)
    return docs[:limit], len(docs) > limit


def _plan(
    coll: AsyncCollection[Doc],
    *,
    dimensions: list[tuple[str, list[Any]]],
    rest: dict[str, Any],
    newest: datetime,
    oldest: datetime,
    spans: dict[str, IncidentSpan],
    probe: int,
    hints: BusyBuckets,
) -> list[_Walk]:
    """One walk per combination of the filter values, or fewer walks with `$in` past MAX_WALKS."""
    rest = dict(rest)
    split: list[tuple[str, list[Any]]] = []
    walks = 1
    # The most selective dimension first: an incident, then a service, then a severity.
    for name, values in dimensions:
        if not values:
            continue
        if walks * len(values) <= MAX_WALKS:
            split.append((name, values))
            walks *= len(values)
        else:
            rest[name] = {"$in": values}
    plans: list[_Walk] = []
    for combo in itertools.product(*(values for _, values in split)):
        equal = {name: value for (name, _), value in zip(split, combo, strict=True)}
        lo, hi, whole = oldest, newest, 0
        span = spans.get(equal["incidentId"]) if "incidentId" in equal else None
        if span is not None:
            # An incident's events lie within its span (its first and last event time), give or take
            # what reached it late or was held before it opened.
            lo, hi = max(lo, span.first_seen - SPAN_MARGIN), min(hi, span.last_seen + _MINUTE)
            whole = span.event_count if 0 < span.event_count <= probe else 0
        if hi >= lo:
            plans.append(_Walk(coll, equal, rest, hi, lo, whole, hints))
    return plans
