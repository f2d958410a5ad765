"""Backtesting: `incidentctl replay` over a file of events, scored against labels, compared with a
baseline config; and the scores themselves."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from aggregator.backtest import load_labels, score, worse
from aggregator.cli import EXIT_USAGE, EXIT_WORSE, main
from support.engine_scenarios import Scenario, healthy_background

pytestmark = pytest.mark.unit


def test_scores_count_pairs_splits_misses_and_noise() -> None:
    labels = {"a1": "A", "a2": "A", "a3": "A", "a4": "A", "b1": "B", "b2": "B", "c1": "C"}
    assigned: dict[str, str | None] = {
        "a1": "inc1",
        "a2": "inc1",
        "a3": "inc2",  # A split in two
        "a4": "inc2",
        "b1": "inc3",
        "b2": None,  # half of B left out
        "c1": None,  # C missed
        "n1": "inc4",  # noise alone
        "n2": "inc4",
        "n3": "inc3",  # noise in B's incident
    }
    s = score(assigned, labels, roots={})
    # Pairs put together: inc1 1, inc2 1, inc3 1 (b1, n3), inc4 1 = 4; truly together among them: 2.
    assert s.precision == pytest.approx(2 / 4)
    # Pairs truly together: A 6, B 1 = 7; put together: 2.
    assert s.recall == pytest.approx(2 / 7)
    assert s.incidents == 4
    assert s.true_incidents == 3
    assert s.incidents_per_true == pytest.approx((2 + 1) / 2)
    assert s.missed == 1
    assert s.noise_only == 1
    assert s.noise_events_in_incidents == 3
    # Merging inc2 into inc1 (a cascade) mends the split.
    merged = score(assigned, labels, roots={"inc2": "inc1"})
    assert merged.recall == pytest.approx(6 / 7)
    assert merged.incidents_per_true == 1.0


def test_a_config_is_worse_when_it_scores_lower_or_opens_more_noise() -> None:
    labels = {"a1": "A", "a2": "A"}
    good = score({"a1": "i", "a2": "i"}, labels, {})
    split = score({"a1": "i", "a2": "j"}, labels, {})
    noisy = score({"a1": "i", "a2": "i", "n": "k"}, labels, {})
    assert worse(good, good) == []
    assert any("F1" in r for r in worse(split, good))
    assert any("noise-only" in r for r in worse(noisy, good))
    assert worse(good, split) == []


def test_labels_load_from_json_json_lines_and_csv(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text(json.dumps({"evt_1": "db", "evt_2": "", "evt_3": "db"}))
    lines = [{"eventId": "evt_1", "incident": "db"}, {"eventId": "evt_2", "incident": None}]
    (tmp_path / "b.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    (tmp_path / "c.csv").write_text("eventId,incident\nevt_1,db\nevt_2,\n")
    assert load_labels(tmp_path / "a.json") == {"evt_1": "db", "evt_3": "db"}
    assert load_labels(tmp_path / "b.jsonl") == {"evt_1": "db"}
    assert load_labels(tmp_path / "c.csv") == {"evt_1": "db"}


def _storm(tmp_path: Path) -> tuple[Path, Path]:
    """Chatty healthy services, a database failure its callers name, and a certificate expiry."""
    s = healthy_background(Scenario(), ["cart", "search", "orders", "orders-db", "auth"], minutes=60)
    s.emit("orders-db", 5, "FATAL: remaining connection slots are reserved", at=40, count=20, every=6)
    s.emit("orders", 4, "Timeout after 5000ms calling orders-db (query {i})", at=40.5, count=20, every=6)
    s.emit("auth", 4, "certificate expired for host idp.example.com", at=45, count=10, every=12)
    truth = {"orders-db": "db-outage", "orders": "db-outage", "auth": "cert"}
    events: list[dict[str, Any]] = []
    labels: dict[str, str] = {}
    for e in s.events:
        events.append(
            {"eventId": e.eventId, "service": e.service, "severity": e.severity, "timestamp": e.timestamp.isoformat(),
             "message": e.message}
        )  # fmt: skip
        if e.severity >= 4:
            labels[e.eventId] = truth[e.service]
    events_file = tmp_path / "events.jsonl"
    events_file.write_text("\n".join(json.dumps(e) for e in events) + "\n")
    labels_file = tmp_path / "labels.json"
    labels_file.write_text(json.dumps(labels))
    return events_file, labels_file


def test_replay_of_a_file_scored_against_labels(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    events, labels = _storm(tmp_path)
    assert main(["replay", "--events", str(events), "--labels", str(labels), "--json"]) == 0
    out = capsys.readouterr().out.splitlines()
    incidents, scores = json.loads(out[0]), json.loads(out[1])["score"]
    shown = [i for i in incidents if i["mergedInto"] is None]
    assert len(shown) == 2
    assert scores["trueIncidents"] == 2
    assert scores["noiseOnlyIncidents"] == 0
    assert scores["missed"] == 0
    assert scores["incidentsPerTrueIncident"] == 1.0
    assert scores["precision"] == 1.0
    assert scores["recall"] > 0.9


def test_replay_exits_non_zero_when_the_config_is_worse_than_the_baseline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events, labels = _storm(tmp_path)
    deaf = tmp_path / "deaf.toml"
    deaf.write_text("[correlation]\nopen_threshold = 1000\nimmediate_severity = 6\n")
    shipped = "deploy/config/correlation.toml"
    argv = ["replay", "--events", str(events), "--labels", str(labels)]
    assert main([*argv, "--config", str(deaf), "--baseline-config", shipped]) == EXIT_WORSE
    captured = capsys.readouterr()
    assert "worse than the baseline" in captured.err
    assert "missed true incidents 2 > 0" in captured.err
    assert "pairwise precision" in captured.out
    assert main([*argv, "--config", shipped, "--baseline-config", str(deaf)]) == 0


def test_replay_explains_each_incident_and_what_stayed_events(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events, _ = _storm(tmp_path)
    assert main(["replay", "--events", str(events), "--explain"]) == 0
    out = capsys.readouterr().out
    assert "opened: [immediate-severity] an event of severity 5 opens an incident at once" in out
    assert "merged" in out
    assert 'name "orders-db"' in out
    assert "Failures that stayed events:" in out


def test_replay_says_what_is_missing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", "--from", "2026-01-01T00:00:00Z"]) == EXIT_USAGE
    assert "--from and --to are required" in capsys.readouterr().err
    events, _ = _storm(tmp_path)
    assert main(["replay", "--events", str(events), "--baseline-config", "x.toml"]) == EXIT_USAGE
    assert "give --labels too" in capsys.readouterr().err
