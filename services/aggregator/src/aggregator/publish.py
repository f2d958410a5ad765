"""The last steps of the engine's chain: publish a cycle's results, then save the engine's state.

Publishing waits until the broker has every record (acks=all) before the state is saved, and the
state is saved before the input's offsets are committed: a worker killed at any point replays
its last input, and finds its own earlier results harmless (incident changes carry versions,
assignments are applied in order, candidates and links are idempotent).

A record the broker refuses for its own sake (too large for the topic) is logged and counted, and
the rest go on; any other failure to publish ends the worker, whose restart replays the input (the
producer already retries transient broker failures for as long as its request timeout).
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, Protocol

from aggregator.correlate import Cycle
from aggregator.metrics import Metrics
from aggregator.steps import Forward, Sink, Step, Terminal, await_sent
from incident_shared import codec


class Publish(Forward):
    def __init__(
        self,
        next_step: Step[Cycle],
        *,
        incidents: Sink,
        candidates: Sink,
        assignments: Sink | None,
        metrics: Metrics,
    ) -> None:
        super().__init__(next_step)
        self._incidents = incidents
        self._candidates = candidates
        self._assignments = assignments
        self._metrics = metrics

    async def submit(self, message: Cycle) -> None:
        sent: list[tuple[str, Awaitable[Any]]] = []
        for c in message.changes:
            key = c.incident.incidentId.encode()
            sent.append(("incident", await self._incidents.send(key=key, value=codec.dumps(c))))
        for cand in message.candidates:
            key = cand["incidentId"].encode()
            sent.append(("candidate", await self._candidates.send(key=key, value=codec.dumps(cand))))
        if self._assignments is not None:
            for a in message.assignments:
                # On the partition of the records it covers: the history writer that reads those
                # records reads their assignments too, in the engine's order.
                fut = await self._assignments.send(key=None, value=a.encode(), partition=a.partition)
                sent.append(("assignment", fut))
        if sent:
            await await_sent(sent, self._metrics.publish_refused)
        for c in message.changes:
            self._metrics.incident_changes.labels(c.action).inc()
        await self.next_step.submit(message)


class BufferedStore(Protocol):
    def write_through(self) -> None: ...


class SaveState(Forward):
    """Writes the engine's buffered state to its tables (and so to their changelogs)."""

    def __init__(self, store: BufferedStore) -> None:
        super().__init__(Terminal())
        self._store = store

    async def submit(self, message: Cycle) -> None:
        self._store.write_through()
