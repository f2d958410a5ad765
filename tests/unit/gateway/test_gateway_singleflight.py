"""Identical reads in flight share one answer, and a caller that leaves does not cancel it."""

from __future__ import annotations

import asyncio

import pytest

from ingest_gateway.singleflight import SingleFlight

pytestmark = pytest.mark.unit


async def test_concurrent_identical_reads_compute_once_and_later_ones_compute_again() -> None:
    flight: SingleFlight[int] = SingleFlight()
    calls = 0
    gate = asyncio.Event()

    async def compute() -> int:
        nonlocal calls
        calls += 1
        await gate.wait()
        return calls

    waiting = [asyncio.create_task(flight.run("page", compute)) for _ in range(20)]
    other = asyncio.create_task(flight.run("other page", compute))
    await asyncio.sleep(0)
    gate.set()
    assert set(await asyncio.gather(*waiting)) == {1}
    assert await other == 2
    assert len(flight) == 0
    assert await flight.run("page", compute) == 3  # nothing kept once answered


async def test_a_caller_that_goes_away_leaves_the_answer_to_the_others() -> None:
    flight: SingleFlight[str] = SingleFlight()
    gate = asyncio.Event()

    async def compute() -> str:
        await gate.wait()
        return "answer"

    first = asyncio.create_task(flight.run("k", compute))
    second = asyncio.create_task(flight.run("k", compute))
    await asyncio.sleep(0)
    first.cancel()
    gate.set()
    assert await second == "answer"
    with pytest.raises(asyncio.CancelledError):
        await first


async def test_a_failure_reaches_every_waiter() -> None:
    flight: SingleFlight[str] = SingleFlight()

    async def compute() -> str:
        await asyncio.sleep(0.01)
        raise ConnectionError("store away")

    results = await asyncio.gather(*(flight.run("k", compute) for _ in range(3)), return_exceptions=True)
    assert all(isinstance(r, ConnectionError) for r in results)
