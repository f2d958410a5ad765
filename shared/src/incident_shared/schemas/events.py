"""The event: what services send, and what the `events` topic carries.

`parse_event` is the one validator for every way an event comes in (HTTP, Alertmanager, straight to
Kafka). It gives precise, per-field errors that the gateway returns as a 400 and the aggregator
writes to the dead-letter topic.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final, Literal

import orjson

from incident_shared.ids import new_event_id
from incident_shared.timeutil import iso, parse_iso

EVENT_SCHEMA_VERSION: Final = 1

SERVICE_PATTERN: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
EVENT_ID_PATTERN: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")
MAX_MESSAGE_CHARS: Final = 8192
MAX_ERROR_TYPE_CHARS: Final = 200
MAX_METADATA_BYTES: Final = 16 * 1024
MAX_TAGS: Final = 20
MAX_TAG_CHARS: Final = 64
MAX_DEDUP_KEY_CHARS: Final = 255
MAX_FUTURE_SKEW: Final = timedelta(minutes=5)
MAX_AGE: Final = timedelta(days=30)

EventSource = Literal["http", "alertmanager", "pagerduty", "otlp", "kafka"]
_SOURCES: Final = frozenset(("http", "alertmanager", "pagerduty", "otlp", "kafka"))

_KNOWN_FIELDS: Final = frozenset(
    {"eventId", "service", "severity", "timestamp", "message", "errorType", "metadata", "tags", "resolved", "dedupKey"}
)
# Fields the pipeline itself sets; accepted (and kept) on the topic, never from an HTTP client.
_RECORD_FIELDS: Final = frozenset({"schemaVersion", "source", "receivedAt"})


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """One event, complete and normalised. Immutable; timestamps are aware UTC datetimes.

    A plain dataclass rather than a pydantic model: `parse_event` validates every field once, and
    an event is built for every record on the ingest and stream hot paths, where pydantic's
    construction cost a fifth of the gateway's CPU.
    """

    eventId: str
    service: str
    severity: int
    timestamp: datetime
    receivedAt: datetime
    message: str = ""
    errorType: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    resolved: bool = False
    # The identity of the alert or check this event reports on (PagerDuty's dedup_key, an
    # Alertmanager fingerprint, a client's own key): a trigger and the resolve that ends it share it.
    dedupKey: str | None = None
    source: EventSource = "http"
    schemaVersion: int = EVENT_SCHEMA_VERSION

    def to_api(self) -> dict[str, Any]:
        """The event as the REST API and WebSocket show it (the seed's `data` object, plus extras)."""
        return {
            "eventId": self.eventId,
            "service": self.service,
            "severity": self.severity,
            "timestamp": iso(self.timestamp),
            "message": self.message,
            "errorType": self.errorType,
            "metadata": self.metadata,
            "tags": self.tags,
            "resolved": self.resolved,
            "dedupKey": self.dedupKey,
            "source": self.source,
            "receivedAt": iso(self.receivedAt),
        }

    def to_record(self) -> bytes:
        """The JSON value written to the `events` topic."""
        return orjson.dumps(self.to_api() | {"schemaVersion": self.schemaVersion})


@dataclass(frozen=True, slots=True)
class FieldError:
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"

    def to_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}


class EventValidationError(ValueError):
    """The input is not a valid event; `errors` names every offending field."""

    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = errors
        super().__init__("; ".join(map(str, errors)))


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    return {
        bool: "boolean",
        int: "integer",
        float: "number",
        str: "string",
        list: "array",
        dict: "object",
    }.get(type(value), type(value).__name__)


def _check_service(raw: dict[str, Any], errors: list[FieldError]) -> str:
    service = raw.get("service")
    if service is None:
        errors.append(FieldError("service", "is required"))
    elif not isinstance(service, str):
        errors.append(FieldError("service", f"must be a string, got {_type_name(service)}"))
    elif not SERVICE_PATTERN.match(service):
        errors.append(
            FieldError(
                "service",
                "must be 1-100 characters of letters, digits, '.', '_' or '-', starting with a letter or digit",
            )
        )
    else:
        return service
    return ""


def _check_severity(raw: dict[str, Any], errors: list[FieldError]) -> int:
    severity = raw.get("severity")
    if severity is None:
        errors.append(FieldError("severity", "is required: an integer from 1 (info) to 5 (critical)"))
    elif isinstance(severity, bool) or not isinstance(severity, int):
        errors.append(FieldError("severity", f"must be an integer from 1 to 5, got {_type_name(severity)}"))
    elif not 1 <= severity <= 5:
        errors.append(FieldError("severity", f"must be an integer from 1 to 5, got {severity}"))
    else:
        return severity
    return 0


def _check_event_id(raw: dict[str, Any], errors: list[FieldError], default: str | None) -> str:
    event_id = raw.get("eventId")
    if event_id is None:
        return default or new_event_id()
    if not isinstance(event_id, str) or not EVENT_ID_PATTERN.match(event_id):
        errors.append(FieldError("eventId", "must be 1-128 characters of letters, digits, '_', '.', ':' or '-'"))
        return ""
    return event_id if event_id.startswith("evt_") else "evt_" + event_id


def _check_timestamp(
    raw: dict[str, Any], errors: list[FieldError], default: datetime, received_at: datetime, bounded: bool
) -> datetime:
    raw_ts = raw.get("timestamp")
    if raw_ts is None:
        return default
    if not isinstance(raw_ts, str):
        errors.append(FieldError("timestamp", f"must be an ISO-8601 string, got {_type_name(raw_ts)}"))
        return default
    try:
        timestamp = parse_iso(raw_ts)
    except ValueError:
        errors.append(FieldError("timestamp", f"is not ISO-8601 (e.g. 2026-01-31T12:00:00Z): {raw_ts[:40]!r}"))
        return default
    if bounded and timestamp > received_at + MAX_FUTURE_SKEW:
        errors.append(FieldError("timestamp", "is more than 5 minutes in the future; check the clock"))
    elif bounded and timestamp < received_at - MAX_AGE:
        errors.append(FieldError("timestamp", "is more than 30 days in the past"))
    return timestamp


def _check_text(raw: dict[str, Any], errors: list[FieldError]) -> tuple[str, str | None]:
    message = raw.get("message") or ""
    if not isinstance(message, str):
        errors.append(FieldError("message", f"must be a string, got {_type_name(message)}"))
        message = ""
    elif len(message) > MAX_MESSAGE_CHARS:
        errors.append(FieldError("message", f"is longer than {MAX_MESSAGE_CHARS} characters"))
    error_type = raw.get("errorType")
    if error_type is not None and (not isinstance(error_type, str) or len(error_type) > MAX_ERROR_TYPE_CHARS):
        errors.append(FieldError("errorType", f"must be a string of at most {MAX_ERROR_TYPE_CHARS} characters"))
        error_type = None
    return message, error_type


def _check_metadata(raw: dict[str, Any], errors: list[FieldError]) -> dict[str, Any]:
    metadata = raw.get("metadata")
    if metadata is None:
        return {}
    if not isinstance(metadata, dict):
        errors.append(FieldError("metadata", f"must be an object, got {_type_name(metadata)}"))
        return {}
    size = len(orjson.dumps(metadata))
    if size > MAX_METADATA_BYTES:
        errors.append(FieldError("metadata", f"is {size} bytes as JSON; the limit is {MAX_METADATA_BYTES}"))
    return metadata


def _check_tags(raw: dict[str, Any], errors: list[FieldError]) -> list[str]:
    tags = raw.get("tags")
    if tags is None:
        return []
    if not isinstance(tags, list):
        errors.append(FieldError("tags", f"must be an array of strings, got {_type_name(tags)}"))
        return []
    if len(tags) > MAX_TAGS:
        errors.append(FieldError("tags", f"has {len(tags)} items; at most {MAX_TAGS} are allowed"))
        return []
    for i, tag in enumerate(tags):
        if not isinstance(tag, str) or not 0 < len(tag) <= MAX_TAG_CHARS:
            errors.append(FieldError(f"tags[{i}]", f"must be a non-empty string of at most {MAX_TAG_CHARS} characters"))
    return tags


def parse_event(
    raw: Any,
    *,
    received_at: datetime,
    source: EventSource = "http",
    from_client: bool = True,
    default_event_id: str | None = None,
    default_timestamp: datetime | None = None,
    check_time_bounds: bool = True,
) -> Event:
    """Validates `raw` (decoded JSON) into an `Event`, or raises `EventValidationError`.

    `from_client` rejects unknown fields (a typo such as `severty` must not pass silently) and the
    fields only the pipeline sets. Off, for records read from Kafka, unknown fields are ignored and
    the pipeline's own fields (`source`, `receivedAt`) are kept. A missing `eventId` becomes
    `default_event_id` (or a new id); an id without the `evt_` prefix gets it, so the same client id
    always maps to the same event id. A missing `timestamp` is `default_timestamp` (or `received_at`).
    """
    if not isinstance(raw, dict):
        raise EventValidationError([FieldError("body", f"an event must be a JSON object, got {_type_name(raw)}")])
    errors: list[FieldError] = []
    if from_client:
        allowed = ", ".join(sorted(_KNOWN_FIELDS))
        for key in raw:
            if key not in _KNOWN_FIELDS:
                hint = " (set by the pipeline)" if key in _RECORD_FIELDS else ""
                errors.append(FieldError(str(key), f"unknown field{hint}; allowed: {allowed}"))
    service = _check_service(raw, errors)
    severity = _check_severity(raw, errors)
    event_id = _check_event_id(raw, errors, default_event_id)
    timestamp = _check_timestamp(raw, errors, default_timestamp or received_at, received_at, check_time_bounds)
    message, error_type = _check_text(raw, errors)
    metadata = _check_metadata(raw, errors)
    tags = _check_tags(raw, errors)
    resolved = raw.get("resolved", False)
    if not isinstance(resolved, bool):
        errors.append(FieldError("resolved", f"must be a boolean, got {_type_name(resolved)}"))
    dedup_key = raw.get("dedupKey")
    if dedup_key is not None and (not isinstance(dedup_key, str) or not 0 < len(dedup_key) <= MAX_DEDUP_KEY_CHARS):
        errors.append(FieldError("dedupKey", f"must be a non-empty string of at most {MAX_DEDUP_KEY_CHARS} characters"))
    if errors:
        raise EventValidationError(errors)

    record_received = received_at
    record_source: EventSource = source
    if not from_client:
        with contextlib.suppress(TypeError, ValueError):
            record_received = parse_iso(raw.get("receivedAt", ""))
        if raw.get("source") in _SOURCES:
            record_source = raw["source"]

    return Event(
        schemaVersion=EVENT_SCHEMA_VERSION,
        eventId=event_id,
        service=service,
        severity=severity,
        timestamp=timestamp,
        message=message,
        errorType=error_type,
        metadata=metadata,
        tags=tags,
        resolved=resolved,
        dedupKey=dedup_key,
        source=record_source,
        receivedAt=record_received,
    )


def event_from_record(value: bytes, *, record_timestamp: datetime, fallback_id: str | Callable[[], str]) -> Event:
    """Decodes and validates a record from the `events` topic (tolerant of unknown fields).

    Records that producers put straight on Kafka may omit `eventId` and `timestamp`: the id then
    derives from the record's position (`fallback_id`, stable across replays; a function is called
    only when the record has no id) and the timestamp is the record's own. Raises
    `EventValidationError` (or ValueError for bad JSON).
    """
    try:
        raw = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise EventValidationError([FieldError("body", f"not valid JSON: {exc}")]) from exc
    if not isinstance(fallback_id, str):
        fallback_id = fallback_id() if isinstance(raw, dict) and raw.get("eventId") is None else ""
    return parse_event(
        raw,
        received_at=record_timestamp,
        source="kafka",
        from_client=False,
        default_event_id=fallback_id or None,
        default_timestamp=record_timestamp,
        check_time_bounds=False,
    )
