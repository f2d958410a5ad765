"""`/api/events`: ingest (single and batch) into Kafka, and reads from the MongoDB projection."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from datetime import timedelta
from typing import Any

from aiohttp import web

from incident_shared import mongo
from incident_shared.codec import dumps
from incident_shared.schemas import Event, EventValidationError, parse_event
from incident_shared.schemas.events import SERVICE_PATTERN
from incident_shared.timeutil import epoch_ms, from_epoch_ms, iso, utcnow
from incident_shared.web.health import json_response
from ingest_gateway.appkeys import BUSY_BUCKETS, INCIDENT_VIEW, METRICS, MONGO, PUBLISHER, SETTINGS, SHARED_READS
from ingest_gateway.body import read_json
from ingest_gateway.errors import ApiError
from ingest_gateway.history import READ_TIMEOUT_MS, EventQuery, IncidentSpan, newest_events
from ingest_gateway.publisher import KafkaUnavailableError
from ingest_gateway.query import decode_cursor, encode_cursor, get_int, get_int_list, get_str_list, get_time

routes = web.RouteTableDef()

RETRY_AFTER_SECONDS = "5"
# The incidents merged into one root whose events an incident's event list includes.
MAX_MERGED = 1000


def kafka_unavailable(exc: KafkaUnavailableError) -> ApiError:
    return ApiError(
        503,
        "kafka_unavailable",
        f"the event store is unavailable ({exc}); nothing was accepted, retry after {RETRY_AFTER_SECONDS}s"
        " (send your own eventId to make retries idempotent)",
        headers={"Retry-After": RETRY_AFTER_SECONDS},
    )


def _reject(request: web.Request, err: EventValidationError, prefix: str = "invalid event") -> ApiError:
    request.app[METRICS].events_rejected.labels(f"invalid_{err.errors[0].field.split('[')[0]}").inc()
    return ApiError(400, "validation_error", f"{prefix}: {err}", details=[e.to_dict() for e in err.errors])


async def publish(request: web.Request, events: list[Event], source: str) -> list[BaseException | None]:
    """Publishes `events`; raises the 503 ApiError when none could be stored."""
    try:
        outcome = await request.app[PUBLISHER].publish(events)
    except KafkaUnavailableError as exc:
        request.app[METRICS].events_rejected.labels("kafka_unavailable").inc(len(events))
        raise kafka_unavailable(exc) from exc
    stored = sum(1 for o in outcome if o is None)
    request.app[METRICS].events_accepted.labels(source).inc(stored)
    if stored < len(events):
        request.app[METRICS].events_rejected.labels("kafka_error").inc(len(events) - stored)
    return outcome


@routes.post("/api/events")
async def create_event(request: web.Request) -> web.Response:
    raw = await read_json(request)
    try:
        event = parse_event(raw, received_at=utcnow())
    except EventValidationError as err:
        raise _reject(request, err) from err
    await publish(request, [event], "http")
    return json_response({"success": True, "message": "Event created successfully", "data": event.to_api()}, status=201)


@routes.post("/api/events/batch")
async def create_events(request: web.Request) -> web.Response:
    raw = await read_json(request)
    items = raw.get("events") if isinstance(raw, dict) else raw
    if not isinstance(items, list):
        raise ApiError(400, "validation_error", 'the body must be a JSON array of events, or {"events": [...]}')
    limit = request.app[SETTINGS].max_batch_events
    if not items:
        raise ApiError(400, "validation_error", f"the batch is empty; send 1 to {limit} events")
    if len(items) > limit:
        raise ApiError(413, "batch_too_large", f"the batch has {len(items)} events; at most {limit} per request")

    received = utcnow()
    results: list[dict[str, Any]] = [{} for _ in items]
    valid: list[tuple[int, Event]] = []
    for i, item in enumerate(items):
        try:
            valid.append((i, parse_event(item, received_at=received)))
        except EventValidationError as err:
            request.app[METRICS].events_rejected.labels(f"invalid_{err.errors[0].field.split('[')[0]}").inc()
            results[i] = {
                "index": i,
                "success": False,
                "error": str(err),
                "details": [e.to_dict() for e in err.errors],
            }

    if valid:
        outcome = await publish(request, [e for _, e in valid], "http")
        for (i, event), error in zip(valid, outcome, strict=True):
            if error is None:
                results[i] = {"index": i, "success": True, "eventId": event.eventId}
            else:
                results[i] = {"index": i, "success": False, "error": f"not stored, retry: {error}"}

    accepted = sum(1 for r in results if r["success"])
    rejected = len(results) - accepted
    status = 201 if rejected == 0 else 400 if accepted == 0 else 207
    message = (
        f"{accepted} events created"
        if rejected == 0
        else f"{accepted} of {len(results)} events created; {rejected} rejected (see results)"
    )
    return json_response(
        {
            "success": rejected == 0,
            "message": message,
            "data": {"accepted": accepted, "rejected": rejected, "results": results},
        },
        status=status,
    )


@routes.get("/api/events")
async def list_events(request: web.Request) -> web.Response:
    """Newest first, read bucket by bucket of event time (`history`): never a sort over the store."""
    q = request.query
    limit = get_int(q, "limit", 50, 1, 500)
    services = get_str_list(q, "service", pattern=SERVICE_PATTERN)
    severities = get_int_list(q, "severity", 1, 5)
    if (min_sev := get_int(q, "minSeverity", 0, 0, 5)) > 0:
        severities = [s for s in (severities or range(1, 6)) if s >= min_sev]
        if not severities:
            return json_response({"success": True, "data": [], "nextCursor": None})
    incident_ids: list[str] = []
    spans: dict[str, IncidentSpan] = {}
    if incident_id := q.get("incidentId"):
        # A cascade's root shows the events of the incidents merged into it: it counts them as its own.
        view = request.app[INCIDENT_VIEW]
        incident_ids = [incident_id, *view.merged_into(incident_id)[:MAX_MERGED]]
        for i in incident_ids:
            if (entry := view.get(i)) is not None:
                spans[i] = IncidentSpan(entry.first_seen, entry.last_seen, entry.event_count)
    before = None
    if (cursor := decode_cursor(q)) is not None:
        before = (from_epoch_ms(int(cursor[0])), str(cursor[1]))
    query = EventQuery(
        services=services,
        severities=sorted(set(severities)),
        incident_ids=incident_ids,
        since=get_time(q, "from"),
        until=get_time(q, "to"),
        before=before,
    )
    settings = request.app[SETTINGS]

    async def page() -> bytes:
        docs, more = await newest_events(
            request.app[MONGO][mongo.EVENTS],
            query,
            limit,
            now=utcnow(),
            retention=timedelta(days=settings.event_retention_days),
            spans=spans,
            hints=request.app[BUSY_BUCKETS],
        )
        next_cursor = encode_cursor(epoch_ms(docs[-1]["timestamp"]), docs[-1]["eventId"]) if more else None
        return dumps({"success": True, "data": [mongo.public(d) for d in docs], "nextCursor": next_cursor})

    key = (
        "events",
        limit,
        tuple(query.services),
        tuple(query.severities),
        tuple(query.incident_ids),
        query.since,
        query.until,
        query.before,
    )
    body = await request.app[SHARED_READS].run(key, page)
    return web.Response(body=body, content_type="application/json")


@routes.get("/api/events/stats")
async def event_stats(request: web.Request) -> web.Response:
    """Per-minute counts by severity and service, from the rollups (never a scan of events)."""
    minutes = get_int(request.query, "minutes", 60, 1, 24 * 60)
    body = await request.app[SHARED_READS].run(("event-stats", minutes), lambda: _event_stats(request, minutes))
    return web.Response(body=body, content_type="application/json")


async def _event_stats(request: web.Request, minutes: int) -> bytes:
    now = utcnow()
    since = (now - timedelta(minutes=minutes)).replace(second=0, microsecond=0)
    rollups = request.app[MONGO][mongo.EVENT_ROLLUPS]
    # One equality lookup per hour bucket (a range over `minute` would read every rollup kept).
    found = await asyncio.gather(
        *(
            rollups.find({"hour": h, "minute": {"$gte": since}}).max_time_ms(READ_TIMEOUT_MS).to_list()
            for h in mongo.hours_between(now, since)
        )
    )
    docs = [d for hour in found for d in hour]

    per_minute: dict[Any, dict[str, Any]] = {}
    by_service: dict[str, int] = defaultdict(int)
    by_severity: dict[str, int] = defaultdict(int)
    for doc in docs:
        bucket = per_minute.setdefault(
            doc["minute"], {"total": 0, "bySeverity": defaultdict(int), "byService": defaultdict(int)}
        )
        n = int(doc["count"])
        bucket["total"] += n
        bucket["bySeverity"][str(doc["severity"])] += n
        bucket["byService"][doc["service"]] += n
        by_service[doc["service"]] += n
        by_severity[str(doc["severity"])] += n

    series = [
        {
            "minute": iso(minute),
            "total": b["total"],
            "bySeverity": dict(b["bySeverity"]),
            "byService": dict(b["byService"]),
        }
        for minute, b in sorted(per_minute.items())
    ]
    recent_from = now.replace(second=0, microsecond=0) - timedelta(minutes=5)
    recent = sum(
        b["total"] for minute, b in per_minute.items() if recent_from <= minute < recent_from + timedelta(minutes=5)
    )
    total = sum(by_service.values())
    return dumps(
        {
            "success": True,
            "data": {
                "minutes": minutes,
                "total": total,
                "eventsPerMinute": round(recent / 5, 1),
                "bySeverity": dict(by_severity),
                "byService": dict(sorted(by_service.items(), key=lambda kv: -kv[1])),
                "perMinute": series,
            },
        }
    )


# The other names under /api/events are resources of their own: `eventId` never shadows them, so
# their `Allow` lists only their own methods.
@routes.get(r"/api/events/{eventId:(?!(?:batch|stats)$)[^/]+}")
async def get_event(request: web.Request) -> web.Response:
    event_id = request.match_info["eventId"]
    doc = await request.app[MONGO][mongo.EVENTS].find_one({"_id": event_id}, max_time_ms=READ_TIMEOUT_MS)
    if doc is None:
        raise ApiError(
            404,
            "not_found",
            f"no event {event_id!r}; an event accepted seconds ago may not be projected yet, retry shortly",
        )
    return json_response({"success": True, "data": mongo.public(doc)})
