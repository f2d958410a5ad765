"""Ingest through the gateway: what a client sends is what lands in Kafka, or a clear error."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.integration


async def test_accepted_event_is_on_the_topic_with_the_same_content(
    gateway: Any, topics: Any, read_topic: Any, decode: Any
) -> None:
    sent = {
        "service": "billing-service",
        "severity": 4,
        "message": "Timeout after 5000ms calling db-primary:5432",
        "errorType": "TimeoutError",
        "timestamp": "2026-11-27T10:00:00Z",
        "metadata": {"region": "eu-west-1", "attempt": 3},
        "tags": ["checkout", "db"],
    }
    resp = await gateway.post("/api/events", json=sent)
    assert resp.status == 201
    body = await resp.json()
    assert body["success"] is True
    assert body["message"] == "Event created successfully"
    data = body["data"]
    assert data["eventId"].startswith("evt_")
    assert {k: data[k] for k in ("service", "severity", "metadata", "tags")} == {
        k: sent[k] for k in ("service", "severity", "metadata", "tags")
    }
    assert data["timestamp"] == "2026-11-27T10:00:00.000Z"

    records = await read_topic(topics.events, 1)
    assert len(records) == 1
    assert records[0].key == b"billing-service"  # a service no topology group names is its own key
    on_topic = decode(records)[0]
    assert on_topic["eventId"] == data["eventId"]
    assert on_topic["message"] == sent["message"]
    assert on_topic["errorType"] == "TimeoutError"
    assert on_topic["timestamp"] == "2026-11-27T10:00:00.000Z"
    assert on_topic["metadata"] == sent["metadata"]
    assert on_topic["source"] == "http"


async def test_timestamp_defaults_to_receipt_and_client_event_id_is_kept(gateway: Any) -> None:
    resp = await gateway.post("/api/events", json={"service": "auth", "severity": 2, "eventId": "order-42-retry"})
    assert resp.status == 201
    data = (await resp.json())["data"]
    assert data["eventId"] == "evt_order-42-retry"
    assert data["timestamp"] == data["receivedAt"]


@pytest.mark.parametrize(
    ("payload", "field", "fragment"),
    [
        ({"severity": 3}, "service", "is required"),
        ({"service": "bad name!", "severity": 3}, "service", "letters, digits"),
        ({"service": "api", "severity": 9}, "severity", "from 1 to 5, got 9"),
        ({"service": "api", "severity": "high"}, "severity", "got string"),
        ({"service": "api", "severity": 3, "metadata": [1]}, "metadata", "must be an object"),
        ({"service": "api", "severity": 3, "tags": ["x" * 65]}, "tags[0]", "at most 64"),
        ({"service": "api", "severity": 3, "timestamp": "yesterday"}, "timestamp", "ISO-8601"),
        ({"service": "api", "severity": 3, "severty": 1}, "severty", "unknown field"),
    ],
)
async def test_invalid_event_is_a_400_naming_the_field(
    gateway: Any, payload: dict[str, Any], field: str, fragment: str
) -> None:
    resp = await gateway.post("/api/events", json=payload)
    assert resp.status == 400
    error = (await resp.json())["error"]
    assert error["code"] == "validation_error"
    fields = {d["field"]: d["message"] for d in error["details"]}
    assert field in fields
    assert fragment in fields[field]
    assert field in error["message"]


async def test_non_json_is_415_and_oversized_body_is_413(make_gateway: Any) -> None:
    gw = await make_gateway(max_body_bytes=2048)
    resp = await gw.post("/api/events", data="service=api", headers={"Content-Type": "text/plain"})
    assert resp.status == 415
    assert "application/json" in (await resp.json())["error"]["message"]

    resp = await gw.post("/api/events", json={"service": "api", "severity": 3, "message": "x" * 4000})
    assert resp.status == 413
    assert (await resp.json())["error"]["code"] == "body_too_large"

    resp = await gw.post("/api/events", data="{not json", headers={"Content-Type": "application/json"})
    assert resp.status == 400
    assert (await resp.json())["error"]["code"] == "malformed_json"


async def test_batch_rejects_only_the_bad_items(gateway: Any, topics: Any, read_topic: Any, decode: Any) -> None:
    batch = [
        {"service": "checkout", "severity": 3, "message": "slow response 1200ms"},
        {"service": "checkout", "severity": 0},
        {"service": "inventory", "severity": 5, "message": "out of memory"},
        "not an event",
    ]
    resp = await gateway.post("/api/events/batch", json={"events": batch})
    assert resp.status == 207
    body = await resp.json()
    results = body["data"]["results"]
    assert [r["success"] for r in results] == [True, False, True, False]
    assert [r["index"] for r in results] == [0, 1, 2, 3]
    assert "severity" in results[1]["error"]
    assert body["data"]["accepted"] == 2

    records = decode(await read_topic(topics.events, 2))
    assert sorted(r["eventId"] for r in records) == sorted([results[0]["eventId"], results[2]["eventId"]])
    # Nothing else arrives: the bad items were never produced.
    assert len(await read_topic(topics.events, 3, wait=2.0)) == 2


async def test_batch_all_valid_is_201_and_limits_are_enforced(make_gateway: Any) -> None:
    gw = await make_gateway(max_batch_events=5)
    resp = await gw.post("/api/events/batch", json=[{"service": "a", "severity": 1}] * 5)
    assert resp.status == 201
    assert (await resp.json())["data"]["accepted"] == 5
    resp = await gw.post("/api/events/batch", json=[{"service": "a", "severity": 1}] * 6)
    assert resp.status == 413
    resp = await gw.post("/api/events/batch", json=[])
    assert resp.status == 400
    resp = await gw.post("/api/events/batch", json={"items": []})
    assert resp.status == 400


ALERTMANAGER_PAYLOAD: dict[str, Any] = {
    "version": "4",
    "groupKey": '{}:{alertname="HighErrorRate"}',
    "status": "firing",
    "receiver": "incident-intelligence",
    "groupLabels": {"alertname": "HighErrorRate"},
    "commonLabels": {"alertname": "HighErrorRate"},
    "commonAnnotations": {},
    "externalURL": "http://alertmanager.local:9093",
    "alerts": [
        {
            "status": "firing",
            "labels": {"alertname": "HighErrorRate", "service": "checkout", "severity": "critical"},
            "annotations": {"summary": "5xx rate above 5% on checkout"},
            "startsAt": "2026-11-27T09:58:00Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus.local/graph",
            "fingerprint": "a1b2c3d4e5f60718",
        },
        {
            "status": "resolved",
            "labels": {"alertname": "DiskFilling", "job": "node-exporter", "severity": "warning"},
            "annotations": {"description": "disk 91% full on node-7"},
            "startsAt": "2026-11-27T09:00:00Z",
            "endsAt": "2026-11-27T09:55:00Z",
            "fingerprint": "0f1e2d3c4b5a6978",
        },
    ],
}


async def test_alertmanager_payload_yields_one_event_per_alert(
    gateway: Any, topics: Any, read_topic: Any, decode: Any
) -> None:
    resp = await gateway.post("/api/integrations/alertmanager", json=ALERTMANAGER_PAYLOAD)
    assert resp.status == 201
    body = await resp.json()
    assert len(body["data"]["events"]) == 2

    records = {r["metadata"]["fingerprint"]: r for r in decode(await read_topic(topics.events, 2))}
    firing, resolved = records["a1b2c3d4e5f60718"], records["0f1e2d3c4b5a6978"]
    assert (firing["service"], firing["severity"], firing["resolved"]) == ("checkout", 5, False)
    assert firing["message"] == "5xx rate above 5% on checkout"
    assert firing["errorType"] == "HighErrorRate"
    assert firing["source"] == "alertmanager"
    assert firing["timestamp"] == "2026-11-27T09:58:00.000Z"
    assert (resolved["service"], resolved["severity"], resolved["resolved"]) == ("node-exporter", 3, True)
    assert resolved["timestamp"] == "2026-11-27T09:55:00.000Z"
    assert resolved["metadata"]["annotations"]["description"] == "disk 91% full on node-7"

    # Alertmanager repeats notifications: the same alert gives the same event id.
    again = await gateway.post("/api/integrations/alertmanager", json=ALERTMANAGER_PAYLOAD)
    assert [e["eventId"] for e in (await again.json())["data"]["events"]] == [
        e["eventId"] for e in body["data"]["events"]
    ]


async def test_alertmanager_rejects_what_is_not_a_webhook(gateway: Any) -> None:
    resp = await gateway.post("/api/integrations/alertmanager", json={"hello": "world"})
    assert resp.status == 400
    assert "alerts" in (await resp.json())["error"]["message"]


async def test_writes_need_a_token_when_tokens_are_configured(make_gateway: Any) -> None:
    gw = await make_gateway(api_tokens="s3cret-one,s3cret-two")
    event = {"service": "api", "severity": 3}
    resp = await gw.post("/api/events", json=event)
    assert resp.status == 401
    assert "Bearer" in (await resp.json())["error"]["message"]
    resp = await gw.post("/api/events", json=event, headers={"Authorization": "Bearer wrong"})
    assert resp.status == 401
    resp = await gw.post("/api/events", json=event, headers={"Authorization": "Bearer s3cret-two"})
    assert resp.status == 201
    # Reads stay open.
    assert (await gw.get("/api/events")).status == 200


async def test_health_and_metrics(gateway: Any) -> None:
    assert (await gateway.get("/health/live")).status == 200
    ready = await gateway.get("/health/ready")
    assert ready.status == 200
    detailed = await (await gateway.get("/health/detailed")).json()
    assert detailed["dependencies"]["kafka"]["status"] == "up"
    assert detailed["dependencies"]["mongodb"]["status"] == "up"
    assert detailed["version"]
    await gateway.post("/api/events", json={"service": "api", "severity": 3})
    await gateway.post("/api/events", json={"service": "api", "severity": 8})
    text = await (await gateway.get("/metrics")).text()
    assert 'ingest_gateway_events_accepted_total{source="http"} 1.0' in text
    assert 'ingest_gateway_events_rejected_total{reason="invalid_severity"} 1.0' in text
    assert 'ingest_gateway_http_requests_total{method="POST",route="/api/events",status="201"} 1.0' in text
    assert "ingest_gateway_kafka_produce_duration_seconds_bucket" in text


async def test_events_are_keyed_by_their_topology_group(
    make_gateway: Any, topics: Any, read_topic: Any, tmp_path: Any
) -> None:
    config = tmp_path / "correlation.toml"
    config.write_text('[topology.groups]\nshop = ["cart"]\n[topology.depends_on]\ncart = ["cart-db"]\n')
    gw = await make_gateway(correlation_config=str(config))
    for service in ("cart", "cart-db", "search"):
        assert (await gw.post("/api/events", json={"service": service, "severity": 3})).status == 201
    keys = {record.key for record in await read_topic(topics.events, 3)}
    # cart-db joins cart's group through its declared dependency, so a cascade stays on one partition.
    assert keys == {b"shop", b"search"}
