"""Backtesting: how close the incidents of a replay come to what a person says they should be.

A labels file names, for each event id, the true incident it belongs to (any string); events it
does not name, or names with an empty label, are noise: they belong to no incident. The incidents
of a replay are scored against it as a person sees them (an incident merged into a cascade is part
of its root):

- **pairwise precision and recall**: of the pairs of events the replay put in one incident, the
  share that truly belong together; of the pairs that truly belong together, the share the replay
  put in one incident (events outside any incident, and noise, are pairs with nothing);
- **incidents per true incident**: into how many incidents each true incident was split (1 is
  best), and how many true incidents got none of their events into an incident (missed);
- **noise-only incidents**: incidents made of noise alone, each of which would page someone.

`worse` compares a candidate config's score with a baseline config's over the same events.
"""

from __future__ import annotations

import csv
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

_TOLERANCE = 0.001


def load_labels(path: str | Path) -> dict[str, str]:
    """Event id -> true incident, from a JSON object, JSON lines (`{"eventId", "incident"}`), or
    CSV (`eventId,incident`, an optional header). An empty label is noise."""
    text = Path(path).read_text(encoding="utf-8")
    stripped = text.lstrip()
    if stripped.startswith("{") and not stripped.startswith('{"eventId"'):
        data = orjson.loads(text)
        if not isinstance(data, dict):
            raise ValueError(f"{path}: expected a JSON object of event id -> incident")
        return {str(k): str(v) for k, v in data.items() if v}
    labels: dict[str, str] = {}
    if stripped.startswith("{"):
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            row = orjson.loads(line)
            if not isinstance(row, dict) or "eventId" not in row:
                raise ValueError(f'{path}:{n}: expected {{"eventId": ..., "incident": ...}}')
            if row.get("incident"):
                labels[str(row["eventId"])] = str(row["incident"])
        return labels
    for row in csv.reader(text.splitlines()):
        if len(row) < 2 or row[0].strip() in ("", "eventId"):
            continue
        if row[1].strip():
            labels[row[0].strip()] = row[1].strip()
    return labels


def _pairs(n: int) -> int:
    return n * (n - 1) // 2


@dataclass(frozen=True)
class Score:
    events: int  # events scored (labelled, or in an incident)
    incidents: int  # incidents as a person sees them
    true_incidents: int
    precision: float
    recall: float
    incidents_per_true: float  # over the true incidents found at all
    missed: int  # true incidents none of whose events is in an incident
    noise_only: int  # incidents made of unlabelled events alone
    noise_events_in_incidents: int

    @property
    def f1(self) -> float:
        if self.precision + self.recall == 0:
            return 0.0
        return 2 * self.precision * self.recall / (self.precision + self.recall)

    def to_dict(self) -> dict[str, Any]:
        return {
            "events": self.events,
            "incidents": self.incidents,
            "trueIncidents": self.true_incidents,
            "precision": round(self.precision, 4),
            "recall": round(self.recall, 4),
            "f1": round(self.f1, 4),
            "incidentsPerTrueIncident": round(self.incidents_per_true, 3),
            "missed": self.missed,
            "noiseOnlyIncidents": self.noise_only,
            "noiseEventsInIncidents": self.noise_events_in_incidents,
        }

    def lines(self) -> list[str]:
        return [
            f"pairwise precision {self.precision:.3f}  recall {self.recall:.3f}  F1 {self.f1:.3f}",
            f"incidents {self.incidents} for {self.true_incidents} true incidents: "
            f"{self.incidents_per_true:.2f} incidents per true incident, {self.missed} missed",
            f"noise-only incidents {self.noise_only} ({self.noise_events_in_incidents} noise events in incidents)",
        ]


def score(assigned: Mapping[str, str | None], labels: Mapping[str, str], roots: Mapping[str, str]) -> Score:
    """Scores the replay's assignment (event id -> incident id, or None) against `labels`.

    `roots` maps an incident merged into a cascade to its root (others map to themselves or are absent).
    """
    cells: Counter[tuple[str, str]] = Counter()
    by_incident: Counter[str] = Counter()
    by_label: Counter[str] = Counter()
    labels_of: dict[str, set[str]] = defaultdict(set)
    incidents_of: dict[str, set[str]] = defaultdict(set)
    noise_events = 0
    scored = 0
    for event_id in set(assigned) | set(labels):
        incident = assigned.get(event_id)
        label = labels.get(event_id)
        if incident is None and label is None:
            continue
        scored += 1
        if incident is not None:
            incident = roots.get(incident, incident)
            by_incident[incident] += 1
            if label is None:
                noise_events += 1
        if label is not None:
            by_label[label] += 1
        if incident is not None and label is not None:
            cells[incident, label] += 1
            labels_of[incident].add(label)
            incidents_of[label].add(incident)
    together = sum(_pairs(n) for n in cells.values())
    predicted = sum(_pairs(n) for n in by_incident.values())
    true = sum(_pairs(n) for n in by_label.values())
    found = [len(v) for k, v in incidents_of.items() if k in by_label]
    return Score(
        events=scored,
        incidents=len(by_incident),
        true_incidents=len(by_label),
        precision=together / predicted if predicted else 1.0,
        recall=together / true if true else 1.0,
        incidents_per_true=sum(found) / len(found) if found else 0.0,
        missed=len(by_label) - len(found),
        noise_only=sum(1 for inc in by_incident if not labels_of.get(inc)),
        noise_events_in_incidents=noise_events,
    )


def worse(candidate: Score, baseline: Score) -> list[str]:
    """Why `candidate` is worse than `baseline` (empty when it is not)."""
    reasons = []
    if candidate.f1 < baseline.f1 - _TOLERANCE:
        reasons.append(f"pairwise F1 {candidate.f1:.3f} < {baseline.f1:.3f}")
    if candidate.noise_only > baseline.noise_only:
        reasons.append(f"noise-only incidents {candidate.noise_only} > {baseline.noise_only}")
    if candidate.missed > baseline.missed:
        reasons.append(f"missed true incidents {candidate.missed} > {baseline.missed}")
    # Splits compare only over the same true incidents found (finding one more may add a split).
    if candidate.missed == baseline.missed and candidate.incidents_per_true > baseline.incidents_per_true + _TOLERANCE:
        reasons.append(
            f"incidents per true incident {candidate.incidents_per_true:.2f} > {baseline.incidents_per_true:.2f}"
        )
    return reasons


def assignments(outcomes: Iterable[tuple[str, str | None, list[str]]]) -> dict[str, str | None]:
    """Event id -> incident id from (event id, incident id, ids of earlier events assigned with it)."""
    out: dict[str, str | None] = {}
    for event_id, incident_id, earlier in outcomes:
        out[event_id] = incident_id
        if incident_id is not None:
            for e in earlier:
                out[e] = incident_id
    return out
