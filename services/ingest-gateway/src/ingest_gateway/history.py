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
time the incident spans. Equality filters (a service, an incident, one severity) go into each query,
where the server filters before decoding; several services or incidents run one walk per value,
merged. On MongoDB each of these is an index lookup (`mongo.INDEXES`).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

from pymongo.asynchronous.collection import AsyncCollection

from incident_shared import mongo

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


@dataclass(slots=True)
class _Walk:
    """One walk: fixed equality filters, the rest of the filter, and the time it may cover."""

    coll: AsyncCollection[Doc]
    equal: dict[str, Any]
    rest: dict[str, Any]
    newest: datetime
    oldest: datetime
    whole_limit: int  # at most this many matching events: read in one query (the incident case)
    found: list[Doc] = field(default_factory=list)

    def _filter(self, bucket: dict[str, Any]) -> dict[str, Any]:
        return {**bucket, **self.equal, **self.rest}

    async def run(self, want: int, probe: int) -> list[Doc]:
        if self.whole_limit:
            self.found = await self.coll.find(self._filter({})).to_list()
            return self.found
        first_day = mongo.day_of(self.newest)
        day = first_day
        while day >= mongo.day_of(self.oldest) and len(self.found) < want:
            # The walk's first day is where a live page starts: busy, not worth a probe. An older
            # day is probed, and read whole when it holds few (a rare service, a quiet week).
            if day == first_day or not await self._whole(self._filter({"day": day}), probe):
                for hour in mongo.hours_between(min(self.newest, day + _DAY - _MINUTE), max(self.oldest, day)):
                    if not await self._whole(self._filter({"hour": hour}), probe):
                        await self._minutes(hour, want)
                    if len(self.found) >= want:
                        break
            day -= _DAY
        return self.found

    async def _whole(self, flt: dict[str, Any], probe: int) -> bool:
        """Reads a bucket whole if it holds at most `probe` matching events; says whether it did."""
        docs = await self.coll.find(flt).limit(probe + 1).to_list()
        if len(docs) > probe:
            return False
        self.found.extend(docs)
        return True

    async def _minutes(self, hour: datetime, want: int) -> None:
        minute = min(mongo.minute_of(self.newest), hour + _HOUR - _MINUTE)
        stop = max(hour, mongo.minute_of(self.oldest))
        while minute >= stop and len(self.found) < want:
            self.found.extend(await self.coll.find(self._filter({"minute": minute})).to_list())
            minute -= _MINUTE


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

    if len(q.severities) == 1:
        rest["severity"] = q.severities[0]  # an equality the server filters on before decoding
    elif q.severities:
        rest["severity"] = {"$in": list(q.severities)}

    want = limit + 1
    probe = max(2 * want, 100)
    # Severity is not split into walks: too few values to be selective, so each walk would read
    # nearly the same buckets again.
    dimensions: list[tuple[str, list[Any]]] = [("incidentId", list(q.incident_ids)), ("service", list(q.services))]
    walks = _plan(coll, dimensions=dimensions, rest=rest, newest=newest, oldest=oldest, spans=spans or {}, probe=probe)
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
) -> list[_Walk]:
    """One walk per combination of the filter values, or fewer walks with `$in` past MAX_WALKS."""
    rest = dict(rest)
    split: list[tuple[str, list[Any]]] = []
    walks = 1
    # The most selective dimension first: an incident, then a service.
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
            plans.append(_Walk(coll, equal, rest, hi, lo, whole))
    return plans
