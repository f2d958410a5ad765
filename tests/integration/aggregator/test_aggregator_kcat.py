"""Records produced straight to Kafka by a plain producer (kcat), without a `timestamp` field, take
their event time from the record's own timestamp: live (the worker) and a replay agree, and nothing
lands in January 1970."""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from aggregator.engine import load_config
from aggregator.replay import replay
from incident_shared.topics import Topics
from support.aggregator_storm import wait_for

pytestmark = pytest.mark.integration
ROOT = Path(__file__).parents[3]


def kcat_produce(bootstrap: str, topic: str, lines: list[str]) -> None:
    """`key<TAB>value` lines, one record each, as a shell user would send them."""
    kcat = shutil.which("kcat")
    if kcat is None:
        pytest.fail("kcat is missing: run deploy/ci.d/kcat.sh (or `apt-get install kcat`)")
    subprocess.run(
        [kcat, "-P", "-b", bootstrap, "-t", topic, "-K", "\t"],
        input="\n".join(lines) + "\n",
        text=True,
        check=True,
        timeout=60,
    )


async def test_records_without_a_timestamp_keep_the_time_they_were_produced(
    aggregator_worker: Any, topics: Topics, kafka_bootstrap: str, mongo_uri: str, mongo_db_name: str
) -> None:
    aggregator_worker.start()
    before = datetime.now(UTC)
    # One producer run per record: records within one millisecond have equal timestamps, and a
    # replay orders those by event id where live keeps the partition's order (a separate matter).
    for i in range(3):
        kcat_produce(
            kafka_bootstrap,
            topics.events,
            [f'kcat-db\t{{"service": "kcat-db", "severity": 5, "message": "disk full on /var/lib/{i}"}}'],
        )
    after = datetime.now(UTC)
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_uri, tz_aware=True)
    db = client[mongo_db_name]
    try:

        async def stored(d: Any) -> bool:
            return await d.events.count_documents({}) == 3 and await d.incidents.count_documents({}) == 1

        await wait_for(db, stored, limit=120)
        for event in [e async for e in db.events.find({})]:
            assert before - timedelta(seconds=1) <= event["timestamp"] <= after + timedelta(seconds=1), event
            assert event["receivedAt"] == event["timestamp"]
            assert event["source"] == "kafka"
        incident = await db.incidents.find_one({})
        assert incident is not None
        assert before - timedelta(seconds=1) <= incident["firstSeen"] <= after + timedelta(seconds=1)
        # A replay reads the same records and must give the same times.
        config = load_config(ROOT / "deploy/config/correlation.toml")
        result = await replay(
            kafka_bootstrap, topics.events, before - timedelta(minutes=1), after + timedelta(minutes=1), config
        )
        [replayed] = result.incidents
        assert replayed.incidentId == incident["incidentId"]
        assert replayed.firstSeen == incident["firstSeen"]
        assert replayed.eventCount == 3
    finally:
        await client.close()
