"""Cascades: an incident merged into another is never summarized; its root's summary covers it."""

from __future__ import annotations

import pytest

from summarizer.decision import DecisionConfig, SummaryPolicy

pytestmark = pytest.mark.unit

CFG = DecisionConfig(settle_seconds=20, settle_events=25, min_interval_seconds=120, growth_factor=2.0)


@pytest.fixture
def policy(clock):
    return SummaryPolicy(CFG, clock)


def test_a_merged_incident_is_never_summarized(policy, clock, incident_factory, change_of):
    policy.observe(change_of(incident_factory(incidentId="inc_orders", eventCount=30, mergedInto="inc_db"), "created"))
    assert policy.due() == []
    clock.advance(3600)
    assert policy.due() == []
    decision = policy.evaluate("inc_orders")
    assert (decision.action, decision.why_not) == ("skip", "merged into inc_db")
    assert policy.pending_later() == []


def test_an_incident_merged_after_its_summary_is_not_summarized_again(policy, clock, incident_factory, change_of):
    inc = incident_factory(incidentId="inc_orders", eventCount=30)
    policy.observe(change_of(inc, "created"))
    assert len(policy.due()) == 1
    policy.completed(inc, "ai")
    clock.advance(600)
    # It grew and spread, but as part of the database's cascade.
    policy.observe(
        change_of(
            incident_factory(
                incidentId="inc_orders",
                version=2,
                eventCount=300,
                severityScore=5,
                affectedServices=["order-service", "checkout-api"],
                mergedInto="inc_db",
            )
        )
    )
    assert policy.due() == []


def test_an_unmerged_incident_is_summarized_like_any_active_one(policy, clock, incident_factory, change_of):
    policy.observe(change_of(incident_factory(incidentId="inc_orders", eventCount=30, mergedInto="inc_db"), "created"))
    clock.advance(60)
    assert policy.due() == []
    # Its root resolved while it kept failing: it stands alone again.
    policy.observe(change_of(incident_factory(incidentId="inc_orders", version=2, eventCount=40, mergedInto=None)))
    due = policy.due()
    assert [d.incident.incidentId for d in due] == ["inc_orders"]
    assert due[0].reasons == ("settled-events",)
