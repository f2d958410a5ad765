"""Retention of the history store: events for days, incidents and rollups for longer.

- **Age.** On MongoDB, TTL indexes delete events (`timestamp`), incidents (`lastSeen`) and rollups
  (`minute`) past their age. A server without TTL indexes (FerretDB 1.x answers "not implemented")
  gets the same from `sweep`: it deletes whole time buckets that are past the age, each one an
  equality lookup (days that hold anything, then their hours, for events and rollups; days of
  `lastSeenDay` for incidents), never a scan.
- **Count.** Past `event_max_count` events, the oldest hours of events are deleted until the count
  is within it (on every server: TTL knows only age). The count is the server's own (`$collStats`).
- **Measure.** Each sweep reports the size of each collection and the oldest event kept, for the
  metrics: what a person needs to size the store and to see that retention works.

Deleting is idempotent, so several processes may sweep the same store; one is enough.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

from prometheus_client import CollectorRegistry, Counter, Gauge
from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import OperationFailure, PyMongoError

from incident_shared import mongo
from incident_shared.codec import dumps_str
from incident_shared.schemas.events import MAX_AGE
from incident_shared.settings import CommonSettings, RetentionSettings
from incident_shared.timeutil import utcnow

log = logging.getLogger(__name__)

_NOT_IMPLEMENTED: Final = 238  # the server has no such feature (FerretDB 1.x for TTL indexes)
# A bucket past the cutoff gains events only from late ones: a routine sweep looks two days back.
# Events are accepted up to MAX_AGE old, so the first sweep, and one a day, looks back further: a
# backfilled event waits at most a day to be deleted. (Lowering a retention by more than that span
# leaves older buckets behind: `python -m incident_shared.retention --deep` removes them.)
_ROUTINE_SWEEP: Final = timedelta(days=2)
_DEEP_SWEEP: Final = MAX_AGE + timedelta(days=15)
_DEEP_SWEEP_EVERY: Final = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    event_max_age: timedelta = timedelta(days=7)
    event_max_count: int = 5_000_000  # 0: no limit
    incident_max_age: timedelta = timedelta(days=30)
    rollup_max_age: timedelta = timedelta(days=30)

    @classmethod
    def from_settings(cls, settings: RetentionSettings) -> RetentionPolicy:
        return cls(
            event_max_age=timedelta(days=settings.event_retention_days),
            event_max_count=settings.event_retention_max_events,
            incident_max_age=timedelta(days=settings.incident_retention_days),
            rollup_max_age=timedelta(days=settings.rollup_retention_days),
        )


@dataclass(frozen=True, slots=True)
class _Aged:
    """One collection's age rule: its TTL field, and the buckets a sweep finds and deletes by."""

    collection: str
    ttl_field: str
    day_field: str
    hourly: bool  # deleted hour by hour (`hour`), within the days that hold any; else by day
    max_age: Callable[[RetentionPolicy], timedelta]


_AGED: Final = (
    _Aged(mongo.EVENTS, "timestamp", "day", True, lambda p: p.event_max_age),
    _Aged(mongo.EVENT_ROLLUPS, "minute", "day", True, lambda p: p.rollup_max_age),
    _Aged(mongo.INCIDENTS, "lastSeen", "lastSeenDay", False, lambda p: p.incident_max_age),
)
_HOUR: Final = timedelta(hours=1)
_DAY: Final = timedelta(days=1)


@dataclass(slots=True)
class SweepReport:
    deleted: dict[str, int] = field(default_factory=dict)
    sizes: dict[str, mongo.CollectionSize] = field(default_factory=dict)
    oldest_event: datetime | None = None
    seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class RetentionMetrics:
    documents: Gauge
    bytes: Gauge
    oldest_event: Gauge
    deleted: Counter

    @classmethod
    def create(cls, registry: CollectorRegistry, service: str) -> RetentionMetrics:
        return cls(
            documents=Gauge(
                f"{service}_store_documents", "Documents in the history store", ["collection"], registry=registry
            ),
            bytes=Gauge(
                f"{service}_store_bytes",
                "Size of the history store (data and indexes, as the server reports it)",
                ["collection"],
                registry=registry,
            ),
            oldest_event=Gauge(
                f"{service}_store_oldest_event_timestamp_seconds",
                "Event time of the oldest event kept (Unix seconds; 0 when there is none)",
                registry=registry,
            ),
            deleted=Counter(
                f"{service}_retention_deleted_documents_total",
                "Documents deleted by retention sweeps (TTL deletions on MongoDB are not counted)",
                ["collection"],
                registry=registry,
            ),
        )

    def record(self, report: SweepReport) -> None:
        for name, size in report.sizes.items():
            if size.documents >= 0:  # unknown until the server has counted
                self.documents.labels(name).set(size.documents)
            self.bytes.labels(name).set(size.bytes)
        self.oldest_event.set(report.oldest_event.timestamp() if report.oldest_event else 0)
        for name, n in report.deleted.items():
            self.deleted.labels(name).inc(n)


class Retention:
    """Keeps one database within a `RetentionPolicy`; `prepare` once, then `sweep` periodically."""

    def __init__(
        self,
        db: AsyncDatabase[dict[str, Any]],
        policy: RetentionPolicy,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.db = db
        self.policy = policy
        self.clock = clock
        self.ttl: bool | None = None  # known after `prepare`: does the server expire documents itself?
        self.deep_span = _DEEP_SWEEP
        self._last_deep: datetime | None = None

    async def prepare(self) -> None:
        """Creates (or retunes) the TTL indexes; without TTL support, sweeps will delete by age."""
        self.ttl = True
        for rule in _AGED:
            seconds = int(rule.max_age(self.policy).total_seconds())
            if not await self._ttl_index(rule.collection, rule.ttl_field, seconds):
                self.ttl = False
                break
        log.info(
            "retention ready",
            extra={
                "ttl_indexes": self.ttl,
                "event_days": self.policy.event_max_age.total_seconds() / 86400,
                "event_max_count": self.policy.event_max_count,
                "incident_days": self.policy.incident_max_age.total_seconds() / 86400,
                "rollup_days": self.policy.rollup_max_age.total_seconds() / 86400,
            },
        )

    async def _ttl_index(self, collection: str, field_name: str, seconds: int) -> bool:
        name = f"{field_name}_ttl"
        existing = {i["name"]: i async for i in await self.db[collection].list_indexes()}
        if name in existing:
            if existing[name].get("expireAfterSeconds") != seconds:
                await self.db.command({"collMod": collection, "index": {"name": name, "expireAfterSeconds": seconds}})
            return True
        try:
            await self.db[collection].create_indexes(
                [IndexModel([(field_name, ASCENDING)], name=name, expireAfterSeconds=seconds)]
            )
        except OperationFailure as exc:
            if exc.code == _NOT_IMPLEMENTED or "not implemented" in str(exc).lower():
                return False
            raise
        return True

    async def sweep(self) -> SweepReport:
        """One pass: age (where TTL does not do it), count, and the measurements."""
        started = time.monotonic()
        now = self.clock()
        report = SweepReport()
        if self.ttl is None:
            await self.prepare()
        if not self.ttl:
            deep = self._last_deep is None or now - self._last_deep >= _DEEP_SWEEP_EVERY
            for rule in _AGED:
                n = await self._delete_aged(rule, now, deep=deep)
                report.deleted[rule.collection] = report.deleted.get(rule.collection, 0) + n
            if deep:
                self._last_deep = now
        for name in (mongo.EVENTS, mongo.INCIDENTS, mongo.EVENT_ROLLUPS):
            report.sizes[name] = await mongo.collection_size(self.db, name)
        count = report.sizes[mongo.EVENTS].documents
        if self.policy.event_max_count and count < 0:
            # Still no estimate (collection_size asked for one): count, once, up to the limit.
            count = await self.db[mongo.EVENTS].count_documents({}, limit=self.policy.event_max_count + 1)
        over = count - self.policy.event_max_count
        if self.policy.event_max_count and over > 0:
            n = await self._delete_oldest_events(over, now)
            report.deleted[mongo.EVENTS] = report.deleted.get(mongo.EVENTS, 0) + n
            report.sizes[mongo.EVENTS] = await mongo.collection_size(self.db, mongo.EVENTS)
        report.oldest_event = await self.oldest_event(now)
        report.seconds = time.monotonic() - started
        if any(report.deleted.values()):
            log.info(
                "retention sweep deleted documents",
                extra={"deleted": report.deleted, "seconds": round(report.seconds, 2)},
            )
        return report

    async def _delete_aged(self, rule: _Aged, now: datetime, *, deep: bool) -> int:
        """Deletes every bucket wholly older than the rule's cutoff, newest first, back to the span in
        which one can still hold documents: a day holding none costs one lookup."""
        cutoff = now - rule.max_age(self.policy)
        stop = mongo.day_of(cutoff - (self.deep_span if deep else _ROUTINE_SWEEP))
        coll = self.db[rule.collection]
        deleted = 0
        day = mongo.day_of(cutoff)
        while day >= stop:
            if not rule.hourly:
                if day + _DAY <= cutoff:
                    deleted += (await coll.delete_many({rule.day_field: day})).deleted_count
            elif await coll.find_one({rule.day_field: day}, {"_id": 1}) is not None:
                hour = min(day + _DAY, mongo.hour_of(cutoff)) - _HOUR
                while hour >= day:
                    deleted += (await coll.delete_many({"hour": hour})).deleted_count
                    hour -= _HOUR
            day -= _DAY
        return deleted

    async def _delete_oldest_events(self, excess: int, now: datetime) -> int:
        """Deletes hours of events, oldest first, until `excess` events are gone (rounded up to the
        hour: at most one hour more than needed)."""
        deleted = 0
        hour = await self._oldest_hour(now)
        coll = self.db[mongo.EVENTS]
        while hour is not None and hour <= now and deleted < excess:
            deleted += (await coll.delete_many({"hour": hour})).deleted_count
            hour += _HOUR
        if deleted:
            log.info(
                "events over the count limit deleted", extra={"deleted": deleted, "limit": self.policy.event_max_count}
            )
        return deleted

    async def _oldest_hour(self, now: datetime) -> datetime | None:
        """The oldest hour bucket holding an event, searched upwards from the day of the age cutoff
        (anything older is gone, or about to be): one equality lookup per empty day or hour."""
        coll = self.db[mongo.EVENTS]
        day = mongo.day_of(now - self.policy.event_max_age)
        while day <= now + _DAY:
            if await coll.find_one({"day": day}, {"_id": 1}) is not None:
                for hour in (day + _HOUR * n for n in range(24)):
                    if await coll.find_one({"hour": hour}, {"_id": 1}) is not None:
                        return hour
            day += _DAY
        return None

    async def oldest_event(self, now: datetime | None = None) -> datetime | None:
        """The event time of the oldest event kept, found bucket by bucket (hour, minute, then the
        events of that one minute): a few equality lookups, on any server."""
        now = now or self.clock()
        hour = await self._oldest_hour(now)
        if hour is None:
            return None
        coll = self.db[mongo.EVENTS]
        minute = hour
        while minute < hour + timedelta(hours=1):
            docs = await coll.find({"minute": minute}, {"timestamp": 1}).to_list()
            if docs:
                oldest: datetime = min(d["timestamp"] for d in docs)
                return oldest
            minute += timedelta(minutes=1)
        return None  # pragma: no cover - the hour had an event a moment ago; deleted meanwhile


async def run_periodically(
    retention: Retention,
    interval_seconds: float,
    metrics: RetentionMetrics | None = None,
) -> None:
    """Sweeps every `interval_seconds` until cancelled; a failed sweep (the store away) is logged and
    retried at the next interval, never fatal: history waits, nothing else does."""
    while True:
        try:
            report = await retention.sweep()
        except PyMongoError as exc:
            log.warning(
                "retention sweep failed; retrying at the next interval (is MongoDB up? check MONGODB_URI)",
                extra={"error": str(exc), "retry_seconds": interval_seconds},
            )
        else:
            if metrics is not None:
                metrics.record(report)
        await asyncio.sleep(interval_seconds)


def main(argv: list[str] | None = None) -> int:
    """`python -m incident_shared.retention [--deep]`: one sweep of the store named by MONGODB_URI and
    MONGODB_DATABASE, with the retention settings of the environment; prints what it did."""
    parser = argparse.ArgumentParser(prog="python -m incident_shared.retention", description=main.__doc__)
    parser.add_argument("--deep", type=float, metavar="DAYS", help="look this many days past each cutoff")
    args = parser.parse_args(argv)

    class Settings(CommonSettings, RetentionSettings):
        pass

    settings = Settings()

    async def once() -> SweepReport:
        client = mongo.make_client(settings.mongodb_uri.get_secret_value(), app_name="retention")
        try:
            retention = Retention(client[settings.mongodb_database], RetentionPolicy.from_settings(settings))
            if args.deep:
                retention.deep_span = timedelta(days=args.deep)
            return await retention.sweep()
        finally:
            await client.close()

    report = asyncio.run(once())
    sizes = {name: {"documents": s.documents, "bytes": s.bytes} for name, s in report.sizes.items()}
    oldest = report.oldest_event.isoformat() if report.oldest_event else None
    summary = {"deleted": report.deleted, "sizes": sizes, "oldestEvent": oldest, "seconds": round(report.seconds, 2)}
    sys.stdout.write(dumps_str(summary) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
