"""Stopping a failed Kafka client never ends the loop that retries."""

from __future__ import annotations

import asyncio

import pytest

from incident_shared.kafka import stop_quietly

pytestmark = pytest.mark.unit


class CancelsItself:
    """Like aiokafka's consumer after Kafka went away mid-fetch: stop() raises its own tasks' cancellation."""

    def __init__(self) -> None:
        self.stopped = False

    async def stop(self) -> None:
        self.stopped = True
        task = asyncio.create_task(asyncio.sleep(10))
        await asyncio.sleep(0)
        task.cancel()
        await task


class Broken:
    async def stop(self) -> None:
        raise ConnectionError("broker gone")


async def test_a_client_whose_stop_raises_its_own_cancellation_is_stopped_and_the_caller_goes_on() -> None:
    client = CancelsItself()
    with pytest.raises(asyncio.CancelledError):
        await client.stop()  # what a bare `await consumer.stop()` in a retry loop met
    await stop_quietly(client, "test")
    await stop_quietly(Broken(), "test")
    assert client.stopped


async def test_the_caller_being_cancelled_still_stops_it() -> None:
    class Slow:
        async def stop(self) -> None:
            await asyncio.sleep(10)

    task = asyncio.create_task(stop_quietly(Slow(), "test"))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
