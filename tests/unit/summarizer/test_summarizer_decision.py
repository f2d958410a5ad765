"""When the summarizer asks for a summary: settle, significant change, minimum interval."""

from __future__ import annotations

from datetime import timedelta

import pytest

from summarizer.decision import DecisionConfig, SummaryPolicy

pytestmark = pytest.mark.unit

CFG = DecisionConfig(settle_seconds=20, settle_events=25, min_interval_seconds=120, growth_factor=2.0)


@pytest.fixture
def policy(clock):
    return SummaryPolicy(CFG, clock)


def test_a_new_incident_waits_for_its_burst_to_settle(policy, clock, incident_factory, change_of):
    policy.observe(change_of(incident_factory(), "created"))
    assert policy.due() == []
    decision = policy.evaluate("inc_test0001")
    assert decision.action == "later"
    assert decision.at == clock.now + timedelta(seconds=20)

    clock.advance(20)
    due = policy.due()
    assert [d.incident.incidentId for d in due] == ["inc_test0001"]
    assert due[0].reasons == ("settled-delay",)
    # In flight: not due twice.
    assert policy.due() == []


def test_enough_events_settle_a_new_incident_at_once(policy, incident_factory, change_of):
    policy.observe(change_of(incident_factory(eventCount=30), "created"))
    assert [d.reasons for d in policy.due()] == [("settled-events",)]


def test_an_unchanged_incident_is_not_summarized_again(policy, clock, incident_factory, change_of):
    inc = incident_factory(eventCount=30)
    policy.observe(change_of(inc, "created"))
    policy.due()
    policy.completed(inc, "ai")
    clock.advance(3600)
    policy.observe(change_of(incident_factory(eventCount=40, version=2)))
    assert policy.due() == []
    assert policy.evaluate("inc_test0001").why_not == "no significant change since the last summary"


@pytest.mark.parametrize(
    "case",
    [
        ({"severityScore": 4}, "severity-up"),
        ({"affectedServices": ["payment-service", "db-primary"]}, "new-service"),
        ({"eventCount": 60}, "event-growth"),
    ],
)
def test_a_significant_change_asks_for_a_new_summary(policy, clock, incident_factory, change_of, case):
    overrides, reason = case
    inc = incident_factory(eventCount=30)
    policy.observe(change_of(inc, "created"))
    policy.due()
    policy.completed(inc, "ai")
    clock.advance(121)
    policy.observe(change_of(incident_factory(version=2, **({"eventCount": 30} | overrides))))
    due = policy.due()
    assert len(due) == 1
    assert reason in due[0].reasons
    assert due[0].incident.version == 2


def test_a_new_failure_template_is_significant(policy, clock, incident_factory, change_of, template_factory):
    inc = incident_factory(eventCount=30)
    policy.observe(change_of(inc, "created"))
    policy.due()
    policy.completed(inc, "ai")
    clock.advance(121)
    grown = incident_factory(
        version=2, eventCount=31, templates=[*inc.templates, template_factory("fp_oom", "OOMKilled", count=1)]
    )
    policy.observe(change_of(grown))
    assert policy.due()[0].reasons == ("new-template",)


def test_changes_inside_the_minimum_interval_wait_for_it(policy, clock, incident_factory, change_of):
    inc = incident_factory(eventCount=30)
    policy.observe(change_of(inc, "created"))
    policy.due()
    policy.completed(inc, "ai")
    clock.advance(30)
    policy.observe(change_of(incident_factory(version=2, eventCount=30, severityScore=5)))
    assert policy.due() == []
    decision = policy.evaluate("inc_test0001")
    assert decision.action == "later"
    assert decision.reasons == ("severity-up",)
    clock.advance(90)
    assert [d.reasons for d in policy.due()] == [("severity-up",)]


def test_resolved_incidents_are_never_summarized(policy, clock, incident_factory, change_of):
    policy.observe(change_of(incident_factory(eventCount=100, status="resolved"), "resolved"))
    clock.advance(3600)
    assert policy.due() == []


def test_our_own_echo_records_what_was_summarized(policy, clock, incident_factory, change_of):
    # A restart: the first thing seen is an incident that already carries a summary.
    echo = incident_factory(
        version=7,
        eventCount=80,
        summaryBasedOnVersion=6,
        summaryKind="ai",
        summarizedAt=clock.now,
        aiGeneratedSummary="x",
    )
    policy.observe(change_of(echo, "summary_updated"))
    clock.advance(3600)
    assert policy.due() == []
    policy.observe(change_of(incident_factory(version=8, eventCount=81, summaryBasedOnVersion=6)))
    assert policy.due() == []


def test_a_stale_redelivery_does_not_roll_the_state_back(policy, incident_factory, change_of):
    policy.observe(change_of(incident_factory(version=3, eventCount=30)))
    policy.observe(change_of(incident_factory(version=2, eventCount=1)))
    assert policy.due()[0].incident.version == 3


def test_a_failed_attempt_is_retried_after_a_pause(policy, clock, incident_factory, change_of):
    policy.observe(change_of(incident_factory(eventCount=30), "created"))
    policy.due()
    policy.failed("inc_test0001")
    assert policy.due() == []  # not hammered every tick while Kafka or the provider is down
    clock.advance(30)
    assert len(policy.due()) == 1


def test_a_tick_only_looks_at_what_changed_or_waits_for_a_time(policy, clock, incident_factory, change_of):
    for i in range(3):
        policy.observe(change_of(incident_factory(incidentId=f"inc_{i}", eventCount=1), "created"))
    assert policy.due() == []
    assert sorted(i for i, _ in policy.pending_later()) == ["inc_0", "inc_1", "inc_2"]
    clock.advance(20)
    # Nothing changed, but their settle time came: the tick finds them.
    assert sorted(d.incident.incidentId for d in policy.due()) == ["inc_0", "inc_1", "inc_2"]


def test_an_outage_fallback_is_upgraded_when_the_provider_is_back(policy, clock, incident_factory, change_of):
    inc = incident_factory(eventCount=30)
    policy.observe(change_of(inc, "created"))
    policy.due()
    policy.completed(inc, "rule-based", fallback_reason="breaker-open")
    clock.advance(121)
    assert policy.due(ai_available=False) == []
    assert [d.reasons for d in policy.due(ai_available=True)] == [("upgrade-to-ai",)]


def test_a_fallback_for_lack_of_a_key_is_not_retried(policy, clock, incident_factory, change_of):
    inc = incident_factory(eventCount=30)
    policy.observe(change_of(inc, "created"))
    policy.due()
    policy.completed(inc, "rule-based", fallback_reason="no-provider")
    clock.advance(3600)
    assert policy.due() == []


def test_most_severe_incidents_come_first(policy, incident_factory, change_of):
    policy.observe(change_of(incident_factory(incidentId="inc_low", eventCount=30, severityScore=2)))
    policy.observe(change_of(incident_factory(incidentId="inc_high", eventCount=30, severityScore=5)))
    assert [d.incident.incidentId for d in policy.due()] == ["inc_high", "inc_low"]


def test_tracking_is_bounded(clock, incident_factory, change_of):
    policy = SummaryPolicy(DecisionConfig(max_tracked=3), clock)
    for i in range(5):
        policy.observe(change_of(incident_factory(incidentId=f"inc_{i}", status="resolved" if i < 2 else "active")))
    assert len(policy) <= 3


def test_an_incident_the_policy_cannot_judge_never_holds_the_others(policy, clock, incident_factory, change_of):
    """A record no valid producer writes (here: a time without a zone) is rejected and reported."""
    good = incident_factory(incidentId="inc_good", eventCount=30)
    bad = incident_factory(incidentId="inc_bad", eventCount=3)
    bad = bad.model_copy(update={"createdAt": bad.createdAt.replace(tzinfo=None)})
    policy.observe(change_of(bad, "created"))
    policy.observe(change_of(good, "created"))
    errors = []

    due = policy.due(on_error=lambda incident, exc: errors.append((incident.incidentId, type(exc).__name__)))

    assert [d.incident.incidentId for d in due] == ["inc_good"]
    assert errors == [("inc_bad", "TypeError")]
    assert policy.get("inc_bad") is None
    clock.advance(60)
    assert policy.due() == []
    # A newer version is followed again.
    policy.observe(change_of(incident_factory(incidentId="inc_bad", version=2, eventCount=30), "updated"))
    assert [d.incident.incidentId for d in policy.due()] == ["inc_bad"]
