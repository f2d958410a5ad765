"""While Kafka is away and events keep arriving, the gateway waits for it quietly, then recovers.

aiokafka's producer, holding records for a partition whose leader it no longer knows, asks for
fresh metadata in a loop without waiting between failed attempts: with the broker down that is
thousands of attempts (and "Unable to update metadata" lines) a second and a core of CPU, taken from
everything else the gateway and the restarting broker do. The gateway paces those attempts. And
records that expire unsent during a long outage leave the idempotent producer's sequence with a gap
that the broker refuses ever after (OutOfOrderSequenceNumber): the gateway replaces that producer.

This runs a throwaway broker of its own, so that stopping it disturbs no other test.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from incident_shared.kafka import ensure_topics
from incident_shared.topics import EVENTS, INCIDENTS, Topics

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
ENV = {
    **os.environ,
    "KAFKA_INSTANCE": "kafka-outage-quiet-test",
    "KAFKA_PORT": "19392",
    "KAFKA_CONTROLLER_PORT": "19393",
}
BOOTSTRAP = "127.0.0.1:19392"
FAILED_UPDATE = "Unable to update metadata"


def broker(action: str) -> None:
    subprocess.run([str(ROOT / "deploy/local/kafka.sh"), action], env=ENV, check=True, timeout=180)


@pytest.fixture
def quiet_broker() -> Iterator[str]:
    broker("start")
    try:
        yield BOOTSTRAP
    finally:
        broker("stop")


class FailedUpdates(logging.Handler):
    """Counts the Kafka client's failed metadata updates, before any filter of the log output."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith(FAILED_UPDATE):
            self.count += 1


async def test_kafka_down_under_load_is_waited_for_without_a_flood_of_retries(
    make_gateway: Any, quiet_broker: str
) -> None:
    topics = Topics(prefix="outage-quiet.")
    await ensure_topics(quiet_broker, topics, [EVENTS, INCIDENTS])
    gw = await make_gateway(
        kafka_bootstrap_servers=quiet_broker, kafka_topic_prefix=topics.prefix, produce_timeout_seconds=3.0
    )
    answers: list[int] = []

    async def load() -> None:  # clients that keep sending (and retrying) through the outage
        while True:
            resp = await gw.post("/api/events", json={"service": "api", "severity": 3, "message": "steady"})
            answers.append(resp.status)
            await asyncio.sleep(0.05)

    senders = [asyncio.create_task(load()) for _ in range(4)]
    failed = FailedUpdates()
    aiokafka_log = logging.getLogger("aiokafka")
    aiokafka_log.addHandler(failed)
    try:
        await asyncio.sleep(2)
        assert 201 in answers
        await asyncio.to_thread(broker, "stop")
        failed.count = 0
        answers.clear()
        await asyncio.sleep(10)
        during = failed.count
        assert answers, "the clients kept sending"
        assert set(answers) == {503}, "with Kafka down every event is refused, none accepted"
        # Unpaced: ~20,000 in ten seconds. Paced: one attempt per retry backoff (0.2 s) per client.
        assert during < 500, f"{during} failed metadata updates in 10 s while Kafka was down"

        await asyncio.to_thread(broker, "start")
        answers.clear()
        # Records that expired unsent leave the producer's sequence with a gap, which the broker
        # refuses from then on: the gateway must start a new producer rather than refuse forever.
        for _ in range(60):  # bounded
            if 201 in answers:
                break
            await asyncio.sleep(1)
        assert 201 in answers, "the gateway did not accept events within a minute of Kafka coming back"
    finally:
        aiokafka_log.removeHandler(failed)
        for task in senders:
            task.cancel()
        for task in senders:
            with contextlib.suppress(asyncio.CancelledError):
                await task
