"""Cascades across correlation keys, found from evidence: one failure, one incident, whatever the topology says."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import pytest

from aggregator.engine import CorrelationEngine, Linker, MemoryStore, link_in_process
from aggregator.engine.names import names_in
from incident_shared.schemas.events import Event
from incident_shared.schemas.incidents import Incident, IncidentCommand
from support.engine_scenarios import T0, Scenario

pytestmark = pytest.mark.unit


def orders_cascade(s: Scenario | None = None) -> Scenario:
    """A database fails; its caller times out calling it; the caller's callers get 503s from the caller."""
    s = s or Scenario()
    s.emit("postgres-orders", 4, "could not connect to server: Connection refused at 10.0.3.{i}:5432", count=12)
    s.emit("order-service", 4, "Timeout after 5000ms calling postgres-orders (query {i}7)", at=0.5, count=12)
    s.emit("checkout-api", 4, "Upstream order-service returned 503 for order 4{i}21", at=1.0, count=12)
    s.emit("payment-service", 4, "Upstream order-service returned 503 for order 5{i}33", at=1.2, count=6)
    return s


def test_names_come_from_hosts_urls_words_and_metadata() -> None:
    names = names_in(
        "GET http://inventory.prod.svc.cluster.local/items failed; redis-cache:6379 refused",
        {"dependency": "order-service", "attempt": 3},
    )
    assert {"inventory", "inventory.prod.svc.cluster.local", "redis-cache", "order-service"} <= set(names)


def test_a_failure_spreading_to_callers_outside_any_group_is_one_incident_rooted_at_the_dependency() -> None:
    r = orders_cascade().run()
    [shown] = r.shown
    assert shown.probableOrigin == "postgres-orders"
    assert shown.affectedServices == ["checkout-api", "order-service", "payment-service", "postgres-orders"]
    assert shown.eventCount == 42
    assert len(shown.mergedIncidentIds) == 3
    members = [i for i in r.incidents if i.mergedInto == shown.incidentId]
    assert sorted(m.incidentId for m in members) == shown.mergedIncidentIds
    assert {s for m in members for s in m.affectedServices} == {"order-service", "checkout-api", "payment-service"}
    # The cascade's timeline and templates are the root's: each service's failure is shown on it.
    assert {p.service for p in shown.timeline} == set(shown.affectedServices)
    assert {t.service for t in shown.templates} == set(shown.affectedServices)


def test_a_cascade_scores_its_breadth() -> None:
    linked = orders_cascade().run()
    alone = orders_cascade().run(linked=False)
    [root] = linked.shown
    db_alone = next(i for i in alone.incidents if i.affectedServices == ["postgres-orders"])
    breadth = {f.name: f.value for f in root.severityFactors}.get("breadth")
    assert breadth == 4
    assert root.severityScore >= db_alone.severityScore


def test_without_the_cross_key_stage_each_key_is_its_own_incident() -> None:
    # What the second stage adds: without it the same storm is four incidents.
    assert len(orders_cascade().run(linked=False).shown) == 4


def test_a_host_name_in_a_message_is_evidence() -> None:
    r = (
        Scenario()
        .emit("redis-cache", 5, "OOM command not allowed when used memory > 'maxmemory'", count=3)
        .emit("session-api", 4, "dial tcp redis-cache.prod.svc:6379: i/o timeout", at=0.5, count=5)
        .run()
    )
    [shown] = r.shown
    assert shown.probableOrigin == "redis-cache"
    assert shown.affectedServices == ["redis-cache", "session-api"]


def test_simultaneous_failures_that_do_not_name_each_other_stay_apart() -> None:
    r = (
        Scenario()
        .emit("postgres-orders", 4, "could not connect to server: Connection refused at 10.0.3.{i}:5432", count=10)
        .emit("auth-service", 4, "TLS handshake with idp.example.com:443 failed: certificate has expired", count=10)
        .run()
    )
    assert len(r.shown) == 2
    assert all(i.mergedInto is None and not i.mergedIncidentIds for i in r.incidents)


def test_a_caller_failing_long_after_the_dependency_recovered_is_not_part_of_it() -> None:
    r = (
        Scenario()
        .emit("postgres-orders", 4, "could not connect to server: Connection refused at 10.0.3.{i}:5432", count=5)
        # 40 minutes later: the database incident is over (quiet period), the caller's is new.
        .emit("order-service", 4, "Timeout after 5000ms calling postgres-orders (query {i}7)", at=40, count=5)
        .run()
    )
    assert len(r.shown) == 2


def test_a_dependency_that_fails_after_its_caller_still_becomes_the_root() -> None:
    r = (
        Scenario()
        .emit("order-service", 4, "Timeout after 5000ms calling postgres-orders (query {i}7)", count=6)
        .emit("postgres-orders", 4, "FATAL: remaining connection slots are reserved", at=1, count=6)
        .run()
    )
    [shown] = r.shown
    assert shown.probableOrigin == "postgres-orders"
    assert shown.affectedServices == ["order-service", "postgres-orders"]
    [member] = [i for i in r.incidents if i.mergedInto]
    assert member.affectedServices == ["order-service"]
    assert member.mergedIncidentIds == []


class Run:
    """An engine and its cross-key stage fed by hand, keeping the latest state of every incident."""

    def __init__(self) -> None:
        cfg = Scenario().config
        self.engine = CorrelationEngine(cfg, MemoryStore())
        self.linker = Linker({}, cascade_window=cfg.cascade_window)
        self.latest: dict[str, Incident] = {}

    def feed(self, events: Sequence[Event] = ()) -> None:
        for e in sorted(events, key=lambda e: e.timestamp):
            self.engine.process(e)
            self.collect()

    def collect(self) -> None:
        for c in self.engine.flush() + link_in_process(self.engine, self.linker):
            self.latest[c.incident.incidentId] = c.incident


def test_a_caller_still_failing_after_its_root_went_quiet_is_shown_again() -> None:
    s = Scenario()
    s.emit("postgres-orders", 4, "could not connect to server: Connection refused at 10.0.3.{i}:5432", count=6)
    s.emit("order-service", 4, "Timeout after 5000ms calling postgres-orders (query {i}7)", at=0.5, count=40, every=30)
    run = Run()
    run.feed(s.events[:12])  # both failing: one incident
    [root] = [i for i in run.latest.values() if i.mergedIncidentIds]
    assert root.affectedServices == ["order-service", "postgres-orders"]
    run.feed(s.events[12:])  # the database is quiet, the caller goes on failing for 20 minutes
    run.engine.close_quiet((T0 + timedelta(minutes=20)).timestamp())
    run.collect()
    assert run.latest[root.incidentId].status == "resolved"
    [caller] = [i for i in run.latest.values() if i.affectedServices == ["order-service"]]
    assert caller.status == "active"
    assert caller.mergedInto is None


def test_callers_that_wind_down_with_their_root_stay_merged_when_it_ends() -> None:
    """The database goes quiet a few seconds before its caller's last timeouts: the caller is the
    cascade's tail, not a failure of its own, and its last events still count on the root."""
    s = Scenario()
    s.emit(
        "postgres-orders", 4, "could not connect to server: Connection refused at 10.0.3.{i}:5432", count=20, every=6
    )
    s.emit("order-service", 4, "Timeout after 5000ms calling postgres-orders (query {i}7)", at=0.5, count=20, every=6)
    run = Run()
    run.feed(s.events)
    run.engine.close_quiet((T0 + timedelta(minutes=30)).timestamp())
    run.collect()
    [root] = [i for i in run.latest.values() if i.mergedIncidentIds]
    [caller] = [i for i in run.latest.values() if i.affectedServices == ["order-service"]]
    assert root.status == caller.status == "resolved"
    assert caller.mergedInto == root.incidentId
    assert root.eventCount == 40  # the caller's last events are counted on the root


def test_resolving_a_cascade_resolves_its_members_and_keeps_them_merged() -> None:
    run = Run()
    run.feed(orders_cascade().events)
    [root] = [i for i in run.latest.values() if i.mergedIncidentIds]
    cmd = IncidentCommand(
        commandId="cmd_1",
        incidentId=root.incidentId,
        action="resolve",
        actor="oncall",
        issuedAt=T0 + timedelta(minutes=3),
    )
    result = run.engine.apply_command(cmd, root.routingKey)
    assert result.applied
    assert sorted(mid for mid, _ in result.forward) == root.mergedIncidentIds
    run.collect()
    for member_id, routing_key in result.forward:  # what the worker does with `forward`
        forwarded = cmd.model_copy(update={"commandId": f"cmd_1:{member_id}", "incidentId": member_id})
        assert run.engine.apply_command(forwarded, routing_key).applied
        run.collect()
    members = [run.latest[m] for m in root.mergedIncidentIds]
    assert all(m.status == "resolved" and m.resolvedBy == "oncall" for m in members)
    assert all(m.mergedInto == root.incidentId for m in members)
    assert run.latest[root.incidentId].status == "resolved"


def test_deciding_again_changes_nothing() -> None:
    s = orders_cascade()
    engine = CorrelationEngine(s.config, MemoryStore())
    linker = Linker({}, cascade_window=s.config.cascade_window)
    for e in sorted(s.events, key=lambda e: e.timestamp):
        engine.process(e)
        engine.flush()
        link_in_process(engine, linker)
    # Every incident's latest candidate delivered a second time (a redelivery after a crash).
    candidates = [engine.candidate(i) for i in engine.incidents()]
    links = [link for c in candidates for link in linker.update(c)]
    linker.commit()
    assert not [link for link in links if engine.apply_link(link, link["routingKey"])]
    assert engine.flush() == []
