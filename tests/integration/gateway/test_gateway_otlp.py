"""OpenTelemetry logs in (`POST /v1/logs`): real SDKs' OTLP/HTTP exporters, protobuf and JSON.

The Python SDK runs as its own process (tests/support/otel_log_sender.py), logging through Python's
`logging` as an application does, and exports protobuf; the JavaScript SDK runs under Node.js
(tests/clients/otel-js, installed by deploy/ci.d/otel-js.sh) and exports OTLP/JSON. Each sender
reports whether its exporter saw each export succeed.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from google.rpc import status_pb2
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
from opentelemetry.proto.resource.v1.resource_pb2 import Resource

from support.openapi_check import check_answer

pytestmark = pytest.mark.integration

TESTS = Path(__file__).resolve().parents[2]
JS_CLIENT = TESTS / "clients" / "otel-js"
JS_SETUP = TESTS.parent / "deploy" / "ci.d" / "otel-js.sh"


@pytest.fixture(scope="session")
def js_sender() -> Path:
    """The Node.js program that logs through the OpenTelemetry JavaScript SDK (installed on first use)."""
    if shutil.which("node") is None:
        pytest.fail("Node.js is needed for this test (it runs the dashboard too): apt-get install nodejs npm")
    proc = subprocess.run(["bash", str(JS_SETUP)], capture_output=True, text=True, timeout=600, check=False)
    if proc.returncode != 0:
        pytest.fail(f"{JS_SETUP} could not install the OpenTelemetry JavaScript SDK:\n{proc.stderr[-2000:]}")
    return JS_CLIENT / "send-logs.mjs"


async def run_sender(endpoint: str, service: str, **env: str) -> str:
    """Runs the SDK program against `endpoint`; returns what it printed (one line per export)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "support.otel_log_sender",
        "--endpoint",
        endpoint,
        "--service",
        service,
        env={**os.environ, "PYTHONPATH": str(TESTS), **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode == 0, err.decode()[-2000:]
    return out.decode()


async def test_sdk_exporter_logs_at_warn_and_above_become_events(
    gateway: Any, topics: Any, read_topic: Any, decode: Any
) -> None:
    printed = await run_sender(str(gateway.make_url("/v1/logs")), "checkout:payments")
    assert "export 6 SUCCESS" in printed

    records = await read_topic(topics.events, 4)
    events = decode(records)
    assert len(events) == 4, [e["message"] for e in events]  # DEBUG and INFO dropped by the default (WARN)
    assert {r.key for r in records} == {b"checkout-payments"}
    assert [(e["severity"], e["message"]) for e in events] == [
        (3, "payment provider slow: 2300ms for order A-1042"),
        (4, "payment declined by provider for order A-1042"),
        (4, "could not reach the payments database"),
        (5, "payments unavailable: circuit open"),
    ]
    assert all(e["source"] == "otlp" and e["service"] == "checkout-payments" for e in events)
    warning, _, failure, _ = events
    assert failure["errorType"] == "ConnectionError"
    attributes = failure["metadata"]["attributes"]
    assert attributes["exception_message"] == "connection refused: payments-db:5432"
    assert "Traceback" in attributes["exception_stacktrace"]
    assert warning["metadata"]["attributes"]["order_id"] == "A-1042"
    assert warning["metadata"]["severityText"] == "WARN"
    assert warning["metadata"]["resource"]["service_name"] == "checkout:payments"
    assert warning["metadata"]["scope"]["name"] == "checkout.payments"
    assert warning["eventId"].startswith("evt_otlp_")

    metrics = await (await gateway.get("/metrics")).text()
    assert 'ingest_gateway_otlp_log_records_dropped_total{reason="below_min_severity"} 2.0' in metrics
    assert 'ingest_gateway_events_accepted_total{source="otlp"} 4.0' in metrics


async def test_minimum_severity_is_configurable(make_gateway: Any, topics: Any, read_topic: Any, decode: Any) -> None:
    gw = await make_gateway(otlp_min_severity="ERROR")
    assert "SUCCESS" in await run_sender(str(gw.make_url("/v1/logs")), "billing")
    events = decode(await read_topic(topics.events, 4, wait=5))
    assert [e["severity"] for e in events] == [4, 4, 5]
    metrics = await (await gw.get("/metrics")).text()
    assert 'ingest_gateway_otlp_log_records_dropped_total{reason="below_min_severity"} 3.0' in metrics


async def test_exporter_with_the_token_in_its_headers_and_gzip_is_accepted(
    make_gateway: Any, topics: Any, read_topic: Any
) -> None:
    gw = await make_gateway(api_tokens="otel-token-1")
    url = str(gw.make_url("/v1/logs"))
    refused = await run_sender(url, "auth-service")
    assert "FAILURE" in refused  # 401: the exporter does not retry it
    accepted = await run_sender(
        url,
        "auth-service",
        OTEL_EXPORTER_OTLP_HEADERS="Authorization=Bearer otel-token-1",
        OTEL_EXPORTER_OTLP_COMPRESSION="gzip",
    )
    assert "export 6 SUCCESS" in accepted
    assert len(await read_topic(topics.events, 4)) == 4


async def test_javascript_sdk_exporter_sends_otlp_json_that_becomes_events(
    gateway: Any, topics: Any, read_topic: Any, decode: Any, js_sender: Path
) -> None:
    proc = await asyncio.create_subprocess_exec(
        "node",
        str(js_sender),
        str(gateway.make_url("/v1/logs")),
        "inventory-js",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode == 0, err.decode()[-2000:]
    assert "export 4 SUCCESS" in out.decode()

    events = decode(await read_topic(topics.events, 3))
    assert [e["severity"] for e in events] == [3, 4, 5]  # the INFO record is below the default minimum
    assert {e["service"] for e in events} == {"inventory-js"}
    slow, timeout, fatal = events
    assert slow["message"] == "slow query: 2300ms on inventory-db"
    assert slow["metadata"]["attributes"] == {
        "db_system": "postgresql",
        "retry_count": 2,
        "sql_tables": ["items", "stock"],
    }
    # OTLP/JSON writes trace and span ids in hex: they arrive as the span's own ids.
    assert slow["metadata"]["traceId"] == "5b8efff798038103d269b633813fc60c"
    assert slow["metadata"]["spanId"] == "eee19b7ec3c1b174"
    assert slow["metadata"]["scope"] == {"name": "inventory.http", "version": "2.1.0"}
    assert timeout["errorType"] == "TimeoutError"
    assert orjson.loads(fatal["message"]) == {"event": "shutdown", "reason": "pool exhausted"}


def json_export(now_ns: int) -> dict[str, Any]:
    """An export request in OTLP/JSON as the specification writes it (hex ids, string 64-bit integers)."""
    return {
        "resourceLogs": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "inventory-api"}}]},
                "scopeLogs": [
                    {
                        "scope": {"name": "inventory.http", "version": "2.1.0"},
                        "logRecords": [
                            {
                                "timeUnixNano": str(now_ns),
                                "observedTimeUnixNano": str(now_ns),
                                "severityNumber": 17,
                                "severityText": "ERROR",
                                "traceId": "5b8efff798038103d269b633813fc60c",
                                "spanId": "eee19b7ec3c1b174",
                                "body": {"stringValue": "Timeout after 5000ms calling inventory-db:5432"},
                                "attributes": [
                                    {"key": "exception.type", "value": {"stringValue": "TimeoutError"}},
                                    {"key": "http.route", "value": {"stringValue": "/items/{id}"}},
                                    {"key": "retry.count", "value": {"intValue": "3"}},
                                ],
                            },
                            {"timeUnixNano": str(now_ns), "severityNumber": 9, "body": {"stringValue": "GET 200"}},
                        ],
                    }
                ],
            }
        ]
    }


def protobuf_twin(now_ns: int) -> ExportLogsServiceRequest:
    """The first record of `json_export`, built with the OTLP protobuf classes."""

    def kv(key: str, value: AnyValue) -> KeyValue:
        return KeyValue(key=key, value=value)

    record = LogRecord(
        time_unix_nano=now_ns,
        observed_time_unix_nano=now_ns,
        severity_number=17,  # type: ignore[arg-type]
        severity_text="ERROR",
        trace_id=bytes.fromhex("5b8efff798038103d269b633813fc60c"),
        span_id=bytes.fromhex("eee19b7ec3c1b174"),
        body=AnyValue(string_value="Timeout after 5000ms calling inventory-db:5432"),
        attributes=[
            kv("exception.type", AnyValue(string_value="TimeoutError")),
            kv("http.route", AnyValue(string_value="/items/{id}")),
            kv("retry.count", AnyValue(int_value=3)),
        ],
    )
    return ExportLogsServiceRequest(
        resource_logs=[
            ResourceLogs(
                resource=Resource(attributes=[kv("service.name", AnyValue(string_value="inventory-api"))]),
                scope_logs=[
                    ScopeLogs(scope=InstrumentationScope(name="inventory.http", version="2.1.0"), log_records=[record])
                ],
            )
        ]
    )


async def test_json_export_becomes_events_and_is_answered_in_json(
    gateway: Any, topics: Any, read_topic: Any, decode: Any
) -> None:
    now_ns = time.time_ns() - 5_000_000_000
    resp = await gateway.post("/v1/logs", json=json_export(now_ns))
    assert resp.status == 200
    assert resp.content_type == "application/json"
    assert await resp.json() == {}

    events = decode(await read_topic(topics.events, 2, wait=5))
    assert len(events) == 1  # the INFO record is below the default minimum
    event = events[0]
    assert event["service"] == "inventory-api"
    assert event["severity"] == 4
    assert event["message"] == "Timeout after 5000ms calling inventory-db:5432"
    assert event["errorType"] == "TimeoutError"
    assert event["metadata"]["traceId"] == "5b8efff798038103d269b633813fc60c"
    assert event["metadata"]["spanId"] == "eee19b7ec3c1b174"
    assert event["metadata"]["attributes"] == {
        "exception_type": "TimeoutError",
        "http_route": "/items/{id}",
        "retry_count": 3,
    }
    assert event["metadata"]["scope"] == {"name": "inventory.http", "version": "2.1.0"}
    sent = orjson.loads(orjson.dumps(event["timestamp"]))
    assert sent.startswith(time.strftime("%Y-%m-%dT", time.gmtime(now_ns / 1e9)))


async def test_the_same_record_as_protobuf_or_json_is_one_event(
    gateway: Any, topics: Any, read_topic: Any, decode: Any
) -> None:
    now_ns = time.time_ns()
    assert (await gateway.post("/v1/logs", json=json_export(now_ns))).status == 200
    resp = await gateway.post(
        "/v1/logs",
        data=protobuf_twin(now_ns).SerializeToString(),
        headers={"Content-Type": "application/x-protobuf"},
    )
    assert resp.status == 200
    assert resp.content_type == "application/x-protobuf"
    from_json, from_protobuf = decode(await read_topic(topics.events, 2))
    # An exporter retrying an export it could not confirm sends the same events again: one id each.
    assert from_json["eventId"] == from_protobuf["eventId"]


async def test_bodies_that_do_not_decode_get_a_status_in_the_request_encoding(gateway: Any) -> None:
    resp = await gateway.post("/v1/logs", data=b"\xff\xff\xff", headers={"Content-Type": "application/x-protobuf"})
    assert resp.status == 400
    status = status_pb2.Status.FromString(await resp.read())
    assert "protobuf" in status.message

    resp = await gateway.post("/v1/logs", data=b'{"resourceLogs": 3}', headers={"Content-Type": "application/json"})
    assert resp.status == 400
    assert "ExportLogsServiceRequest" in (await resp.json())["message"]
    resp = await gateway.post("/v1/logs", json=[])
    assert resp.status == 400
    assert "JSON object" in (await resp.json())["message"]

    resp = await gateway.post("/v1/logs", data=b"hello", headers={"Content-Type": "text/plain"})
    assert resp.status == 415
    assert "application/x-protobuf" in (await resp.json())["message"]


async def test_kafka_unreachable_is_a_retryable_503(make_gateway: Any) -> None:
    gw = await make_gateway(kafka_bootstrap_servers="127.0.0.1:1")
    resp = await gw.post(
        "/v1/logs",
        data=protobuf_twin(time.time_ns()).SerializeToString(),
        headers={"Content-Type": "application/x-protobuf"},
    )
    assert resp.status == 503  # OTLP exporters retry 503, after Retry-After
    assert resp.headers["Retry-After"] == "5"
    assert "unavailable" in status_pb2.Status.FromString(await resp.read()).message


async def test_json_answers_match_the_documented_schemas(gateway: Any) -> None:
    resp = await gateway.post("/v1/logs", json=json_export(time.time_ns()))
    check_answer("/v1/logs", "post", resp.status, await resp.json())
    resp = await gateway.post("/v1/logs", json={"resourceLogs": 1})
    check_answer("/v1/logs", "post", resp.status, await resp.json())
    resp = await gateway.post("/v1/logs", data=b"x", headers={"Content-Type": "text/plain"})
    check_answer("/v1/logs", "post", resp.status, await resp.json())
