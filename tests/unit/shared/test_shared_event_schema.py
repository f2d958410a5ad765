"""The event schema: what is accepted, what is refused, and with which message."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest

from incident_shared.schemas import EventValidationError, parse_event
from incident_shared.schemas.events import event_from_record

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def errors_of(raw: object, **kwargs: object) -> dict[str, str]:
    with pytest.raises(EventValidationError) as caught:
        parse_event(raw, received_at=NOW, **kwargs)  # type: ignore[arg-type]
    return {e.field: e.message for e in caught.value.errors}


def test_a_minimal_event_gets_an_id_and_the_receipt_time() -> None:
    event = parse_event({"service": "checkout", "severity": 3}, received_at=NOW)
    assert event.eventId.startswith("evt_")
    assert event.timestamp == NOW
    assert event.message == ""
    assert event.metadata == {}
    assert event.tags == []
    assert event.source == "http"


def test_timestamps_are_normalised_to_utc() -> None:
    event = parse_event({"service": "a", "severity": 1, "timestamp": "2026-11-27T13:30:00+02:00"}, received_at=NOW)
    assert event.timestamp == datetime(2026, 11, 27, 11, 30, tzinfo=UTC)
    assert event.to_api()["timestamp"] == "2026-11-27T11:30:00.000Z"


def test_client_ids_are_prefixed_so_the_same_id_is_the_same_event() -> None:
    first = parse_event({"service": "a", "severity": 1, "eventId": "job-7"}, received_at=NOW)
    second = parse_event({"service": "a", "severity": 1, "eventId": "job-7"}, received_at=NOW + timedelta(seconds=5))
    assert first.eventId == second.eventId == "evt_job-7"
    assert parse_event({"service": "a", "severity": 1, "eventId": "evt_x"}, received_at=NOW).eventId == "evt_x"


def test_every_bad_field_is_reported_at_once() -> None:
    errors = errors_of({"service": "", "severity": True, "tags": "db", "metadata": "x", "resolved": "no"})
    assert set(errors) == {"service", "severity", "tags", "metadata", "resolved"}
    assert "boolean" in errors["severity"]


@pytest.mark.parametrize(
    ("raw", "field", "fragment"),
    [
        ({"service": "a" * 101, "severity": 1}, "service", "1-100"),
        ({"service": "a", "severity": 6}, "severity", "got 6"),
        ({"service": "a", "severity": 2.5}, "severity", "got number"),
        ({"service": "a", "severity": 1, "timestamp": "2026-11-27T12:10:00Z"}, "timestamp", "future"),
        ({"service": "a", "severity": 1, "timestamp": "2026-09-01T00:00:00Z"}, "timestamp", "30 days"),
        ({"service": "a", "severity": 1, "message": "x" * 8193}, "message", "8192"),
        ({"service": "a", "severity": 1, "metadata": {"blob": "x" * 17000}}, "metadata", "limit"),
        ({"service": "a", "severity": 1, "tags": [str(i) for i in range(21)]}, "tags", "at most 20"),
        ({"service": "a", "severity": 1, "eventId": "has space"}, "eventId", "characters"),
        ({"service": "a", "severity": 1, "receivedAt": "2026-11-27T12:00:00Z"}, "receivedAt", "set by the pipeline"),
    ],
)
def test_precise_messages(raw: dict[str, object], field: str, fragment: str) -> None:
    errors = errors_of(raw)
    assert field in errors
    assert fragment in errors[field]


def test_not_an_object() -> None:
    assert "JSON object, got array" in errors_of([1, 2])["body"]


def test_records_from_kafka_tolerate_unknown_fields_and_keep_pipeline_fields() -> None:
    value = orjson.dumps(
        {"service": "billing", "severity": 4, "shard": 7, "source": "http", "receivedAt": "2026-11-27T11:00:00Z"}
    )
    event = event_from_record(value, record_timestamp=NOW, fallback_id="evt_p3o42")
    assert event.eventId == "evt_p3o42"
    assert event.timestamp == NOW
    assert event.receivedAt == datetime(2026, 11, 27, 11, 0, tzinfo=UTC)
    assert event.source == "http"


def test_records_from_kafka_still_need_service_and_severity() -> None:
    with pytest.raises(EventValidationError, match="service"):
        event_from_record(b'{"severity": 2}', record_timestamp=NOW, fallback_id="evt_1")
    with pytest.raises(EventValidationError, match="not valid JSON"):
        event_from_record(b"{oops", record_timestamp=NOW, fallback_id="evt_1")


def test_record_round_trip() -> None:
    event = parse_event({"service": "a", "severity": 5, "message": "disk full", "tags": ["x"]}, received_at=NOW)
    back = event_from_record(event.to_record(), record_timestamp=NOW, fallback_id="unused")
    assert back == event
