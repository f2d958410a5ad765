"""How the engine's state is shown: the `Incident` every consumer sees, and the cross-key candidate.

An incident merged into a cascade counts its members' services, events, templates and timeline as
its own (their snapshots, from the cross-key stage). Timeline points are built once per value and
reused by later versions of the incident: most of them are closed minutes that no longer change.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aggregator.engine.state import IncidentState
from incident_shared.schemas.incidents import Incident, TimelinePoint

_CANDIDATE_TEMPLATES = 5
_CANDIDATE_TIMELINE = 60
# A candidate carries its top templates as rows in this order (compact on the wire).
TEMPLATE_FIELDS = ("fingerprint", "template", "service", "errorType", "count", "firstSeen", "lastSeen")
_MAX_POINT_CACHES = 4096  # incidents whose built timeline points are kept for their next version
_SHOWN_TEMPLATES = 10
_SHOWN_IDENTITIES = 20


def dt(t: float) -> datetime:
    return datetime.fromtimestamp(round(t, 3), tz=UTC)


def extent(inc: IncidentState) -> tuple[set[str], int, int, float, float]:
    """Services, event count, peak severity, first and last event time of an incident together
    with the incidents merged into it (their snapshots)."""
    services = set(inc.services)
    count, peak, first, last = inc.event_count, inc.peak_severity, inc.first_seen, inc.last_seen
    for m in inc.linked.values():
        services.update(m["services"])
        count += int(m["eventCount"])
        peak = max(peak, int(m["peakSeverity"]))
        first, last = min(first, m["firstSeen"]), max(last, m["lastSeen"])
    return services, count, peak, first, last


def candidate(inc: IncidentState) -> dict[str, Any]:
    """What the cross-key stage needs to know of an incident."""
    top = sorted(inc.templates.values(), key=lambda s: (-s.count, s.first))[:_CANDIDATE_TEMPLATES]
    return {
        "incidentId": inc.incident_id,
        "routingKey": inc.key,
        "status": inc.status,
        "resolution": inc.resolution,
        "firstSeen": inc.first_seen,
        "lastSeen": inc.last_seen,
        "lastFailure": inc.last_failure,
        "eventCount": inc.event_count,
        "peakSeverity": inc.peak_severity,
        "services": {s: [v.first, v.last, v.count, v.max_severity] for s, v in sorted(inc.services.items())},
        "names": list(inc.names),
        "templates": [[t.fingerprint, t.template, t.service, t.error_type, t.count, t.first, t.last] for t in top],
        "timeline": dict(sorted(inc.timeline.items())[-_CANDIDATE_TIMELINE:]),
        "mergedInto": inc.merged_into,
    }


def _reason(d: dict[str, Any]) -> dict[str, Any]:
    return {k: d[k] for k in ("rule", "detail", "score", "evidence") if k in d}


def explanation(inc: IncidentState) -> dict[str, Any]:
    """Why the incident is what it is: opened, joined (per template), merged, not merged, history."""
    joined = []
    for fp, why in inc.why.items():
        stat = inc.templates.get(fp)
        if stat is not None:
            joined.append(
                {
                    "fingerprint": fp,
                    "service": stat.service,
                    "template": stat.template,
                    "at": dt(why["at"]),
                    **_reason(why),
                }
            )
    merged = [{"incidentId": mid, **_reason(m["why"])} for mid, m in sorted(inc.linked.items()) if m.get("why")]
    return {
        "opened": _reason(inc.opened) if inc.opened else None,
        "joined": joined,
        "merged": merged,
        "notMerged": [
            {"incidentId": n.get("incidentId"), "service": n.get("service"), **_reason(n)} for n in inc.not_merged
        ],
        "history": [{"what": h["what"], "at": dt(h["at"]), "detail": h["detail"]} for h in inc.history],
    }


class IncidentView:
    """Builds `Incident`s, keeping the built timeline points of recent incidents."""

    def __init__(self, max_timeline_points: int) -> None:
        self._max_points = max_timeline_points
        self._points: dict[str, dict[str, tuple[int, int, TimelinePoint]]] = {}

    def incident(self, inc: IncidentState) -> Incident:
        top = sorted(inc.templates.values(), key=lambda s: (-s.count, s.first))
        title_tpl = top[0].template if top else ""
        origin = inc.origin or (top[0].service if top else inc.key)
        templates: list[dict[str, Any]] = [
            {
                "fingerprint": s.fingerprint,
                "template": s.template,
                "service": s.service,
                "errorType": s.error_type,
                "count": s.count,
                "firstSeen": s.first,
                "lastSeen": s.last,
            }
            for s in top[:_SHOWN_TEMPLATES]
        ]
        services, event_count, _, first_seen, last_seen = extent(inc)
        counts = inc.timeline
        for m in inc.linked.values():  # the incidents merged into this one count as its own
            templates.extend(dict(zip(TEMPLATE_FIELDS, t, strict=True)) for t in m["templates"])
            if counts is inc.timeline:
                counts = {k: list(v) for k, v in inc.timeline.items()}
            for k, (count, maxsev) in m["timeline"].items():
                acc = counts.setdefault(k, [0, 0])
                acc[0] += count
                acc[1] = max(acc[1], maxsev)
        if inc.linked:
            templates.sort(key=lambda t: (-t["count"], t["firstSeen"]))
            del templates[_SHOWN_TEMPLATES:]
        for t in templates:
            t["firstSeen"], t["lastSeen"] = dt(t["firstSeen"]), dt(t["lastSeen"])
        summary = inc.summary
        data: dict[str, Any] = {
            "incidentId": inc.incident_id,
            "version": max(inc.version, 1),
            "status": inc.status,
            "title": f"{origin}: {title_tpl}"[:200],
            "correlationKey": inc.key,
            "routingKey": inc.key,
            "severityScore": inc.score,
            "severityFactors": inc.factors,
            "affectedServices": sorted(services),
            "probableOrigin": origin,
            "eventCount": event_count,
            "firstSeen": dt(first_seen),
            "lastSeen": dt(last_seen),
            "flapping": inc.flapping,
            "flapCount": inc.flap_count,
            "recovering": inc.recovering_since is not None,
            "previousIncidentId": inc.previous_incident_id,
            "mergedInto": inc.merged_into,
            "mergedIncidentIds": sorted(inc.linked),
            "templates": templates,
            "timeline": self._timeline(inc.incident_id, counts),
            "sampleEvents": inc.samples,
            "identities": [
                {"identity": k, "kind": v[0], "service": v[1], "resolved": v[3], "at": dt(v[4])}
                for k, v in list(inc.identities.items())[:_SHOWN_IDENTITIES]
            ],
            "explanation": explanation(inc),
            "assignee": inc.assignee,
            "notes": [{"author": n["author"], "text": n["text"], "at": dt(n["at"])} for n in inc.notes],
            "acknowledgedAt": dt(inc.acknowledged_at) if inc.acknowledged_at else None,
            "acknowledgedBy": inc.acknowledged_by,
            "resolvedAt": dt(inc.resolved_at) if inc.resolved_at else None,
            "resolvedBy": inc.resolved_by if inc.status == "resolved" else None,
            "resolution": inc.resolution,
            "lastCommandId": inc.last_command_id,
            "createdAt": dt(inc.created_at),
            "updatedAt": dt(inc.updated_at),
        }
        if summary:
            data.update(
                aiGeneratedSummary=summary["aiGeneratedSummary"],
                rootCause=summary["rootCause"],
                suggestedActions=summary["suggestedActions"],
                summaryKind=summary["summaryKind"],
                summaryProvider=summary["summaryProvider"],
                summaryModel=summary["summaryModel"],
                summaryConfidence=summary["summaryConfidence"],
                summarizedAt=dt(summary["summarizedAt"]),
                summaryBasedOnVersion=summary["basedOnVersion"],
            )
        return Incident.model_validate(data)

    def _timeline(self, incident_id: str, counts: dict[str, list[int]]) -> list[TimelinePoint]:
        points = self._points.get(incident_id)
        if points is None:
            if len(self._points) >= _MAX_POINT_CACHES:
                self._points.clear()
            points = self._points[incident_id] = {}
        elif len(points) > 2 * self._max_points:
            points = self._points[incident_id] = {k: v for k, v in points.items() if k in counts}
        timeline: list[TimelinePoint] = []
        for k, (count, maxsev) in sorted(counts.items()):
            cached = points.get(k)
            if cached is None or cached[0] != count or cached[1] != maxsev:
                minute, _, service = k.partition("|")
                point = TimelinePoint(minute=dt(int(minute) * 60), service=service, count=count, maxSeverity=maxsev)
                points[k] = (count, maxsev, point)
            else:
                point = cached[2]
            timeline.append(point)
        return timeline
