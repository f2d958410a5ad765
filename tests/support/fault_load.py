"""A steady load through the public API, as a careful client sends it, remembering every answer.

Each service of the load is one client that sends its events one at a time, in order, through
`POST /api/events`, each with its own `eventId` and `timestamp` (set when the event happens). An
answer other than 2xx (a 503 while Kafka is down, a refused connection) is retried with the same
id after `Retry-After`, for up to `retry_for` seconds, so that the events of a service reach Kafka
in the order they happened, as a client with an ordered buffer does. An event is `accepted` once
it got a 2xx; the fault suite then checks that each accepted event is in MongoDB exactly once.

The load: a few services failing steadily in their own ways (a timeout, a deadlock, an unavailable
shard), informational noise, and for each phase of the suite a short burst of a service of its own,
which opens a fresh incident in that phase (so that the summarizer has work while the AI provider
fails, for instance).
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import aiohttp


@dataclass(frozen=True, slots=True)
class Profile:
    service: str
    per_second: float
    severity: int
    error_type: str | None
    message: str  # `{n}` is replaced by a varying number, as real messages vary


STEADY = (
    Profile("orders-api", 4.0, 4, "TimeoutError", "Timeout after {n}ms calling orders-db:5432"),
    Profile("ledger-service", 1.5, 4, "DeadlockError", "Deadlock detected on table ledger_entries (txn {n})"),
    Profile("search-api", 2.0, 3, "ShardUnavailable", "Query failed: index shard {n} unavailable"),
    Profile("profile-service", 5.0, 1, None, "GET /profiles/{n} served"),
)
BURST_EVENTS = 8


@dataclass(slots=True)
class Sent:
    event_id: str
    service: str
    phase: str
    seq: int
    created: float  # monotonic
    accepted: bool = False
    attempts: int = 0
    statuses: list[int] = field(default_factory=list)  # 0: no answer (connection refused, timeout)


class Load:
    def __init__(self, api_url: str, run_id: str, *, retry_for: float = 120.0, seed: int = 7) -> None:
        self.api_url = api_url.rstrip("/")
        self.run_id = run_id
        self.retry_for = retry_for
        self.phase = "start"
        self.sent: list[Sent] = []
        self._seq = itertools.count()
        self._random = random.Random(seed)
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        self._tasks = [asyncio.create_task(self._steady(p), name=f"load-{p.service}") for p in STEADY]

    def burst(self, phase: str) -> None:
        """A short burst from a service of the phase's own: a fresh incident in this phase."""
        profile = Profile(f"batch-{phase}", 0, 4, "JobFailed", "Nightly job step {n} failed: out of retries")
        self._tasks.append(asyncio.create_task(self._burst(profile), name=f"burst-{phase}"))

    async def stop(self) -> None:
        """Stops creating events; waits for those being sent (retries included) to finish."""
        self._stop.set()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()

    async def _steady(self, profile: Profile) -> None:
        interval = 1.0 / profile.per_second
        next_at = time.monotonic()
        while not self._stop.is_set():
            await self._send(profile)
            next_at += interval
            delay = next_at - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                next_at = time.monotonic()  # behind after retries: carry on from now, no catch-up storm

    async def _burst(self, profile: Profile) -> None:
        for _ in range(BURST_EVENTS):
            await self._send(profile)
            await asyncio.sleep(0.2)

    async def _send(self, profile: Profile) -> None:
        seq = next(self._seq)
        event = Sent(f"evt_{self.run_id}-{seq:06d}", profile.service, self.phase, seq, time.monotonic())
        self.sent.append(event)
        body = {
            "eventId": event.event_id,
            "service": profile.service,
            "severity": profile.severity,
            "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            "message": profile.message.format(n=self._random.randint(1, 9999)),
            "errorType": profile.error_type,
            "metadata": {"run": self.run_id, "seq": seq, "phase": self.phase},
        }
        assert self._session is not None
        deadline = event.created + self.retry_for
        while True:
            event.attempts += 1
            retry_after = 1.0
            try:
                async with self._session.post(f"{self.api_url}/api/events", json=body) as resp:
                    event.statuses.append(resp.status)
                    if 200 <= resp.status < 300:
                        event.accepted = True
                        return
                    retry_after = float(resp.headers.get("Retry-After", "1"))
                    if resp.status < 500:
                        return  # refused for good: not something a retry changes
            except (aiohttp.ClientError, TimeoutError):
                event.statuses.append(0)
            if time.monotonic() + retry_after > deadline:
                return
            await asyncio.sleep(min(retry_after, 2.0))
