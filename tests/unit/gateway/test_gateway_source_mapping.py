"""How other systems' alerts and logs map onto events: services, severities, storable metadata."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
from opentelemetry.proto.resource.v1.resource_pb2 import Resource

from incident_shared.schemas.events import MAX_METADATA_BYTES
from ingest_gateway.routes import otlp
from ingest_gateway.routes.pagerduty import InvalidEnqueueError, issue_dedup_key, parse_enqueue, service_of
from ingest_gateway.settings import GatewaySettings, parse_otlp_severity, parse_routing_keys
from ingest_gateway.translate import fit_metadata, service_name, storable

pytestmark = pytest.mark.unit

KEYS = {"KEY-PAY": "payment-service"}


def enqueue(action: str, payload: dict[str, Any] | None = None, **extra: Any) -> Any:
    body: dict[str, Any] = {"routing_key": "R0UTING", "event_action": action, **extra}
    if payload is not None:
        body["payload"] = payload
    return parse_enqueue(body)


PAYLOAD = {"summary": "Disk full", "source": "db-7.prod.example.com", "severity": "error"}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("payment-service", "payment-service"),
        ("unknown_service:python", "unknown_service-python"),
        ("db primary (eu)", "db-primary--eu"),
        ("  .hidden", "hidden"),
        ("ödb", "db"),
        ("!!!", None),
        ("", None),
        (42, None),
        ("x" * 150, "x" * 100),
    ],
)
def test_foreign_names_become_valid_service_names(raw: object, expected: str | None) -> None:
    assert service_name(raw) == expected


def test_the_service_comes_from_the_routing_key_map_first_for_trigger_and_bare_resolve() -> None:
    trigger = enqueue("trigger", {**PAYLOAD, "component": "mysql"}, routing_key="KEY-PAY")
    resolve = enqueue("resolve", routing_key="KEY-PAY", dedup_key="k1")
    assert service_of(trigger, KEYS) == service_of(resolve, KEYS) == "payment-service"


def test_without_a_listed_key_the_component_then_the_source_names_the_service() -> None:
    assert service_of(enqueue("trigger", {**PAYLOAD, "component": "mysql"}), KEYS) == "mysql"
    assert service_of(enqueue("trigger", PAYLOAD), KEYS) == "db-7.prod.example.com"
    assert service_of(enqueue("trigger", {**PAYLOAD, "source": "???"}), KEYS) == "pagerduty"


def test_a_bare_resolve_finds_its_service_in_a_generated_key_and_nowhere_else() -> None:
    issued = issue_dedup_key("orders-db")
    assert service_of(enqueue("resolve", dedup_key=issued), {}) == "orders-db"
    assert service_of(enqueue("resolve", dedup_key="srv01/mysql"), {}) is None
    assert service_of(enqueue("resolve", dedup_key="orders-db:not-hex"), {}) is None
    assert issue_dedup_key("orders-db") != issued  # random, as PagerDuty's


def test_a_resolve_with_no_severity_is_valid_and_a_wrong_one_is_not() -> None:
    assert enqueue("resolve", {"summary": "ok"}, dedup_key="k").payload == {"summary": "ok"}
    with pytest.raises(InvalidEnqueueError) as caught:
        enqueue("resolve", {"severity": "urgent"}, dedup_key="k")
    assert "'payload.severity' must be one of: critical, error, warning, info" in caught.value.errors


def test_links_and_images_need_their_targets_and_fields_their_types() -> None:
    with pytest.raises(InvalidEnqueueError) as caught:
        enqueue("trigger", {**PAYLOAD, "summary": 5}, links=[{"text": "no href"}], images="x", client=["c"])
    assert sorted(caught.value.errors) == sorted(
        [
            "'client' must be a string, got list",
            "'payload.summary' must be a string, got int",
            "'payload.summary' is missing or blank",
            "'links[0].href' is missing or blank",
            "'images' must be an array of objects",
        ]
    )


def test_routing_key_map_is_parsed_and_a_bad_entry_names_the_service_not_the_key() -> None:
    assert parse_routing_keys(" a=svc-1 , b = svc.2 ,") == {"a": "svc-1", "b": "svc.2"}
    with pytest.raises(ValueError, match="service 'bad name'") as caught:
        parse_routing_keys("secret-key=bad name")
    assert "secret-key" not in str(caught.value)
    with pytest.raises(ValueError, match="routing_key=service"):
        parse_routing_keys("just-a-key")


def test_settings_errors_never_echo_the_routing_keys() -> None:
    with pytest.raises(ValueError, match="PAGERDUTY_ROUTING_KEYS") as caught:
        GatewaySettings(pagerduty_routing_keys="TOP-SECRET-KEY")
    assert "TOP-SECRET-KEY" not in str(caught.value)


@pytest.mark.parametrize(
    ("text", "number"),
    [("WARN", 13), ("warning", 13), ("error3", 19), ("INFO", 9), ("fatal4", 24), ("1", 1), ("24", 24)],
)
def test_minimum_severity_accepts_names_and_numbers(text: str, number: int) -> None:
    assert parse_otlp_severity(text) == number


@pytest.mark.parametrize("text", ["loud", "WARN5", "0", "25", ""])
def test_minimum_severity_refuses_anything_else(text: str) -> None:
    with pytest.raises(ValueError, match="OTLP_MIN_SEVERITY"):
        parse_otlp_severity(text)


def record(**fields: Any) -> LogRecord:
    return LogRecord(**fields)


@pytest.mark.parametrize(
    ("fields", "attrs", "number", "severity"),
    [
        ({"severity_number": 9}, {}, 9, 1),
        ({"severity_number": 13}, {}, 13, 3),
        ({"severity_number": 20}, {}, 20, 4),
        ({"severity_number": 21}, {}, 21, 5),
        ({"severity_text": "Warning"}, {}, 13, 3),
        ({"severity_text": "CRITICAL"}, {}, 21, 5),
        ({"severity_text": "notice"}, {}, 10, 1),
        ({}, {"exception.type": "ValueError"}, 17, 4),
        ({}, {}, 9, 1),
        ({"severity_number": 99, "severity_text": "ERROR"}, {}, 17, 4),
    ],
)
def test_log_severities_map_onto_event_severities(
    fields: dict[str, Any], attrs: dict[str, Any], number: int, severity: int
) -> None:
    found = otlp.severity_number(record(**fields), attrs)
    assert (found, otlp.event_severity(found)) == (number, severity)


def export(*records: LogRecord, service: str | None = "checkout") -> ExportLogsServiceRequest:
    attributes = [KeyValue(key="service.name", value=AnyValue(string_value=service))] if service else []
    return ExportLogsServiceRequest(
        resource_logs=[
            ResourceLogs(resource=Resource(attributes=attributes), scope_logs=[ScopeLogs(log_records=list(records))])
        ]
    )


def test_records_below_the_minimum_are_counted_not_converted() -> None:
    result = otlp.convert(export(record(severity_number=5), record(severity_number=13), record()), 13)
    assert (len(result.events), result.dropped, result.rejected) == (1, 2, 0)


def test_a_structured_body_becomes_json_text_and_an_empty_one_falls_back_to_the_exception() -> None:
    kv = AnyValue()
    kv.kvlist_value.values.add(key="order", value=AnyValue(int_value=7))
    structured = record(severity_number=17, body=kv)
    bare = record(
        severity_number=17,
        attributes=[KeyValue(key="exception.message", value=AnyValue(string_value="pool exhausted"))],
    )
    events = otlp.convert(export(structured, bare, service=None), 13).events
    assert [e.message for e in events] == ['{"order":7}', "pool exhausted"]
    assert {e.service for e in events} == {"unknown_service"}


def test_a_severity_that_is_not_a_name_is_refused_not_a_crash() -> None:
    with pytest.raises(InvalidEnqueueError) as caught:
        enqueue("trigger", {**PAYLOAD, "severity": {}})
    assert "'payload.severity' must be one of: critical, error, warning, info" in caught.value.errors


def test_link_and_image_texts_must_be_strings() -> None:
    with pytest.raises(InvalidEnqueueError) as caught:
        enqueue("trigger", PAYLOAD, links=[{"href": "https://x", "text": 1}], images=[{"src": "s", "alt": {}}])
    assert sorted(caught.value.errors) == [
        "'images[0].alt' must be a string, got dict",
        "'links[0].text' must be a string, got int",
    ]


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"resourceLogs": [{"scopeLogs": [{"logRecords": ["AAA"]}]}]}, "resourceLogs[0].scopeLogs[0].logRecords[0]"),
        ({"resourceLogs": {"scopeLogs": []}}, "resourceLogs must be an array"),
        ({"resourceLogs": [{"resource": "svc"}]}, "resourceLogs[0].resource must be a JSON object"),
        ({"resourceLogs": [{"scopeLogs": [{"logRecords": None}]}]}, "resourceLogs[0].scopeLogs[0].logRecords is null"),
    ],
)
def test_otlp_json_with_something_else_than_an_object_for_a_message_is_refused(body: Any, named: str) -> None:
    with pytest.raises(otlp.UndecodableError, match=named.replace("[", r"\[").replace("]", r"\]")):
        otlp.decode(orjson.dumps(body), "application/json")


def test_the_same_record_gets_the_same_id_and_another_record_another() -> None:
    one = record(severity_number=17, time_unix_nano=1, body=AnyValue(string_value="a"))
    two = record(severity_number=17, time_unix_nano=2, body=AnyValue(string_value="a"))
    first = otlp.convert(export(one, two), 13).events
    again = otlp.convert(export(one), 13).events
    assert first[0].eventId == again[0].eventId != first[1].eventId


def test_metadata_keys_are_made_storable() -> None:
    assert storable({"http.route": 1, "$where": {"a.b": [[1, 2], {"c.d": 3}]}, "nul\x00": 2}) == {
        "http_route": 1,
        "_$where": {"a_b": ["[1,2]", {"c_d": 3}]},
        "nul": 2,
    }


def test_oversized_metadata_keeps_what_fits_and_says_what_went() -> None:
    big = {
        "summary": "kept whole",
        "details": {"trace": "x" * 40_000, "hosts": [f"host-{i}" for i in range(5_000)], "small": 1},
    }
    fitted = fit_metadata(big)
    assert len(orjson.dumps(fitted)) <= MAX_METADATA_BYTES
    assert fitted["summary"] == "kept whole"
    assert fitted["details"]["small"] == 1
    assert fitted["details"]["trace"].endswith("characters cut]")
    assert fitted["details"]["hosts"][0] == "host-0"
    assert fitted["details"]["hosts"][-1].endswith("more items removed: over the metadata limit]")
    assert fit_metadata({"a": 1}) == {"a": 1}
