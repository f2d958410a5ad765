"""Resolves resolve: an incident whose every failure was resolved by its source ends at once, and
reopens if the failure comes back."""

from __future__ import annotations

from datetime import timedelta

import pytest

from support.engine_scenarios import T0, Scenario

pytestmark = pytest.mark.unit


def alerts(s: Scenario) -> Scenario:
    """Two Alertmanager alerts of one service fire; one resolves, then the other."""
    s.emit(
        "payments", 5, "Ledger is unreachable", error_type="LedgerDown", dedup_key="am-ledger", source="alertmanager"
    )
    s.emit(
        "payments", 4, "Ledger latency above 2s", at=0.5, error_type="LedgerDown", dedup_key="am-latency",
        source="alertmanager",
    )  # fmt: skip
    s.emit(
        "payments", 1, "Ledger is unreachable", at=5, error_type="LedgerDown", dedup_key="am-ledger",
        resolved=True, source="alertmanager",
    )  # fmt: skip
    s.emit(
        "payments", 1, "Ledger latency above 2s", at=7, error_type="LedgerDown", dedup_key="am-latency",
        resolved=True, source="alertmanager",
    )  # fmt: skip
    return s


def test_an_incident_whose_alerts_all_resolved_resolves_at_once() -> None:
    r = alerts(Scenario()).run()
    [inc] = r.incidents
    assert inc.status == "resolved"
    assert inc.resolution == "source"
    assert inc.resolvedBy == "alertmanager"
    assert inc.resolvedAt == T0 + timedelta(minutes=7)  # the last resolve, not a quiet period later
    assert {i.identity: i.resolved for i in inc.identities} == {"am-ledger": True, "am-latency": True}
    # Between the two resolves it stayed active, with one of its two alerts resolved.
    states = [(c.incident.status, sum(i.resolved for i in c.incident.identities)) for c in r.changes]
    assert ("active", 1) in states


def test_a_resolved_alert_that_fires_again_reopens_the_incident() -> None:
    s = alerts(Scenario())
    s.emit("payments", 4, "Ledger latency above 2s", at=20, error_type="LedgerDown", dedup_key="am-latency")
    r = s.run()
    [inc] = r.incidents
    assert inc.status == "active"
    assert inc.flapCount == 1
    assert {i.identity: i.resolved for i in inc.identities} == {"am-ledger": True, "am-latency": False}
    assert r.changes[-1].action == "updated"
    history = [(h.what, h.detail) for h in inc.explanation.history] if inc.explanation else []
    assert ("cycle", "cycle 1: reopened 13 min after it ended: the alert am-latency fired again") in history


def test_a_pagerduty_trigger_and_resolve_share_their_dedup_key() -> None:
    s = Scenario()
    s.emit("storage", 5, "Disk /data at 98% on db-3", dedup_key="disk-db-3", source="pagerduty")
    s.emit("storage", 5, "Disk /data at 98% on db-3", at=1, dedup_key="disk-db-3", source="pagerduty")
    s.emit("storage", 2, "Disk /data at 98% on db-3", at=3, dedup_key="disk-db-3", resolved=True, source="pagerduty")
    r = s.run()
    [inc] = r.incidents
    assert (inc.status, inc.resolution, inc.resolvedBy) == ("resolved", "source", "pagerduty")


def test_a_check_that_passes_resolves_the_incident_of_its_failure() -> None:
    r = (
        Scenario()
        .emit("cart", 4, "health check failed for /ready", count=3, every=20)
        .emit("cart", 1, "health check passed for /ready", at=2, resolved=True)
        .run()
    )
    [inc] = r.incidents
    assert (inc.status, inc.resolution) == ("resolved", "source")
    assert inc.resolvedAt == T0 + timedelta(minutes=2)


def test_an_incident_with_a_failure_still_unresolved_stays_open() -> None:
    r = (
        Scenario()
        .emit("db", 5, "replica lag 240s on standby", error_type="Replication", dedup_key="lag")
        .emit("db", 5, "disk almost full on primary", at=0.2, error_type="Replication", dedup_key="disk")
        .emit("db", 1, "replica lag back to 0s", at=3, error_type="Replication", dedup_key="lag", resolved=True)
        .run()
    )
    [inc] = r.incidents
    assert inc.status == "active"
    assert {i.identity: i.resolved for i in inc.identities} == {"lag": True, "disk": False}


def test_a_resolve_for_an_unknown_alert_changes_nothing() -> None:
    r = (
        Scenario()
        .emit("db", 5, "replica lag 240s on standby", dedup_key="lag")
        .emit("db", 1, "replica lag back to 0s", at=3, dedup_key="something-else", resolved=True)
        .run()
    )
    [inc] = r.incidents
    assert inc.status == "active"
