"""Noise is not an incident: each template is judged against its own service's baseline."""

from __future__ import annotations

import pytest

from aggregator.engine import CorrelationConfig
from support.engine_scenarios import T0, Scenario, healthy_background

pytestmark = pytest.mark.unit

DOZEN = [f"svc-{name}" for name in ("cart", "search", "users", "billing", "media", "mail", "ads", "geo", "feed", "auth",
                                    "pricing", "stock")]  # fmt: skip


def test_background_warnings_on_a_dozen_healthy_services_open_nothing_over_hours() -> None:
    s = healthy_background(Scenario(), DOZEN, minutes=180)
    assert sum(e.severity == 3 for e in s.events) > 700  # plenty of warnings, and bursts of them
    r = s.run()
    assert r.incidents == []
    # Each kind of warning was judged, and what held it back is on record.
    verdicts = {p.verdict["rule"] for p in r.engine.pending()}
    assert verdicts <= {"warning-burst", "routine-template", "warning-share", "warning-settle", "baseline", "threshold"}
    assert "baseline" in verdicts or "warning-burst" in verdicts


def test_a_failure_among_the_background_opens_at_once_with_its_departure_on_record() -> None:
    s = healthy_background(Scenario(), DOZEN, minutes=90)
    s.emit("svc-billing", 4, "Timeout after {i}000ms calling ledger-db:5432", at=60, count=30, every=4)
    r = s.run()
    [inc] = r.incidents
    assert inc.affectedServices == ["svc-billing"]
    assert inc.eventCount >= 30
    assert inc.firstSeen.minute == 0
    assert inc.firstSeen.hour == 11
    opened = inc.explanation.opened if inc.explanation else None
    assert opened is not None
    assert opened.rule == "departure"
    assert "usual rate 0.00/min" in opened.detail
    assert opened.score is not None
    assert opened.score < 0.001


def test_a_template_at_its_steady_rate_stays_events_until_it_departs() -> None:
    s = healthy_background(Scenario(), ["svc-cart"], minutes=120)
    # A periodic job logs three warnings in quick succession every four minutes, for two hours:
    # steady, so it becomes the service's baseline ...
    for k in range(30):
        s.emit("svc-cart", 3, "cache refill for shard {i} took longer than planned", at=4 * k, count=3, every=50)
    r = s.run()
    assert r.incidents == []
    [held] = [p for p in r.engine.pending() if "cache refill" in p.events[-1].template]
    assert held.verdict["action"] == "hold"
    # ... until it departs from it: twenty a minute.
    s.emit("svc-cart", 3, "cache refill for shard {i} took longer than planned", at=121, count=40, every=3)
    r = s.run()
    [inc] = r.incidents
    assert inc.explanation is not None
    assert inc.explanation.opened is not None
    assert inc.explanation.opened.rule == "departure"


def test_warnings_that_go_on_open_even_as_a_small_share_of_a_busy_service() -> None:
    """Before the service has a baseline: a disk warning twice a minute for a quarter of an hour
    on a chatty service is a small share of its lines, but it goes on."""
    s = healthy_background(Scenario(), ["svc-a", "svc-b", "svc-c"], minutes=40, seed=3)
    s.emit("svc-b", 3, "disk usage {i}1% on /var above 90%", at=5, count=30, every=30)
    [inc] = s.run().incidents
    assert inc.affectedServices == ["svc-b"]
    assert inc.eventCount == 30
    assert (inc.firstSeen - T0).total_seconds() == 5 * 60  # the events that opened it are all in it


def test_warnings_that_are_mostly_logged_at_a_routine_severity_stay_events() -> None:
    s = Scenario()
    for k in range(40):  # the same line, slow ones logged as warnings: a third of them
        s.emit("web", 3 if k % 3 == 0 else 1, "GET /cart took {i}00ms", at=k / 20)
    r = s.run()
    assert r.incidents == []
    [p] = r.engine.pending()
    assert p.verdict["rule"] == "routine-template"


def test_a_sudden_burst_of_warnings_on_a_quiet_service_opens_fast() -> None:
    r = Scenario().emit("quiet", 3, "cache miss storm on shard {i}", count=40, every=1.5).run()
    [inc] = r.incidents
    assert (inc.firstSeen - r.changes[0].incident.firstSeen).total_seconds() == 0
    created = r.changes[0].emittedAt - inc.firstSeen
    assert created.total_seconds() <= CorrelationConfig().warning_settle + 2


def test_errors_on_a_service_without_history_follow_the_threshold() -> None:
    r = Scenario().emit("new", 4, "connection refused by ledger", count=3, every=5).run()
    [inc] = r.incidents
    assert inc.explanation is not None
    assert inc.explanation.opened is not None
    assert inc.explanation.opened.rule == "threshold"
    assert "too little for a baseline" in inc.explanation.opened.detail
