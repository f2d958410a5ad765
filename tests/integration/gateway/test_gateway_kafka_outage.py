"""With Kafka down the gateway answers 503 (never a 2xx for an event not stored), and recovers.

This runs a second, throwaway broker so that stopping it disturbs no other test.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from incident_shared.kafka import ensure_topics
from incident_shared.topics import EVENTS, Topics

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
ENV = {**os.environ, "KAFKA_INSTANCE": "kafka-outage-test", "KAFKA_PORT": "19092", "KAFKA_CONTROLLER_PORT": "19093"}
BOOTSTRAP = "127.0.0.1:19092"


def broker(action: str) -> None:
    subprocess.run([str(ROOT / "deploy/local/kafka.sh"), action], env=ENV, check=True, timeout=180)


@pytest.fixture
def outage_broker() -> Iterator[str]:
    broker("start")
    try:
        yield BOOTSTRAP
    finally:
        broker("stop")


async def test_kafka_down_gives_503_then_recovers(make_gateway: Any, outage_broker: str, read_topic: Any) -> None:
    topics = Topics(prefix="outage.")
    await ensure_topics(outage_broker, topics, [EVENTS])
    gw = await make_gateway(
        kafka_bootstrap_servers=outage_broker, kafka_topic_prefix=topics.prefix, produce_timeout_seconds=3.0
    )
    accepted: list[str] = []

    first = await gw.post("/api/events", json={"service": "api", "severity": 3, "message": "before"})
    assert first.status == 201
    accepted.append((await first.json())["data"]["eventId"])

    await asyncio.to_thread(broker, "stop")
    down = await gw.post("/api/events", json={"service": "api", "severity": 3, "message": "during"})
    assert down.status == 503
    assert down.headers["Retry-After"] == "5"
    body = await down.json()
    assert body["error"]["code"] == "kafka_unavailable"
    assert "retry" in body["error"]["message"]
    batch = await gw.post("/api/events/batch", json=[{"service": "api", "severity": 3}])
    assert batch.status == 503
    assert (await gw.get("/health/ready")).status == 503

    await asyncio.to_thread(broker, "start")
    recovered = None
    for _ in range(60):  # the producer reconnects by itself; wait for it, bounded
        resp = await gw.post("/api/events", json={"service": "api", "severity": 3, "message": "after"})
        if resp.status == 201:
            recovered = (await resp.json())["data"]["eventId"]
            break
        assert resp.status == 503
        await asyncio.sleep(1)
    assert recovered is not None, "the gateway did not recover within a minute of Kafka coming back"
    accepted.append(recovered)

    # Every event that got a 201 is in Kafka.
    records = await read_topic(topics.events, len(accepted) + 5, wait=8.0, bootstrap=outage_broker)
    assert set(accepted) <= {orjson.loads(r.value)["eventId"] for r in records}
