"""The summarizer as a service: incident changes on the real Kafka in, summaries out; its HTTP API."""

from __future__ import annotations

from datetime import timedelta

import pytest

from incident_shared.timeutil import utcnow

pytestmark = pytest.mark.integration


def _fresh(incident_factory, **kw):
    now = utcnow()
    return incident_factory(
        **({"createdAt": now, "updatedAt": now, "firstSeen": now - timedelta(minutes=1), "lastSeen": now} | kw)
    )


async def test_an_incident_change_yields_a_summary_keyed_by_routing_key(
    summarizer_app, kafka_io, incident_factory, change_of, fake_provider
):
    client = await summarizer_app()
    incident = _fresh(incident_factory, incidentId="inc_kafka1", routingKey="payments", eventCount=12)
    await kafka_io.send_change(change_of(incident, "created"))

    key, summary = await kafka_io.next_summary()
    assert key == "payments"
    assert summary.incidentId == "inc_kafka1"
    assert summary.basedOnVersion == incident.version
    assert summary.kind == "ai"
    assert summary.provider == "anthropic"
    assert summary.model == "claude-haiku-4-5"
    assert summary.suggestedActions
    assert len(fake_provider.requests) == 1

    metrics = await (await client.get("/api/ai/metrics")).json()
    assert metrics["data"]["calls"]["byOutcome"] == {"success": 1}
    assert metrics["data"]["summariesPublished"] == {"ai": 1}


async def test_without_a_key_the_summary_is_rule_based_and_keyed_by_id_without_routing_key(
    summarizer_app, kafka_io, incident_factory, change_of, fake_provider
):
    client = await summarizer_app(anthropic_api_key="")
    health = (await (await client.get("/api/ai/health")).json())["data"]
    assert health["provider"] == "rule-based"
    incident = _fresh(incident_factory, incidentId="inc_kafka2", routingKey="", eventCount=40)
    await kafka_io.send_change(change_of(incident, "created"))
    key, summary = await kafka_io.next_summary()
    assert key == "inc_kafka2"
    assert summary.kind == "rule-based"
    assert summary.provider == "rule-based"
    assert summary.summary.startswith("Rule-based summary")
    assert fake_provider.requests == []


async def test_summarize_now_reads_mongodb_and_publishes(summarizer_app, kafka_io, incident_factory, store_incident):
    client = await summarizer_app()
    incident = _fresh(incident_factory, incidentId="inc_mongo1", routingKey="payments", eventCount=2, status="resolved")
    await store_incident(incident)

    resp = await client.post("/api/ai/summarize/inc_mongo1")
    assert resp.status == 200
    body = await resp.json()
    assert body["success"] is True
    assert body["data"]["summary"]["incidentId"] == "inc_mongo1"
    assert body["data"]["summary"]["kind"] == "ai"

    key, summary = await kafka_io.next_summary()
    assert (key, summary.incidentId) == ("payments", "inc_mongo1")

    missing = await client.post("/api/ai/summarize/inc_nope")
    assert missing.status == 404
    assert (await missing.json())["error"]["code"] == "not_found"


async def test_the_breaker_endpoints_and_the_protected_reset(summarizer_app, fake_provider):
    client = await summarizer_app(api_tokens="s3cret,other")
    state = await (await client.get("/api/ai/circuit-breaker")).json()
    assert state["data"]["state"] == "closed"
    assert state["data"]["provider"] == "anthropic"

    assert (await client.post("/api/ai/circuit-breaker/reset")).status == 401
    bad = await client.post("/api/ai/circuit-breaker/reset", headers={"Authorization": "Bearer nope"})
    assert bad.status == 401
    assert bad.headers["WWW-Authenticate"] == "Bearer"
    assert (await client.post("/api/ai/summarize/inc_x")).status == 401

    ok = await client.post("/api/ai/circuit-breaker/reset", headers={"Authorization": "Bearer other"})
    assert ok.status == 200
    assert (await ok.json())["data"]["state"] == "closed"


async def test_the_standard_health_and_prometheus_endpoints(summarizer_app):
    client = await summarizer_app()
    assert (await client.get("/health/ready")).status == 200
    detailed = await (await client.get("/health/detailed")).json()
    assert detailed["dependencies"]["ai-provider"]["status"] == "up"
    text = await (await client.get("/metrics")).text()
    assert "summarizer_breaker_state" in text
