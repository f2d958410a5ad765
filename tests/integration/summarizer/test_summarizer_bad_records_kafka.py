"""Records on the real incidents topic that are not what the aggregator writes never stop summaries."""

from __future__ import annotations

from datetime import timedelta

import pytest
from aiokafka import AIOKafkaProducer

from incident_shared.codec import dumps
from incident_shared.timeutil import utcnow

pytestmark = pytest.mark.integration


async def test_malformed_incident_records_are_skipped_and_the_next_incident_is_summarized(  # noqa: PLR0917 - fixtures
    summarizer_app, kafka_io, kafka_bootstrap, topics, incident_factory, change_of
):
    now = utcnow()
    fresh = {"createdAt": now, "updatedAt": now, "firstSeen": now - timedelta(minutes=1), "lastSeen": now}
    naive = dumps(change_of(incident_factory(incidentId="inc_naive", eventCount=2, **fresh), "created"))
    stamp = dumps({"t": now})[6:-2]  # the ISO form the codec writes, without its quotes
    naive = naive.replace(b'"createdAt":"' + stamp + b'"', b'"createdAt":"' + stamp.rstrip(b"Z") + b'"')
    bad = [
        b"\x00\x01 not json",
        b'"a string"',
        b'{"action": "created", "incident": {"incidentId": "inc_half"}}',
        b'{"action": "created", "incident": {"incidentId": "inc_big", "version": 1e400, "severityScore": 3}}',
        naive,
    ]
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        for value in bad:
            await producer.send_and_wait(topics.incidents, value, key=b"poison", partition=0)
        await producer.send_and_wait(topics.incidents, None, key=b"inc_gone", partition=0)
    finally:
        await producer.stop()
    client = await summarizer_app()

    good = incident_factory(incidentId="inc_fine", routingKey="payments", eventCount=12, **fresh)
    await kafka_io.send_change(change_of(good, "created"))
    key, summary = await kafka_io.next_summary()
    assert (key, summary.incidentId) == ("payments", "inc_fine")

    assert (await client.get("/health/ready")).status == 200
    detailed = await (await client.get("/health/detailed")).json()
    topic = detailed["dependencies"]["incidents-topic"]
    assert topic["status"] == "up"
    assert "last skipped (unprocessable) at partition 0 offset 4" in topic["detail"]
    metrics = await (await client.get("/metrics")).text()
    assert 'summarizer_incident_records_total{action="invalid"} 4.0' in metrics
    assert 'summarizer_incident_records_total{action="unprocessable"} 1.0' in metrics
    assert 'summarizer_incident_records_total{action="tombstone"} 1.0' in metrics
