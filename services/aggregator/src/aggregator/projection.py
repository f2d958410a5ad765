"""The MongoDB projection: events (with their incident, fingerprint and template), incidents, and
per-minute rollups, written in unordered bulk batches and idempotent.

- events: inserted with `_id` = `eventId`; a redelivered event is a duplicate-key error, ignored
  (the engine's results for it, `incidentId`, `fingerprint`, `template`, are the same on a replay).
  Events that waited in a pending cluster get their `incidentId` when the incident opens.
- incidents: `_id` = `incidentId`, replaced only when the stored version is lower; an older
  version is a no-op (the duplicate-key error of its refused upsert is expected and ignored).
- event_rollups: `{minute, service, severity, count}`, the count set with `$max` from the
  engine's exact per-group count, so a redelivered or replayed event is never counted twice
  (a rollup not written before is inserted, and raised with `$max` if it turns out to exist).
MongoDB being down blocks the stream (retries with backoff) rather than losing anything: the
backlog waits in Kafka.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from pymongo import UpdateMany, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import (
    BulkWriteError,
    ConnectionFailure,
    PyMongoError,
    ServerSelectionTimeoutError,
)
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, wait_exponential

from aggregator.engine import Outcome
from incident_shared import mongo
from incident_shared.schemas.incidents import Incident

log = logging.getLogger(__name__)
_DUPLICATE_KEY = 11000
_RETRYABLE = (ConnectionFailure, ServerSelectionTimeoutError)
_MAX_ROLLUPS_REMEMBERED = 200_000


def event_document(outcome: Outcome) -> tuple[dict[str, Any], dict[str, Any]]:
    """(fields set on insert, fields set always) for one processed event: the stored form the
    gateway's reads need (its time buckets included), from `mongo.event_document`."""
    doc = mongo.event_document(
        outcome.event, incident_id=outcome.incident_id, fingerprint=outcome.fingerprint, template=outcome.template
    )
    return doc, {name: doc.pop(name) for name in ("incidentId", "fingerprint", "template")}


def _upserted_unless_refused(details: Mapping[str, Any]) -> dict[int, Any]:
    """{op index: id} of the upserts in a bulk reply; raises BulkWriteError for any error but a
    duplicate key (an older version, or a document already written: the expected no-op)."""
    if any(e.get("code") != _DUPLICATE_KEY for e in details.get("writeErrors", [])):
        raise BulkWriteError(dict(details))
    return {u["index"]: u["_id"] for u in details.get("upserted", [])}


def incident_document(incident: Incident) -> dict[str, Any]:
    return mongo.incident_document(incident)


def _rollup_fields(minute: datetime, service: str, severity: int) -> dict[str, Any]:
    """A rollup's fields but its `_id` and count (set on insert when `$max` creates it)."""
    doc = mongo.rollup_document(minute, service, severity, 0)
    del doc["_id"], doc["count"]
    return doc


def _log_retry(state: RetryCallState) -> None:
    error = state.outcome.exception() if state.outcome else None
    log.warning(
        "MongoDB is not answering; retrying (check MONGODB_URI and that the server is up)",
        extra={"attempt": state.attempt_number, "error": repr(error)},
    )


class Projection:
    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self.db = db
        # Rollup ids known to exist (written by this projection): raised in place rather than inserted.
        self._rollups_written: set[str] = set()

    async def prepare(self) -> None:
        """Creates the indexes, waiting (with backoff) for a server that is down or failing: the
        worker stays up meanwhile and processes nothing."""
        await self._retrying(mongo.ensure_indexes, self.db, retryable=PyMongoError)

    async def _retrying(
        self, fn: Any, *args: Any, retryable: type[Exception] | tuple[type[Exception], ...] = _RETRYABLE
    ) -> Any:
        async for attempt in AsyncRetrying(
            retry=retry_if_exception_type(retryable),
            wait=wait_exponential(multiplier=0.2, max=10),
            before_sleep=_log_retry,
            reraise=True,
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
        docs: list[dict[str, Any]] = []
        position: dict[str, int] = {}
        assigned: dict[str, str] = {}  # event id -> the incident its pending cluster opened
        for o in outcomes:
            insert, always = event_document(o)
            position[o.event.eventId] = len(docs)
            docs.append({"_id": o.event.eventId, **insert, **always})
            if o.assigned and o.incident_id:
                for event_id in o.assigned:
                    assigned[event_id] = o.incident_id
        # Earlier events of this batch that joined an incident are inserted with it; only those
        # inserted before (an earlier batch, or a replay) need an update.
        for event_id, incident_id in assigned.items():
            i = position.get(event_id)
            if i is not None:
                docs[i]["incidentId"] = incident_id
        duplicates = await self._retrying(self._insert, mongo.EVENTS, docs)
        inserted = [o for i, o in enumerate(outcomes) if i not in duplicates]
        later: dict[str, list[str]] = {}
        for event_id, incident_id in assigned.items():
            i = position.get(event_id)
            if i is None or i in duplicates:
                later.setdefault(incident_id, []).append(event_id)
        if later:
            ops = [UpdateMany({"_id": {"$in": ids}}, {"$set": {"incidentId": iid}}) for iid, ids in later.items()]
            await self._retrying(self._bulk, mongo.EVENTS, ops)
        # Each rollup has one writer (the owner of its service's group) and the engine gives the
        # absolute count so far: `$max` makes the write idempotent across crashes and replays.
        counts: dict[tuple[datetime, str, int], int] = {}
        for o in outcomes:
            e = o.event
            k = (e.timestamp.replace(second=0, microsecond=0), e.service, e.severity)
            counts[k] = max(counts.get(k, 0), o.rollup)
        if counts:
            await self._write_rollups([(mongo.rollup_id(m, s, sev), m, s, sev, n) for (m, s, sev), n in counts.items()])
        return len(inserted)

    async def _write_rollups(self, rollups: list[tuple[str, datetime, str, int, int]]) -> None:
        """Rollups this projection has not written yet are inserted in one batch (an upsert costs a
        query each on some MongoDB-protocol servers); those that exist already are raised with `$max`."""
        written = self._rollups_written
        fresh = [r for r in rollups if r[0] not in written]
        known = [r for r in rollups if r[0] in written]
        if fresh:
            docs = [mongo.rollup_document(m, s, sev, n) for _, m, s, sev, n in fresh]
            existing = await self._retrying(self._insert, mongo.EVENT_ROLLUPS, docs)
            known.extend(fresh[i] for i in sorted(existing))
        if known:
            ops = [
                UpdateOne(
                    {"_id": rid},
                    {"$setOnInsert": _rollup_fields(m, s, sev), "$max": {"count": n}},
                    upsert=True,
                )
                for rid, m, s, sev, n in known
            ]
            await self._retrying(self._bulk, mongo.EVENT_ROLLUPS, ops)
        if len(written) > _MAX_ROLLUPS_REMEMBERED:
            written.clear()
        written.update(r[0] for r in rollups)

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
            return _upserted_unless_refused(exc.details)
        except KeyError as exc:
            if exc.args != ("nModified",):
                raise
            # FerretDB 1.x leaves `nModified` out of a reply that carries write errors (an upsert of
            # an older incident version is one: a duplicate key), and pymongo fails merging that reply
            # before it can raise BulkWriteError. It also stops an unordered batch at its first error,
            # so the operations after it were not applied. Every operation here is idempotent: apply
            # them again one by one, as raw `update` commands whose replies are read as they are.
            return await self._one_by_one(collection, ops)
        return dict(result.upserted_ids or {})

    async def _one_by_one(self, collection: str, ops: list[Any]) -> dict[int, Any]:
        upserted: dict[int, Any] = {}
        for i, op in enumerate(ops):
            update = {"q": op._filter, "u": op._doc, "upsert": bool(op._upsert), "multi": isinstance(op, UpdateMany)}
            reply = await self.db.command({"update": collection, "updates": [update], "ordered": True})
            upserted.update((i, doc_id) for doc_id in _upserted_unless_refused(reply).values())
        return upserted
