"""Why an incident is not part of another one a person might expect it in.

When a failure opens an incident of its own while other incidents of its correlation key are
open, each of those is a near miss a person may wonder about. For each, the reason the matching
rules gave no match, with the numbers they compared:

- the same service failing in two incidents: the error types differ and the constant words are
  not similar enough (the similarity and the threshold);
- related services (a declared dependency, or one's messages naming the other) whose failures
  are too far apart: the gap and the cascade window;
- a dependency failing under a caller's incident: it joins only with a failure of severity
  `cascade_dependency_severity`+ on both sides;
- services with no known relation: no dependency declared, and neither names the other.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from aggregator.engine.config import CorrelationConfig
from aggregator.engine.decisions import Decision
from aggregator.engine.rules import Probe, SimilarWords
from aggregator.engine.state import GroupState, IncidentState


def _relation(a: str, b: str, group: GroupState, calls: Mapping[str, set[str]]) -> str | None:
    """How `a` relates to `b`, if it does: it depends on `b` (declared, or named in its messages)."""
    if b in calls.get(a, ()):
        return f"{a} depends on {b} (declared)"
    if b in group.evidence.get(a, ()):
        return f"{a}'s messages name {b}"
    return None


class NearMisses:
    def __init__(self, config: CorrelationConfig, similar: SimilarWords, calls: Mapping[str, set[str]]) -> None:
        self.config = config
        self.similar = similar
        self.calls = calls

    def among(self, p: Probe, others: Sequence[IncidentState], group: GroupState) -> list[dict[str, Any]]:
        """The near misses among the open incidents `others`, those of the same service first."""
        quiet = self.config.quiet_period
        nearby = [o for o in others if o.first_seen - quiet <= p.t <= o.last_failure + quiet]
        nearby.sort(key=lambda o: (p.service not in o.services, -o.last_failure))
        return [
            self.why_not(p, o, group).to_dict(incidentId=o.incident_id, service=p.service)
            for o in nearby[: self.config.max_sample_events]
        ]

    def why_not(self, p: Probe, other: IncidentState, group: GroupState) -> Decision:
        service = p.service
        if service in other.services:
            score, shared = self.similar.score(p, other)
            types = other.error_types.get(service, [])
            detail = (
                f"{service} also fails in {other.incident_id}, in other words: similarity {score:.2f} "
                f"(at least {self.similar.threshold:.2f} joins)"
            )
            if p.error_type or types:
                detail += f"; error type {p.error_type or 'none'}, there {', '.join(types) or 'none'}"
            return Decision("different-failure", detail, score=score, evidence=tuple(sorted(shared)[:8]))
        window = self.config.cascade_window
        for affected in sorted(other.services):
            how = _relation(service, affected, group, self.calls) or _relation(affected, service, group, self.calls)
            if how is None:
                continue
            gap = p.t - other.last_failure
            if gap > window:
                return Decision(
                    "outside-cascade-window",
                    f"{how}, but {service} started failing {gap / 60:.1f} min after {other.incident_id}'s last "
                    f"failure (cascade window {window / 60:.0f} min)",
                    score=gap,
                )
            floor = self.config.cascade_dependency_severity
            return Decision(
                "below-dependency-severity",
                f"{how}; a dependency joins its caller's incident only when both fail at severity {floor}+ "
                f"(here {p.severity} and {other.services[affected].max_severity})",
                evidence=(affected,),
            )
        services = ", ".join(sorted(other.services))
        return Decision(
            "unrelated",
            f"{service} and {services} fail at the same time, but no dependency joins them and neither's "
            "messages name the other",
        )
