"""Two workers share the load: the partitions are split between them, and the incidents are the same
as with one (every group still lives on exactly one worker; the cross-key stage on one of them)."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from pymongo import AsyncMongoClient

from incident_shared.topics import Topics
from support.aggregator_storm import cross_key_cascade, produce, storm, wait_for

pytestmark = pytest.mark.integration


async def _ready(port: int) -> bool:
    """A worker answers ready only while it holds partitions (and is not rebalancing)."""
    try:
        async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/health/ready") as resp:
            return resp.status == 200
    except aiohttp.ClientError:
        return False


@pytest.mark.timeout(600)
async def test_two_workers_split_the_partitions_and_give_the_same_incidents(  # noqa: PLR0917 - fixtures
    aggregator_worker: Any, topics: Topics, kafka_bootstrap: str, mongo_uri: str, mongo_db_name: str, tmp_path: Path
) -> None:
    port = 16000 + int.from_bytes(os.urandom(2), "big") % 20000
    second = type(aggregator_worker)(
        dict(aggregator_worker.env, PORT=str(port), AGGREGATOR_DATA_DIR=str(tmp_path / "data-2")),
        tmp_path / "aggregator-2.log",
    )
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
    events = sorted(storm(start, n_db=200, n_search=100) + cross_key_cascade(start), key=lambda e: e.timestamp)
    aggregator_worker.start()
    second.start()
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_uri, tz_aware=True)
    db = client[mongo_db_name]
    try:

        async def both_assigned(_: Any) -> bool:
            return await _ready(aggregator_worker.port) and await _ready(port)

        await wait_for(db, both_assigned)
        await produce(kafka_bootstrap, topics.events, events)

        async def done(d: Any) -> bool:
            if await d.events.count_documents({}) < len(events):
                return False
            roots = [i async for i in d.incidents.find({"mergedInto": None})]
            return sorted(i["eventCount"] for i in roots) == [100, 180, 400]

        await wait_for(db, done, limit=300)
        roots = {i["probableOrigin"]: i async for i in db.incidents.find({"mergedInto": None})}
        assert roots["payments-db"]["affectedServices"] == ["checkout-service", "payment-service", "payments-db"]
        assert roots["postgres-orders"]["affectedServices"] == ["checkout-api", "order-service", "postgres-orders"]
        assert roots["search"]["affectedServices"] == ["search"]
        assert await db.events.count_documents({}) == len(events)
    finally:
        second.stop()
        await client.close()
