"""Baselines, spikes and the severity score."""

from __future__ import annotations

import pytest

from aggregator.engine import CorrelationConfig, MemoryStore, Topology
from aggregator.engine.baseline import Baselines
from support.engine_scenarios import Scenario

pytestmark = pytest.mark.unit


def test_a_sudden_spike_on_a_quiet_service_scores_above_a_chronic_stream_on_a_noisy_one() -> None:
    s = Scenario(CorrelationConfig(max_duration=24 * 3600))
    # `noisy` has had the same severity-3 error every 6 seconds for three hours.
    s.emit("noisy", 3, "cache miss storm on shard {i}", count=1800, every=6)
    # `quiet` never says anything, then bursts at the end with the same severity.
    s.emit("quiet", 3, "cache miss storm on shard {i}", at=175, count=40, every=1.5)
    r = s.run()
    [noisy] = r.by_service("noisy")
    [quiet] = r.by_service("quiet")
    assert quiet.severityScore > noisy.severityScore
    spike = {i.affectedServices[0]: next(f for f in i.severityFactors if f.name == "spike") for i in (noisy, quiet)}
    assert spike["quiet"].value > 10 * spike["noisy"].value
    assert spike["noisy"].contribution < 0 < spike["quiet"].contribution


def test_critical_services_score_higher_than_best_effort_ones() -> None:
    cfg = CorrelationConfig(tiers={"payments": 1, "reports": 3})
    r = Scenario(cfg).emit("payments", 4, "ledger timeout", count=5).emit("reports", 4, "ledger timeout", count=5).run()
    [pay] = r.by_service("payments")
    [rep] = r.by_service("reports")
    assert pay.severityScore > rep.severityScore
    crit = next(f for f in pay.severityFactors if f.name == "criticality")
    assert crit.value == 1
    assert "tier 1" in crit.detail


def test_unknown_services_get_the_default_tier() -> None:
    r = Scenario(CorrelationConfig(default_tier=3)).emit("newcomer", 5, "boom").run()
    [inc] = r.incidents
    assert next(f for f in inc.severityFactors if f.name == "criticality").value == 3


def test_the_score_explains_itself_and_adds_up() -> None:
    r = Scenario().emit("api", 5, "upstream timeout", count=10, every=5).run()
    [inc] = r.incidents
    total = 1 + sum(f.contribution for f in inc.severityFactors)
    assert inc.severityScore == max(1, min(5, int(total + 0.5)))
    assert all(f.detail for f in inc.severityFactors)


def test_breadth_and_duration_raise_the_score() -> None:
    topo = Topology(depends_on={"a": ("b",), "b": ("c",)})
    narrow = Scenario(CorrelationConfig(topology=topo)).emit("c", 3, "disk slow", count=5).run()
    wide = (
        Scenario(CorrelationConfig(topology=topo))
        .emit("c", 3, "disk slow", count=5)
        .emit("b", 3, "query slow", at=1, count=5)
        .emit("a", 3, "request slow", at=2, count=5)
        .emit("c", 3, "disk slow", at=3, count=40, every=60)  # goes on for 40 minutes
        .run()
    )
    [n] = narrow.incidents
    [w] = wide.incidents
    factors = {f.name: f.contribution for f in w.severityFactors}
    assert factors["breadth"] > 0
    assert factors["duration"] > 0
    assert w.severityScore > n.severityScore


def test_recent_counts_include_every_minute_of_the_window() -> None:
    """The counts behind the opening rules: closed minutes from the store, the current one from
    the baseline, a minute closed late included."""
    b = Baselines(MemoryStore(), half_life=1800, max_keys=100, idle_expiry=3600)
    t0 = 60 * 1_000_000.0
    for k in range(3):
        b.observe("k", t0 + k)  # minute 0: 3
    assert b.recent("k", t0 + 120, 3) == 3  # minute 2, nothing since: minute 0 still being counted
    b.observe("k", t0 + 125)  # minute 2: rolls minute 0 into the store
    assert b.recent("k", t0 + 130, 3) == 4
    b.observe("k", t0 + 61)  # a late event in minute 1
    assert b.recent("k", t0 + 130, 3) == 5
    assert b.recent("k", t0 + 130, 2) == 2
