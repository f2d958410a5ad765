"""Every decision explained: why an incident opened, why each template joined it, why other
incidents were merged into it, and why it was not merged where a person might expect."""

from __future__ import annotations

import pytest
from jsonschema import Draft202012Validator

from aggregator.engine import CorrelationConfig, Topology
from incident_shared.schemas.incidents import Explanation, Incident
from ingest_gateway.app import load_openapi
from support.engine_scenarios import Scenario

pytestmark = pytest.mark.unit

SHOP = Topology(groups={"shop": ("checkout", "payments", "payments-db")}, depends_on={"payments": ("payments-db",)})


def explained(inc: Incident) -> Explanation:
    assert inc.explanation is not None
    return inc.explanation


def test_why_it_opened_is_the_rule_that_opened_it_with_its_numbers() -> None:
    immediate = explained(Scenario().emit("pay", 5, "ledger unreachable").run().incidents[0])
    assert immediate.opened is not None
    assert immediate.opened.rule == "immediate-severity"
    assert "severity 5" in immediate.opened.detail
    threshold = explained(Scenario().emit("pay", 4, "ledger slow", count=3).run().incidents[0])
    assert threshold.opened is not None
    assert threshold.opened.rule == "threshold"
    assert threshold.opened.score == 3
    assert "3 failures of severity 3+ within 10 min" in threshold.opened.detail


def test_why_each_template_joined() -> None:
    cfg = CorrelationConfig(topology=SHOP)
    r = (
        Scenario(cfg)
        .emit("payments-db", 5, "too many connections", error_type="PoolError", count=3)
        .emit("payments-db", 4, "could not accept connection: too many connections for role app", at=0.2, count=3)
        .emit("payments-db", 4, "slots exhausted, rejecting clients", at=0.3, error_type="PoolError", count=2)
        .emit("payments", 4, "Timeout after 5000ms calling the ledger", at=0.5, count=3)
        .emit("checkout", 4, "payments answered 503 for order {i}", at=0.6, count=3)
        .run()
    )
    [inc] = r.incidents
    joined = {j.template: j for j in explained(inc).joined}
    assert joined["too many connections"].rule == "immediate-severity"
    similar = joined["could not accept connection: too many connections for role app"]
    assert similar.rule == "similar-words"
    assert similar.score is not None
    assert similar.score >= cfg.similarity_threshold
    assert {"connections", "many"} <= set(similar.evidence)
    assert joined["slots exhausted, rejecting clients"].rule == "same-error-type"
    dependency = joined["Timeout after <NUM> calling the ledger"]
    assert dependency.rule == "dependency"
    assert dependency.detail == "payments depends on payments-db (declared)"
    names = joined["payments answered <NUM> for order <NUM>"]
    assert names.rule == "names-service"
    assert names.evidence == ["payments"]


def test_why_incidents_of_other_keys_were_merged_quotes_the_names() -> None:
    r = (
        Scenario()
        .emit("postgres-orders", 4, "could not connect to server: Connection refused", count=5)
        .emit("order-service", 4, "Timeout after 5000ms calling postgres-orders (query {i})", at=0.5, count=5)
        .run()
    )
    [root] = r.shown
    [merged] = explained(root).merged
    assert merged.rule == "names-service"
    assert merged.evidence == ["postgres-orders"]
    assert "order-service" in merged.detail


def test_why_a_second_failure_of_a_service_is_an_incident_of_its_own() -> None:
    r = (
        Scenario()
        .emit("auth", 4, "certificate expired for host idp.example.com", count=5)
        .emit("auth", 4, "process {i} killed: out of memory", at=0.5, count=5)
        .run()
    )
    first, second = r.incidents
    [miss] = explained(second).notMerged
    assert miss.incidentId == first.incidentId
    assert miss.rule == "different-failure"
    assert miss.score is not None
    assert miss.score < CorrelationConfig().similarity_threshold
    assert "similarity" in miss.detail


def test_why_a_related_service_failing_too_late_is_not_in_the_cascade() -> None:
    cfg = CorrelationConfig(topology=SHOP, cascade_window=300)
    r = (
        Scenario(cfg)
        .emit("payments-db", 5, "too many connections", count=60, every=5)  # five minutes
        .emit("payments", 4, "Timeout after 5000ms calling the ledger", at=11, count=5)
        .run()
    )
    db, payments = r.incidents
    [miss] = explained(payments).notMerged
    assert miss.incidentId == db.incidentId
    assert miss.rule == "outside-cascade-window"
    assert "payments depends on payments-db (declared)" in miss.detail


def test_what_happened_since_is_its_history() -> None:
    s = Scenario()
    for k in range(4):
        s.emit("health", 4, "health check failed for /ready", at=3 * k, count=3, every=20)
        s.emit("health", 1, "health check passed for /ready", at=3 * k + 1.5, resolved=True)
    [inc] = s.run().incidents
    history = [h.what for h in explained(inc).history]
    assert history[:3] == ["resolved", "cycle", "resolved"]
    assert "flapping" in history
    assert history[-1] == "recovering"


def test_explained_incidents_match_the_api_document() -> None:
    """The incident as the API serves it, explanation and identities included, is what the OpenAPI
    document declares."""
    doc = load_openapi()
    schema = {"$ref": "#/components/schemas/Incident", "components": doc["components"]}
    s = Scenario(CorrelationConfig(topology=SHOP))
    s.emit("payments-db", 5, "too many connections", dedup_key="am-1", source="alertmanager", count=3)
    s.emit("payments", 4, "Timeout after 5000ms calling the ledger", at=0.5, count=3)
    s.emit("payments-db", 1, "too many connections", at=2, dedup_key="am-1", resolved=True, source="alertmanager")
    s.emit("postgres-orders", 4, "could not connect to server", count=5)
    s.emit("order-service", 4, "Timeout calling postgres-orders (query {i})", at=0.5, count=5)
    r = s.run()
    assert len(r.incidents) >= 3
    validator = Draft202012Validator(schema)
    for inc in r.incidents:
        body = inc.model_dump(mode="json")
        assert body["explanation"]["opened"]["rule"]
        validator.validate(body)
