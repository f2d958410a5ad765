"""OpenTelemetry logs in: `POST /v1/logs`, OTLP/HTTP with protobuf or JSON bodies (gzip too).

Point any OTLP log exporter at the gateway's base URL (the SDKs add `/v1/logs`). Each log record
becomes an event: the service from the resource's `service.name`, the severity from
`severity_number` (TRACE to INFO 1, WARN 3, ERROR 4, FATAL 5; `severity_text` when the number is
unset), the message from the body (else `exception.message`), the error type from `exception.type`,
and the attributes, resource, scope and trace context into metadata (attribute names with `_` for
`.`, which MongoDB field names cannot hold). Records below OTLP_MIN_SEVERITY (default WARN) are
dropped and counted (`ingest_gateway_otlp_log_records_dropped_total`), never stored.

Answers follow the OTLP/HTTP specification, in the request's encoding: 200 with an
`ExportLogsServiceResponse` (its `partial_success` counts records the event contract refused), 400
with a `google.rpc.Status` for a body that does not decode, 415 for another content type, and 503
with Retry-After when Kafka cannot confirm the records, which exporters retry. Each record's event id
derives from its content, so a retried export is the same events downstream.

The wire formats are decoded by `opentelemetry-proto` and protobuf's own JSON mapping, rather than
by hand: the OTLP messages evolve (fields such as `event_name` were added), and the generated
classes follow them with a version bump.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

import orjson
from aiohttp import web
from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor
from google.protobuf.message import DecodeError, Message
from google.rpc import code_pb2, status_pb2
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord

from incident_shared.schemas import Event, EventValidationError, parse_event
from incident_shared.schemas.events import MAX_ERROR_TYPE_CHARS, MAX_MESSAGE_CHARS
from incident_shared.timeutil import iso, utcnow
from ingest_gateway.appkeys import METRICS, SETTINGS
from ingest_gateway.errors import ApiError
from ingest_gateway.routes.events import RETRY_AFTER_SECONDS, publish
from ingest_gateway.translate import fit_metadata, service_name, storable

log = logging.getLogger(__name__)
routes = web.RouteTableDef()

PROTOBUF: Final = "application/x-protobuf"
JSON: Final = "application/json"
UNKNOWN_SERVICE: Final = "unknown_service"
# `severity_text` spellings when `severity_number` is unset: OpenTelemetry's, Python's and syslog's.
SEVERITY_TEXTS: Final = {
    "TRACE": 1,
    "DEBUG": 5,
    "INFO": 9,
    "INFORMATION": 9,
    "NOTICE": 10,
    "WARN": 13,
    "WARNING": 13,
    "ERROR": 17,
    "ERR": 17,
    "CRITICAL": 21,
    "CRIT": 21,
    "ALERT": 22,
    "EMERGENCY": 23,
    "EMERG": 23,
    "FATAL": 21,
    "PANIC": 23,
}
_INFO: Final = 9
_ERROR: Final = 17
# OTLP/JSON field -> its length in hex digits (either spelling of the field is accepted).
_HEX_IDS: Final = {"traceId": 32, "trace_id": 32, "spanId": 16, "span_id": 16}


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a batch of records comes from, and when it arrived; worked out once per batch."""

    service: str
    resource: dict[str, Any]  # storable already
    scope: dict[str, str]
    key: bytes  # the resource and scope, serialized: part of each record's event id
    received: datetime


@dataclass
class Conversion:
    """What one export request became."""

    events: list[Event] = field(default_factory=list)
    dropped: int = 0  # below the minimum severity, on purpose
    rejected: int = 0  # refused by the event contract
    first_error: str = ""


def any_value(value: AnyValue) -> Any:
    """An OTLP AnyValue as plain JSON-able Python (bytes as base64 text)."""
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return value.string_value
    if kind == "bool_value":
        return value.bool_value
    if kind == "int_value":
        return value.int_value
    if kind == "double_value":
        return value.double_value
    if kind == "array_value":
        return [any_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return attributes(value.kvlist_value.values)
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode()
    return None


def attributes(pairs: Iterable[KeyValue]) -> dict[str, Any]:
    """Repeated KeyValue as a dict (the last of a repeated key wins, as in the SDKs)."""
    return {kv.key: any_value(kv.value) for kv in pairs}


def severity_number(record: LogRecord, attrs: dict[str, Any]) -> int:
    """The record's OpenTelemetry severity (1-24); an unset one read from its text, else guessed.

    With neither a number nor a known text, a record that carries an exception counts as ERROR and
    any other as INFO.
    """
    if 1 <= record.severity_number <= 24:  # proto3 enums are open: anything else counts as unset
        return int(record.severity_number)
    text = record.severity_text.strip().upper()
    if text in SEVERITY_TEXTS:
        return SEVERITY_TEXTS[text]
    return _ERROR if "exception.type" in attrs or "exception.message" in attrs else _INFO


def event_severity(number: int) -> int:
    """OpenTelemetry's 1-24 onto the event's 1-5: TRACE..INFO4 1, WARN 3, ERROR 4, FATAL 5."""
    if number >= 21:
        return 5
    if number >= 17:
        return 4
    if number >= 13:
        return 3
    return 1


def _message(record: LogRecord, attrs: dict[str, Any]) -> str:
    if record.HasField("body"):
        body = any_value(record.body)
        if isinstance(body, str):
            text = body
        elif body is None:
            text = ""
        else:
            text = orjson.dumps(body).decode()
        if text:
            return text
    fallback = attrs.get("exception.message") or record.event_name
    return fallback if isinstance(fallback, str) else ""


def _time(nanos: int, received: datetime) -> datetime:
    if not nanos:
        return received
    # An exporter's clock ahead of ours must not put a record in the future.
    return min(datetime.fromtimestamp(nanos / 1e9, tz=UTC), received)


def to_event(record: LogRecord, attrs: dict[str, Any], number: int, origin: Origin) -> Event:
    """The event one log record becomes; raises EventValidationError if the contract refuses it.

    The event id derives from the record's bytes and its origin, so the same record exported twice
    (a retry) is one event downstream.
    """
    received = origin.received
    metadata: dict[str, Any] = {"severityNumber": number}
    if record.severity_text:
        metadata["severityText"] = record.severity_text
    if attrs:
        metadata["attributes"] = storable(attrs)
    if origin.resource:
        metadata["resource"] = origin.resource
    if origin.scope:
        metadata["scope"] = origin.scope
    if record.trace_id:
        metadata["traceId"] = record.trace_id.hex()
    if record.span_id:
        metadata["spanId"] = record.span_id.hex()
    if record.event_name:
        metadata["eventName"] = record.event_name
    error_type = attrs.get("exception.type")
    digest = hashlib.blake2b(origin.key + b"\x1f" + record.SerializeToString(deterministic=True), digest_size=12)
    return parse_event(
        {
            "eventId": "evt_otlp_" + digest.hexdigest(),
            "service": origin.service,
            "severity": event_severity(number),
            "timestamp": iso(_time(record.time_unix_nano or record.observed_time_unix_nano, received)),
            "message": _message(record, attrs)[:MAX_MESSAGE_CHARS],
            "errorType": error_type[:MAX_ERROR_TYPE_CHARS] if isinstance(error_type, str) and error_type else None,
            "metadata": fit_metadata(metadata),
        },
        received_at=received,
        source="otlp",
        check_time_bounds=False,
    )


def convert(request: ExportLogsServiceRequest, min_severity: int) -> Conversion:
    """Every record of an export request at or above `min_severity`, as events."""
    result = Conversion()
    received = utcnow()
    for resource_logs in request.resource_logs:
        resource = attributes(resource_logs.resource.attributes)
        service = service_name(resource.get("service.name")) or UNKNOWN_SERVICE
        stored_resource = storable(resource)
        resource_key = resource_logs.resource.SerializeToString(deterministic=True)
        for scope_logs in resource_logs.scope_logs:
            scope = {k: v for k, v in (("name", scope_logs.scope.name), ("version", scope_logs.scope.version)) if v}
            key = resource_key + b"\x1e" + scope_logs.scope.SerializeToString(deterministic=True)
            origin = Origin(service, stored_resource, scope, key, received)
            for record in scope_logs.log_records:
                attrs = attributes(record.attributes)
                number = severity_number(record, attrs)
                if number < min_severity:
                    result.dropped += 1
                    continue
                try:
                    result.events.append(to_event(record, attrs, number, origin))
                except EventValidationError as err:
                    result.rejected += 1
                    result.first_error = result.first_error or str(err)
    return result


def _children(parent: Any, *names: str) -> list[dict[str, Any]]:
    """The objects in `parent`'s list field (either spelling); anything malformed is left to the decoder."""
    if not isinstance(parent, dict):
        return []
    for name in names:
        items = parent.get(name)
        if isinstance(items, list):
            return [item for item in items if isinstance(item, dict)]
    return []


def _hex_ids_to_base64(body: Any) -> None:
    """OTLP/JSON writes trace and span ids in hex where protobuf's JSON mapping expects base64."""
    for resource_logs in _children(body, "resourceLogs", "resource_logs"):
        for scope_logs in _children(resource_logs, "scopeLogs", "scope_logs"):
            for record in _children(scope_logs, "logRecords", "log_records"):
                for name, size in _HEX_IDS.items():
                    value = record.get(name)
                    if value == "":
                        del record[name]
                    elif isinstance(value, str) and len(value) == size:
                        # Not hex: left as it is, for the decoder to name.
                        with contextlib.suppress(binascii.Error):
                            record[name] = base64.b64encode(binascii.unhexlify(value)).decode()


class UndecodableError(Exception):
    """The body is not an export request in the encoding its content type names."""


def _check_objects(value: Any, descriptor: Descriptor, path: str) -> None:
    """Raises UndecodableError where the JSON has something else than an object for a message.

    protobuf's JSON parser, told to ignore unknown fields, reads a string given for a message as the
    names of unknown fields and keeps an empty message: `"logRecords": ["AAA"]` would pass as one
    empty record instead of being refused.
    """
    if not isinstance(value, dict):
        raise UndecodableError(f"{path or 'the body'} must be a JSON object, got {type(value).__name__}")
    for member in descriptor.fields:
        if member.message_type is None or member.message_type.GetOptions().map_entry:
            continue
        name = member.json_name if member.json_name in value else member.name
        if name not in value:
            continue
        child = value[name]
        where = f"{path}.{member.json_name}" if path else member.json_name
        if child is None:
            raise UndecodableError(
                f"{where} is null: leave it out, or send an {'array' if member.is_repeated else 'object'}"
            )
        if member.is_repeated:
            if not isinstance(child, list):
                raise UndecodableError(f"{where} must be an array, got {type(child).__name__}")
            for i, item in enumerate(child):
                _check_objects(item, member.message_type, f"{where}[{i}]")
        else:
            _check_objects(child, member.message_type, where)


def decode(raw: bytes, content_type: str) -> ExportLogsServiceRequest:
    """The export request in `raw`; raises UndecodableError saying why it does not decode."""
    request = ExportLogsServiceRequest()
    if content_type == PROTOBUF:
        try:
            request.ParseFromString(raw)
        except DecodeError as exc:
            raise UndecodableError(f"the body is not an OTLP ExportLogsServiceRequest in protobuf: {exc}") from exc
        return request
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise UndecodableError(f"the body is not valid JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise UndecodableError('the body must be a JSON object: {"resourceLogs": [...]}')
    try:
        _check_objects(body, request.DESCRIPTOR, "")
    except UndecodableError as exc:
        raise UndecodableError(f"the body is not an OTLP ExportLogsServiceRequest in JSON: {exc}") from exc
    _hex_ids_to_base64(body)
    try:
        json_format.ParseDict(body, request, ignore_unknown_fields=True)
    except json_format.ParseError as exc:
        raise UndecodableError(f"the body is not an OTLP ExportLogsServiceRequest in JSON: {exc}") from exc
    return request


def _reply(
    message: Message, content_type: str, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    if content_type == PROTOBUF:
        return web.Response(status=status, body=message.SerializeToString(), content_type=PROTOBUF, headers=headers)
    return web.Response(
        status=status,
        body=json_format.MessageToJson(message, indent=None).encode(),
        content_type=JSON,
        headers=headers,
    )


def _status(
    status: int, code: int, message: str, content_type: str, headers: dict[str, str] | None = None
) -> web.Response:
    return _reply(status_pb2.Status(code=code, message=message), content_type, status, headers)


@routes.post("/v1/logs")
async def export_logs(request: web.Request) -> web.Response:
    content_type = request.content_type
    if content_type not in (PROTOBUF, JSON):
        return _status(
            415,
            code_pb2.INVALID_ARGUMENT,
            f"send OTLP logs as {PROTOBUF} or {JSON} (got {content_type or 'none'!r})",
            JSON,
        )
    try:
        export = decode(await request.read(), content_type)
    except UndecodableError as exc:
        request.app[METRICS].events_rejected.labels("invalid_otlp").inc()
        return _status(400, code_pb2.INVALID_ARGUMENT, str(exc), content_type)
    metrics = request.app[METRICS]
    result = convert(export, request.app[SETTINGS].otlp_min_severity_number)
    if result.dropped:
        metrics.otlp_records_dropped.labels("below_min_severity").inc(result.dropped)
    if result.rejected:
        metrics.events_rejected.labels("invalid_otlp").inc(result.rejected)
        log.warning(
            "OTLP log records refused by the event contract",
            extra={"rejected": result.rejected, "firstError": result.first_error},
        )
    if result.events:
        try:
            outcome = await publish(request, result.events, "otlp")
        except ApiError as err:
            return _status(err.status, code_pb2.UNAVAILABLE, err.message, content_type, err.headers)
        if any(o is not None for o in outcome):
            # Some records were not stored: the exporter retries the whole request, and the records
            # already stored are the same events again (their ids derive from their content).
            return _status(
                503,
                code_pb2.UNAVAILABLE,
                "Kafka did not store every record; retry the export",
                content_type,
                {"Retry-After": RETRY_AFTER_SECONDS},
            )
    response = ExportLogsServiceResponse()
    if result.rejected:
        response.partial_success.rejected_log_records = result.rejected
        response.partial_success.error_message = f"{result.rejected} records refused; the first: {result.first_error}"
    return _reply(response, content_type)
