"""What the summarizer writes for known incidents, checked against each case's expectations."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from incident_shared.schemas import Incident
from summarizer.app import build_service
from summarizer.metrics import SummarizerMetrics
from summarizer.settings import SummarizerSettings

pytestmark = pytest.mark.ai_quality

CASES = json.loads((Path(__file__).parent / "cases.json").read_text())
T0 = datetime(2026, 1, 31, 12, 0, tzinfo=UTC)


def _incident(spec: dict[str, Any]) -> Incident:
    templates = [
        {"firstSeen": T0, "lastSeen": T0 + timedelta(minutes=9), "errorType": None} | t for t in spec.pop("templates")
    ]
    return Incident.model_validate(
        {
            "incidentId": "inc_quality",
            "version": 3,
            "firstSeen": T0,
            "lastSeen": T0 + timedelta(minutes=9),
            "createdAt": T0,
            "updatedAt": T0 + timedelta(minutes=9),
            "templates": templates,
        }
        | spec
    )


@pytest.fixture(scope="module")
def engine():
    settings = SummarizerSettings()
    return build_service(settings, SummarizerMetrics.create(CollectorRegistry())).engine


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
async def test_case(engine, case):
    outcome = await engine.summarize(_incident(dict(case["incident"])))
    s = outcome.summary
    print(f"\n--- {case['name']} [{s.kind} {s.provider} {s.model}]")  # for a person reviewing the run
    print(f"summary: {s.summary}\nroot cause: {s.rootCause}\nactions: {s.suggestedActions}")
    print(f"confidence: {s.confidence} evidence: {s.evidence.model_dump()}")
    if engine.provider is not None:
        assert outcome.fallback_reason is None, f"fell back to rules: {outcome.fallback_reason}"

    expect = case["expect"]
    everything = " ".join([s.summary, s.rootCause, *s.suggestedActions]).lower()
    if words := expect.get("rootCauseMentionsAny"):
        assert any(w.lower() in s.rootCause.lower() for w in words), s.rootCause
    if words := expect.get("actionsMentionAny"):
        assert any(w.lower() in " ".join(s.suggestedActions).lower() for w in words), s.suggestedActions
    for phrase in expect.get("mustNotContain", []):
        assert phrase.lower() not in everything, phrase
    for service in expect.get("evidenceServicesInclude", []):
        assert service in s.evidence.services
    assert expect.get("minConfidence", 0) <= s.confidence <= expect.get("maxConfidence", 1)
