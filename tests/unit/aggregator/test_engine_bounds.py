"""State stays bounded under an endless stream of new services and messages; config loading."""

from __future__ import annotations

from pathlib import Path

import pytest

from aggregator.engine import CorrelationConfig, CorrelationEngine, MemoryStore, load_config
from support.engine_scenarios import Scenario

pytestmark = pytest.mark.unit


def test_open_incidents_templates_timeline_and_samples_are_capped() -> None:
    cfg = CorrelationConfig(
        max_open_per_group=3,
        max_templates_per_incident=4,
        max_timeline_points=10,
        max_sample_events=2,
        max_closed_per_group=2,
    )
    s = Scenario(cfg)
    for k in range(8):  # eight different failures of one service at once
        s.emit("api", 5, f"failure kind{'x' * k} number {k} happened", count=2)
    s.emit("api", 5, "long running failure", at=1, count=30, every=60)
    r = s.run()
    group = r.engine.store.get_group("api")
    assert group is not None
    assert len(group.open) <= 3
    assert len(group.closed) <= 2
    for inc in r.incidents:
        assert len(inc.templates) <= 4
        assert len(inc.timeline) <= 10
        assert len(inc.sampleEvents) <= 2


def test_memory_stays_flat_under_endless_new_services() -> None:
    cfg = CorrelationConfig(max_baselines=100, max_template_clusters=50, baseline_idle_expiry=600, dedupe_window=600)
    s = Scenario(cfg)
    for k in range(400):
        s.emit(f"svc-{k}", 2, f"message unique{'a' * (k % 30)} kind {k}", at=k / 4)
    engine = CorrelationEngine(cfg, MemoryStore())
    for e in s.events:
        engine.process(e)
    engine.flush()
    last = s.events[-1].timestamp.timestamp()
    engine.expire(last)
    store = engine.store
    assert isinstance(store, MemoryStore)
    assert len(store.baselines) <= 100
    assert len(store.ids) < 400  # ids older than the dedupe window are forgotten
    assert len(engine.miner._drain.clusters) <= 50


def test_idle_groups_are_forgotten() -> None:
    cfg = CorrelationConfig(relink_window=3600)
    s = Scenario(cfg).emit("api", 5, "boom", count=3)
    engine = CorrelationEngine(cfg, MemoryStore(), clock=lambda: 0.0)
    for e in s.events:
        engine.process(e)
    engine.flush()
    start = s.events[0].timestamp.timestamp()
    engine.close_quiet(start + 10 * 3600)  # closes the incident (wall time quiet)
    engine.flush()
    engine.close_quiet(start + 20 * 3600)  # the empty group is forgotten
    engine.flush()
    assert list(engine.store.group_keys()) == []


def test_the_config_file_sets_tiers_topology_and_knobs(tmp_path: Path) -> None:
    path = tmp_path / "correlation.toml"
    path.write_text(
        """
[correlation]
quiet_period = 120
open_threshold = 5

[tiers]
default = 3
tier1 = ["payments"]

[topology.groups]
shop = ["web", "cart"]

[topology.depends_on]
cart = ["cart-db"]
"""
    )
    cfg = load_config(path)
    assert cfg.quiet_period == 120.0
    assert cfg.open_threshold == 5
    assert cfg.tier("payments") == 1
    assert cfg.tier("anything") == 3
    index = cfg.topology.group_index()
    assert index["web"] == index["cart"] == index["cart-db"] == "shop"


def test_a_missing_config_file_gives_the_defaults(tmp_path: Path) -> None:
    assert load_config(tmp_path / "absent.toml") == CorrelationConfig()
    assert load_config(None) == CorrelationConfig()


def test_the_shipped_config_file_loads() -> None:
    cfg = load_config(Path(__file__).parents[3] / "deploy/config/correlation.toml")
    assert cfg.tier("payment-service") == 1
    assert cfg.topology.group_index()["payments-db"] == "checkout"


def test_an_unknown_setting_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("[correlation]\nquiet_perod = 5\n")
    with pytest.raises(ValueError, match="quiet_perod"):
        load_config(path)
