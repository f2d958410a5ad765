"""`/api/ai/*`: health, metrics, summarize-now, and the circuit breaker.

Answers use the API's shapes: `{"success": true, "data": ...}` and, on errors,
`{"success": false, "error": {"code", "message"}}`. The POSTs are protected actions: with
API_TOKENS set they need `Authorization: Bearer <token>` (the gateway forwards the header).
"""

from __future__ import annotations

import hmac
import logging
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from incident_shared import mongo
from incident_shared.kafka import is_transient
from incident_shared.schemas import Incident
from incident_shared.timeutil import iso, utcnow
from incident_shared.web.health import json_response
from summarizer.appkeys import MONGO, SERVICE, SETTINGS
from summarizer.service import newer

log = logging.getLogger(__name__)
routes = web.RouteTableDef()


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return json_response({"success": False, "error": {"code": code, "message": message}}, status, headers)


def _ok(data: Any) -> web.Response:
    return json_response({"success": True, "data": data})


def _authorized(request: web.Request) -> bool:
    tokens = request.app[SETTINGS].tokens()
    if not tokens:
        return True
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and any(hmac.compare_digest(given.strip(), t) for t in tokens)


def _unauthorized() -> web.Response:
    return _error(
        401,
        "unauthorized",
        "this action needs a valid token: send 'Authorization: Bearer <token>' (one of API_TOKENS)",
        headers={"WWW-Authenticate": "Bearer"},
    )


@routes.get("/api/ai/health")
async def health(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    engine = service.engine
    status = service.status()
    degraded = not status["kafkaConnected"] or engine.breaker.state == "open" or engine.budget.exhausted
    return _ok(
        {
            "status": "degraded" if degraded else "ok",
            **engine.provider_info(),
            "aiAvailable": engine.ai_available,
            "fallback": "rule-based",
            "circuitBreaker": engine.breaker.state,
            "budgetRemainingUsd": round(engine.budget.remaining, 6),
            **status,
            "timestamp": iso(utcnow()),
        }
    )


@routes.get("/api/ai/metrics")
async def metrics(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    return _ok({**service.engine.stats(), **service.status()})


@routes.get("/api/ai/circuit-breaker")
async def breaker(request: web.Request) -> web.Response:
    engine = request.app[SERVICE].engine
    return _ok({**engine.provider_info(), **engine.breaker.snapshot()})


@routes.post("/api/ai/circuit-breaker/reset")
async def breaker_reset(request: web.Request) -> web.Response:
    if not _authorized(request):
        return _unauthorized()
    engine = request.app[SERVICE].engine
    before = engine.breaker.state
    engine.breaker.reset()
    log.warning("circuit breaker reset by an operator", extra={"stateBefore": before})
    return _ok({**engine.provider_info(), **engine.breaker.snapshot(), "previousState": before})


async def _load(request: web.Request, incident_id: str) -> Incident | None:
    """The newest state known: this worker's copy from the topic, or MongoDB's projection."""
    cached = request.app[SERVICE].cached(incident_id)
    stored: Incident | None = None
    try:
        # By _id (= incidentId): the one lookup every MongoDB-protocol server serves from an index.
        doc = await request.app[MONGO][mongo.INCIDENTS].find_one({"_id": incident_id}, {"_id": 0})
        if doc is not None:
            stored = Incident.model_validate(doc)
    except ValidationError as exc:
        log.warning("the stored incident is not valid", extra={"incidentId": incident_id, "error": str(exc)[:300]})
    except Exception as exc:
        if cached is None:
            raise
        log.warning("MongoDB unavailable; using the topic's copy", extra={"error": str(exc)[:200]})
    return newer(cached, stored)


@routes.post("/api/ai/summarize/{incidentId}")
async def summarize(request: web.Request) -> web.Response:
    if not _authorized(request):
        return _unauthorized()
    incident_id = request.match_info["incidentId"]
    service = request.app[SERVICE]
    try:
        incident = await _load(request, incident_id)
    except Exception as exc:  # noqa: BLE001 - reported as a 503 with the reason
        return _error(
            503, "mongodb_unavailable", f"cannot read the incident: {type(exc).__name__}", headers={"Retry-After": "5"}
        )
    if incident is None:
        return _error(404, "not_found", f"no incident {incident_id}")
    if incident.mergedInto is not None:
        return _error(
            409,
            "merged",
            f"incident {incident_id} is merged into {incident.mergedInto}, whose summary covers it;"
            f" summarize {incident.mergedInto} instead",
        )
    if service.policy.in_flight(incident_id):
        return _error(
            409,
            "in_progress",
            "a summary of this incident is being written; it will arrive shortly",
            headers={"Retry-After": "5"},
        )
    try:
        outcome = await service.summarize_now(incident)
    except Exception as exc:
        if not is_transient(exc):
            raise
        reason = str(exc) if isinstance(exc, ConnectionError) else "the summary could not be published in time"
        return _error(503, "kafka_unavailable", reason, headers={"Retry-After": "5"})
    return _ok(
        {
            "summary": outcome.summary.model_dump(mode="json"),
            "fallbackReason": outcome.fallback_reason,
            "published": True,
        }
    )
