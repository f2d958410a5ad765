"""A compact, bounded digest of an incident: what the model (and the rule-based summarizer) reads.

Raw events never go to the model. The digest keeps what a person would look at first: the affected
services and the probable origin, the top failure templates with counts, first and last seen, a
coarse timeline, the severity factors and a few sample events. It is cut down step by step until
its estimated size fits `max_tokens`, so a huge incident costs the same as a small one.

Templates get short ids (`T1`, `T2`, ...) that the model cites as evidence; the digest maps them
back to fingerprints, and anything cited that is not in the digest is dropped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from incident_shared.codec import dumps
from incident_shared.schemas import Incident
from incident_shared.schemas.incidents import TemplateCount, TimelinePoint
from incident_shared.timeutil import iso


@dataclass(frozen=True, slots=True)
class _Level:
    templates: int
    samples: int
    text_chars: int
    timeline_points: int
    services: int


# From generous to bare: the first level that fits the token bound is used.
_LEVELS: Final = (
    _Level(templates=10, samples=5, text_chars=400, timeline_points=30, services=25),
    _Level(templates=8, samples=3, text_chars=240, timeline_points=20, services=20),
    _Level(templates=5, samples=2, text_chars=160, timeline_points=12, services=15),
    _Level(templates=3, samples=1, text_chars=100, timeline_points=6, services=10),
    _Level(templates=2, samples=0, text_chars=80, timeline_points=4, services=6),
)
# JSON of short technical strings runs at about 3 characters a token; erring high keeps the bound.
CHARS_PER_TOKEN: Final = 3.0


def estimate_tokens(text: str) -> int:
    return math.ceil(len(text) / CHARS_PER_TOKEN)


@dataclass(frozen=True, slots=True)
class Digest:
    data: dict[str, Any]
    json: str  # `data` as compact JSON: what the prompt embeds
    estimated_tokens: int
    template_ids: dict[str, str]  # T1 -> fingerprint
    services: frozenset[str]  # every affected service (the evidence the model may cite)
    dominant: TemplateCount | None  # the most frequent template, for the rule-based summarizer

    def fingerprints_for(self, cited: list[str]) -> list[str]:
        """Fingerprints of the cited template ids (or fingerprints), unknown ones dropped."""
        known = set(self.template_ids.values())
        out: list[str] = []
        for ref in cited:
            fp = self.template_ids.get(ref.strip(), ref.strip() if ref.strip() in known else None)
            if fp is not None and fp not in out:
                out.append(fp)
        return out


def _clip(text: str | None, limit: int) -> str | None:
    if text is None:
        return None
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _timeline(points: list[TimelinePoint], limit: int) -> list[dict[str, Any]]:
    """Per-minute totals across services, merged pairwise until at most `limit` rows remain."""
    per_minute: dict[datetime, dict[str, Any]] = {}
    for p in points:
        row = per_minute.setdefault(p.minute, {"from": p.minute, "count": 0, "maxSeverity": 0, "services": set()})
        row["count"] += p.count
        row["maxSeverity"] = max(row["maxSeverity"], p.maxSeverity)
        row["services"].add(p.service)
    rows = [per_minute[m] for m in sorted(per_minute)]
    while len(rows) > limit > 0:
        merged = []
        for i in range(0, len(rows), 2):
            pair = rows[i : i + 2]
            merged.append(
                {
                    "from": pair[0]["from"],
                    "count": sum(r["count"] for r in pair),
                    "maxSeverity": max(r["maxSeverity"] for r in pair),
                    "services": set().union(*(r["services"] for r in pair)),
                }
            )
        rows = merged
    if limit == 0:
        rows = []
    return [
        {
            "from": iso(r["from"]),
            "events": r["count"],
            "maxSeverity": r["maxSeverity"],
            "services": len(r["services"]),
        }
        for r in rows
    ]


def _sample(event: dict[str, Any], chars: int) -> dict[str, Any]:
    return {
        "service": _clip(str(event.get("service", "")), 100),
        "severity": event.get("severity"),
        "timestamp": event.get("timestamp") if isinstance(event.get("timestamp"), str) else None,
        "errorType": _clip(event["errorType"], 100) if isinstance(event.get("errorType"), str) else None,
        "message": _clip(str(event.get("message", "")), chars),
    }


def _build(incident: Incident, level: _Level) -> tuple[dict[str, Any], dict[str, str]]:
    templates = sorted(incident.templates, key=lambda t: (-t.count, t.firstSeen))[: level.templates]
    ids = {f"T{i}": t.fingerprint for i, t in enumerate(templates, start=1)}
    duration = (incident.lastSeen - incident.firstSeen).total_seconds() / 60
    services = incident.affectedServices[: level.services]
    data: dict[str, Any] = {
        "incident": {
            "title": _clip(incident.title, level.text_chars),
            "status": incident.status,
            "severityScore": incident.severityScore,
            "eventCount": incident.eventCount,
            "firstSeen": iso(incident.firstSeen),
            "lastSeen": iso(incident.lastSeen),
            "durationMinutes": round(duration, 1),
            "flapping": incident.flapping,
            "flapCount": incident.flapCount,
        },
        "services": {
            "probableOrigin": incident.probableOrigin,
            "affected": services,
            "affectedTotal": len(incident.affectedServices),
        },
        "severityFactors": [
            {
                "name": f.name,
                "value": round(f.value, 3),
                "contribution": round(f.contribution, 3),
                "detail": _clip(f.detail, 160),
            }
            for f in incident.severityFactors[:8]
        ],
        "templates": [
            {
                "id": tid,
                "service": t.service,
                "errorType": _clip(t.errorType, 100),
                "count": t.count,
                "firstSeen": iso(t.firstSeen),
                "lastSeen": iso(t.lastSeen),
                "template": _clip(t.template, level.text_chars),
            }
            for tid, t in zip(ids, templates, strict=True)
        ],
        "templatesTotal": len(incident.templates),
        "timeline": _timeline(incident.timeline, level.timeline_points),
        "sampleEvents": [_sample(e, level.text_chars) for e in incident.sampleEvents[: level.samples]],
    }
    return data, ids


def build_digest(incident: Incident, *, max_tokens: int = 2000) -> Digest:
    """The largest digest level whose estimated size fits `max_tokens` (the smallest if none does)."""
    for level in _LEVELS:
        data, ids = _build(incident, level)
        text = dumps(data).decode()
        tokens = estimate_tokens(text)
        if tokens <= max_tokens or level is _LEVELS[-1]:
            break
    dominant = max(incident.templates, key=lambda t: t.count, default=None)
    return Digest(
        data=data,
        json=text,
        estimated_tokens=tokens,
        template_ids=ids,
        services=frozenset(incident.affectedServices),
        dominant=dominant,
    )
