"""The MongoDB projection: events (with their incident, fingerprint and template), incidents, and
per-minute rollups, written in unordered bulk batches and idempotent.

- events: inserted with `_id` = `eventId`; a redelivered event is a duplicate-key error, ignored
  (the engine's results for it, `incidentId`, `fingerprint`, `template`, are the same on a replay).
  Events that waited in a pending cluster get their `incidentId` when the incident opens.
- incidents: `_id` = `incidentId`, replaced only when the stored version is lower; an older
  version is a no-op (the duplicate-key error of its refused upsert is expected and ignored).
- event_rollups: `{minute, service, severity, count}`, the count set with `$max` from the
  engine's exact per-group count, so a redelivered or replayed event is never counted twice.
MongoDB being down blocks the stream (retries with backoff) rather than losing anything: the
backlog waits in Kafka.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from pymongo import UpdateMany, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, ConnectionFailure, ServerSelectionTimeoutError
from tenacity import AsyncRetrying, retry_if_exception_type, wait_exponential

from aggregator.engine import Outcome
from incident_shared import mongo
from incident_shared.schemas.incidents import Incident

log = logging.getLogger(__name__)
_DUPLICATE_KEY = 11000
_RETRYABLE = (ConnectionFailure, ServerSelectionTimeoutError)


def event_document(outcome: Outcome) -> tuple[dict[str, Any], dict[str, Any]]:
    """(fields set on insert, fields set always) for one processed event."""
    e = outcome.event
    doc = e.to_api()
    doc["timestamp"] = e.timestamp
    doc["receivedAt"] = e.receivedAt
    doc["minute"] = e.timestamp.replace(second=0, microsecond=0)
    return doc, {"incidentId": outcome.incident_id, "fingerprint": outcome.fingerprint, "template": outcome.template}


def incident_document(incident: Incident) -> dict[str, Any]:
    return incident.model_dump(mode="python")


def _rollup_id(minute: datetime, service: str, severity: int) -> str:
    return f"{minute.astimezone(UTC).isoformat().replace('+00:00', 'Z')}|{service}|{severity}"


class Projection:
    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self.db = db

    async def _retrying(self, fn: Any, *args: Any) -> Any:
        async for attempt in AsyncRetrying(
            retry=retry_if_exception_type(_RETRYABLE), wait=wait_exponential(multiplier=0.2, max=10), reraise=True
        ):
            with attempt:
                return await fn(*args)
        return None  # pragma: no cover - AsyncRetrying either returns or raises

    async def write_events(self, outcomes: Sequence[Outcome]) -> int:
        """Inserts the events and counts the new ones into the rollups; returns how many were new.

        Plain inserts with `_id` = eventId (a redelivered event is a duplicate-key error, ignored):
        upserts cost a query each on some MongoDB-protocol servers, inserts are batched.
        """
        if not outcomes:
            return 0
        docs = []
        for o in outcomes:
            insert, always = event_document(o)
            docs.append({"_id": o.event.eventId, **insert, **always})
        duplicates = await self._retrying(self._insert, mongo.EVENTS, docs)
        inserted = [o for i, o in enumerate(outcomes) if i not in duplicates]
        assigned: dict[str, list[str]] = {}
        for o in outcomes:
            if o.assigned and o.incident_id:
                assigned.setdefault(o.incident_id, []).extend(o.assigned)
        if assigned:
            ops = [UpdateMany({"_id": {"$in": ids}}, {"$set": {"incidentId": iid}}) for iid, ids in assigned.items()]
            await self._retrying(self._bulk, mongo.EVENTS, ops)
        # Each rollup has one writer (the owner of its service's group) and the engine gives the
        # absolute count so far: `$max` makes the write idempotent across crashes and replays.
        rollups: dict[str, tuple[datetime, str, int, int]] = {}
        for o in outcomes:
            minute = o.event.timestamp.replace(second=0, microsecond=0)
            rid = _rollup_id(minute, o.event.service, o.event.severity)
            prev = rollups.get(rid)
            rollups[rid] = (minute, o.event.service, o.event.severity, max(prev[3] if prev else 0, o.rollup))
        if rollups:
            rops = [
                UpdateOne(
                    {"_id": rid},
                    {"$setOnInsert": {"minute": m, "service": s, "severity": sev}, "$max": {"count": n}},
                    upsert=True,
                )
                for rid, (m, s, sev, n) in rollups.items()
            ]
            await self._retrying(self._bulk, mongo.EVENT_ROLLUPS, rops)
        return len(inserted)

    async def _insert(self, collection: str, docs: list[dict[str, Any]]) -> set[int]:
        """Inserts unordered; returns the indexes of documents that were already there."""
        try:
            await self.db[collection].insert_many(docs, ordered=False)
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            if any(e.get("code") != _DUPLICATE_KEY for e in errors):
                raise
            return {e["index"] for e in errors}
        return set()

    async def write_incidents(self, incidents: Sequence[Incident]) -> None:
        latest: dict[str, Incident] = {}
        for inc in incidents:
            if inc.incidentId not in latest or latest[inc.incidentId].version < inc.version:
                latest[inc.incidentId] = inc
        ops = [
            UpdateOne(
                {"_id": inc.incidentId, "version": {"$lt": inc.version}},
                {"$set": incident_document(inc)},
                upsert=True,
            )
            for inc in latest.values()
        ]
        if ops:
            await self._retrying(self._bulk, mongo.INCIDENTS, ops)

    async def _bulk(self, collection: str, ops: list[Any]) -> dict[int, Any]:
        """Runs an unordered bulk write; returns {op index: id} of the upserts that inserted."""
        try:
            result = await self.db[collection].bulk_write(ops, ordered=False)
        except BulkWriteError as exc:
            details = exc.details
            real = [e for e in details.get("writeErrors", []) if e.get("code") != _DUPLICATE_KEY]
            if real:
                raise
            return {u["index"]: u["_id"] for u in details.get("upserted", [])}
        return dict(result.upserted_ids or {})
