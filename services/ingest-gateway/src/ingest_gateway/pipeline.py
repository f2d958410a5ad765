"""Whether incidents are being updated: the aggregator's progress through the `events` topic.

The gateway answering 201 says only that Kafka has an event. Whether it will ever count in an
incident depends on the aggregator, a separate process the gateway never talks to. So the gateway
watches the aggregator's consumer group on `events`, as Kafka sees it, every few seconds:

- no member in the group: no aggregator is running (stopped, crashed and not restarted, or not yet
  started), so nothing turns events into incidents;
- members, events waiting, and no offset committed for `stall_seconds`: the aggregator runs but does
  not get through its batches (MongoDB down holds them, or it is wedged);
- otherwise it keeps up, or is catching up.

The first two make the `aggregator` dependency of `/health/detailed` (and `/health`) `down`, with
the reason and how many events wait; the dashboard shows it in its connection area. It is not a
readiness condition: the gateway goes on accepting events (they wait in Kafka), and taking it out of
a load balancer would only lose them.

`AggregatorProgress` is the judgement, pure and clock-driven; `AggregatorWatch` asks Kafka.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from prometheus_client import Gauge

from incident_shared.kafka import stop_quietly
from incident_shared.outage import Outage

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Observation:
    """One look at the consumer group: its members, and its committed position against the topic's end."""

    members: int
    committed: int  # sum over the topic's partitions
    end: int  # sum of the partitions' end offsets
    at: float  # monotonic seconds

    @property
    def waiting(self) -> int:
        return max(0, self.end - self.committed)


class AggregatorProgress:
    """Judges the observations of one consumer group on one topic."""

    def __init__(self, *, group: str, topic: str, stall_seconds: float) -> None:
        self.group = group
        self.topic = topic
        self.stall_seconds = stall_seconds
        self.last: Observation | None = None
        self._progress_at: float | None = None

    def observe(self, obs: Observation) -> None:
        moved = self.last is None or obs.committed != self.last.committed
        if moved or obs.waiting == 0:
            self._progress_at = obs.at
        self.last = obs

    def stalled_for(self, now: float) -> float:
        return 0.0 if self._progress_at is None else max(0.0, now - self._progress_at)

    def problem(self, now: float) -> str | None:
        """Why incidents are not being updated, or None while they are (or no look was taken yet)."""
        obs = self.last
        if obs is None:
            return None
        waiting = f"{obs.waiting} events wait in '{self.topic}'" if obs.waiting else "no events wait yet"
        if obs.members == 0:
            return (
                f"incidents are not being updated: no aggregator is running (consumer group '{self.group}'"
                f" has no members); {waiting}. Start the aggregator; it resumes where it stopped"
            )
        stalled = self.stalled_for(now)
        if obs.waiting and stalled >= self.stall_seconds:
            return (
                f"incidents are not being updated: the aggregator ({obs.members} worker(s) in '{self.group}')"
                f" has processed nothing for {stalled:.0f}s while {waiting}. Check its /health/ready"
                " (MongoDB down holds its batches) and its log"
            )
        return None

    def describe(self, now: float) -> str:
        """One line while incidents are being updated."""
        obs = self.last
        if obs is None:
            return "not checked yet"
        if obs.waiting == 0:
            return f"up to date: '{self.group}' ({obs.members} worker(s)) has processed every event"
        return f"{obs.waiting} events behind, progressing ({obs.members} worker(s) in '{self.group}')"


class AggregatorWatch:
    """Asks Kafka about the aggregator's consumer group every `check_seconds`, in the background."""

    def __init__(
        self,
        bootstrap_servers: str,
        *,
        group: str,
        topic: str,
        check_seconds: float,
        stall_seconds: float,
        lag_gauge: Gauge | None = None,
        members_gauge: Gauge | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._bootstrap = bootstrap_servers
        self._check_seconds = check_seconds
        self._lag_gauge = lag_gauge
        self._members_gauge = members_gauge
        self._clock = clock
        self.progress = AggregatorProgress(group=group, topic=topic, stall_seconds=stall_seconds)
        self.outage = Outage("kafka", what="watching the aggregator's progress", log=log)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="aggregator-watch")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def probe(self) -> str:
        """For the health check: a line while incidents are updated; raises with the reason otherwise."""
        now = self._clock()
        if self.outage.failing:
            raise ConnectionError(f"cannot tell whether incidents are being updated: {self.outage.describe()}")
        problem = self.progress.problem(now)
        if problem is not None:
            raise RuntimeError(problem)
        return self.progress.describe(now)

    async def _run(self) -> None:
        while True:
            admin = AIOKafkaAdminClient(bootstrap_servers=self._bootstrap, client_id="ingest-gateway-watch")
            consumer = AIOKafkaConsumer(
                bootstrap_servers=self._bootstrap, client_id="ingest-gateway-watch", group_id=None
            )
            delay = self._check_seconds
            try:
                await admin.start()
                await consumer.start()
                while True:
                    self._record(await self.look(admin, consumer))
                    self.outage.recovered()
                    await asyncio.sleep(self._check_seconds)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - reported by the probe, retried with backoff
                delay = self.outage.failed(exc)
            finally:
                await stop_quietly(consumer, "aggregator watch")
                with contextlib.suppress(Exception):
                    await admin.close()
            await asyncio.sleep(delay)

    def _record(self, obs: Observation) -> None:
        self.progress.observe(obs)
        if self._lag_gauge is not None:
            self._lag_gauge.set(obs.waiting)
        if self._members_gauge is not None:
            self._members_gauge.set(obs.members)

    async def look(self, admin: AIOKafkaAdminClient, consumer: AIOKafkaConsumer) -> Observation:
        """One observation of the group on the topic."""
        group, topic = self.progress.group, self.progress.topic
        described = await admin.describe_topics([topic])
        partitions = [
            TopicPartition(topic, p["partition"])
            for d in described
            if d.get("error_code") == 0
            for p in d.get("partitions", [])
        ]
        if not partitions:
            raise LookupError(f"topic '{topic}' does not exist; create it with `python -m incident_shared.admin`")
        groups = await admin.describe_consumer_groups([group])
        members = sum(len(g.get("members", [])) for response in groups for g in response.to_object().get("groups", []))
        committed = await admin.list_consumer_group_offsets(group, partitions=partitions)
        ends = await consumer.end_offsets(partitions)
        starts = await consumer.beginning_offsets(partitions)
        # A partition the group has not committed on yet counts from its first record.
        position = sum(
            offset.offset if (offset := committed.get(tp)) is not None and offset.offset >= 0 else starts[tp]
            for tp in partitions
        )
        return Observation(members=members, committed=position, end=sum(ends.values()), at=self._clock())
