"""A worker that halts (here on purpose: a producer sending mostly garbage) either exits or says on
/health/live that it is down, so that an orchestrator restarts it: never a process that looks
alive and processes nothing."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
from aiokafka import AIOKafkaProducer

from incident_shared.topics import Topics

pytestmark = pytest.mark.integration


async def _live(port: int) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/health/live") as resp:
        return resp.status, await resp.json(content_type=None)


@pytest.mark.timeout(300)
async def test_a_halted_worker_exits_or_fails_its_liveness_probe(
    aggregator_worker: Any, topics: Topics, kafka_bootstrap: str
) -> None:
    aggregator_worker.start()
    async with asyncio.timeout(120):
        while True:
            try:
                if (await _live(aggregator_worker.port))[0] == 200:
                    break
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(1)
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        for i in range(300):
            await producer.send(topics.events, b'{"service": "", "severity": 9}', key=f"k{i}".encode())
        await producer.flush()
    finally:
        await producer.stop()
    async with asyncio.timeout(120):
        while True:
            if aggregator_worker.proc.poll() is not None:
                return  # exited: the orchestrator restarts it
            try:
                status, body = await _live(aggregator_worker.port)
            except aiohttp.ClientError:
                status, body = 0, {}
            if status == 503:
                assert body["status"] == "crashed"
                assert "invalid" in body["reason"]
                return
            await asyncio.sleep(1)
