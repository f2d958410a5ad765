"""The fault suite's scenario: a steady load through the API while, one after another, the aggregator
is stopped, the aggregator is killed, Kafka is stopped for 30 s, the MongoDB-protocol server for
60 s, and the AI provider fails; then the load stops and everything drains.

For each fault it measures what a user would: how many events were sent while it lasted, how many
got a 2xx, how many of those are in MongoDB at the end, and duplicates; and how long the platform
took to recover (from the end of the fault until every service is ready, the gateway says
incidents are being updated again, and every event accepted so far is in MongoDB). At the end it
compares the incidents with those of a fault-free run of the same events: the engine, in process,
over the `events` topic as the aggregator read it (`aggregator.replay`).

`run_scenario` returns a `Report`; the test asserts on it, `benchmarks/bench_faults.py` prints it.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pymongo import AsyncMongoClient

from aggregator.engine import load_config
from aggregator.replay import COMPARED, diff, live_incidents, replay
from support.fault_load import Load, Sent
from support.fault_stack import SERVICES, FaultStack, Restart

ROOT = Path(__file__).resolve().parents[2]
KAFKA_OUTAGE_SECONDS = 30.0
MONGO_OUTAGE_SECONDS = 60.0
PROVIDER_OUTAGE_SECONDS = 30.0
AGGREGATOR_STOP_SECONDS = 20.0
RECOVERY_LIMIT = 180.0


@dataclass
class PhaseResult:
    name: str
    started: float
    restored: float = 0.0
    recovered_at: float | None = None
    notes: dict[str, Any] = field(default_factory=dict)
    sent: int = 0
    accepted: int = 0
    in_mongo: int = 0
    duplicates: int = 0
    restarts: Counter[str] = field(default_factory=Counter)

    @property
    def recovery_seconds(self) -> float | None:
        return None if self.recovered_at is None else self.recovered_at - self.restored

    @property
    def missing(self) -> int:
        return self.accepted - self.in_mongo


@dataclass
class Report:
    run_id: str
    phases: list[PhaseResult]
    sent: list[Sent]
    restarts: list[Restart]
    incident_diff: dict[str, Any]
    live_incidents: int
    projection_mismatches: list[str]
    summaries: dict[str, Any]
    not_ready_at_end: list[str]
    drained: bool
    # Events (severity 3 and up, so each belongs in an incident) that MongoDB holds without one,
    # by the phase they were sent in and their service: where the live incidents lost count.
    unassigned: dict[str, Counter[str]] = field(default_factory=dict)

    def table(self) -> str:
        header = (
            f"{'fault':<34} {'events sent':>11} {'2xx':>6} {'in MongoDB':>10} {'duplicates':>10}"
            f" {'recovery s':>10}  supervisor restarts"
        )
        lines = [header, "-" * len(header)]
        for p in self.phases:
            recovery = f"{p.recovery_seconds:.1f}" if p.recovery_seconds is not None else "never"
            restarts = ", ".join(f"{s} x{n}" for s, n in sorted(p.restarts.items())) or "-"
            lines.append(
                f"{p.name:<34} {p.sent:>11} {p.accepted:>6} {p.in_mongo:>10} {p.duplicates:>10}"
                f" {recovery:>10}  {restarts}"
            )
        total_sent = sum(p.sent for p in self.phases)
        total_acc = sum(p.accepted for p in self.phases)
        total_mongo = sum(p.in_mongo for p in self.phases)
        total_dup = sum(p.duplicates for p in self.phases)
        lines.append(f"{'all':<34} {total_sent:>11} {total_acc:>6} {total_mongo:>10} {total_dup:>10}")
        return "\n".join(lines)

    def details(self) -> str:
        """What the table leaves out: the incidents against the replay, the projection, each fault's notes."""
        d = self.incident_diff
        lines = [
            f"incidents: {self.live_incidents} live; against a fault-free replay of the same events: {d['same']} the"
            f" same, {len(d['changed'])} changed, {len(d['onlyLive'])} only live, {len(d['onlyReplay'])} only in"
            " the replay",
        ]
        lines += [f"  ~ {c['incidentId']} {c['title'][:60]}: {c['fields']}" for c in d["changed"]]
        for label, rows in (("live only", d["onlyLive"]), ("replay only", d["onlyReplay"])):
            lines += [f"  {label}: {r['incidentId']} {r['title'][:60]} ({r['eventCount']} events)" for r in rows]
        unassigned = dict(self.unassigned) or "none"
        lines.append(f"events stored without the incident a fault-free replay puts them in, by phase: {unassigned}")
        mismatches = self.projection_mismatches or "the same"
        lines.append(f"MongoDB's incidents against the topic's latest versions: {mismatches}")
        for phase in self.phases:
            lines += [f"  {phase.name} / {key}: {value}" for key, value in phase.notes.items()]
        lines.append(f"not ready at the end: {self.not_ready_at_end or 'none'}; backlog drained: {self.drained}")
        return "\n".join(lines)


class Scenario:
    def __init__(self, stack: FaultStack, log: Callable[[str], None] = print) -> None:
        self.stack = stack
        self.log = log
        self.run_id = f"f{secrets.token_hex(3)}"
        self.load = Load(stack.api_url, self.run_id)
        self.phases: list[PhaseResult] = []
        self.mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
            stack.mongo_uri, tz_aware=True, serverSelectionTimeoutMS=2000
        )
        self.db = self.mongo[stack.database]

    # -- phases -------------------------------------------------------------------------------------------

    @contextmanager
    def phase(self, name: str) -> Iterator[PhaseResult]:
        self.load.phase = name
        result = PhaseResult(name, time.monotonic())
        self.phases.append(result)
        accepted = sum(e.accepted for e in self.load.sent)
        self.log(f"== {name} ({len(self.load.sent)} events sent so far, {accepted} accepted)")
        yield result

    async def recovered(self, result: PhaseResult, *, extra: Callable[[], Awaitable[bool]] | None = None) -> None:
        """Waits (bounded) until the platform is whole again after the fault of `result`."""
        deadline = time.monotonic() + RECOVERY_LIMIT
        while time.monotonic() < deadline:
            if await self._whole(before=result.restored) and (extra is None or await extra()):
                result.recovered_at = time.monotonic()
                self.log(f"   recovered after {result.recovery_seconds:.1f}s")
                return
            await asyncio.sleep(1.0)
        wanted = {e.event_id for e in self.load.sent if e.accepted and e.created <= result.restored}
        stored = await self.stored_ids()
        result.notes["not recovered"] = {
            "not ready": await asyncio.to_thread(self.stack.not_ready),
            "aggregator": await self.aggregator_problem(),
            "accepted but not in MongoDB": len(wanted - stored) if stored is not None else "MongoDB unreachable",
        }
        self.log(f"   NOT recovered within {RECOVERY_LIMIT:.0f}s: {result.notes['not recovered']}")

    async def _whole(self, *, before: float) -> bool:
        if await asyncio.to_thread(self.stack.not_ready):
            return False
        if await self.aggregator_problem() is not None:
            return False
        wanted = {e.event_id for e in self.load.sent if e.accepted and e.created <= before}
        stored = await self.stored_ids()
        return stored is not None and wanted <= stored

    async def _drained(self) -> bool:
        """Everything accepted is in MongoDB and the aggregator has committed every event, so the
        incident changes of its last batch are published too."""
        if not await self._whole(before=time.monotonic()):
            return False
        _, body = await asyncio.to_thread(self.stack.get_json, f"{self.stack.api_url}/health/detailed")
        detail = str((body or {}).get("dependencies", {}).get("aggregator", {}).get("detail", ""))
        return detail.startswith("up to date")

    async def aggregator_problem(self) -> str | None:
        """What the gateway's /health/detailed says about incidents being updated (None: fine)."""
        _, body = await asyncio.to_thread(self.stack.get_json, f"{self.stack.api_url}/health/detailed")
        dependency = (body or {}).get("dependencies", {}).get("aggregator")
        if dependency is None:
            return "no answer from the gateway"
        return None if dependency.get("status") == "up" else str(dependency.get("error"))

    async def stored_ids(self) -> set[str] | None:
        try:
            cursor = self.db.events.find({"metadata.run": self.run_id}, {"_id": 1})
            return {doc["_id"] async for doc in cursor}
        except Exception:  # noqa: BLE001 - MongoDB down: not recovered yet
            return None

    async def until(self, check: Callable[[], Awaitable[bool]], limit: float) -> float | None:
        """Seconds until `check` holds, or None if it did not within `limit`."""
        start = time.monotonic()
        while time.monotonic() - start < limit:
            if await check():
                return time.monotonic() - start
            await asyncio.sleep(0.5)
        return None

    # -- the faults ---------------------------------------------------------------------------------------

    async def aggregator_stopped(self) -> None:
        with self.phase(f"aggregator stopped {AGGREGATOR_STOP_SECONDS:.0f} s") as r:
            self.load.burst("stopped")
            stack = self.stack
            stack.pause("aggregator")  # stopped on purpose: not for the supervisor to restart
            await asyncio.to_thread(stack.service_script, "stop", "aggregator")
            stopped_at = time.monotonic()

            async def reported() -> bool:
                problem = await self.aggregator_problem()
                if problem and "no aggregator is running" in problem:
                    r.notes["health said"] = problem
                    return True
                return False

            r.notes["reported after s"] = await self.until(reported, 60)
            await asyncio.sleep(max(0.0, AGGREGATOR_STOP_SECONDS - (time.monotonic() - stopped_at)))
            r.restored = time.monotonic()
            await asyncio.to_thread(stack.service_script, "start", "aggregator")
            stack.resume("aggregator")

            async def cleared() -> bool:
                return await self.aggregator_problem() is None

            r.notes["cleared after s"] = await self.until(cleared, RECOVERY_LIMIT)
            await self.recovered(r)

    async def aggregator_killed(self) -> None:
        with self.phase("aggregator SIGKILL") as r:
            self.load.burst("killed")
            await asyncio.sleep(3)
            self.stack.kill("aggregator")
            r.restored = time.monotonic()  # the supervisor restarts it from here
            await self.recovered(r)

    async def kafka_stopped(self) -> None:
        async def gateway() -> Any:
            return await asyncio.to_thread(self.stack.get_json, f"{self.stack.api_url}/health/ready")

        await self._server_stopped("Kafka", self.stack.kafka, KAFKA_OUTAGE_SECONDS, "gateway while down", gateway)

    async def mongo_stopped(self) -> None:
        await self._server_stopped(
            "MongoDB", self.stack.mongo, MONGO_OUTAGE_SECONDS, "aggregator said", self.aggregator_problem
        )

    async def _server_stopped(
        self,
        name: str,
        script: Callable[[str], None],
        seconds: float,
        note: str,
        observe: Callable[[], Awaitable[Any]],
    ) -> None:
        """Stops a server for `seconds` under the load, notes what `observe` sees at the end of it."""
        with self.phase(f"{name} stopped {seconds:.0f} s") as r:
            self.load.burst(name.lower())
            await asyncio.sleep(3)
            await asyncio.to_thread(script, "stop")
            await asyncio.sleep(seconds)
            r.notes[note] = await observe()
            await asyncio.to_thread(script, "start")
            r.restored = time.monotonic()
            await self.recovered(r)

    async def provider_failing(self) -> None:
        with self.phase(f"AI provider failing {PROVIDER_OUTAGE_SECONDS:.0f} s") as r:
            await asyncio.to_thread(self.stack.provider_outage, 529)
            self.load.burst("ai")
            await asyncio.sleep(PROVIDER_OUTAGE_SECONDS)
            summarizer = self.stack.url("summarizer")
            r.notes["breaker while failing"] = (
                await asyncio.to_thread(self.stack.get_json, f"{summarizer}/api/ai/circuit-breaker")
            )[1]
            r.notes["incident while failing"] = await self.burst_summary("batch-ai")
            await asyncio.to_thread(self.stack.provider_outage, None)
            r.restored = time.monotonic()

            async def ai_again() -> bool:
                summary = await self.burst_summary("batch-ai")
                return summary is not None and summary.get("summaryKind") == "ai"

            await self.recovered(r, extra=ai_again)
            r.notes["incident after"] = await self.burst_summary("batch-ai")

    async def burst_summary(self, service: str) -> dict[str, Any] | None:
        """The summary fields of the (root) incident of `service`, as stored."""
        try:
            doc = await self.db.incidents.find_one({"affectedServices": service, "mergedInto": None})
        except Exception:  # noqa: BLE001 - reported as unknown
            return None
        if doc is None:
            return None
        return {k: doc.get(k) for k in ("incidentId", "summaryKind", "summaryProvider", "aiGeneratedSummary")}

    # -- the whole run ------------------------------------------------------------------------------------

    async def run(self) -> Report:
        started = datetime.now(UTC) - timedelta(minutes=1)
        await self.load.start()
        try:
            with self.phase("none (baseline)") as r:
                await asyncio.sleep(10)
                r.restored = time.monotonic()
                await self.recovered(r)
            await self.aggregator_stopped()
            await self.aggregator_killed()
            await self.kafka_stopped()
            await self.mongo_stopped()
            await self.provider_failing()
        finally:
            self.load.phase = "drain"
            await self.load.stop()
        drained = await self.until(self._drained, RECOVERY_LIMIT) is not None
        report = await self._report(started, drained)
        await self.mongo.close()
        return report

    async def _report(self, started: datetime, drained: bool) -> Report:
        stored: Counter[str] = Counter()
        async for doc in self.db.events.find({"metadata.run": self.run_id}, {"_id": 1, "metadata.seq": 1}):
            stored[f"seq:{doc['metadata']['seq']}"] += 1
        by_phase = {p.name: p for p in self.phases}
        for event in self.load.sent:
            phase = by_phase.get(event.phase)
            if phase is None:
                continue
            phase.sent += 1
            phase.accepted += event.accepted
            answers = phase.notes.setdefault("answers (0: none)", Counter())
            answers.update(event.statuses)
            copies = stored.get(f"seq:{event.seq}", 0)
            phase.in_mongo += bool(event.accepted and copies)
            phase.duplicates += max(0, copies - 1)
        for restart in self.stack.restarts:
            owner = next((p for p in reversed(self.phases) if p.started <= restart.at), None)
            if owner is not None:
                owner.restarts[f"{restart.service} ({restart.reason})"] += 1
        end = datetime.now(UTC) + timedelta(minutes=1)
        config = load_config(str(ROOT / "deploy/config/correlation.toml"))
        bootstrap = self.stack.kafka_bootstrap
        replayed = await replay(bootstrap, "events", started, end, config, track=True)
        live = await live_incidents(bootstrap, "incidents", started, end)
        summaries = {p: await self.burst_summary(f"batch-{p}") for p in ("stopped", "killed", "kafka", "mongodb", "ai")}
        unassigned: dict[str, Counter[str]] = {}
        # Failures the engine keeps as events (warnings at their service's usual rate) belong to no
        # incident in a fault-free replay either: only those the replay puts in one are missing.
        query = {"metadata.run": self.run_id, "incidentId": None}
        async for doc in self.db.events.find(query, {"eventId": 1, "service": 1, "metadata.phase": 1}):
            if replayed.assigned.get(doc.get("eventId", doc["_id"])) is not None:
                unassigned.setdefault(doc["metadata"]["phase"], Counter())[doc["service"]] += 1
        return Report(
            run_id=self.run_id,
            phases=self.phases,
            sent=self.load.sent,
            restarts=self.stack.restarts,
            incident_diff=diff(live, replayed.incidents),
            live_incidents=len(live),
            projection_mismatches=await self._projection_mismatches(),
            summaries=summaries,
            not_ready_at_end=await asyncio.to_thread(self.stack.not_ready),
            drained=drained,
            unassigned=unassigned,
        )

    async def _projection_mismatches(self) -> list[str]:
        """Incidents whose latest version on the topic is not the one in MongoDB."""
        everything = (datetime(1970, 1, 1, tzinfo=UTC), datetime(9999, 1, 1, tzinfo=UTC))
        latest = {i.incidentId: i for i in await live_incidents(self.stack.kafka_bootstrap, "incidents", *everything)}
        stored = {doc["_id"]: doc async for doc in self.db.incidents.find({})}
        out = []
        for incident_id, incident in latest.items():
            doc = stored.get(incident_id)
            if doc is None:
                out.append(f"{incident_id}: on the topic (v{incident.version}), not in MongoDB")
            elif doc.get("version") != incident.version:
                out.append(f"{incident_id}: v{incident.version} on the topic, v{doc.get('version')} in MongoDB")
            else:
                for name in COMPARED:
                    if doc.get(name) != getattr(incident, name):
                        out.append(f"{incident_id}: {name} differs between the topic and MongoDB")
        out.extend(f"{iid}: in MongoDB, not on the topic" for iid in stored.keys() - latest.keys())
        return out


async def run_scenario(log: Callable[[str], None] = print) -> Report:
    """Starts a fault stack, runs the scenario, stops the stack; the report of what happened."""
    stack = FaultStack(log=log)
    try:
        await asyncio.to_thread(stack.start)
        return await Scenario(stack, log).run()
    except BaseException:
        for service in SERVICES:
            log(f"--- {service} log (tail)\n{stack.log_tail(service)}")
        raise
    finally:
        await asyncio.to_thread(stack.stop)
