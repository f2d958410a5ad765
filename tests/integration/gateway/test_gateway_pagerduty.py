"""PagerDuty Events API v2 in: PagerDuty's answers, and triggers and resolves as events on the topic.

The bodies are those of PagerDuty's own documentation, sent to the gateway's `/v2/enqueue`.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from support.openapi_check import check_answer

pytestmark = pytest.mark.integration

# PagerDuty's documented example of a trigger, verbatim.
DOCUMENTED_TRIGGER: dict[str, Any] = {
    "payload": {
        "summary": "DISK at 99% on machine prod-datapipe03.example.com",
        "timestamp": "2015-07-17T08:42:58.315+0000",
        "severity": "critical",
        "source": "prod-datapipe03.example.com",
        "component": "mysql",
        "group": "prod-datapipe",
        "class": "disk",
        "custom_details": {"free space": "1%", "ping time": "1500ms", "load avg": 0.75},
    },
    "routing_key": "e93facc04764012d7bfb002500d5d1a6",
    "dedup_key": "srv01/mysql",
    "event_action": "trigger",
    "client": "Sample Monitoring Service",
    "client_url": "https://monitoring.service.com",
    "links": [{"href": "http://pagerduty.example.com", "text": "An example link."}],
    "images": [{"src": "https://chart.example.com/disk.png", "href": "https://example.com", "alt": "Disk usage"}],
}


PAYLOAD = {"summary": "x", "source": "h", "severity": "error"}


def trigger(summary: str, component: str, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "routing_key": "R0UTINGKEY0000000000000000000001",
        "event_action": "trigger",
        "payload": {"summary": summary, "source": "host-1.example.com", "severity": "error", "component": component},
    }
    body.update(extra)
    return body


async def test_documented_trigger_is_answered_as_pagerduty_does_and_becomes_an_event(
    gateway: Any, topics: Any, read_topic: Any, decode: Any
) -> None:
    resp = await gateway.post("/v2/enqueue", json=DOCUMENTED_TRIGGER)
    assert resp.status == 202
    assert await resp.json() == {"status": "success", "message": "Event processed", "dedup_key": "srv01/mysql"}

    records = await read_topic(topics.events, 1)
    assert records[0].key == b"mysql"
    event = decode(records)[0]
    assert event["source"] == "pagerduty"
    assert event["service"] == "mysql"  # the component names the failing part
    assert event["severity"] == 5
    assert event["message"] == "DISK at 99% on machine prod-datapipe03.example.com"
    assert event["errorType"] == "disk"
    assert event["dedupKey"] == "srv01/mysql"
    assert event["resolved"] is False
    assert event["timestamp"] == "2015-07-17T08:42:58.315Z"
    assert event["tags"] == ["pagerduty", "group:prod-datapipe", "class:disk"]
    metadata = event["metadata"]
    assert metadata["source"] == "prod-datapipe03.example.com"
    assert metadata["customDetails"] == {"free space": "1%", "ping time": "1500ms", "load avg": 0.75}
    assert metadata["links"] == DOCUMENTED_TRIGGER["links"]
    assert metadata["images"] == DOCUMENTED_TRIGGER["images"]
    assert metadata["client"] == "Sample Monitoring Service"
    assert "e93facc04764012d7bfb002500d5d1a6" not in records[0].value.decode()  # a routing key is a credential


async def test_trigger_without_dedup_key_gets_one_and_a_bare_resolve_of_it_reaches_the_same_service(
    gateway: Any, topics: Any, read_topic: Any, decode: Any
) -> None:
    resp = await gateway.post("/v2/enqueue", json=trigger("Replication lag above 30s", "orders-db"))
    assert resp.status == 202
    key = (await resp.json())["dedup_key"]
    assert re.fullmatch(r"orders-db:[0-9a-f]{32}", key)

    # What PagerDuty's client libraries send to resolve: the routing key, the action, the key. No payload.
    resolve = {"routing_key": "R0UTINGKEY0000000000000000000001", "event_action": "resolve", "dedup_key": key}
    resp = await gateway.post("/v2/enqueue", json=resolve)
    assert resp.status == 202
    assert (await resp.json())["dedup_key"] == key

    records = await read_topic(topics.events, 2)
    assert [r.key for r in records] == [b"orders-db", b"orders-db"]  # one partition: in order
    triggered, resolved = decode(records)
    assert (triggered["resolved"], resolved["resolved"]) == (False, True)
    assert triggered["dedupKey"] == resolved["dedupKey"] == key
    assert resolved["service"] == "orders-db"
    assert triggered["eventId"] != resolved["eventId"]


async def test_listed_routing_key_names_the_service_of_trigger_and_bare_resolve(
    make_gateway: Any, topics: Any, read_topic: Any, decode: Any
) -> None:
    gw = await make_gateway(pagerduty_routing_keys="KEY-FOR-PAYMENTS=payment-service,OTHER=batch-reports")
    body = trigger("Card authorisation failing", "stripe-client", routing_key="KEY-FOR-PAYMENTS", dedup_key="pay-1")
    assert (await gw.post("/v2/enqueue", json=body)).status == 202
    resolve = {"routing_key": "KEY-FOR-PAYMENTS", "event_action": "resolve", "dedup_key": "pay-1"}
    assert (await gw.post("/api/integrations/pagerduty", json=resolve)).status == 202

    triggered, resolved = decode(await read_topic(topics.events, 2))
    assert triggered["service"] == resolved["service"] == "payment-service"
    assert triggered["metadata"]["component"] == "stripe-client"
    assert resolved["resolved"] is True
    assert resolved["dedupKey"] == "pay-1"


async def test_bare_resolve_that_cannot_be_placed_is_refused_saying_what_to_do(
    gateway: Any, topics: Any, read_topic: Any
) -> None:
    resolve = {"routing_key": "UNLISTED", "event_action": "resolve", "dedup_key": "my-own-key"}
    resp = await gateway.post("/v2/enqueue", json=resolve)
    assert resp.status == 400
    body = await resp.json()
    assert body["status"] == "invalid event"
    assert "PAGERDUTY_ROUTING_KEYS" in body["errors"][0]
    assert await read_topic(topics.events, 1, wait=2) == []


async def test_resolve_with_a_payload_takes_its_service_from_the_payload(
    gateway: Any, topics: Any, read_topic: Any, decode: Any
) -> None:
    # Alertmanager, Grafana and the like send the payload with every resolve, from the same templates.
    body = trigger("[RESOLVED] HighErrorRate checkout", "checkout-service", event_action="resolve", dedup_key="g1")
    assert (await gateway.post("/v2/enqueue", json=body)).status == 202
    event = decode(await read_topic(topics.events, 1))[0]
    assert (event["service"], event["resolved"], event["dedupKey"]) == ("checkout-service", True, "g1")


async def test_acknowledge_is_answered_but_stores_nothing(gateway: Any, topics: Any, read_topic: Any) -> None:
    ack = {"routing_key": "R0UTINGKEY0000000000000000000001", "event_action": "acknowledge", "dedup_key": "a1"}
    resp = await gateway.post("/v2/enqueue", json=ack)
    assert resp.status == 202
    assert await resp.json() == {"status": "success", "message": "Event processed", "dedup_key": "a1"}
    assert (await gateway.post("/v2/enqueue", json=trigger("after the ack", "api"))).status == 202
    records = await read_topic(topics.events, 2, wait=3)
    assert len(records) == 1
    metrics = await (await gateway.get("/metrics")).text()
    assert 'ingest_gateway_pagerduty_events_total{action="acknowledge"} 1.0' in metrics


async def test_the_same_stamped_trigger_sent_twice_is_one_event_downstream(
    gateway: Any, topics: Any, read_topic: Any, decode: Any
) -> None:
    # A retry after a lost answer: both are on the topic, with one event id, so the aggregator keeps one.
    assert (await gateway.post("/v2/enqueue", json=DOCUMENTED_TRIGGER)).status == 202
    assert (await gateway.post("/v2/enqueue", json=DOCUMENTED_TRIGGER)).status == 202
    first, second = decode(await read_topic(topics.events, 2))
    assert first["eventId"] == second["eventId"]
    assert first["eventId"].startswith("evt_pd_")


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"event_action": "trigger", "payload": PAYLOAD}, "'routing_key'"),
        ({"routing_key": "k", "event_action": "explode"}, "'event_action' must be one of"),
        ({"routing_key": "k", "event_action": "trigger"}, "'payload' is required for a trigger"),
        ({"routing_key": "k", "event_action": "resolve"}, "'dedup_key' is required to resolve"),
        (
            {"routing_key": "k", "event_action": "trigger", "payload": {**PAYLOAD, "severity": "9"}},
            "'payload.severity' must be one of",
        ),
        (
            {"routing_key": "k", "event_action": "trigger", "payload": {"source": "h", "severity": "info"}},
            "'payload.summary' is missing",
        ),
        ({"routing_key": "k", "event_action": "trigger", "dedup_key": "x" * 256, "payload": {}}, "255 characters"),
        ([1, 2], "JSON object"),
    ],
)
async def test_invalid_event_is_a_400_in_pagerdutys_shape(gateway: Any, body: Any, fragment: str) -> None:
    resp = await gateway.post("/v2/enqueue", json=body)
    assert resp.status == 400
    answer = await resp.json()
    assert answer["status"] == "invalid event"
    assert answer["message"] == "Event object is invalid"
    assert any(fragment in e for e in answer["errors"]), answer["errors"]


async def test_every_problem_is_listed_at_once(gateway: Any) -> None:
    resp = await gateway.post("/v2/enqueue", json={"event_action": "trigger", "payload": {"severity": "loud"}})
    errors = (await resp.json())["errors"]
    assert len(errors) == 4, errors  # routing_key, summary, source, severity


async def test_body_that_is_not_json_is_refused_in_pagerdutys_shape(gateway: Any) -> None:
    resp = await gateway.post("/v2/enqueue", data=b"routing_key=x", headers={"Content-Type": "text/plain"})
    assert resp.status == 415
    assert (await resp.json())["status"] == "invalid event"
    resp = await gateway.post("/v2/enqueue", data=b"{not json", headers={"Content-Type": "application/json"})
    assert resp.status == 400
    assert "not valid JSON" in (await resp.json())["message"]


async def test_custom_details_too_large_are_trimmed_not_refused(
    gateway: Any, topics: Any, read_topic: Any, decode: Any
) -> None:
    details = {"stack": "frame\n" * 5000, "pods": [f"pod-{i}" for i in range(2000)], "a.b": {"$ref": 1}}
    body = trigger("Crash loop", "worker", payload={"summary": "Crash loop", "source": "k8s", "severity": "error"})
    body["payload"]["custom_details"] = details
    assert (await gateway.post("/v2/enqueue", json=body)).status == 202
    metadata = decode(await read_topic(topics.events, 1))[0]["metadata"]
    details_kept = metadata["customDetails"]
    assert "characters cut" in details_kept["stack"]
    assert details_kept["a_b"] == {"_$ref": 1}  # keys MongoDB can store


async def test_with_api_tokens_a_sender_authorises_by_routing_key_or_bearer(make_gateway: Any) -> None:
    gw = await make_gateway(api_tokens="pd-secret-1,other")
    body = trigger("Queue backing up", "queue")
    assert (await gw.post("/v2/enqueue", json=body)).status == 401
    body["routing_key"] = "pd-secret-1"
    assert (await gw.post("/v2/enqueue", json=body)).status == 202
    body["routing_key"] = "not-a-token"
    resp = await gw.post("/v2/enqueue", json=body, headers={"Authorization": "Bearer other"})
    assert resp.status == 202


async def test_kafka_unreachable_is_a_retryable_503(make_gateway: Any) -> None:
    gw = await make_gateway(kafka_bootstrap_servers="127.0.0.1:1")
    resp = await gw.post("/v2/enqueue", json=trigger("Disk full", "db"))
    assert resp.status == 503  # Alertmanager and PagerDuty's clients retry a 5xx
    assert resp.headers["Retry-After"] == "5"
    assert (await resp.json())["status"] == "unavailable"


async def test_answers_match_the_documented_schemas(make_gateway: Any) -> None:
    gw = await make_gateway(api_tokens="pd-doc-token")
    for path in ("/v2/enqueue", "/api/integrations/pagerduty"):
        body = trigger("Disk full", "db", routing_key="pd-doc-token")
        resp = await gw.post(path, json=body)
        check_answer(path, "post", resp.status, await resp.json())
        assert resp.status == 202
        for bad in ({"routing_key": "pd-doc-token"}, {**body, "routing_key": "wrong"}):
            resp = await gw.post(path, json=bad)
            check_answer(path, "post", resp.status, await resp.json())
        resp = await gw.post(path, data=b"x", headers={"Content-Type": "text/plain"})
        check_answer(path, "post", resp.status, await resp.json())
    down = await make_gateway(kafka_bootstrap_servers="127.0.0.1:1")
    resp = await down.post("/v2/enqueue", json=trigger("Disk full", "db"))
    check_answer("/v2/enqueue", "post", resp.status, await resp.json())
