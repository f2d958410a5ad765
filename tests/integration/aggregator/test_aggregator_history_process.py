"""History as real processes: a record the store refuses is dead-lettered once, and a worker killed
after it resumes without a crash loop; the history writer as a process of its own beside a worker
writes exactly what the in-worker one does."""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from aiokafka import AIOKafkaProducer
from pymongo import AsyncMongoClient

from aggregator.engine import CorrelationConfig, CorrelationEngine, MemoryStore
from incident_shared.topics import Topics
from support.aggregator_storm import all_events_projected, produce, read_topic, storm, wait_consumed, wait_for
from support.engine_scenarios import make_event

pytestmark = pytest.mark.integration
ROOT = Path(__file__).parents[3]


async def _status(port: int, path: str) -> tuple[int, dict[str, Any]]:
    try:
        async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}{path}") as resp:
            return resp.status, await resp.json(content_type=None)
    except aiohttp.ClientError:
        return 0, {}


def _refusable_incident(now: datetime) -> bytes:
    """An incident change whose sample holds an array in an array: FerretDB refuses the document."""
    engine = CorrelationEngine(CorrelationConfig(), MemoryStore())
    engine.process(make_event("legacy-batch", 5, "job failed", now))
    [change] = engine.flush()
    incident = change.incident.model_copy(
        update={"incidentId": "inc_refused", "sampleEvents": [{"metadata": {"k": [[1], [2]]}}]}
    )
    return change.model_copy(update={"incident": incident}).model_dump_json().encode()


@pytest.mark.timeout(600)
async def test_a_worker_killed_after_a_refused_document_resumes_without_a_crash_loop(
    aggregator_worker: Any, topics: Topics, kafka_bootstrap: str, mongo_uri: str, mongo_db_name: str
) -> None:
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
    events = storm(start, n_db=100, n_search=50)
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(topics.incidents, _refusable_incident(start), key=b"inc_refused")
    finally:
        await producer.stop()
    aggregator_worker.start()
    await produce(kafka_bootstrap, topics.events, events)
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_uri, tz_aware=True)
    db = client[mongo_db_name]
    try:
        await wait_for(db, lambda d: all_events_projected(d, len(events)))
        history = f"{aggregator_worker.env['AGGREGATOR_APP_ID']}-history"
        await wait_consumed(kafka_bootstrap, history, topics.incidents)
        aggregator_worker.kill()
        aggregator_worker.start()
        deadline = asyncio.get_running_loop().time() + 120
        status = 0
        while status != 200 and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(1)
            status, _ = await _status(aggregator_worker.port, "/health/ready")
        assert status == 200, "the restarted worker did not become ready"
        for _ in range(10):  # ready, and staying up
            await asyncio.sleep(1)
            assert aggregator_worker.proc.poll() is None
        letters = [dict(r.headers) for r in await read_topic(kafka_bootstrap, topics.events_dlq)]
        refused = [h for h in letters if h["dlq-origin"].startswith(topics.incidents.encode())]
        assert len(refused) == 1, "dead-lettered once: the restart does not read it again"
        assert refused[0]["dlq-kind"] == b"store-refused"
        assert b"nested arrays" in refused[0]["dlq-reason"]
        assert await db.incidents.count_documents({"_id": "inc_refused"}) == 0
        assert await db.events.count_documents({}) == len(events)
        _, metrics = await _status(aggregator_worker.port, "/health/detailed")
        assert metrics["history"]["holding"] is False
    finally:
        await client.close()


@pytest.mark.timeout(600)
async def test_history_as_its_own_process_writes_what_the_worker_decides(  # noqa: PLR0917 - fixtures
    aggregator_worker: Any, topics: Topics, kafka_bootstrap: str, mongo_uri: str, mongo_db_name: str, tmp_path: Path
) -> None:
    aggregator_worker.env["AGGREGATOR_HISTORY_IN_WORKER"] = "false"
    port = 16000 + int.from_bytes(os.urandom(2), "big") % 20000
    env = dict(aggregator_worker.env, PORT=str(port))
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
    events = storm(start, n_db=100, n_search=50)
    aggregator_worker.start()
    with (tmp_path / "history.log").open("ab") as log:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "aggregator.history", env=env, cwd=ROOT, stdout=log, stderr=log
        )
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_uri, tz_aware=True)
        db = client[mongo_db_name]
        try:
            await produce(kafka_bootstrap, topics.events, events)
            await wait_for(db, lambda d: all_events_projected(d, len(events)))
            await wait_consumed(kafka_bootstrap, f"{env['AGGREGATOR_APP_ID']}-history", topics.incidents)
            incidents = sorted([i async for i in db.incidents.find({})], key=lambda i: i["eventCount"])
            assert [(i["routingKey"], i["eventCount"]) for i in incidents] == [("search", 50), ("checkout", 200)]
            assert await db.events.count_documents({"incidentId": incidents[1]["_id"]}) == 200
            status, ready = await _status(port, "/health/ready")
            assert status == 200, ready
            # The worker itself does not wait for MongoDB: it is ready without a history writer.
            status, detailed = await _status(aggregator_worker.port, "/health/detailed")
            assert status == 200, detailed
            assert detailed["history"]["inWorker"] is False
            changes = [orjson.loads(r.value) for r in await read_topic(kafka_bootstrap, topics.incidents)]
            assert {c["incident"]["incidentId"] for c in changes} == {i["_id"] for i in incidents}
        finally:
            proc.terminate()
            await asyncio.wait_for(proc.wait(), timeout=30)
            await client.close()
