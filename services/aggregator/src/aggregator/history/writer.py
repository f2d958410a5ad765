"""Writes the history (events, rollups, incidents) to MongoDB, and decides what each failure means.

Every write is idempotent, so that a batch written twice (a crash before the commit, a replay)
leaves the same documents:
- events are inserted with `_id` = `eventId` in unordered batches; one already there is a
  duplicate-key error, which is success (its results are set again when the engine's are known);
- the engine's results for events stored before are `$set`, grouped by value;
- rollups carry the engine's exact count, raised with `$max`;
- an incident replaces the stored one unless the stored version is higher: an equal version read
  later on the topic is the same change published again by a worker that replayed its batch
  after a crash, and it is the one the engine's saved state agrees with (the batch may have been
  cut differently the second time, so its contents can differ from the first).

Failures (see `errors.classify`): a transient one holds the stream and retries with backoff for as
long as it lasts, visible as `holding`; a document the store refuses goes to the dead-letter topic
with the server's reason; anything else is retried `max_attempts` times, first as a batch and then,
split, document by document, before the one document that keeps failing is dead-lettered.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import bson
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

from aggregator import documents
from aggregator.deadletters import DeadLetters
from aggregator.history.errors import Kind, classify, classify_write_error, describe
from aggregator.history.join import Assign, Insert, SetResults, Work
from aggregator.metrics import Metrics
from aggregator.records import Invalid, decode_record
from aggregator.steps import Record
from incident_shared import mongo
from incident_shared.schemas.incidents import IncidentChange

log = logging.getLogger(__name__)
R = TypeVar("R")
_MAX_ROLLUPS_REMEMBERED = 200_000
_CHUNK = 1000  # documents per insert: a bounded pause of the event loop to encode them
_MAX_COMMAND_BYTES = 8 << 20  # well under the 16 MiB a command document may have


def update(
    filter_: dict[str, Any], change: dict[str, Any], *, upsert: bool = False, multi: bool = False
) -> dict[str, Any]:
    """One statement of an `update` command."""
    return {"q": filter_, "u": change, "upsert": upsert, "multi": multi}


class Backoff:
    """Exponential backoff from `first` to `cap` seconds; `sleep` is injectable for tests."""

    def __init__(
        self, first: float = 0.2, cap: float = 10.0, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    ) -> None:
        self.first = first
        self.cap = cap
        self._sleep = sleep

    async def wait(self, attempt: int) -> None:
        await self._sleep(min(self.cap, self.first * 2 ** max(0, attempt - 1)))


@dataclass(slots=True)
class Prepared:
    """A unit of work as documents: event documents (with the records they come from, for a dead
    letter), the engine's latest results per event id, rollup counts, incident changes."""

    docs: list[dict[str, Any]]
    records: list[Record]
    results: dict[str, dict[str, Any]]
    rollups: dict[tuple[int, str, int], int]
    incidents: list[tuple[Record, IncidentChange]]


class HistoryWriter:
    def __init__(
        self,
        db: AsyncDatabase[dict[str, Any]],
        *,
        dead_letters: DeadLetters,
        metrics: Metrics,
        max_attempts: int = 5,
        backoff: Backoff | None = None,
    ) -> None:
        self.db = db
        self._dead_letters = dead_letters
        self._metrics = metrics
        self.max_attempts = max_attempts
        self._backoff = backoff or Backoff()
        self._rollups_written: set[str] = set()
        # Set while a transient failure holds the stream (health and metrics show it).
        self.holding_since: float | None = None
        self.last_error: str | None = None

    # -- the one retry policy ----------------------------------------------------------------------

    async def _hold(self, what: str, fn: Callable[[], Awaitable[R]]) -> R:
        """Runs `fn`, retrying transient failures with backoff for as long as they last. Any other
        failure is raised to the caller, which knows what the documents are."""
        attempt = 0
        while True:
            try:
                result = await fn()
            except BulkWriteError:
                raise
            except Exception as exc:
                if classify(exc) is not Kind.TRANSIENT:
                    raise
                attempt += 1
                self._holding(what, exc, attempt)
                await self._backoff.wait(attempt)
                continue
            if self.holding_since is not None:
                log.info("MongoDB answers again; history goes on", extra={"heldSeconds": self.held_seconds()})
                self.holding_since = None
                self._metrics.history_holding.set(0)
            return result

    def _holding(self, what: str, exc: BaseException, attempt: int) -> None:
        self.last_error = describe(exc)
        self._metrics.history_retries.labels("transient").inc()
        if self.holding_since is None:
            self.holding_since = time.monotonic()
            self._metrics.history_holding.set(1)
        log.warning(
            "MongoDB is not answering; history is held and retried with backoff (incidents keep flowing; "
            "check MONGODB_URI and that the server is up)",
            extra={"write": what, "attempt": attempt, "error": self.last_error},
        )

    def held_seconds(self) -> float:
        return 0.0 if self.holding_since is None else round(time.monotonic() - self.holding_since, 1)

    async def prepare(self) -> None:
        """Creates the indexes; waits (holding) while the server is down or failing."""
        attempt = 0
        while True:
            try:
                await self._hold("indexes", lambda: mongo.ensure_indexes(self.db))
            except Exception as exc:  # noqa: BLE001 - a server failing at start is waited for, not fatal
                attempt += 1
                self._holding("indexes", exc, attempt)
                await self._backoff.wait(attempt)
            else:
                return

    # -- a unit of work ----------------------------------------------------------------------------

    async def write(self, work: Work, incidents: Sequence[tuple[Record, IncidentChange]] = ()) -> None:
        """Builds and writes one unit of work (see `build` and `apply`)."""
        await self.apply(self.build(work, incidents))

    def build(self, work: Work, incidents: Sequence[tuple[Record, IncidentChange]] = ()) -> Prepared:
        """The documents and updates of a unit of work, built without touching the store: the
        consumer builds the next unit while the store writes this one."""
        final: dict[str, dict[str, Any]] = {}  # event id -> the engine's latest results for it
        bodies: list[Record] = []
        for op in work.operations:
            if isinstance(op, Insert):
                for record, row in op.entries:
                    bodies.append(record)
                    if row is not None:
                        final[row.event_id] = {
                            "incidentId": row.incident_id,
                            "fingerprint": row.fingerprint,
                            "template": row.template,
                        }
            elif isinstance(op, SetResults):
                for row in op.rows:
                    final[row.event_id] = {
                        "incidentId": row.incident_id,
                        "fingerprint": row.fingerprint,
                        "template": row.template,
                    }
            elif isinstance(op, Assign):
                for event_id in op.event_ids:
                    final.setdefault(event_id, {})["incidentId"] = op.incident_id
        docs: list[dict[str, Any]] = []
        records: list[Record] = []
        for record in bodies:
            event = decode_record(record)
            if isinstance(event, Invalid):
                continue  # not an event: the engine dead-lettered it (only a record it never saw gets here)
            results = final.get(event.eventId, {})
            docs.append(
                documents.event_document(
                    event,
                    incident_id=results.get("incidentId"),
                    fingerprint=results.get("fingerprint"),
                    template=results.get("template"),
                )
            )
            records.append(record)
        return Prepared(docs, records, final, dict(work.rollups), list(incidents))

    async def apply(self, p: Prepared) -> None:
        """Writes a built unit of work, in this order: events, the results of events stored
        before, rollups, incidents; then waits until its dead letters are on the broker."""
        started = time.perf_counter()
        new: set[str] = set()
        for i in range(0, len(p.docs), _CHUNK):
            chunk = p.docs[i : i + _CHUNK]
            existing = await self._insert(mongo.EVENTS, chunk, p.records[i : i + _CHUNK])
            new.update(d["_id"] for d in chunk if d["_id"] not in existing)
        self._metrics.projection_writes.labels("events").inc(len(new))
        await self._set_results({k: v for k, v in p.results.items() if k not in new})
        if p.rollups:
            await self._write_rollups(p.rollups)
        if p.incidents:
            await self._write_incidents(p.incidents)
        await self._dead_letters.flush()
        self._metrics.history_batch_seconds.observe(time.perf_counter() - started)

    async def _insert(self, collection: str, docs: list[dict[str, Any]], records: Sequence[Record] = ()) -> set[Any]:
        """Inserts unordered; returns the `_id`s already there. Refused documents are dead-lettered;
        documents failing otherwise are retried (split, down to one) up to `max_attempts` times."""
        existing: set[Any] = set()
        todo: list[tuple[list[dict[str, Any]], list[Record | None], int]] = [
            (docs, list(records) if records else [None] * len(docs), 0)
        ]
        coll = self.db[collection]
        while todo:
            batch, recs, attempt = todo.pop()
            if not batch:
                continue
            try:
                await self._hold(f"insert {collection}", lambda b=batch: coll.insert_many(b, ordered=False))  # type: ignore[misc]
            except BulkWriteError as exc:
                again = await self._sort_out(collection, exc, batch, recs, existing)
                if again:
                    await self._backoff.wait(attempt + 1)
                    todo.append(([batch[i] for i in again], [recs[i] for i in again], attempt))
            except Exception as exc:  # noqa: BLE001 - classified: each document's fate is decided below
                kind = classify(exc)
                if len(batch) > 1:
                    half = len(batch) // 2  # find the document(s) at fault
                    todo.append((batch[half:], recs[half:], attempt))
                    todo.append((batch[:half], recs[:half], attempt))
                elif kind is Kind.REFUSED:
                    await self._give_up(collection, recs[0], "store-refused", describe(exc))
                elif attempt + 1 >= self.max_attempts:
                    await self._give_up(
                        collection, recs[0], "store-failed", f"failed {attempt + 1} attempts, the last: {describe(exc)}"
                    )
                else:
                    self._metrics.history_retries.labels("unknown").inc()
                    self.last_error = describe(exc)
                    log.warning(
                        "MongoDB write failed; retrying", extra={"attempt": attempt + 1, "error": self.last_error}
                    )
                    await self._backoff.wait(attempt + 1)
                    todo.append((batch, recs, attempt + 1))
        return existing

    async def _sort_out(
        self,
        collection: str,
        exc: BulkWriteError,
        batch: list[dict[str, Any]],
        recs: list[Record | None],
        existing: set[Any],
    ) -> list[int]:
        """Each document's error of an unordered insert: already there (added to `existing`),
        refused (given up), or transient (its index returned, to try again)."""
        again: list[int] = []
        for error in exc.details.get("writeErrors", []):
            i = int(error["index"])
            kind = classify_write_error(error)
            if kind is Kind.DUPLICATE:
                existing.add(batch[i]["_id"])
            elif kind is Kind.TRANSIENT:
                again.append(i)
            else:
                await self._give_up(collection, recs[i], "store-refused", describe(error))
        return again

    async def _give_up(self, collection: str, record: Record | None, kind: str, reason: str) -> None:
        """A write given up for good: the record it stands for goes to the dead-letter topic; one
        that stands for none (a rollup, results) is logged and counted."""
        if record is not None:
            await self._dead_letters.send(record, f"MongoDB: {reason}", kind)
            return
        self._metrics.history_skipped.labels(collection).inc()
        log.error("MongoDB refused a write; it is skipped", extra={"collection": collection, "reason": reason})

    async def _set_results(self, final: dict[str, dict[str, Any]]) -> None:
        """`$set`s the engine's results on events stored before, one update per distinct value."""
        if not final:
            return
        groups: dict[tuple[tuple[str, Any], ...], list[str]] = {}
        for event_id, values in final.items():
            groups.setdefault(tuple(sorted(values.items())), []).append(event_id)
        ops = [update({"_id": {"$in": ids}}, {"$set": dict(values)}, multi=True) for values, ids in groups.items()]
        await self._update(mongo.EVENTS, ops)

    async def _write_rollups(self, rollups: dict[tuple[int, str, int], int]) -> None:
        """Rollups this writer has not written yet are inserted in one batch (an upsert costs a
        query each on some MongoDB-protocol servers); those that exist are raised with `$max`."""
        written = self._rollups_written
        docs = [documents.rollup_document(m, s, sev, n) for (m, s, sev), n in rollups.items()]
        fresh = [d for d in docs if d["_id"] not in written]
        known = [d for d in docs if d["_id"] in written]
        if fresh:
            existing = await self._insert(mongo.EVENT_ROLLUPS, fresh)
            known.extend(d for d in fresh if d["_id"] in existing)
        if known:
            ops = [
                update(
                    {"_id": d["_id"]},
                    {
                        "$setOnInsert": documents.rollup_on_insert(d),
                        "$max": {"count": d["count"]},
                    },
                    upsert=True,
                )
                for d in known
            ]
            await self._update(mongo.EVENT_ROLLUPS, ops)
        if len(written) > _MAX_ROLLUPS_REMEMBERED:
            written.clear()
        written.update(d["_id"] for d in docs)
        self._metrics.projection_writes.labels("event_rollups").inc(len(docs))

    async def _write_incidents(self, incidents: Sequence[tuple[Record, IncidentChange]]) -> None:
        latest: dict[str, tuple[Record, IncidentChange]] = {}
        for record, change in incidents:
            current = latest.get(change.incident.incidentId)
            if current is None or current[1].incident.version <= change.incident.version:
                latest[change.incident.incidentId] = (record, change)
        chosen = list(latest.values())
        ops = [
            update(
                {"_id": c.incident.incidentId, "version": {"$lte": c.incident.version}},
                {"$set": documents.incident_document(c.incident)},
                upsert=True,
            )
            for _, c in chosen
        ]
        await self._update(mongo.INCIDENTS, ops, [r for r, _ in chosen])
        self._metrics.projection_writes.labels("incidents").inc(len(ops))

    async def _update(self, collection: str, ops: list[dict[str, Any]], records: Sequence[Record] = ()) -> None:
        """Runs update statements unordered, in chunks under the command size limit."""
        start = 0
        while start < len(ops):
            end, size = start, 0
            while end < len(ops) and (end == start or size < _MAX_COMMAND_BYTES):
                size += len(bson.encode(ops[end]))
                end += 1
            await self._update_chunk(collection, ops[start:end], records[start:end] if records else ())
            start = end

    async def _update_chunk(self, collection: str, ops: list[dict[str, Any]], records: Sequence[Record]) -> None:
        """One `update` command, through the command rather than the driver's bulk API: FerretDB
        leaves `n` and `nModified` out of an answer with write errors, which the bulk API cannot
        read, and even unordered it stops at the first failing statement and reports it alone, at
        index 0. So an answer with any error (a duplicate key included) says only that some
        statement failed and the ones after it may not have run: the halves are run again until
        the failing statement is alone (every update here is idempotent).

        Duplicate keys are success (an upsert whose filter found an equal or newer document); an
        update the store refuses is dead-lettered when it stands for a record (an incident change),
        else logged and counted; others are retried a bounded number of times."""
        todo: list[tuple[list[dict[str, Any]], list[Record | None], int]] = [
            (ops, list(records) if records else [None] * len(ops), 0)
        ]
        while todo:
            batch, recs, attempt = todo.pop()
            command = {"update": collection, "updates": batch, "ordered": False}
            try:
                answer = await self._hold(f"update {collection}", lambda c=command: self.db.command(c))  # type: ignore[misc]
            except Exception as exc:  # noqa: BLE001 - bounded attempts, then the operations are given up
                if attempt + 1 >= self.max_attempts:
                    reason = f"failed {attempt + 1} attempts, the last: {describe(exc)}"
                    for record in recs:
                        await self._give_up(collection, record, "store-failed", reason)
                    continue
                self._metrics.history_retries.labels("unknown").inc()
                self.last_error = describe(exc)
                await self._backoff.wait(attempt + 1)
                todo.append((batch, recs, attempt + 1))
                continue
            errors = answer.get("writeErrors", [])
            if not errors:
                continue
            if len(batch) > 1:
                half = len(batch) // 2
                todo.append((batch[half:], recs[half:], attempt))
                todo.append((batch[:half], recs[:half], attempt))
                continue
            kind = classify_write_error(errors[0])
            if kind is Kind.DUPLICATE:
                continue
            if kind is Kind.TRANSIENT:
                self._metrics.history_retries.labels("transient").inc()
                await self._backoff.wait(attempt + 1)
                todo.append((batch, recs, attempt + 1))
            else:
                await self._give_up(collection, recs[0], "store-refused", describe(errors[0]))
