"""The engine's new state (fingerprint aliases, identities, cycles, explanations, baselines) goes
through the store, survives a restart, and stays bounded."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import orjson
import pytest

from aggregator.engine import CorrelationConfig, CorrelationEngine, MemoryStore
from aggregator.engine.state import GroupState
from aggregator.replay import Run
from incident_shared.schemas.events import Event
from support.engine_scenarios import T0, Scenario

pytestmark = pytest.mark.unit


class JsonStore(MemoryStore):
    """Keeps groups only as JSON, as a changelog does across a restart."""

    def __init__(self) -> None:
        super().__init__()
        self.raw: dict[str, bytes] = {}

    def get_group(self, key: str) -> GroupState | None:
        raw = self.raw.get(key)
        return GroupState.from_dict(orjson.loads(raw)) if raw else None

    def put_group(self, group: GroupState) -> None:
        self.raw[group.key] = orjson.dumps(group.to_dict())

    def delete_group(self, key: str) -> None:
        self.raw.pop(key, None)

    def group_keys(self) -> list[str]:
        return list(self.raw)


def flapping_logins() -> Scenario:
    """Failed logins of changing users that come and go every twenty minutes, and an alert."""
    users = ["alice", "bob", "carol", "dmitri", "erin", "farah"]
    s = Scenario()
    for k in range(8):
        for j in range(6):
            s.emit("login", 4, f"user {users[(k + j) % 6]} failed to log in", at=20 * k + j / 6)
    s.emit("login", 5, "identity provider unreachable", at=1, dedup_key="am-idp", source="alertmanager")
    return s


def _run(engine: CorrelationEngine, events: list[Event]) -> dict[str, dict[str, Any]]:
    latest = {}
    for e in events:
        engine.process(e)
        for c in engine.flush():
            latest[c.incident.incidentId] = c.incident.model_dump(exclude={"createdAt", "updatedAt"})
    return latest


def test_a_restart_mid_flap_keeps_cycles_fingerprints_and_explanations() -> None:
    s = flapping_logins()
    events = sorted(s.events, key=lambda e: e.timestamp)
    reference = _run(CorrelationEngine(s.config, JsonStore()), events)
    store = JsonStore()
    half = len(events) // 2
    before = _run(CorrelationEngine(s.config, store), events[:half])
    after = _run(CorrelationEngine(s.config, store), events[half:])  # a new process: a new miner
    assert before.keys() <= reference.keys()
    assert {**before, **after} == reference
    [flapping] = [i for i in reference.values() if i["flapping"]]
    assert len(flapping["templates"]) == 1  # one failure, one fingerprint, across the restart
    assert flapping["explanation"]["history"]


def test_replay_gives_the_fingerprints_live_handed_out() -> None:
    """Live learned "user <*> failed to log in" from alice's line; a replay of a later range
    starts with bob's line, and still resolves to live's fingerprint."""
    s = flapping_logins()
    events = sorted(s.events, key=lambda e: e.timestamp)
    live = CorrelationEngine(s.config, MemoryStore())
    live_outcomes = [live.process(e) for e in events]
    live_incidents = [c.incident for c in live.flush()]
    live_fp = {o.fingerprint for o, e in zip(live_outcomes, events, strict=True) if o and "failed" in e.message}
    later = [e for e in events if e.timestamp >= T0 + timedelta(minutes=40)]
    fresh = Run(s.config, track=False)
    taught = Run(s.config, track=False, live=live_incidents)
    failed = [e for e in later if "failed" in e.message]
    fresh_fps = {o.fingerprint for o in map(fresh.engine.process, failed) if o is not None}
    taught_fps = {o.fingerprint for o in map(taught.engine.process, failed) if o is not None}
    assert len(live_fp) == 1
    assert taught_fps == live_fp
    assert fresh_fps != live_fp  # without learning, the replay names the cluster after its own first line


def test_groups_beyond_the_cap_are_forgotten_least_recent_first() -> None:
    cfg = CorrelationConfig(max_groups=5, relink_window=10 * 24 * 3600)
    s = Scenario(cfg)
    for k in range(12):
        s.emit(f"svc-{k:02d}", 2, "routine line", at=k)
    s.emit("svc-00", 5, "still failing", at=12)  # open: kept whatever its age
    engine = CorrelationEngine(cfg, MemoryStore())
    for e in sorted(s.events, key=lambda e: e.timestamp):
        engine.process(e)
    engine.flush()
    engine.close_quiet(T0.timestamp() + 13 * 60)
    engine.flush()
    keys = set(engine.store.group_keys())
    assert len(keys) == 5
    assert "svc-00" in keys  # it has an open incident
    assert {"svc-08", "svc-09", "svc-10", "svc-11"} <= keys  # the most recent others


def test_fingerprint_aliases_stay_bounded() -> None:
    cfg = CorrelationConfig(max_aliases_per_group=10)
    s = Scenario(cfg)
    for k in range(40):  # forty kinds of line (each of its own length), each generalised by a second line
        stages = " ".join(["stage"] * (k + 1))
        s.emit("api", 2, f"job {stages} alpha finished", at=k / 10)
        s.emit("api", 2, f"job {stages} beta finished", at=k / 10 + 0.01)
    r = s.run()
    group = r.engine.store.get_group("api")
    assert group is not None
    assert len(group.aliases) == 10
    assert len(group.learned) == 10
    # The most recent are kept: the last kind of line still resolves to its first fingerprint.
    first, second = [o.fingerprint for o in r.outcomes if o is not None][-2:]
    assert first == second
