"""The correlation engine alone: events per second on one core, and grouping quality.

A storm mixes chronic background noise on many services with a few true failures (a database
cascade over its callers in one topology group, a cascade across correlation keys that only the
messages reveal, two failures of one service at once, a flapping health check, a burst of
variable-word messages), each event labelled with the failure it belongs to. Quality is
reported as purity (the share of an incident's events from its main failure), splitting (into
how many incidents each failure fell) and noise-only incidents, counting incidents as a person
sees them: one merged into a cascade is part of its root. The timed loop includes the in-process
second stage. Then: noise-only incidents over three hours of healthy but chatty services with a
flapping probe, and the grouping accuracy of stored fingerprints on the labelled message corpus.
"""

from __future__ import annotations

import random
import sys
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aggregator.engine import (
    CorrelationConfig,
    CorrelationEngine,
    Linker,
    MemoryStore,
    link_in_process,
    load_config,
    masks,
)
from incident_shared.schemas.events import Event

ROOT = Path(__file__).parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from support.engine_scenarios import Scenario, healthy_background  # noqa: E402 - after the path it needs
from support.message_corpus import corpus, grouping_accuracy  # noqa: E402

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
USERS = ["alice", "bob", "carol", "dmitri", "erin", "farah", "gus", "hana", "ivan", "jo"]


def storm(n_noise: int, seed: int = 1) -> list[tuple[Event, str]]:
    rng = random.Random(seed)
    out: list[tuple[Event, str]] = []
    seq = 0

    def add(
        service: str,
        sev: int,
        msg: str,
        at: float,
        label: str,
        *,
        error_type: str | None = None,
        resolved: bool = False,
    ) -> None:
        nonlocal seq
        seq += 1
        ts = T0 + timedelta(seconds=at)
        out.append(
            (
                Event(
                    eventId=f"evt_{seq:08d}",
                    service=service,
                    severity=sev,
                    timestamp=ts,
                    message=msg,
                    errorType=error_type,
                    resolved=resolved,
                    receivedAt=ts,
                ),
                label,
            )
        )

    span = 3600.0
    services = [f"svc-{k:02d}" for k in range(40)]
    for _ in range(n_noise):
        s = rng.choice(services)
        add(
            s,
            rng.choice([1, 2, 2, 3]),
            f"GET /api/v1/items/{rng.randint(1, 99999)} took {rng.randint(5, 900)}ms "
            f"from 10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}",
            rng.uniform(0, span),
            f"noise:{s}",
        )
    # A database cascade over its callers (checkout group in the shipped config).
    for i in range(3000):
        at = 900 + i * 0.2
        add("payments-db", 5, f"too many connections (max_connections={rng.randint(90, 110)})", at, "cascade")
        add(
            "payment-service",
            4,
            f"Timeout after {rng.randint(1000, 9000)}ms calling payments-db:5432",
            at + 20,
            "cascade",
        )
        if i % 2 == 0:
            add(
                "checkout-service",
                4,
                f"HTTP 502 from payment-service for order {rng.randint(1, 10**6)}",
                at + 40,
                "cascade",
            )
    # Two different failures of one service at the same time.
    for i in range(1500):
        add(
            "auth-service",
            4,
            f"certificate expired for host auth-{rng.randint(1, 9)}.example.com",
            1500 + i * 0.3,
            "auth-cert",
        )
        add(
            "auth-service",
            4,
            f"process {rng.randint(100, 99999)} killed: out of memory",
            1500 + i * 0.3 + 0.1,
            "auth-oom",
        )
    # A cascade across correlation keys (no topology group joins them): a cache cluster fails and
    # two services outside any group time out calling it, naming it in their messages.
    for i in range(1000):
        at = 2400 + i * 0.3
        add("sessions-redis", 5, f"OOM command not allowed when used memory > 'maxmemory' ({i})", at, "cross")
        add("profile-api", 4, f"dial tcp sessions-redis:6379: i/o timeout after {rng.randint(1, 9)}s", at + 15, "cross")
        if i % 2 == 0:
            add(
                "feed-api",
                4,
                f"GET http://sessions-redis/session/{rng.randint(1, 10**6)} failed: timeout",
                at + 30,
                "cross",
            )
    # Variable words: user names.
    for i in range(2000):
        add("login-service", 3, f"user {rng.choice(USERS)} failed to log in: bad password", 600 + i * 0.5, "login")
    # A flapping health check.
    for k in range(12):
        for j in range(20):
            add("inventory-service", 4, "health check failed for /ready", 200 + k * 240 + j * 3, "flap")
        add("inventory-service", 1, "health check passed for /ready", 200 + k * 240 + 120, "flap", resolved=True)
    out.sort(key=lambda p: p[0].timestamp)
    return out


def throughput(config: CorrelationConfig, events: list[Event], runs: int = 3) -> tuple[float, float]:
    """Events per CPU-second and per wall second of the best of `runs` fresh engines (each with a
    cold mask cache and a miner warmed on another storm), the second stage included."""
    best_cpu = best_wall = float("inf")
    for _ in range(runs):
        masks._TOKEN_CACHE.clear()
        engine = CorrelationEngine(config, MemoryStore())
        warm = CorrelationEngine(config, MemoryStore(), miner=engine.miner)
        for e, _ in storm(5000, seed=9)[:20000]:
            warm.process(e)
        linker = Linker({}, cascade_window=config.cascade_window)
        wall, cpu = time.perf_counter(), time.process_time()
        for i, e in enumerate(events):
            engine.process(e)
            if i % 1000 == 999:
                engine.flush()
                link_in_process(engine, linker)
        engine.flush()
        link_in_process(engine, linker)
        best_cpu = min(best_cpu, time.process_time() - cpu)
        best_wall = min(best_wall, time.perf_counter() - wall)
    return len(events) / best_cpu, len(events) / best_wall


def quality(config: CorrelationConfig, labelled: list[tuple[Event, str]]) -> None:
    engine = CorrelationEngine(config, MemoryStore())
    linker = Linker({}, cascade_window=config.cascade_window)
    outcomes = []
    for i, (e, _) in enumerate(labelled):
        outcomes.append(engine.process(e))
        if i % 1000 == 999:
            engine.flush()
            link_in_process(engine, linker)
    engine.flush()
    link_in_process(engine, linker)
    # What a person sees: an incident merged into a cascade counts as part of its root.
    root = {i.incident_id: i.merged_into or i.incident_id for i in engine.incidents()}
    by_incident: dict[str, Counter[str]] = defaultdict(Counter)
    for (_, label), o in zip(labelled, outcomes, strict=True):
        if o is not None and o.incident_id:
            by_incident[root.get(o.incident_id, o.incident_id)][label] += 1
    split: dict[str, set[str]] = defaultdict(set)
    for iid, labels in by_incident.items():
        split[labels.most_common(1)[0][0]].add(iid)
    total = sum(sum(c.values()) for c in by_incident.values())
    pure = sum(c.most_common(1)[0][1] for c in by_incident.values())
    print(f"incidents: {len(by_incident)} from {len(labelled)} events; purity {pure / total:.3f}")
    for label in ["cascade", "cross", "auth-cert", "auth-oom", "login", "flap"]:
        iids = split.get(label, set())
        covered = sum(by_incident[i][label] for i in iids)
        n = sum(1 for _, lab in labelled if lab == label)
        print(f"  {label:<10} {n:>6} events -> {len(iids)} incident(s), {covered / n:.1%} of its events grouped")
    noise = sum(1 for iid in by_incident if by_incident[iid].most_common(1)[0][0].startswith("noise"))
    print(f"  noise-only incidents (chronic background on 40 services; goal 0): {noise}")
    flapping = [i for i in engine.incidents() if i.flapping]
    print(f"  flapping incidents: {len(flapping)}")


def background(config: CorrelationConfig) -> None:
    """Healthy but chatty services for three hours, with a probe that fails one minute in twelve."""
    s = healthy_background(Scenario(config), [f"svc-{k:02d}" for k in range(12)], minutes=180, seed=11)
    for k in range(15):
        s.emit(
            "svc-03", 4, "Readiness probe failed: HTTP probe failed with statuscode: 503", at=k * 12, count=6, every=10
        )
    r = s.run()
    noise = [i for i in r.incidents if "Readiness" not in i.title]
    probe = [i for i in r.incidents if "Readiness" in i.title]
    print(
        f"healthy background (12 services, 3 h, {len(s.events)} events): noise-only incidents {len(noise)}; "
        f"the flapping probe -> {len(probe)} incident(s), flapping {all(i.flapping for i in probe)}, "
        f"{max((i.flapCount for i in probe), default=0)} cycles"
    )


def corpus_accuracy(config: CorrelationConfig) -> None:
    """Grouping accuracy on the labelled corpus (tests/support/message_corpus.py): each event's
    fingerprint as the engine stores it, in stream order; masks alone for comparison."""
    lines = corpus()
    labels = [line.label for line in lines]
    engine = CorrelationEngine(config, MemoryStore())
    fps = []
    for k, line in enumerate(lines):
        ts = T0 + timedelta(seconds=k)
        e = Event(
            eventId=f"evt_c{k}", service=line.service, severity=2, timestamp=ts, message=line.message, receivedAt=ts
        )
        o = engine.process(e)
        fps.append(o.fingerprint if o else "")
    stored = grouping_accuracy(labels, fps)
    masks_only = grouping_accuracy(labels, [f"{x.service}|{masks.mask(x.message)}" for x in lines])
    print(
        f"corpus grouping accuracy ({len(lines)} lines, {len(set(labels))} kinds): "
        f"stored fingerprints {stored:.3f}; masks alone {masks_only:.3f}"
    )


def main() -> None:
    config = load_config(ROOT / "deploy/config/correlation.toml")
    labelled = storm(n_noise=60_000)
    events = [e for e, _ in labelled]
    per_cpu, per_wall = throughput(config, events)
    print(
        f"engine: {len(events)} events, best of 3: {per_cpu:,.0f} events per CPU-second (one core), "
        f"{per_wall:,.0f} events/s wall"
    )
    quality(config, labelled)
    background(config)
    corpus_accuracy(config)


if __name__ == "__main__":
    main()
