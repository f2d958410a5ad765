"""`/api/incidents`: lists from the incident view, one incident from the store; PATCH becomes a
command to the aggregator.

The aggregator is the only writer of incident state, and publishes every change to the compacted
`incidents` topic. The gateway keeps a view of that topic (`incident_view`), which answers the lists,
the open incidents and the statistics. A PATCH is published as an `IncidentCommand` with the
incident's routing key (so that it reaches the worker that owns the incident), then the handler
waits for the view to show the command applied and answers with the new state.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, Final

from aiohttp import web

from incident_shared import mongo
from incident_shared.codec import dumps
from incident_shared.ids import new_command_id
from incident_shared.schemas import IncidentCommand
from incident_shared.schemas.events import SERVICE_PATTERN
from incident_shared.timeutil import utcnow
from incident_shared.web.health import json_response
from ingest_gateway.appkeys import INCIDENT_READER, METRICS, MONGO, PUBLISHER, SETTINGS
from ingest_gateway.body import read_json
from ingest_gateway.errors import ApiError
from ingest_gateway.history import READ_TIMEOUT_MS
from ingest_gateway.incident_view import Entry, IncidentFilter, IncidentView
from ingest_gateway.publisher import KafkaUnavailableError
from ingest_gateway.query import (
    decode_cursor,
    encode_cursor,
    get_bool,
    get_int,
    get_int_list,
    get_str_list,
    get_time,
)
from ingest_gateway.routes.events import kafka_unavailable

routes = web.RouteTableDef()

STATUSES: Final = frozenset({"active", "acknowledged", "resolved"})
ACTIONS: Final = frozenset({"acknowledge", "resolve", "reopen", "assign", "note"})
STATUS_TO_ACTION: Final = {"acknowledged": "acknowledge", "resolved": "resolve", "active": "reopen"}
MAX_NOTE_CHARS: Final = 2000
MAX_NAME_CHARS: Final = 100


def _view(request: web.Request) -> IncidentView:
    """The incident view, once it holds what the topic held at start (else a 503 to retry)."""
    reader = request.app[INCIDENT_READER]
    if not reader.ready.is_set():
        raise ApiError(
            503,
            "loading",
            f"incidents are still loading from Kafka ({len(reader.view)} so far); retry in a few seconds",
            headers={"Retry-After": "2"},
        )
    return reader.view


def _find(request: web.Request, incident_id: str) -> Entry:
    entry = _view(request).get(incident_id)
    if entry is None:
        raise ApiError(404, "not_found", f"no incident {incident_id!r}")
    return entry


def _listing(entries: list[Entry], **extra: Any) -> web.Response:
    """A list answer from the entries' list forms, serialized once when they changed."""
    tail = b"".join(b',"' + k.encode() + b'":' + dumps(v) for k, v in extra.items())
    body = b'{"success":true,"data":[' + b",".join(e.data for e in entries) + b"]" + tail + b"}"
    return web.Response(body=body, content_type="application/json")


@routes.get("/api/incidents")
async def list_incidents(request: web.Request) -> web.Response:
    """Most recently seen first, from the incident view; each item without its per-incident detail
    (timeline, templates, sample events, notes), which `GET /api/incidents/:id` has."""
    q = request.query
    limit = get_int(q, "limit", 50, 1, 500)
    flt = IncidentFilter(
        statuses=frozenset(get_str_list(q, "status", STATUSES)),
        services=frozenset(get_str_list(q, "service", pattern=SERVICE_PATTERN)),
        severities=frozenset(get_int_list(q, "severity", 1, 5)),
        min_severity=get_int(q, "minSeverity", 0, 0, 5),
        text=q.get("q", "").strip()[:100].casefold(),
        # An incident is in [from, to) when it overlaps it: seen after `from`, started before `to`.
        since=get_time(q, "from"),
        until=get_time(q, "to"),
        include_merged=get_bool(q, "includeMerged"),
    )
    before = None
    if (cursor := decode_cursor(q)) is not None:
        before = (int(cursor[0]), str(cursor[1]))
    entries, last = _view(request).page(flt, limit, before)
    next_cursor = encode_cursor(last.last_seen_ms, last.incident_id) if last else None
    return _listing(entries, nextCursor=next_cursor)


@routes.get("/api/incidents/active")
async def active_incidents(request: web.Request) -> web.Response:
    """Open incidents (active or acknowledged), most severe first; merged ones only with includeMerged."""
    entries = _view(request).open_incidents(get_bool(request.query, "includeMerged"))[:500]
    return _listing(entries, count=len(entries))


@routes.get("/api/incidents/stats")
async def incident_stats(request: web.Request) -> web.Response:
    """Counts by status and severity; MTTA and MTTR over the last `days` (default 7).

    Merged incidents are left out: their root stands for the whole cascade (and they are
    acknowledged and resolved with it, which would count one response several times).
    """
    days = get_int(request.query, "days", 7, 1, 90)
    return json_response({"success": True, "data": _view(request).stats(days)})


# `incidentId` never shadows the other names under /api/incidents (see the events routes).
INCIDENT_PATH = r"/api/incidents/{incidentId:(?!(?:active|stats)$)[^/]+}"


@routes.get(INCIDENT_PATH)
async def get_incident(request: web.Request) -> web.Response:
    """The whole incident, from the store; one the store does not have yet (the projection lags a
    little behind the topic) comes from the view, in its list form."""
    incident_id = request.match_info["incidentId"]
    doc = await request.app[MONGO][mongo.INCIDENTS].find_one({"_id": incident_id}, max_time_ms=READ_TIMEOUT_MS)
    if doc is not None:
        return json_response({"success": True, "data": mongo.public(doc)})
    entry = _find(request, incident_id)
    return web.Response(body=b'{"success":true,"data":' + entry.data + b"}", content_type="application/json")


def _bad(message: str) -> ApiError:
    return ApiError(400, "validation_error", message)


def _validate_fields(body: dict[str, Any]) -> tuple[str, str | None, str | None]:
    """Checks the PATCH body's fields; returns actor, assignee and note."""
    allowed = {"action", "status", "assignee", "note", "actor"}
    if unknown := sorted(set(body) - allowed):
        raise _bad(f"unknown field(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}")
    actor = body.get("actor", "anonymous")
    if not isinstance(actor, str) or not 0 < len(actor) <= MAX_NAME_CHARS:
        raise _bad(f"actor: must be a non-empty string of at most {MAX_NAME_CHARS} characters")
    assignee = body.get("assignee")
    if assignee is not None and (not isinstance(assignee, str) or len(assignee) > MAX_NAME_CHARS):
        raise _bad(f"assignee: must be a string of at most {MAX_NAME_CHARS} characters, or null to unassign")
    note = body.get("note", ...)
    if note is not ... and (not isinstance(note, str) or not 0 < len(note) <= MAX_NOTE_CHARS):
        raise _bad(f"note: must be a non-empty string of at most {MAX_NOTE_CHARS} characters")
    if "action" in body and (not isinstance(body["action"], str) or body["action"] not in ACTIONS):
        raise _bad(f"action: must be one of {', '.join(sorted(ACTIONS))}; got {body['action']!r}")
    if "status" in body and (not isinstance(body["status"], str) or body["status"] not in STATUS_TO_ACTION):
        raise _bad(f"status: must be one of {', '.join(sorted(STATUS_TO_ACTION))}; got {body['status']!r}")
    return actor, assignee, None if note is ... else note


def _commands_from_body(body: Any) -> tuple[list[dict[str, Any]], str]:
    """The commands a PATCH body asks for, and the actor. Accepts `{"action": ...}` or field updates."""
    if not isinstance(body, dict):
        raise _bad('the body must be a JSON object such as {"action": "acknowledge"}')
    actor, assignee, note = _validate_fields(body)
    commands: list[dict[str, Any]] = []
    if "action" in body:
        action = body["action"]
        if action == "assign" and "assignee" not in body:
            raise _bad("assignee: is required with action 'assign' (null unassigns)")
        if action == "note" and note is None:
            raise _bad("note: is required with action 'note'")
        return [{"action": action, "assignee": assignee, "note": note}], actor
    if "status" in body:
        commands.append({"action": STATUS_TO_ACTION[body["status"]], "assignee": None, "note": None})
    if "assignee" in body:
        commands.append({"action": "assign", "assignee": assignee, "note": None})
    if note is not None:
        commands.append({"action": "note", "assignee": None, "note": note})
    if not commands:
        raise _bad("nothing to change: send an action (acknowledge, resolve, reopen, assign, note) or a field")
    return commands, actor


def _check_transition(status: str, action: str) -> None:
    if action == "acknowledge" and status == "resolved":
        raise ApiError(409, "conflict", "the incident is resolved; reopen it before acknowledging")
    if action == "reopen" and status != "resolved":
        raise ApiError(409, "conflict", f"the incident is {status}, not resolved; there is nothing to reopen")


@routes.patch(INCIDENT_PATH)
async def patch_incident(request: web.Request) -> web.Response:
    incident_id = request.match_info["incidentId"]
    commands, actor = _commands_from_body(await read_json(request))
    entry = _find(request, incident_id)
    for c in commands:
        _check_transition(entry.status, c["action"])

    settings = request.app[SETTINGS]
    key = entry.routing_key.encode()
    built = [
        IncidentCommand(commandId=new_command_id(), incidentId=incident_id, actor=actor, issuedAt=utcnow(), **c)
        for c in commands
    ]
    # Waiting on the view, not polling the store: the answer comes as soon as the aggregator
    # publishes the change, however far behind the history store is.
    view = _view(request)
    applied = view.expect_command(incident_id, built[-1].commandId)
    try:
        for command in built:
            try:
                await request.app[PUBLISHER].send_one(settings.topics.incident_commands, key, dumps(command))
            except KafkaUnavailableError as exc:
                request.app[METRICS].commands.labels(command.action, "kafka_unavailable").inc()
                raise kafka_unavailable(exc) from exc
        with contextlib.suppress(TimeoutError):
            incident = await asyncio.wait_for(asyncio.shield(applied), settings.command_wait_seconds)
            for c in commands:
                request.app[METRICS].commands.labels(c["action"], "applied").inc()
            body = b'{"success":true,"message":"Incident updated","data":' + incident + b"}"
            return web.Response(body=body, content_type="application/json")
    finally:
        view.cancel_command(incident_id, applied)
    for c in commands:
        request.app[METRICS].commands.labels(c["action"], "pending").inc()
    return json_response(
        {
            "success": True,
            "message": "accepted; the change is queued and will show once the aggregator applies it",
            "data": {"incidentId": incident_id, "commandId": built[-1].commandId},
        },
        status=202,
    )
