"""Commands from people and summaries from the summarizer, applied to incidents."""

from __future__ import annotations

from datetime import timedelta

import pytest

from aggregator.engine import CorrelationEngine, MemoryStore
from incident_shared.schemas.incidents import IncidentCommand, IncidentSummary
from support.engine_scenarios import T0, Scenario

pytestmark = pytest.mark.unit


def _engine_with_incident() -> tuple[CorrelationEngine, str]:
    s = Scenario().emit("payments", 5, "ledger unreachable", count=3)
    engine = CorrelationEngine(s.config, MemoryStore())
    for e in s.events:
        engine.process(e)
    [created] = engine.flush()
    return engine, created.incident.incidentId


def _cmd(incident_id: str, action: str, n: int, **kw: object) -> IncidentCommand:
    return IncidentCommand.model_validate(
        {
            "commandId": f"cmd_{n}",
            "incidentId": incident_id,
            "action": action,
            "actor": "alice",
            "issuedAt": T0 + timedelta(minutes=5 + n),
            **kw,
        }
    )


def test_acknowledge_assign_note_resolve_reopen() -> None:
    engine, iid = _engine_with_incident()
    steps = [
        (_cmd(iid, "acknowledge", 1), "updated", "acknowledged"),
        (_cmd(iid, "assign", 2, assignee="bob"), "updated", "acknowledged"),
        (_cmd(iid, "note", 3, note="looking at the ledger"), "updated", "acknowledged"),
        (_cmd(iid, "resolve", 4), "resolved", "resolved"),
        (_cmd(iid, "reopen", 5), "updated", "active"),
    ]
    version = 1
    for cmd, action, status in steps:
        assert engine.apply_command(cmd, "payments").applied
        [change] = engine.flush()
        assert change.action == action
        assert change.incident.status == status
        assert change.incident.lastCommandId == cmd.commandId
        assert change.incident.version == version + 1
        version = change.incident.version
    inc = change.incident
    assert inc.assignee == "bob"
    assert inc.acknowledgedBy == "alice"
    assert [n.text for n in inc.notes] == ["looking at the ledger"]
    assert inc.resolution is None


def test_a_manual_resolve_records_who_and_when() -> None:
    engine, iid = _engine_with_incident()
    engine.apply_command(_cmd(iid, "resolve", 1), "payments")
    [change] = engine.flush()
    assert change.incident.resolution == "manual"
    assert change.incident.resolvedBy == "alice"
    assert change.incident.resolvedAt == T0 + timedelta(minutes=6)


def test_a_command_applied_twice_changes_nothing_the_second_time() -> None:
    engine, iid = _engine_with_incident()
    cmd = _cmd(iid, "acknowledge", 1)
    assert engine.apply_command(cmd, "payments").applied
    engine.flush()
    result = engine.apply_command(cmd, "payments")
    assert not result.applied
    assert engine.flush() == []


def test_a_command_for_an_unknown_incident_is_refused() -> None:
    engine, _ = _engine_with_incident()
    assert engine.apply_command(_cmd("inc_nope", "acknowledge", 1), "payments").reason == "unknown incident"


def test_a_command_routed_under_another_key_still_finds_its_incident() -> None:
    engine, iid = _engine_with_incident()
    assert engine.apply_command(_cmd(iid, "acknowledge", 1), "elsewhere").applied


def _summary(iid: str, version: int, text: str) -> IncidentSummary:
    return IncidentSummary.model_validate(
        {
            "incidentId": iid,
            "basedOnVersion": version,
            "kind": "rule-based",
            "provider": "rule-based",
            "summary": text,
            "rootCause": "the ledger is down",
            "suggestedActions": ["restart the ledger"],
            "confidence": 0.4,
            "generatedAt": T0 + timedelta(minutes=2),
        }
    )


def test_a_summary_is_merged_and_published_as_summary_updated() -> None:
    engine, iid = _engine_with_incident()
    assert engine.apply_summary(_summary(iid, 1, "payments cannot reach its ledger"), "payments")
    [change] = engine.flush()
    assert change.action == "summary_updated"
    inc = change.incident
    assert inc.aiGeneratedSummary == "payments cannot reach its ledger"
    assert inc.rootCause == "the ledger is down"
    assert inc.suggestedActions == ["restart the ledger"]
    assert inc.summaryKind == "rule-based"
    assert inc.summaryProvider == "rule-based"
    assert inc.summaryConfidence == 0.4
    assert inc.summaryBasedOnVersion == 1
    assert inc.summarizedAt == T0 + timedelta(minutes=2)


def test_an_older_summary_does_not_replace_a_newer_one() -> None:
    engine, iid = _engine_with_incident()
    engine.apply_summary(_summary(iid, 5, "newer"), "payments")
    engine.flush()
    assert not engine.apply_summary(_summary(iid, 2, "older"), "payments")
    assert engine.flush() == []
