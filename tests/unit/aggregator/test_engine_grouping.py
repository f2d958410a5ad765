"""Grouping: which events become one incident, and which become two."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from aggregator.engine import CorrelationConfig, CorrelationEngine, MemoryStore, Topology
from support.engine_scenarios import Scenario

pytestmark = pytest.mark.unit

SHOP = Topology(
    groups={"shop": ("web", "checkout", "payments", "payments-db")},
    depends_on={"web": ("checkout",), "checkout": ("payments",), "payments": ("payments-db",)},
)


def test_a_storm_of_one_failure_is_one_incident() -> None:
    r = Scenario().emit("payments", 4, "Timeout after {i}00ms calling db-primary:5432", count=200, every=1).run()
    [inc] = r.incidents
    assert inc.eventCount == 200
    assert inc.affectedServices == ["payments"]
    assert inc.templates[0].template == "Timeout after <NUM> calling db-primary:<NUM>"
    assert inc.templates[0].count == 200
    assert inc.title == "payments: Timeout after <NUM> calling db-primary:<NUM>"


def test_two_different_failures_of_one_service_at_once_are_two_incidents() -> None:
    r = (
        Scenario()
        .emit("payments", 4, "certificate expired for host pay-{i}.example.com", count=20)
        .emit("payments", 4, "process {i} killed: out of memory", count=20)
        .run()
    )
    assert len(r.incidents) == 2
    assert sorted(i.eventCount for i in r.incidents) == [20, 20]


def test_same_failure_worded_with_variable_words_stays_one_incident() -> None:
    names = ["alice", "bob", "carol", "dave", "erin", "frank"]
    r = Scenario().emit("auth", 4, "user {i} failed to log in", count=6).run()
    # `{i}` is a number here; now with words:
    s = Scenario()
    for k, name in enumerate(names):
        s.emit("auth", 4, f"user {name} failed to log in", at=k / 6)
    assert len(r.incidents) == 1
    assert len(s.run().incidents) == 1


def test_same_error_type_with_other_wording_joins_the_incident() -> None:
    r = (
        Scenario()
        .emit("db", 4, "Lock wait timeout exceeded on table orders", count=5, error_type="LockError")
        .emit("db", 4, "Deadlock found when trying to get lock; try restarting", at=1, count=5, error_type="LockError")
        .run()
    )
    [inc] = r.incidents
    assert inc.eventCount == 10


def test_a_cascade_over_declared_dependencies_is_one_incident_with_its_origin() -> None:
    cfg = CorrelationConfig(topology=SHOP)
    r = (
        Scenario(cfg)
        .emit("payments-db", 5, "too many connections", count=10)
        .emit("payments", 4, "Timeout after 5000ms calling the ledger", at=1, count=10)
        .emit("checkout", 4, "HTTP 502 from upstream", at=2, count=10)
        .emit("web", 3, "request failed with status 500", at=3, count=10)
        .run()
    )
    [inc] = r.incidents
    assert inc.affectedServices == ["checkout", "payments", "payments-db", "web"]
    assert inc.probableOrigin == "payments-db"
    assert inc.correlationKey == "shop"
    assert inc.eventCount == 40


def test_routine_events_of_related_services_do_not_leak_into_an_incident() -> None:
    cfg = CorrelationConfig(topology=SHOP)
    r = (
        Scenario(cfg)
        .emit("payments", 4, "Timeout after 5000ms calling the ledger", count=10)
        # A caller's failure spreads with any severity from 3 ...
        .emit("checkout", 3, "HTTP 502 from upstream", at=0.5, count=5)
        # ... but a caller's access log, and a dependency's routine warning, are not part of it.
        .emit("web", 1, "GET /cart/{i} 200 in 12ms", at=0.5, count=5)
        .emit("payments-db", 3, "checkpoint took {i}1 s, longer than planned", at=0.5, count=2)
        .run()
    )
    [inc] = r.incidents
    assert inc.affectedServices == ["checkout", "payments"]
    assert inc.eventCount == 15


def test_a_callers_warnings_do_not_pull_its_other_dependencies_failure_into_the_incident() -> None:
    # gateway calls both checkout and auth: its slow-request warnings belong with the checkout
    # failure, but the certificate expiry on auth is a failure of its own.
    topology = Topology(groups={"edge": ("gateway", "checkout", "auth")}, depends_on={"gateway": ("checkout", "auth")})
    r = (
        Scenario(CorrelationConfig(topology=topology))
        .emit("checkout", 4, "Timeout after 5000ms calling the ledger", count=10)
        .emit("gateway", 3, "Slow request: /cart took {i}200ms", at=0.2, count=5)
        .emit("auth", 5, "TLS handshake with idp.example.com:443 failed: certificate has expired", at=0.5, count=5)
        .run()
    )
    assert sorted(i.affectedServices for i in r.incidents) == [["auth"], ["checkout", "gateway"]]


def test_the_origin_is_the_dependency_even_when_its_caller_complains_first() -> None:
    cfg = CorrelationConfig(topology=SHOP)
    r = (
        Scenario(cfg)
        .emit("payments", 4, "Timeout after 5000ms calling the ledger", count=10)
        .emit("payments-db", 5, "too many connections", at=0.5, count=5)
        .run()
    )
    [inc] = r.incidents
    assert inc.probableOrigin == "payments-db"


def test_a_cascade_found_from_evidence_in_the_messages() -> None:
    # One group, no declared dependencies: the caller's messages name the failing service.
    cfg = CorrelationConfig(topology=Topology(groups={"store": ("cart", "cart-store", "search")}))
    r = (
        Scenario(cfg)
        .emit("cart-store", 5, "disk full, refusing writes", count=5)
        .emit("cart", 4, "write to cart-store failed after {i} retries", at=1, count=10)
        .emit("search", 4, "index shard {i} unavailable", at=1, count=10)  # unrelated, same group
        .run()
    )
    assert len(r.incidents) == 2
    [cascade] = r.by_service("cart")
    assert cascade.affectedServices == ["cart", "cart-store"]
    assert cascade.probableOrigin == "cart-store"
    assert r.by_service("search")[0].affectedServices == ["search"]


def test_unrelated_services_failing_together_are_separate_incidents() -> None:
    r = (
        Scenario()
        .emit("payments", 4, "Timeout calling ledger", count=10)
        .emit("search", 4, "index shard unavailable", count=10)
        .run()
    )
    assert len(r.incidents) == 2


def test_a_dependent_failing_long_after_is_not_part_of_the_cascade() -> None:
    cfg = CorrelationConfig(topology=SHOP, cascade_window=300)
    r = (
        Scenario(cfg)
        .emit("payments-db", 5, "too many connections", count=60, every=10)  # 10 minutes
        .emit("checkout", 4, "HTTP 502 from upstream", at=9, count=5)  # 9 min after the last db event? no: during
        .run()
    )
    assert len(r.incidents) == 1  # within the window of the db's latest failure
    r2 = (
        Scenario(cfg)
        .emit("payments-db", 5, "too many connections", count=3)
        .emit("checkout", 4, "HTTP 502 from upstream", at=8, count=5)  # 8 minutes after the db went quiet
        .run()
    )
    assert len(r2.incidents) == 2


def test_low_severity_events_never_open_an_incident() -> None:
    r = Scenario().emit("batch", 2, "slow job {i}", count=100).emit("batch", 1, "info {i}", count=100).run()
    assert r.incidents == []
    assert all(o is not None and o.incident_id is None for o in r.outcomes)


def test_low_severity_events_join_an_open_incident_of_the_same_failure() -> None:
    r = (
        Scenario()
        .emit("api", 4, "upstream timeout calling search", count=3)
        .emit("api", 2, "upstream timeout calling search", at=1, count=4)
        .run()
    )
    [inc] = r.incidents
    assert inc.eventCount == 7


def test_one_critical_event_opens_an_incident_at_once() -> None:
    r = Scenario().emit("payments", 5, "ledger unreachable").run()
    [inc] = r.incidents
    assert inc.eventCount == 1
    assert r.changes[0].action == "created"


def test_a_configurable_number_of_events_opens_an_incident() -> None:
    two = Scenario(CorrelationConfig(open_threshold=3)).emit("api", 4, "upstream timeout", count=2).run()
    assert two.incidents == []
    three = Scenario(CorrelationConfig(open_threshold=3)).emit("api", 4, "upstream timeout", count=3).run()
    [inc] = three.incidents
    assert inc.eventCount == 3
    # The events that were waiting are assigned to the incident they opened.
    assert three.outcomes[-1] is not None
    assert len(three.outcomes[-1].assigned) == 2
    five = Scenario(CorrelationConfig(open_threshold=5)).emit("api", 4, "upstream timeout", count=4).run()
    assert five.incidents == []


def test_an_incident_quiet_for_the_quiet_period_is_over_and_a_late_recurrence_is_linked() -> None:
    cfg = CorrelationConfig(quiet_period=600, recurrence_window=3600)
    r = (
        Scenario(cfg)
        .emit("api", 4, "upstream timeout calling search", count=5)
        .emit("api", 4, "upstream timeout calling search", at=90, count=5)
        .run()
    )
    first, second = r.incidents
    assert first.status == "resolved"
    assert first.resolution == "quiet"
    assert second.status == "active"
    assert second.previousIncidentId == first.incidentId


def test_an_incident_is_locked_after_its_maximum_duration() -> None:
    cfg = CorrelationConfig(max_duration=3600)
    r = Scenario(cfg).emit("api", 4, "upstream timeout", count=120, every=60).run()  # two hours, steady
    first, second = r.incidents
    assert first.status == "resolved"
    assert first.resolution == "locked"
    assert second.previousIncidentId == first.incidentId
    assert first.eventCount + second.eventCount == 120


def test_backfilled_events_group_as_if_they_had_come_live() -> None:
    s = (
        Scenario(CorrelationConfig(topology=SHOP))
        .emit("payments-db", 5, "too many connections", count=10)
        .emit("payments", 4, "Timeout after 5000ms calling the ledger", at=1, count=10)
        .emit("api", 4, "upstream timeout", at=40, count=5)
        .emit("api", 4, "upstream timeout", at=120, count=5)
    )
    live = s.run()
    # A backfill: the same events a day later at full speed, with the wall clock far ahead.
    engine = CorrelationEngine(s.config, MemoryStore(), clock=lambda: 2_000_000_000.0)
    for e in sorted(s.events, key=lambda e: e.timestamp):
        engine.process(e)
    engine.flush()
    backfilled = sorted(engine.incidents(), key=lambda i: i.first_seen)
    assert [(i.incident_id, i.event_count, i.status) for i in backfilled] == [
        (i.incidentId, i.eventCount, i.status) for i in live.incidents
    ]


def test_slightly_out_of_order_events_give_the_same_incidents() -> None:
    s = Scenario().emit("api", 4, "upstream timeout", count=30, every=5).emit("db", 4, "slow query", count=30)
    ordered = s.run()
    rng = random.Random(7)
    shuffled_events = list(s.events)
    # Swap neighbours: out of order by seconds, well within the allowed lateness.
    for i in range(0, len(shuffled_events) - 1, 2):
        if rng.random() < 0.5:
            shuffled_events[i], shuffled_events[i + 1] = shuffled_events[i + 1], shuffled_events[i]
    shuffled = Scenario(s.config, shuffled_events).run(ordered=False)
    assert sorted((i.affectedServices, i.eventCount) for i in shuffled.incidents) == sorted(
        (i.affectedServices, i.eventCount) for i in ordered.incidents
    )


def test_wall_clock_closes_only_what_received_nothing_for_the_quiet_period() -> None:
    now = [1_000_000.0]
    s = Scenario().emit("api", 5, "upstream timeout", count=3)
    engine = CorrelationEngine(s.config, MemoryStore(), clock=lambda: now[0])
    for e in s.events:
        engine.process(e)
    [created] = engine.flush()
    now[0] += 300
    engine.close_quiet(now[0])
    assert engine.flush() == []
    now[0] += 301
    engine.close_quiet(now[0])
    [closed] = engine.flush()
    assert closed.action == "resolved"
    assert closed.incident.version == created.incident.version + 1


def test_the_same_event_twice_is_one_event() -> None:
    s = Scenario().emit("api", 5, "upstream timeout", count=5)
    s.events.extend(s.events[:3])
    r = s.run()
    [inc] = r.incidents
    assert inc.eventCount == 5
    assert r.outcomes.count(None) == 3


def test_the_same_events_give_the_same_incidents_every_time() -> None:
    def scenario() -> Scenario:
        return (
            Scenario(CorrelationConfig(topology=SHOP))
            .emit("payments-db", 5, "too many connections", count=10)
            .emit("payments", 4, "Timeout after {i}ms calling the ledger", at=1, count=10)
            .emit("search", 4, "shard {i} unavailable", at=2, count=10)
        )

    a, b = scenario().run(), scenario().run()
    assert [i.model_dump(exclude={"createdAt", "updatedAt"}) for i in a.incidents] == [
        i.model_dump(exclude={"createdAt", "updatedAt"}) for i in b.incidents
    ]


def test_versions_strictly_increase_per_incident() -> None:
    r = Scenario().emit("api", 5, "upstream timeout", count=20).emit("api", 5, "upstream timeout", at=90).run()
    seen: dict[str, int] = {}
    for c in r.changes:
        assert c.incident.version > seen.get(c.incident.incidentId, 0)
        seen[c.incident.incidentId] = c.incident.version
    assert [c.action for c in r.changes].count("created") == 2
    assert [c.action for c in r.changes].count("resolved") == 1


def test_incidents_fill_every_field() -> None:
    cfg = replace(CorrelationConfig(), tiers={"payments": 1})
    r = Scenario(cfg).emit("payments", 5, "ledger unreachable at 10.0.0.{i}:5432", count=12, every=15).run()
    [inc] = r.incidents
    assert inc.incidentId.startswith("inc_")
    assert inc.routingKey == inc.correlationKey == "payments"
    assert 1 <= inc.severityScore <= 5
    assert {f.name for f in inc.severityFactors} >= {"peakSeverity", "criticality", "spike", "breadth", "duration"}
    assert inc.firstSeen < inc.lastSeen
    assert sum(p.count for p in inc.timeline) == 12
    assert {p.minute.minute for p in inc.timeline} == {0, 1, 2}
    assert 1 <= len(inc.sampleEvents) <= cfg.max_sample_events
    assert inc.sampleEvents[0]["eventId"].startswith("evt_")
    assert inc.templates[0].count == 12


def test_a_record_replayed_after_a_crash_is_not_counted_twice() -> None:
    s = Scenario().emit("api", 5, "upstream timeout {i}", count=10)
    engine = CorrelationEngine(s.config, MemoryStore())
    for offset, e in enumerate(s.events):
        engine.process(e, source="events/3", offset=offset)
    engine.flush()
    # The same records again (ids forgotten, as if those writes were lost): their positions say enough.
    assert isinstance(engine.store, MemoryStore)
    engine.store.ids.clear()
    assert all(engine.process(e, source="events/3", offset=o) is None for o, e in enumerate(s.events))
    [inc] = engine.incidents()
    assert inc.event_count == 10


def test_a_record_whose_id_was_saved_without_its_group_is_applied_on_replay() -> None:
    s = Scenario().emit("api", 5, "upstream timeout {i}", count=4)
    engine = CorrelationEngine(s.config, MemoryStore())
    for offset, e in enumerate(s.events[:2]):
        engine.process(e, source="events/3", offset=offset)
    engine.flush()
    # A crash after the ids of records 2-3 were written but before their group was.
    assert isinstance(engine.store, MemoryStore)
    for offset, e in enumerate(s.events[2:], start=2):
        t = e.timestamp.timestamp()
        engine.store.remember(f"api\x1f{int(t // 60)}\x1f{e.eventId}", t, f"events/3@{offset}")
    outcomes = [engine.process(e, source="events/3", offset=o) for o, e in enumerate(s.events) if o >= 2]
    assert all(o is not None for o in outcomes)
    engine.flush()
    [inc] = engine.incidents()
    assert inc.event_count == 4
    # The same id at another position is a duplicate (a producer's retry).
    assert engine.process(s.events[0], source="events/1", offset=99) is None
