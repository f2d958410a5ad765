"""Faults under a steady load, on a stack of its own (tests/support/fault_stack.py): the aggregator
stopped, then killed (a supervisor restarts it), Kafka stopped for 30 s, the MongoDB-protocol
server for 60 s, the AI provider failing. The scenario runs once (tests/support/fault_scenario.py,
a few minutes); each test checks one promise against what happened. `make bench` prints the same
scenario's table (benchmarks/bench_faults.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from support.fault_scenario import PhaseResult, Report, run_scenario
from support.fault_stack import fault_base

pytestmark = [pytest.mark.e2e, pytest.mark.faults, pytest.mark.timeout(1800)]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
async def report() -> Report:
    lines: list[str] = []

    def log(line: str) -> None:
        lines.append(line)
        print(line, file=sys.stderr, flush=True)  # progress, shown live with -s and with a failure

    result = await run_scenario(log=log)
    table = f"{result.table()}\n\n{result.details()}"
    out = ROOT / ".local" / f"faults-{fault_base()}-report.txt"
    out.write_text("\n".join([*lines, "", table, ""]))
    print(f"\n{table}\n(written to {out})")  # shown with -s, and kept in the file
    return result


def _phase(report: Report, prefix: str) -> PhaseResult:
    return next(p for p in report.phases if p.name.startswith(prefix))


def test_every_event_that_got_a_2xx_is_in_mongodb_exactly_once(report: Report) -> None:
    table = report.table()
    assert _phase(report, "none").accepted >= 50, f"the load did not run:\n{table}"
    for phase in report.phases:
        assert phase.missing == 0, f"{phase.name}: {phase.missing} accepted events are not in MongoDB\n{table}"
        assert phase.duplicates == 0, f"{phase.name}: {phase.duplicates} duplicates in MongoDB\n{table}"


def test_every_fault_is_recovered_from_and_no_service_needed_a_manual_restart(report: Report) -> None:
    table = report.table()
    for phase in report.phases:
        assert phase.recovery_seconds is not None, f"{phase.name}: never recovered ({phase.notes})\n{table}"
    assert report.drained, f"the backlog did not drain after the load stopped\n{table}"
    assert report.not_ready_at_end == [], table
    # The supervisor restarts the aggregator once, after it was killed, as Kubernetes would; no service
    # exits or wedges by itself: each rides out Kafka and MongoDB outages in place.
    unasked = [(p.name, dict(p.restarts)) for p in report.phases if p.restarts and not p.name.endswith("SIGKILL")]
    assert unasked == [], f"restarted by the supervisor without being killed: {unasked}\n{table}"


def test_every_event_is_in_its_incident_and_mongodb_holds_each_incident_s_latest_version(report: Report) -> None:
    assert report.live_incidents >= 5, report.table()
    assert report.unassigned == {}, report.details()
    assert report.projection_mismatches == [], report.details()


@pytest.mark.xfail(
    reason="after a stop of the aggregator in the middle of a batch, incidents have ended with event"
    " counts lower than a replay's (the events themselves stored with their incident), in about half"
    " the runs. Two causes are fixed: a batch the worker did not finish is never acknowledged, and a"
    " replayed batch's equal incident version (cut differently, so other contents) now replaces the"
    " first in history and in replay's view of the topic, as compaction does. Passed in the first run"
    " since; kept non-strict until repeated runs confirm it",
    strict=False,
)
def test_incidents_end_as_in_a_fault_free_run_of_the_same_events(report: Report) -> None:
    d = report.incident_diff
    assert (d["onlyLive"], d["onlyReplay"], d["changed"]) == ([], [], []), report.details()


def test_the_gateway_says_when_no_aggregator_runs_and_when_it_is_back(report: Report) -> None:
    phase = _phase(report, "aggregator stopped")
    assert phase.notes["reported after s"] is not None, phase.notes
    assert "incidents are not being updated" in phase.notes["health said"]
    assert phase.notes["cleared after s"] is not None, phase.notes


def test_kafka_down_means_503_never_a_2xx_for_an_event_not_stored(report: Report) -> None:
    phase = _phase(report, "Kafka stopped")
    status, body = phase.notes["gateway while down"]
    assert status == 503, body
    assert "kafka" in body["down"]
    refused = [e for e in report.sent if e.phase == phase.name and 503 in e.statuses]
    assert refused, "no request met Kafka down: the fault did not happen under load"


def test_a_failing_ai_provider_gives_rule_based_summaries_then_ai_ones_again(report: Report) -> None:
    phase = _phase(report, "AI provider failing")
    assert phase.notes["breaker while failing"]["data"]["state"] in ("open", "half-open"), phase.notes
    assert (phase.notes["incident while failing"] or {}).get("summaryKind") == "rule-based", phase.notes
    assert (phase.notes["incident after"] or {}).get("summaryKind") == "ai", phase.notes
