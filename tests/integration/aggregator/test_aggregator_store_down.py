"""MongoDB stopped for a minute under load: incident changes and WebSocket incident frames keep
flowing, the worker says history is held (and how far behind), and once the server is back history
catches up with every event exactly once and exact rollups.

A throwaway FerretDB on its own port (never the shared one), a real worker and a real ws-broadcaster
as processes, a steady load produced straight to Kafka.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from aiokafka import AIOKafkaProducer
from pymongo import AsyncMongoClient

from incident_shared.schemas.events import Event
from incident_shared.topics import Topics
from support.aggregator_storm import read_topic, wait_consumed

pytestmark = pytest.mark.integration
ROOT = Path(__file__).parents[3]
FERRETDB = Path(os.environ.get("II_HOME", ROOT / ".local")) / "bin" / "ferretdb-local"
OUTAGE_SECONDS = 60.0
LOAD_PER_SECOND = 100


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Store:
    """A FerretDB of this test's own, stopped and started again on the same data."""

    def __init__(self, data: Path) -> None:
        self.port = _free_port()
        self.data = data
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.data.mkdir(exist_ok=True)
        self.proc = subprocess.Popen(
            [str(FERRETDB), "-listen-addr", f"127.0.0.1:{self.port}", "-sqlite-dir", str(self.data)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.2)
        raise AssertionError("the throwaway FerretDB did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)
        self.proc = None


@pytest.fixture
def store(tmp_path: Path) -> Any:
    if not FERRETDB.exists():
        pytest.fail(f"{FERRETDB} is missing: run `make infra` (it builds the MongoDB-protocol server)")
    s = Store(tmp_path / "ferretdb")
    s.start()
    yield s
    s.stop()


@pytest.fixture
async def broadcaster(topics: Topics, kafka_bootstrap: str, tmp_path: Path) -> AsyncIterator[str]:
    port = _free_port()
    env = dict(
        os.environ,
        PORT=str(port),
        HOST="127.0.0.1",
        KAFKA_BOOTSTRAP_SERVERS=kafka_bootstrap,
        KAFKA_TOPIC_PREFIX=topics.prefix,
        LOG_FORMAT="text",
    )
    with (tmp_path / "broadcaster.log").open("ab") as log:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "ws_broadcaster", env=env, cwd=ROOT, stdout=log, stderr=log
        )
        try:
            await _until_ready(f"http://127.0.0.1:{port}/health/ready", 60)
            yield f"ws://127.0.0.1:{port}/ws"
        finally:
            proc.terminate()
            await asyncio.wait_for(proc.wait(), timeout=30)


async def _get(url: str) -> tuple[int, dict[str, Any]]:
    try:
        async with aiohttp.ClientSession() as http, http.get(url, timeout=aiohttp.ClientTimeout(total=5)) as resp:
            return resp.status, await resp.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError):
        return 0, {}


async def _until_ready(url: str, limit: float) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if (await _get(url))[0] == 200:
            return
        await asyncio.sleep(0.5)
    raise AssertionError(f"{url} not ready within {limit:.0f}s")


class Load:
    """A steady stream of low-severity background events (they never open an incident), every
    one remembered, and bursts that open incidents on demand."""

    def __init__(self, producer: AIOKafkaProducer, topic: str) -> None:
        self.producer = producer
        self.topic = topic
        self.sent: list[str] = []
        self._n = 0

    async def send(self, service: str, severity: int, message: str) -> None:
        now = datetime.now(UTC)
        self._n += 1
        event = Event(
            eventId=f"evt_load{self._n:07d}",
            service=service,
            severity=severity,
            timestamp=now,
            receivedAt=now,
            message=message,
        )
        await self.producer.send_and_wait(self.topic, event.to_record(), key=service.encode())
        self.sent.append(event.eventId)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            started = time.monotonic()
            for i in range(LOAD_PER_SECOND // 10):
                await self.send(f"background-{i % 8}", 1 + i % 2, f"GET /api/items/{self._n} took {i}ms")
            await asyncio.sleep(max(0.0, 0.1 - (time.monotonic() - started)))


@pytest.mark.timeout(600)
async def test_mongodb_down_for_a_minute_delays_history_but_never_incidents(
    aggregator_worker: Any, topics: Topics, kafka_bootstrap: str, store: Store, broadcaster: str
) -> None:
    aggregator_worker.env["MONGODB_URI"] = store.uri
    aggregator_worker.start()
    health = f"http://127.0.0.1:{aggregator_worker.port}"
    await _until_ready(f"{health}/health/ready", 120)
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all", linger_ms=5)
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(store.uri, tz_aware=True, serverSelectionTimeoutMS=3000)
    db = client[aggregator_worker.env["MONGODB_DATABASE"]]
    await producer.start()
    load = Load(producer, topics.events)
    stop = asyncio.Event()
    running = asyncio.create_task(load.run(stop))
    session = aiohttp.ClientSession()
    try:
        ws = await session.ws_connect(broadcaster)
        await ws.send_str(orjson.dumps({"type": "subscribe", "channels": ["all"]}).decode())
        created: dict[str, float] = {}
        arrived: dict[str, asyncio.Event] = {}

        async def watch() -> None:
            async for msg in ws:
                m = orjson.loads(msg.data)
                if m.get("type") == "incident" and m.get("action") == "created":
                    for service in m["data"]["affectedServices"]:
                        created.setdefault(service, time.monotonic())
                        arrived.setdefault(service, asyncio.Event()).set()

        watching = asyncio.create_task(watch())

        async def incident_frame_for(service: str, limit: float = 30.0) -> float:
            sent = time.monotonic()
            for i in range(3):
                await load.send(service, 5, f"disk full on /data/{i}")
            try:
                await asyncio.wait_for(arrived.setdefault(service, asyncio.Event()).wait(), limit)
            except TimeoutError:
                pytest.fail(f"no incident frame for {service} within {limit:.0f}s")
            return created[service] - sent

        await incident_frame_for("before-outage")
        await asyncio.sleep(3)
        store.stop()
        down_at = time.monotonic()
        # While MongoDB is down: every burst still becomes an incident frame, and the worker
        # says history is held and how far behind it is.
        delays = []
        k = 0
        while time.monotonic() - down_at < OUTAGE_SECONDS:
            k += 1
            delays.append(await incident_frame_for(f"during-outage-{k}"))
            await asyncio.sleep(5)
        status, ready = await _get(f"{health}/health/ready")
        assert status == 503, ready
        assert ready["down"] == ["mongodb-projection"]
        assert ready["incidents"]["lastBatchSecondsAgo"] < 5
        status, detailed = await _get(f"{health}/health/detailed")
        assert status == 503
        assert detailed["history"]["holding"] is True
        assert detailed["history"]["lagEvents"] > 0
        assert "ServerSelectionTimeoutError" in (detailed["history"]["lastError"] or "")
        assert aggregator_worker.proc.poll() is None
        assert k >= 5, "fewer bursts than planned: the outage loop was too slow"
        assert max(delays) < 10, delays

        store.start()
        await incident_frame_for("after-outage")
        stop.set()
        await running
        await _until_ready(f"{health}/health/ready", 120)
        history = f"{aggregator_worker.env['AGGREGATOR_APP_ID']}-history"
        await wait_consumed(kafka_bootstrap, aggregator_worker.env["AGGREGATOR_APP_ID"], topics.events)
        await wait_consumed(kafka_bootstrap, history, topics.events)
        await wait_consumed(kafka_bootstrap, history, topics.incidents)

        # Every event exactly once, with exact rollups; every incident as the topic last has it.
        ids = [d["_id"] async for d in db.events.find({}, {"_id": 1})]
        assert len(ids) == len(set(ids)) == len(load.sent)
        assert set(ids) == set(load.sent)
        rollups = [r async for r in db.event_rollups.find({})]
        assert sum(r["count"] for r in rollups) == len(load.sent)
        latest: dict[str, int] = {}
        for r in await read_topic(kafka_bootstrap, topics.incidents):
            inc = orjson.loads(r.value)["incident"]
            latest[inc["incidentId"]] = max(latest.get(inc["incidentId"], 0), inc["version"])
        stored = {i["_id"]: i["version"] async for i in db.incidents.find({}, {"version": 1})}
        assert stored == latest
        assert len(latest) == k + 2
        watching.cancel()
    finally:
        stop.set()
        await asyncio.gather(running, return_exceptions=True)
        await session.close()
        await producer.stop()
        await client.close()
