"""The rule-based summarizer: useful, and labelled as rule-based."""

from __future__ import annotations

import pytest

from summarizer.digest import build_digest
from summarizer.rules import LABEL, summarize_by_rules

pytestmark = pytest.mark.unit


def _summarize(incident, clock, **kw):
    return summarize_by_rules(incident, build_digest(incident), generated_at=clock.now, **kw)


def test_a_timeout_storm_names_origin_dependency_and_first_actions(incident_factory, clock):
    s = _summarize(incident_factory(eventCount=120), clock, reason="no AI provider configured")
    assert s.kind == "rule-based"
    assert s.provider == "rule-based"
    assert s.summary.startswith(LABEL)
    assert "120 events" in s.summary
    assert "payment-service" in s.rootCause
    assert "db-primary" in s.rootCause
    assert "no AI provider configured" in s.rootCause
    assert any("db-primary" in a for a in s.suggestedActions)
    assert 1 <= len(s.suggestedActions) <= 5
    assert s.evidence.templates == ["fp_timeout"]
    assert s.basedOnVersion == 1


@pytest.mark.parametrize(
    "case",
    [
        ("Connection refused connecting to redis-cache:<NUM>", None, "refusing"),
        ("Container killed: OOMKilled", None, "memory"),
        ("x509: certificate has expired", None, "certificate"),
        ("HikariPool-1 - Connection is not available, pool exhausted", None, "connection pool"),
        ("write failed: No space left on device", None, "disk"),
        ("request failed with status 401 Unauthorized", None, "authentication"),
        ("Too many requests from <IP>", "RateLimitError", "rate limited"),
        ("Deadlock found when trying to get lock", None, "lock contention"),
    ],
)
def test_error_families(incident_factory, template_factory, clock, case):
    text, error_type, expected = case
    incident = incident_factory(title=text, templates=[template_factory("fp1", text, error_type=error_type)])
    assert expected in _summarize(incident, clock).rootCause


def test_an_unknown_failure_says_so_and_keeps_generic_actions(incident_factory, template_factory, clock):
    incident = incident_factory(
        title="widget frobnication mismatch",
        templates=[template_factory("fp1", "widget frobnication mismatch")],
    )
    s = _summarize(incident, clock)
    assert "undetermined" in s.rootCause
    assert s.confidence <= 0.2
    assert s.suggestedActions


def test_an_incident_without_templates_still_gets_a_summary(incident_factory, clock):
    s = _summarize(incident_factory(templates=[], probableOrigin=None), clock)
    assert s.summary.startswith(LABEL)
    assert s.suggestedActions
