"""MongoDB down when the aggregator starts: the worker stays up, says what is missing, holds the
stream, and projects everything once the server is there."""

from __future__ import annotations

import asyncio
import os
import socket
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from pymongo import AsyncMongoClient

from incident_shared.topics import Topics
from support.aggregator_storm import all_events_projected, produce, storm, wait_for

pytestmark = pytest.mark.integration
ROOT = Path(__file__).parents[3]
FERRETDB = Path(os.environ.get("II_HOME", ROOT / ".local")) / "bin" / "ferretdb-local"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _readiness(port: int) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/health/ready") as resp:
        return resp.status, await resp.json(content_type=None)


@pytest.mark.timeout(600)
async def test_a_worker_started_without_mongodb_waits_for_it_and_loses_nothing(
    aggregator_worker: Any, topics: Topics, kafka_bootstrap: str, tmp_path: Path
) -> None:
    if not FERRETDB.exists():
        pytest.fail(f"{FERRETDB} is missing: run `make infra` (it builds the MongoDB-protocol server)")
    port = _free_port()
    uri = f"mongodb://127.0.0.1:{port}"
    aggregator_worker.env["MONGODB_URI"] = uri
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
    events = storm(start, n_db=100, n_search=50)
    aggregator_worker.start()
    await produce(kafka_bootstrap, topics.events, events)
    server: asyncio.subprocess.Process | None = None
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri, tz_aware=True, serverSelectionTimeoutMS=2000)
    try:
        deadline = time.monotonic() + 120
        status, body = 0, {}
        while time.monotonic() < deadline:
            try:
                status, body = await _readiness(aggregator_worker.port)
            except aiohttp.ClientError:
                status = 0
            if status == 503 and "mongodb-projection" in body.get("down", []):
                break
            await asyncio.sleep(1)
        assert status == 503, body
        assert "mongodb-projection" in body["down"]
        # Longer than a MongoDB client's server selection timeout (5 s): the worker keeps waiting.
        for _ in range(15):
            await asyncio.sleep(1)
            assert aggregator_worker.proc.poll() is None, "the worker exited instead of waiting for MongoDB"
        assert (await _readiness(aggregator_worker.port))[0] == 503
        # The server comes up: the backlog drains into it.
        (tmp_path / "ferretdb").mkdir(exist_ok=True)
        server = await asyncio.create_subprocess_exec(
            str(FERRETDB),
            "-listen-addr",
            f"127.0.0.1:{port}",
            "-sqlite-dir",
            str(tmp_path / "ferretdb"),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        db = client[aggregator_worker.env["MONGODB_DATABASE"]]
        await wait_for(db, lambda d: all_events_projected(d, len(events)), limit=240)
        assert await db.events.count_documents({}) == len(events)
        assert sorted([i["eventCount"] async for i in db.incidents.find({})]) == [50, 200]
    finally:
        await client.close()
        if server is not None:
            server.terminate()
            await asyncio.wait_for(server.wait(), timeout=30)
