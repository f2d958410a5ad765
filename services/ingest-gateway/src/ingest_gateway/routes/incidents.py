"""`/api/incidents`: reads from the MongoDB projection; PATCH becomes a command to the aggregator.

The aggregator is the only writer of incident state. A PATCH is published as an `IncidentCommand`
with the incident's routing key (so that it reaches the worker that owns the incident), then the
handler waits for the projection to show the command applied and answers with the new state.
"""

from __future__ import annotations

import asyncio
import re
import time
from datetime import timedelta
from statistics import mean
from typing import Any, Final

from aiohttp import web
from pymongo import DESCENDING

from incident_shared import mongo
from incident_shared.codec import dumps
from incident_shared.ids import new_command_id
from incident_shared.schemas import IncidentCommand
from incident_shared.schemas.events import SERVICE_PATTERN
from incident_shared.timeutil import epoch_ms, from_epoch_ms, utcnow
from incident_shared.web.health import json_response
from ingest_gateway.appkeys import METRICS, MONGO, PUBLISHER, SETTINGS
from ingest_gateway.body import read_json
from ingest_gateway.errors import ApiError
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
OPEN_STATUSES: Final = ["active", "acknowledged"]
ACTIONS: Final = frozenset({"acknowledge", "resolve", "reopen", "assign", "note"})
STATUS_TO_ACTION: Final = {"acknowledged": "acknowledge", "resolved": "resolve", "active": "reopen"}
MAX_NOTE_CHARS: Final = 2000
MAX_NAME_CHARS: Final = 100
# Incidents of their own: not merged into another one's cascade. A missing field (a document written
# before merging existed) matches too, on MongoDB and FerretDB alike.
NOT_MERGED: Final[dict[str, Any]] = {"mergedInto": None}


def public_incident(doc: dict[str, Any]) -> dict[str, Any]:
    doc.pop("_id", None)
    return doc


async def _find(request: web.Request, incident_id: str) -> dict[str, Any]:
    doc = await request.app[MONGO][mongo.INCIDENTS].find_one({"incidentId": incident_id})
    if doc is None:
        raise ApiError(404, "not_found", f"no incident {incident_id!r}")
    return doc


@routes.get("/api/incidents")
async def list_incidents(request: web.Request) -> web.Response:
    q = request.query
    limit = get_int(q, "limit", 50, 1, 500)
    conditions: list[dict[str, Any]] = []
    if not get_bool(q, "includeMerged"):
        conditions.append(NOT_MERGED)
    if statuses := get_str_list(q, "status", STATUSES):
        conditions.append({"status": {"$in": statuses}})
    if services := get_str_list(q, "service", pattern=SERVICE_PATTERN):
        conditions.append({"affectedServices": {"$in": services}})
    if severities := get_int_list(q, "severity", 1, 5):
        conditions.append({"severityScore": {"$in": severities}})
    if (min_sev := get_int(q, "minSeverity", 0, 0, 5)) > 0:
        conditions.append({"severityScore": {"$gte": min_sev}})
    # An incident is in [from, to) when it overlaps it: seen after `from`, started before `to`.
    if (since := get_time(q, "from")) is not None:
        conditions.append({"lastSeen": {"$gte": since}})
    if (until := get_time(q, "to")) is not None:
        conditions.append({"firstSeen": {"$lt": until}})
    if text := q.get("q", "").strip():
        conditions.append({"title": {"$regex": re.escape(text[:100]), "$options": "i"}})
    if (cursor := decode_cursor(q)) is not None:
        ts, incident_id = from_epoch_ms(int(cursor[0])), str(cursor[1])
        conditions.append({"$or": [{"lastSeen": {"$lt": ts}}, {"lastSeen": ts, "incidentId": {"$lt": incident_id}}]})
    query = {"$and": conditions} if conditions else {}
    coll = request.app[MONGO][mongo.INCIDENTS]
    docs = (
        await coll.find(query).sort([("lastSeen", DESCENDING), ("incidentId", DESCENDING)]).limit(limit + 1).to_list()
    )
    next_cursor = None
    if len(docs) > limit:
        docs = docs[:limit]
        next_cursor = encode_cursor(epoch_ms(docs[-1]["lastSeen"]), docs[-1]["incidentId"])
    return json_response({"success": True, "data": [public_incident(d) for d in docs], "nextCursor": next_cursor})


@routes.get("/api/incidents/active")
async def active_incidents(request: web.Request) -> web.Response:
    """Open incidents (active or acknowledged), most severe first; merged ones only with includeMerged."""
    query: dict[str, Any] = {"status": {"$in": OPEN_STATUSES}}
    if not get_bool(request.query, "includeMerged"):
        query = {"$and": [query, NOT_MERGED]}
    docs = (
        await request.app[MONGO][mongo.INCIDENTS]
        .find(query)
        .sort([("severityScore", DESCENDING), ("lastSeen", DESCENDING)])
        .limit(500)
        .to_list()
    )
    return json_response({"success": True, "data": [public_incident(d) for d in docs], "count": len(docs)})


@routes.get("/api/incidents/stats")
async def incident_stats(request: web.Request) -> web.Response:
    """Counts by status and severity; MTTA and MTTR over the last `days` (default 7).

    Merged incidents are left out: their root stands for the whole cascade (and they are
    acknowledged and resolved with it, which would count one response several times).
    """
    days = get_int(request.query, "days", 7, 1, 90)
    coll = request.app[MONGO][mongo.INCIDENTS]
    by_status = dict.fromkeys(sorted(STATUSES), 0)
    async for row in await coll.aggregate([{"$match": NOT_MERGED}, {"$group": {"_id": "$status", "n": {"$sum": 1}}}]):
        by_status[str(row["_id"])] = int(row["n"])
    by_severity = {str(s): 0 for s in range(1, 6)}
    async for row in await coll.aggregate(
        [
            {"$match": {"$and": [{"status": {"$in": OPEN_STATUSES}}, NOT_MERGED]}},
            {"$group": {"_id": "$severityScore", "n": {"$sum": 1}}},
        ]
    ):
        by_severity[str(row["_id"])] = int(row["n"])

    since = utcnow() - timedelta(days=days)
    fields = {"firstSeen": 1, "acknowledgedAt": 1, "resolvedAt": 1, "_id": 0}
    acked = await coll.find({"$and": [{"acknowledgedAt": {"$gte": since}}, NOT_MERGED]}, fields).limit(10_000).to_list()
    resolved = await coll.find({"$and": [{"resolvedAt": {"$gte": since}}, NOT_MERGED]}, fields).limit(10_000).to_list()
    mtta = [(d["acknowledgedAt"] - d["firstSeen"]).total_seconds() for d in acked if d.get("firstSeen")]
    mttr = [(d["resolvedAt"] - d["firstSeen"]).total_seconds() for d in resolved if d.get("firstSeen")]
    return json_response(
        {
            "success": True,
            "data": {
                "total": sum(by_status.values()),
                "open": by_status["active"] + by_status["acknowledged"],
                "byStatus": by_status,
                "bySeverity": by_severity,
                "windowDays": days,
                "mttaSeconds": round(mean(mtta), 1) if mtta else None,
                "mttrSeconds": round(mean(mttr), 1) if mttr else None,
                "acknowledgedInWindow": len(mtta),
                "resolvedInWindow": len(mttr),
            },
        }
    )


# `incidentId` never shadows the other names under /api/incidents (see the events routes).
INCIDENT_PATH = r"/api/incidents/{incidentId:(?!(?:active|stats)$)[^/]+}"


@routes.get(INCIDENT_PATH)
async def get_incident(request: web.Request) -> web.Response:
    return json_response(
        {"success": True, "data": public_incident(await _find(request, request.match_info["incidentId"]))}
    )


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
    doc = await _find(request, incident_id)
    for c in commands:
        _check_transition(doc.get("status", "active"), c["action"])

    settings = request.app[SETTINGS]
    key = (doc.get("routingKey") or incident_id).encode()
    last_id = ""
    for c in commands:
        command = IncidentCommand(
            commandId=new_command_id(), incidentId=incident_id, actor=actor, issuedAt=utcnow(), **c
        )
        try:
            await request.app[PUBLISHER].send_one(settings.topics.incident_commands, key, dumps(command))
        except KafkaUnavailableError as exc:
            request.app[METRICS].commands.labels(c["action"], "kafka_unavailable").inc()
            raise kafka_unavailable(exc) from exc
        last_id = command.commandId

    coll = request.app[MONGO][mongo.INCIDENTS]
    deadline = time.monotonic() + settings.command_wait_seconds
    while time.monotonic() < deadline:
        updated = await coll.find_one({"incidentId": incident_id, "lastCommandId": last_id})
        if updated is not None:
            for c in commands:
                request.app[METRICS].commands.labels(c["action"], "applied").inc()
            return json_response({"success": True, "message": "Incident updated", "data": public_incident(updated)})
        await asyncio.sleep(0.1)
    for c in commands:
        request.app[METRICS].commands.labels(c["action"], "pending").inc()
    return json_response(
        {
            "success": True,
            "message": "accepted; the change is queued and will show once the aggregator applies it",
            "data": {"incidentId": incident_id, "commandId": last_id},
        },
        status=202,
    )
