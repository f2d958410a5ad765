"""The event: what services send, and what the `events` topic carries.

`parse_event` is the one validator for every way an event comes in (HTTP, Alertmanager, straight to
Kafka). It gives precise, per-field errors that the gateway returns as a 400 and the aggregator
writes to the dead-letter topic, and it applies the storage rules of `storable` to `metadata`, so
that whatever is accepted at one door is held by every component behind every other.

The contract's own example puts the message and error type inside `metadata`; they mean what the
top-level fields mean (`METADATA_MESSAGE_KEYS`, `METADATA_ERROR_TYPE_KEYS`): top level wins when
both are given, and `metadata` is kept as it was sent.
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
from incident_shared.schemas.storable import Adjustment, UnstorableError, check_text, make_storable, storable_text
from incident_shared.timeutil import iso, parse_iso

EVENT_SCHEMA_VERSION: Final = 1

# Anchored with `\Z`, not `$`: Python's `$` also matches before a trailing newline, which the same
# pattern in the OpenAPI document (ECMA-262, where `$` is the end) refuses.
SERVICE_PATTERN: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}\Z")
EVENT_ID_PATTERN: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}\Z")
MAX_MESSAGE_CHARS: Final = 8192
MAX_ERROR_TYPE_CHARS: Final = 200
MAX_METADATA_BYTES: Final = 16 * 1024
MAX_TAGS: Final = 20
MAX_TAG_CHARS: Final = 64
MAX_DEDUP_KEY_CHARS: Final = 255
MAX_FUTURE_SKEW: Final = timedelta(minutes=5)
MAX_AGE: Final = timedelta(days=30)

# Where senders put the message and the error type inside `metadata`, first found wins, each only
# when the top-level field is absent or empty. A dotted name matches the flat key ("exception.type")
# and the nested object ({"exception": {"type": ...}}); both spellings are in use.
# - message, errorType: the contract's own example (and clients written against it).
# - msg: the JSON loggers' message key (Go's log/slog, zap and logrus; Node's pino and bunyan).
# - exception.message, exception.type: OpenTelemetry's semantic conventions for exceptions.
# - error.message, error.type: Elastic Common Schema; OpenTelemetry's `error.type` too.
METADATA_MESSAGE_KEYS: Final = ("message", "msg", "exception.message", "error.message")
METADATA_ERROR_TYPE_KEYS: Final = ("errorType", "exception.type", "error.type")

EventSource = Literal["http", "alertmanager", "pagerduty", "otlp", "kafka"]
_SOURCES: Final = frozenset(("http", "alertmanager", "pagerduty", "otlp", "kafka"))

_KNOWN_FIELDS: Final = frozenset(
    {"eventId", "service", "severity", "timestamp", "message", "errorType", "metadata", "tags", "resolved", "dedupKey"}
)
# Fields the pipeline itself sets; accepted (and kept) on the topic, never from an HTTP client.
_RECORD_FIELDS: Final = frozenset({"schemaVersion", "source", "receivedAt", "metadataAdjustments"})


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
    # Where the stored `metadata` differs from what was sent (values kept as JSON text, keys with
    # look-alike characters), so that a reader can tell; empty for almost every event.
    metadataAdjustments: tuple[Adjustment, ...] = ()

    def to_api(self) -> dict[str, Any]:
        """The event as the REST API and WebSocket show it (the seed's `data` object, plus extras)."""
        api = {
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
        if self.metadataAdjustments:
            api["metadataAdjustments"] = [a.to_dict() for a in self.metadataAdjustments]
        return api

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


_MISSING: Final[Any] = object()


def _not_null(raw: dict[str, Any], name: str, errors: list[FieldError], expected: str) -> Any:
    """The field's value, `_MISSING` when absent; an explicit null is an error (the field is optional,
    not nullable: leave it out instead)."""
    value = raw.get(name, _MISSING)
    if value is None:
        errors.append(FieldError(name, f"must be {expected}, got null (leave the field out instead)"))
        return _MISSING
    return value


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
    # JSON does not tell 4 from 4.0, and JSON Schema's `integer` takes both.
    if type(severity) is float and severity.is_integer():
        severity = int(severity)
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
    event_id = _not_null(raw, "eventId", errors, "a string")
    if event_id is _MISSING:
        return default or new_event_id()
    if not isinstance(event_id, str) or not EVENT_ID_PATTERN.match(event_id):
        errors.append(FieldError("eventId", "must be 1-128 characters of letters, digits, '_', '.', ':' or '-'"))
        return ""
    return event_id if event_id.startswith("evt_") else "evt_" + event_id


def _check_timestamp(
    raw: dict[str, Any], errors: list[FieldError], default: datetime, received_at: datetime, bounded: bool
) -> datetime:
    raw_ts = _not_null(raw, "timestamp", errors, "an ISO-8601 string")
    if raw_ts is _MISSING:
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


def _check_string(value: Any, name: str, limit: int, errors: list[FieldError]) -> bool:
    if not isinstance(value, str):
        errors.append(FieldError(name, f"must be a string of at most {limit} characters, got {_type_name(value)}"))
        return False
    if len(value) > limit:
        errors.append(FieldError(name, f"is longer than {limit} characters"))
        return False
    try:
        check_text(value, name)
    except UnstorableError as exc:
        errors.append(FieldError(name, exc.message))
        return False
    return True


def _check_text(raw: dict[str, Any], errors: list[FieldError]) -> tuple[str, str | None]:
    message = _not_null(raw, "message", errors, "a string")
    if message is _MISSING or not _check_string(message, "message", MAX_MESSAGE_CHARS, errors):
        message = ""
    # Nullable: the API shows an event without an error type as `"errorType": null`.
    error_type = raw.get("errorType")
    if error_type is not None and not _check_string(error_type, "errorType", MAX_ERROR_TYPE_CHARS, errors):
        error_type = None
    return storable_text(message), None if error_type is None else storable_text(error_type)


def _lookup(metadata: dict[str, Any], dotted: str) -> Any:
    """`metadata[dotted]`, or for a dotted name the nested value (`exception.type` in either form)."""
    value = metadata.get(dotted)
    if value is None and "." in dotted:
        outer, _, inner = dotted.partition(".")
        nested = metadata.get(outer)
        if isinstance(nested, dict):
            value = nested.get(inner)
    return value


def _from_metadata(metadata: dict[str, Any], names: tuple[str, ...], limit: int) -> str | None:
    """The first non-empty string among `names` in metadata, cut to `limit` (metadata keeps it whole)."""
    for name in names:
        value = _lookup(metadata, name)
        if isinstance(value, str) and value.strip():
            return value[:limit]
    return None


def _check_metadata(raw: dict[str, Any], errors: list[FieldError]) -> tuple[dict[str, Any], list[Adjustment]]:
    """The metadata as stored (see `storable`), and where it differs from what was sent."""
    metadata = _not_null(raw, "metadata", errors, "an object")
    if metadata is _MISSING:
        return {}, []
    if not isinstance(metadata, dict):
        errors.append(FieldError("metadata", f"must be an object, got {_type_name(metadata)}"))
        return {}, []
    if not metadata:
        return metadata, []
    try:
        stored, adjustments = make_storable(metadata)
    except UnstorableError as exc:
        errors.append(FieldError("metadata" + exc.path, exc.message))
        return {}, []
    try:
        size = len(orjson.dumps(metadata))
    except TypeError:  # an integer only Python has (from code, never from JSON): measure what is kept
        size = len(orjson.dumps(stored))
    if size > MAX_METADATA_BYTES:
        errors.append(FieldError("metadata", f"is {size} bytes as JSON; the limit is {MAX_METADATA_BYTES}"))
    return stored, adjustments


def _check_tags(raw: dict[str, Any], errors: list[FieldError]) -> list[str]:
    tags = _not_null(raw, "tags", errors, "an array of strings")
    if tags is _MISSING:
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
        else:
            _check_string(tag, f"tags[{i}]", MAX_TAG_CHARS, errors)
    return [storable_text(t) if isinstance(t, str) else t for t in tags]


def _check_resolved(raw: dict[str, Any], errors: list[FieldError]) -> bool:
    resolved = _not_null(raw, "resolved", errors, "a boolean")
    if resolved is _MISSING:
        return False
    if not isinstance(resolved, bool):
        errors.append(FieldError("resolved", f"must be a boolean, got {_type_name(resolved)}"))
        return False
    return resolved


def _check_dedup_key(raw: dict[str, Any], errors: list[FieldError]) -> str | None:
    dedup_key = raw.get("dedupKey")
    if dedup_key is None:
        return None
    if not isinstance(dedup_key, str) or not dedup_key:
        errors.append(FieldError("dedupKey", f"must be a non-empty string of at most {MAX_DEDUP_KEY_CHARS} characters"))
        return None
    return storable_text(dedup_key) if _check_string(dedup_key, "dedupKey", MAX_DEDUP_KEY_CHARS, errors) else None


def _record_adjustments(raw: dict[str, Any]) -> list[Adjustment]:
    """The adjustments a record already carries (the gateway made its metadata storable)."""
    carried = raw.get("metadataAdjustments")
    if not isinstance(carried, list):
        return []
    return [a for a in map(Adjustment.from_dict, carried[:1000]) if a is not None]


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
    the pipeline's own fields (`source`, `receivedAt`, `metadataAdjustments`) are kept. An explicit
    null is refused for every field but the nullable `errorType` and `dedupKey`: leave a field out to
    mean "none". `metadata` is made storable (see `storable`), and the message and error type come
    from it when the top-level fields are absent or empty. A missing `eventId` becomes
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
    metadata, adjustments = _check_metadata(raw, errors)
    tags = _check_tags(raw, errors)
    resolved = _check_resolved(raw, errors)
    dedup_key = _check_dedup_key(raw, errors)
    if errors:
        raise EventValidationError(errors)
    if metadata:
        # The contract's example sends the message and error type inside metadata: same meaning.
        # Looked up in metadata as sent: `exception.type` is stored under a look-alike key.
        sent = raw["metadata"]
        message = message or _from_metadata(sent, METADATA_MESSAGE_KEYS, MAX_MESSAGE_CHARS) or ""
        error_type = error_type or _from_metadata(sent, METADATA_ERROR_TYPE_KEYS, MAX_ERROR_TYPE_CHARS)

    record_received = received_at
    record_source: EventSource = source
    if not from_client:
        with contextlib.suppress(TypeError, ValueError):
            record_received = parse_iso(raw.get("receivedAt", ""))
        if raw.get("source") in _SOURCES:
            record_source = raw["source"]
        adjustments = _record_adjustments(raw) + adjustments

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
        metadataAdjustments=tuple(adjustments),
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
