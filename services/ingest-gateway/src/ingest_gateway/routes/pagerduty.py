"""PagerDuty Events API v2 in: `POST /v2/enqueue` (PagerDuty's own path) and `/api/integrations/pagerduty`.

Anything that can send to PagerDuty (Alertmanager's `pagerduty_configs`, Grafana, Datadog, Zabbix,
PagerDuty's client libraries) can send here by changing the URL. The answers are PagerDuty's: `202
{"status": "success", "message": "Event processed", "dedup_key"}`, `400 {"status": "invalid event",
"message", "errors": [...]}`, and a 5xx (with Retry-After) that those senders retry.

A `trigger` becomes an event: the message is `payload.summary`, the severity maps from
`payload.severity` (critical 5, error 4, warning 3, info 1), `payload.class` is the error type,
`dedup_key` the event's `dedupKey` (generated, and returned, when a trigger has none), and the other
fields go into metadata. A `resolve` becomes an event with `resolved: true` and the same `dedupKey`.
An `acknowledge` is answered and counted but stores nothing: acknowledging is a person's action on
an incident here (`PATCH /api/incidents/:id`), not a new signal about the failure.

The service, identical for a trigger and its resolve (they must meet in one partition), is the first
of: the service PAGERDUTY_ROUTING_KEYS gives the routing key; `payload.component`, else
`payload.source`, as a service name; for an event without a payload, the service inside a dedup key
that this endpoint generated (`<service>:<32 hex digits>`). A resolve with no payload, an unlisted
routing key and a dedup key of its sender's own cannot be placed: it is refused with a 400 that
says so, rather than stored where it would resolve nothing.

With API_TOKENS set, a sender authorises with `Authorization: Bearer <token>` or by sending one of
the tokens as its `routing_key` (most PagerDuty senders can set nothing but the routing key).
"""

from __future__ import annotations

import hmac
import logging
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from aiohttp import web

from incident_shared.ids import stable_id
from incident_shared.schemas import Event, EventValidationError, parse_event
from incident_shared.schemas.events import MAX_DEDUP_KEY_CHARS, MAX_ERROR_TYPE_CHARS, MAX_MESSAGE_CHARS
from incident_shared.timeutil import iso, parse_iso, utcnow
from incident_shared.web.health import json_response
from ingest_gateway.appkeys import METRICS, SETTINGS
from ingest_gateway.body import read_json
from ingest_gateway.errors import ApiError
from ingest_gateway.middleware import authorises_itself, has_write_token
from ingest_gateway.routes.events import publish
from ingest_gateway.translate import fit_metadata, service_name, storable

log = logging.getLogger(__name__)
routes = web.RouteTableDef()

ACTIONS: Final = ("trigger", "acknowledge", "resolve")
SEVERITIES: Final = {"critical": 5, "error": 4, "warning": 3, "info": 1}
FALLBACK_SERVICE: Final = "pagerduty"
RESOLVED_MESSAGE: Final = "resolved"
_ISSUED_KEY = re.compile(r"^(?P<service>[A-Za-z0-9][A-Za-z0-9._-]{0,99}):[0-9a-f]{32}$")
_PAYLOAD_TEXT: Final = ("summary", "source", "severity", "timestamp", "component", "group", "class")
_TOP_TEXT: Final = ("routing_key", "event_action", "dedup_key", "client", "client_url")
_MAX_TAG_CHARS: Final = 64


class InvalidEnqueueError(Exception):
    """The body is not a valid Events API v2 event; `errors` says each thing that is wrong."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


@dataclass(frozen=True, slots=True)
class Enqueue:
    """One validated `enqueue` body."""

    routing_key: str
    action: str
    dedup_key: str | None
    payload: dict[str, Any] | None
    extras: dict[str, Any] = field(default_factory=dict)  # client, client_url, links, images


def _text_errors(obj: dict[str, Any], names: tuple[str, ...], prefix: str) -> list[str]:
    return [
        f"'{prefix}{name}' must be a string, got {type(obj[name]).__name__}"
        for name in names
        if obj.get(name) is not None and not isinstance(obj[name], str)
    ]


def _filled(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _list_errors(body: dict[str, Any], name: str, required: str, optional: tuple[str, ...]) -> list[str]:
    items = body.get(name)
    if items is None:
        return []
    if not isinstance(items, list):
        return [f"'{name}' must be an array of objects"]
    errors: list[str] = []
    for i, item in enumerate(items):
        if not isinstance(item, dict) or not _filled(item.get(required)):
            errors.append(f"'{name}[{i}].{required}' is missing or blank")
        else:
            errors += _text_errors(item, optional, f"{name}[{i}].")
    return errors


def parse_enqueue(body: Any) -> Enqueue:
    """Validates an `enqueue` body as PagerDuty does; raises InvalidEnqueueError."""
    if not isinstance(body, dict):
        raise InvalidEnqueueError(["the event must be a JSON object"])
    errors = _text_errors(body, _TOP_TEXT, "")
    routing_key = body.get("routing_key")
    if not _filled(routing_key):
        errors.append("'routing_key' is missing or blank")
    action = body.get("event_action")
    if action not in ACTIONS:
        errors.append("'event_action' must be one of: trigger, acknowledge, resolve")
    dedup_key = body.get("dedup_key")
    if isinstance(dedup_key, str) and not dedup_key.strip():
        dedup_key = None
    if isinstance(dedup_key, str) and len(dedup_key) > MAX_DEDUP_KEY_CHARS:
        errors.append(f"'dedup_key' is longer than {MAX_DEDUP_KEY_CHARS} characters")
    if dedup_key is None and action in ("acknowledge", "resolve"):
        errors.append(f"'dedup_key' is required to {action} an alert: send the key the trigger returned")
    payload = body.get("payload")
    if payload is not None and not isinstance(payload, dict):
        errors.append("'payload' must be an object")
        payload = None
    if payload is None and action == "trigger":
        errors.append("'payload' is required for a trigger (with summary, source and severity)")
    if payload is not None:
        errors += _text_errors(payload, _PAYLOAD_TEXT, "payload.")
        required = ("summary", "source", "severity") if action == "trigger" else ()
        errors += [f"'payload.{name}' is missing or blank" for name in required if not _filled(payload.get(name))]
        severity = payload.get("severity")
        if (severity is not None or action == "trigger") and (
            not isinstance(severity, str) or severity not in SEVERITIES
        ):
            errors.append("'payload.severity' must be one of: critical, error, warning, info")
    errors += _list_errors(body, "links", "href", ("text",)) + _list_errors(body, "images", "src", ("href", "alt"))
    if errors:
        raise InvalidEnqueueError(errors)
    extras = {k: body[k] for k in ("client", "client_url", "links", "images") if body.get(k)}
    return Enqueue(str(routing_key), str(action), dedup_key, payload, extras)


def issue_dedup_key(service: str) -> str:
    """A dedup key for a trigger sent without one: random, as PagerDuty's, and naming the service."""
    return f"{service}:{secrets.token_hex(16)}"


def service_of(event: Enqueue, routing_services: dict[str, str]) -> str | None:
    """The service of `event` by the rule in the module's docstring; None when it cannot be told."""
    if mapped := routing_services.get(event.routing_key):
        return mapped
    if event.payload is not None:
        return (
            service_name(event.payload.get("component"))
            or service_name(event.payload.get("source"))
            or FALLBACK_SERVICE
        )
    issued = _ISSUED_KEY.match(event.dedup_key or "")
    return issued["service"] if issued else None


def _timestamp(payload: dict[str, Any], received: datetime) -> datetime:
    raw = payload.get("timestamp")
    if not raw:
        return received
    try:
        # A sender's clock ahead of ours must not put an alert in the future.
        return min(parse_iso(raw), received)
    except ValueError:
        return received  # an unreadable time is not worth losing the alert for; it stays in metadata


def _metadata(event: Enqueue) -> dict[str, Any]:
    payload = event.payload or {}
    metadata: dict[str, Any] = {"eventAction": event.action}
    for name in ("source", "component", "group", "class", "severity", "timestamp"):
        if payload.get(name):
            metadata[name] = payload[name]
    details = payload.get("custom_details")
    if details is not None:
        metadata["customDetails"] = storable(details if isinstance(details, dict) else {"details": details})
    extras = event.extras
    if "client" in extras:
        metadata["client"] = extras["client"]
    if "client_url" in extras:
        metadata["clientUrl"] = extras["client_url"]
    for name in ("links", "images"):
        if name in extras:
            metadata[name] = storable(extras[name])
    return fit_metadata(metadata)


def to_event(event: Enqueue, service: str, dedup_key: str, received: datetime) -> Event:
    """The event a trigger or resolve becomes; raises EventValidationError if the contract refuses it."""
    payload = event.payload or {}
    resolved = event.action == "resolve"
    summary = str(payload.get("summary") or "") or (RESOLVED_MESSAGE if resolved else "")
    timestamp = _timestamp(payload, received)
    tags = [f"{name}:{payload[name]}"[:_MAX_TAG_CHARS] for name in ("group", "class") if payload.get(name)]
    return parse_event(
        {
            # The same event sent twice (a retry) is one event; a sender that stamps its events with
            # `payload.timestamp` makes that hold across any delay.
            "eventId": stable_id(
                "evt_pd_", event.routing_key, dedup_key, event.action, payload.get("timestamp") or iso(received)
            ),
            "service": service,
            "severity": SEVERITIES.get(str(payload.get("severity")), 1),
            "timestamp": iso(timestamp),
            "message": summary[:MAX_MESSAGE_CHARS],
            "errorType": str(payload["class"])[:MAX_ERROR_TYPE_CHARS] if payload.get("class") else None,
            "metadata": _metadata(event),
            "tags": ["pagerduty", *tags],
            "resolved": resolved,
            "dedupKey": dedup_key,
        },
        received_at=received,
        source="pagerduty",
        check_time_bounds=False,
    )


def _answer(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> web.Response:
    return json_response(body, status=status, headers=headers)


def _invalid(errors: list[str]) -> web.Response:
    return _answer(400, {"status": "invalid event", "message": "Event object is invalid", "errors": errors})


def _authorised(request: web.Request, routing_key: str) -> bool:
    if has_write_token(request):
        return True
    return any(hmac.compare_digest(routing_key, token) for token in request.app[SETTINGS].access.write_tokens)


@routes.post("/v2/enqueue")
@routes.post("/api/integrations/pagerduty")
@authorises_itself
async def enqueue(request: web.Request) -> web.Response:
    try:
        body = await read_json(request)
    except ApiError as err:
        return _answer(err.status, {"status": "invalid event", "message": err.message, "errors": [err.message]})
    try:
        event = parse_enqueue(body)
    except InvalidEnqueueError as err:
        request.app[METRICS].events_rejected.labels("invalid_pagerduty").inc()
        return _invalid(err.errors)
    if not _authorised(request, event.routing_key):
        return _answer(
            401,
            {
                "status": "unauthorized",
                "message": "this endpoint needs a token",
                "errors": ["send one of API_TOKENS as the routing_key, or as 'Authorization: Bearer <token>'"],
            },
            headers={"WWW-Authenticate": 'Bearer realm="incident-intelligence"'},
        )
    if event.action == "acknowledge" and event.dedup_key is not None:
        request.app[METRICS].pagerduty_events.labels(event.action).inc()
        return _answer(202, {"status": "success", "message": "Event processed", "dedup_key": event.dedup_key})
    service = service_of(event, request.app[SETTINGS].pagerduty_services)
    if service is None:
        request.app[METRICS].events_rejected.labels("pagerduty_unplaced").inc()
        # A sender's configuration problem that only the operator can fix: say it where they look.
        log.warning(
            "a PagerDuty %s without a payload was refused: its routing key is not in PAGERDUTY_ROUTING_KEYS",
            event.action,
            extra={"dedupKey": event.dedup_key, "client": event.extras.get("client")},
        )
        return _invalid(
            [
                f"cannot tell which service this {event.action} belongs to: without a payload, list its"
                " routing key in PAGERDUTY_ROUTING_KEYS (routing_key=service), use the dedup_key this endpoint"
                " returned for the trigger, or send the payload with the trigger's component and source"
            ]
        )
    dedup_key = event.dedup_key or issue_dedup_key(service)
    try:
        stored = to_event(event, service, dedup_key, utcnow())
    except EventValidationError as err:
        request.app[METRICS].events_rejected.labels("invalid_pagerduty").inc()
        return _invalid([str(e) for e in err.errors])
    try:
        await publish(request, [stored], "pagerduty")
    except ApiError as err:
        return _answer(err.status, {"status": "unavailable", "message": err.message, "errors": [err.code]}, err.headers)
    request.app[METRICS].pagerduty_events.labels(event.action).inc()
    return _answer(202, {"status": "success", "message": "Event processed", "dedup_key": dedup_key})
