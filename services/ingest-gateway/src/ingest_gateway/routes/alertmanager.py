"""`POST /api/integrations/alertmanager`: Alertmanager's webhook (payload version 4).

Each alert becomes one event: the service from a label (`service`, then `job`, `app`, `namespace`),
the severity mapped from the `severity` label, the summary as the message, the alert name as the
error type, labels and annotations into metadata. The event id derives from the alert's fingerprint,
start and status, so a notification that Alertmanager repeats is one event downstream. Resolved
alerts become events marked `resolved`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from aiohttp import web

from incident_shared.ids import stable_id
from incident_shared.schemas import Event, EventValidationError, parse_event
from incident_shared.schemas.events import MAX_MESSAGE_CHARS
from incident_shared.timeutil import iso, parse_iso, utcnow
from incident_shared.web.health import json_response
from ingest_gateway.body import read_json
from ingest_gateway.errors import ApiError
from ingest_gateway.routes.events import publish
from ingest_gateway.translate import service_name

routes = web.RouteTableDef()

SERVICE_LABELS: Final = ("service", "job", "app", "app_kubernetes_io_name", "namespace")
SEVERITY_MAP: Final = {
    "critical": 5,
    "page": 5,
    "emergency": 5,
    "fatal": 5,
    "error": 4,
    "high": 4,
    "major": 4,
    "warning": 3,
    "warn": 3,
    "medium": 3,
    "minor": 2,
    "low": 2,
    "info": 1,
    "informational": 1,
    "none": 1,
    "debug": 1,
}
DEFAULT_SEVERITY: Final = 3
# Alertmanager sends endsAt as this zero time for alerts that are still firing.
ZERO_TIME_PREFIX: Final = "0001-01-01"


def _service(labels: dict[str, Any]) -> str:
    for name in SERVICE_LABELS:
        if cleaned := service_name(labels.get(name)):
            return cleaned
    return "alertmanager"


def _time(value: Any, fallback: datetime) -> datetime:
    if not isinstance(value, str) or not value or value.startswith(ZERO_TIME_PREFIX):
        return fallback
    try:
        return parse_iso(value)
    except ValueError:
        return fallback


STATUSES: Final = ("firing", "resolved")


def _is_time(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        parse_iso(value)
    except ValueError:
        return False
    return True


def _alert_errors(alert: dict[str, Any]) -> list[str]:
    """What in one alert breaks Alertmanager's webhook format (as the OpenAPI document states it)."""
    errors = []
    if "status" in alert and alert["status"] not in STATUSES:
        errors.append(f"status: must be firing or resolved, got {alert['status']!r}")
    for name in ("labels", "annotations"):
        value = alert.get(name, {})
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            errors.append(f"{name}: must be an object of strings")
    errors.extend(
        f"{name}: must be an RFC 3339 time"
        for name in ("startsAt", "endsAt")
        if name in alert and not _is_time(alert[name])
    )
    for name in ("generatorURL", "fingerprint"):
        if name in alert and not isinstance(alert[name], str):
            errors.append(f"{name}: must be a string")
    return errors


def _payload_errors(payload: Any) -> list[str]:
    if not isinstance(payload, dict) or not isinstance(payload.get("alerts"), list):
        return ["expected an object with an 'alerts' array (version 4)"]
    errors = []
    if "status" in payload and payload["status"] not in STATUSES:
        errors.append(f"status: must be firing or resolved, got {payload['status']!r}")
    errors.extend(
        f"{name}: must be a string"
        for name in ("version", "receiver", "groupKey")
        if name in payload and not isinstance(payload[name], str)
    )
    return errors


def alert_to_event(alert: dict[str, Any], payload: dict[str, Any], received: datetime) -> Event:
    """Maps one alert to an event; raises EventValidationError when it cannot be one."""
    labels: dict[str, Any] = alert["labels"] if isinstance(alert.get("labels"), dict) else {}
    annotations: dict[str, Any] = alert["annotations"] if isinstance(alert.get("annotations"), dict) else {}
    status = alert.get("status", payload.get("status", "firing"))
    resolved = status == "resolved"
    starts = _time(alert.get("startsAt"), received)
    ends = _time(alert.get("endsAt"), received)
    # A long-firing alert may have started long ago; the event is when Alertmanager told us, bounded.
    when = min(ends if resolved else starts, received)
    alertname = str(labels.get("alertname", "alert"))
    message = str(
        annotations.get("summary") or annotations.get("description") or annotations.get("message") or alertname
    )
    fingerprint = str(alert.get("fingerprint") or "")
    severity = SEVERITY_MAP.get(str(labels.get("severity", "")).lower(), DEFAULT_SEVERITY)
    metadata = {
        "alertname": alertname,
        "fingerprint": fingerprint,
        "status": status,
        "labels": labels,
        "annotations": annotations,
        "startsAt": iso(starts),
        "endsAt": iso(ends) if resolved else None,
        "generatorURL": alert.get("generatorURL"),
        "receiver": payload.get("receiver"),
        "groupKey": payload.get("groupKey"),
    }
    tags = ["alertmanager", f"alertname:{alertname}"[:64]]
    event_id = stable_id("evt_am_", fingerprint or alertname, iso(starts), status)
    return parse_event(
        {
            "eventId": event_id,
            "service": _service(labels),
            "severity": severity,
            "timestamp": iso(when),
            "message": message[:MAX_MESSAGE_CHARS],
            "errorType": alertname[:200],
            "metadata": metadata,
            "tags": tags,
            "resolved": resolved,
            "dedupKey": fingerprint or None,
        },
        received_at=received,
        source="alertmanager",
        check_time_bounds=False,
    )


@routes.post("/api/integrations/alertmanager")
async def alertmanager_webhook(request: web.Request) -> web.Response:
    payload = await read_json(request)
    if problems := _payload_errors(payload):
        raise ApiError(
            400, "validation_error", f"not an Alertmanager webhook payload: {'; '.join(problems)}", details=problems
        )
    alerts = payload["alerts"]
    if not alerts:
        return json_response({"success": True, "message": "no alerts in the payload", "data": {"events": []}})
    received = utcnow()
    events: list[Event] = []
    errors: list[dict[str, Any]] = []
    for i, alert in enumerate(alerts):
        if not isinstance(alert, dict):
            errors.append({"index": i, "error": "an alert must be an object"})
            continue
        if problems := _alert_errors(alert):
            errors.append({"index": i, "error": "; ".join(problems)})
            continue
        try:
            events.append(alert_to_event(alert, payload, received))
        except EventValidationError as err:
            errors.append({"index": i, "error": str(err)})
    if not events:
        raise ApiError(400, "validation_error", "no alert in the payload could be turned into an event", details=errors)
    outcome = await publish(request, events, "alertmanager")
    stored = [
        {"eventId": e.eventId, "service": e.service, "severity": e.severity, "resolved": e.resolved}
        for e, err in zip(events, outcome, strict=True)
        if err is None
    ]
    status = 201 if not errors and len(stored) == len(events) else 207
    return json_response(
        {
            "success": status == 201,
            "message": f"{len(stored)} of {len(alerts)} alerts recorded as events",
            "data": {"events": stored, "errors": errors},
        },
        status=status,
    )
