"""Flapping is one incident: a failure that keeps coming back reopens its incident, counts its
cycles, is marked flapping, and ends only once it has stayed away for the recurrence window."""

from __future__ import annotations

from datetime import timedelta

import pytest

from aggregator.engine import CorrelationConfig, CorrelationEngine, MemoryStore
from incident_shared.schemas.incidents import IncidentCommand
from support.engine_scenarios import T0, Scenario, healthy_background

pytestmark = pytest.mark.unit

PROBE = "Readiness probe failed: HTTP probe failed with statuscode: 503"


def probe_flapping(s: Scenario, *, severity: int, cycles: int, every: float = 12, start: float = 0) -> Scenario:
    """A readiness probe failing for a minute (every 10 s), then passing, every `every` minutes."""
    for k in range(cycles):
        s.emit("checkout", severity, PROBE, at=start + k * every, count=6, every=10)
    return s


@pytest.mark.parametrize("severity", [3, 4])
def test_a_probe_failing_one_minute_in_twelve_for_three_hours_is_one_flapping_incident(severity: int) -> None:
    s = healthy_background(Scenario(), ["checkout", "search"], minutes=185)
    r = probe_flapping(s, severity=severity, cycles=15).run()
    [inc] = r.incidents
    assert inc.affectedServices == ["checkout"]
    assert inc.flapping
    assert inc.status == "active"  # still within the recurrence window of its last failure
    assert inc.flapCount >= 12
    history = [h.what for h in inc.explanation.history] if inc.explanation else []
    assert "flapping" in history
    # Before it was marked flapping each quiet spell resolved it; since, it stays open.
    actions = [c.action for c in r.changes_of(inc.incidentId)]
    assert actions.count("resolved") == CorrelationConfig().flap_threshold
    assert actions[0] == "created"


def test_a_flapping_incident_ends_once_it_stayed_away_for_the_recurrence_window() -> None:
    cfg = CorrelationConfig(recurrence_window=3600, quiet_period=600)
    s = probe_flapping(Scenario(cfg), severity=4, cycles=5)
    # The service keeps talking (its clock moves on) for an hour and a half after the last cycle.
    healthy_background(s, ["checkout"], minutes=150)
    r = s.run()
    [inc] = r.incidents
    assert inc.flapping
    assert inc.status == "resolved"
    assert inc.resolution == "quiet"
    last_failure = T0 + timedelta(minutes=4 * 12, seconds=50)
    assert inc.resolvedAt == last_failure + timedelta(seconds=cfg.quiet_period)


def test_a_failure_back_within_the_recurrence_window_reopens_its_incident_and_counts_a_cycle() -> None:
    r = (
        Scenario()
        .emit("api", 4, "upstream timeout calling search", count=5)
        .emit("api", 4, "upstream timeout calling search", at=30, count=5)  # quiet for 30 min, back
        .run()
    )
    [inc] = r.incidents
    assert inc.status == "active"
    assert inc.flapCount == 1
    assert not inc.flapping
    assert inc.eventCount == 10
    assert [c.action for c in r.changes_of(inc.incidentId)].count("resolved") == 1
    [cycle] = [h for h in inc.explanation.history if h.what == "cycle"] if inc.explanation else []
    assert "reopened" in cycle.detail


def test_a_persons_resolve_is_final_even_for_a_flapping_incident() -> None:
    s = probe_flapping(Scenario(), severity=4, cycles=8)
    engine = CorrelationEngine(s.config, MemoryStore())
    events = sorted(s.events, key=lambda e: e.timestamp)
    first_half = [e for e in events if e.timestamp < T0 + timedelta(minutes=50)]
    for e in first_half:
        engine.process(e)
    [flapping] = [c.incident for c in engine.flush()][-1:]
    assert flapping.flapping
    resolve = IncidentCommand.model_validate(
        {
            "commandId": "cmd_1",
            "incidentId": flapping.incidentId,
            "action": "resolve",
            "actor": "ana",
            "issuedAt": T0 + timedelta(minutes=50),
        }
    )
    assert engine.apply_command(resolve, "checkout").applied
    engine.flush()
    for e in events[len(first_half) :]:
        engine.process(e)
    engine.flush()
    old, new = engine.incidents()
    assert old.incident_id == flapping.incidentId
    assert old.status == "resolved"
    assert old.resolution == "manual"
    assert new.status == "active"
    assert new.previous_incident_id == old.incident_id


def test_a_flapping_incidents_recoveries_keep_it_open_and_show_it_recovering() -> None:
    s = Scenario()
    for k in range(6):  # fail for a minute, recover, every three minutes
        s.emit("health", 4, "health check failed for /ready", at=3 * k, count=3, every=20)
        s.emit("health", 1, "health check passed for /ready", at=3 * k + 1.5, resolved=True)
    r = s.run()
    [inc] = r.incidents
    assert inc.flapping
    assert inc.status == "active"
    assert inc.recovering
    # Before it was flapping, each recovery resolved it at once (by its source), and it reopened.
    actions = [c.action for c in r.changes_of(inc.incidentId)]
    assert actions.count("resolved") == CorrelationConfig().flap_threshold
