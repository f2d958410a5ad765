"""Pages of stored events, newest first, read one time bucket at a time.

A page is never "sort the matching events, take the first fifty": the local MongoDB-protocol server
(FerretDB 1.x) would decode every matching event to sort them, seconds for a week of history. Each
query names a bucket of event time by equality instead (`hour`, or `minute`), which its storage
serves from an index, and the gateway sorts the few events it gets:

1. a walk goes back from the newest time the page can hold to the oldest, a day at a time;
2. a day is read whole when it holds few matching events (a query with a limit tells: it stops
   early on a busy one), else hour by hour; an hour likewise, else minute by minute;
3. the walk stops as soon as it holds more than a page of events: everything older is older than
   all of them.

An incident's events are read whole when the incident has few of them, and its walk covers only the
time the incident spans. Equality filters (a service, an incident, a severity) go into each query,
where the server filters before decoding; several values run one walk per value, merged. What a
walk learns about busy hours is kept for a minute (`BusyHours`), so that the next page of the same
filter does not probe them again. On MongoDB each query is an index lookup (`mongo.INDEXES`).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Sequence
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
_DAY: Final = timedelta(days=1)
_HOUR: Final = timedelta(hours=1)
_MINUTE: Final = timedelta(minutes=1)
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


class BusyHours:
    """Hours that recent walks found busy for a filter (more matching events than a probe reads):
    the next walk of that filter reads them minute by minute at once. Remembered for `ttl` seconds;
    a busy past hour stays busy, and the current one only grows."""

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

    It adapts to what it finds: once an hour proves busy, the next ones go straight to minutes (a
    probe would only tell again); once a whole day proved quiet, the next day is tried whole.
    """

    coll: AsyncCollection[Doc]
    equal: dict[str, Any]
    rest: dict[str, Any]
    newest: datetime
    oldest: datetime
    whole_limit: int  # at most this many matching events: read in one query (the incident case)
    hints: BusyHours
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
            return self.found
        busy_hour = False
        quiet_day = False
        day = mongo.day_of(self.newest)
        while day >= mongo.day_of(self.oldest) and len(self.found) < want:
            before = len(self.found)
            if not (quiet_day and await self._whole(self._filter({"day": day}), probe)):
                for hour in mongo.hours_between(min(self.newest, day + _DAY - _MINUTE), max(self.oldest, day)):
                    key = (hour, *sorted(self.equal.items()))
                    if busy_hour or self.hints.busy(key) or not await self._whole(self._filter({"hour": hour}), probe):
                        self.hints.mark(key)
                        busy_hour = await self._minutes(hour, want) > probe
                    if len(self.found) >= want:
                        break
            quiet_day = len(self.found) - before <= probe
            day -= _DAY
        return self.found

    async def _whole(self, flt: dict[str, Any], probe: int) -> bool:
        """Reads a bucket whole if it holds at most `probe` matching events; says whether it did."""
        docs = await self._find(flt, probe + 1)
        if len(docs) > probe:
            return False
        self.found.extend(docs)
        return True

    async def _minutes(self, hour: datetime, want: int) -> int:
        """Reads `hour` minute by minute, newest first, until the walk has enough; returns how many
        events the hour gave per minute read, at most (its busiest minute)."""
        minute = min(mongo.minute_of(self.newest), hour + _HOUR - _MINUTE)
        stop = max(hour, mongo.minute_of(self.oldest))
        busiest = 0
        while minute >= stop and len(self.found) < want:
            docs = await self._find(self._filter({"minute": minute}))
            self.found.extend(docs)
            busiest = max(busiest, len(docs))
            minute -= _MINUTE
        return busiest * 60


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
    hints: BusyHours | None = None,
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
        hints=hints or BusyHours(),
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
    hints: BusyHours,
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
