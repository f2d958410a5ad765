"""The severity score (1-5) of an incident, as a small additive model that explains itself.

score = 1 + peak event severity + service criticality + spike + breadth + duration + flapping,
rounded and clamped to 1..5. Each term is reported as a `SeverityFactor`-shaped dict, so a person
can see why an incident is a 4 and not a 2.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

_PEAK = {1: 0.0, 2: 0.5, 3: 1.0, 4: 1.5, 5: 2.5}
_TIER = {1: 1.0, 2: 0.5, 3: 0.0}


@dataclass(frozen=True, slots=True)
class ScoreInput:
    peak_severity: int
    best_tier: int  # the most critical tier among the affected services
    spike: float  # this minute's rate over the baseline mean (1 = normal)
    services: int
    duration_s: float
    flapping: bool


def _factor(name: str, value: float, contribution: float, detail: str) -> dict[str, Any]:
    return {"name": name, "value": round(value, 2), "contribution": contribution, "detail": detail}


def score(inp: ScoreInput) -> tuple[int, list[dict[str, Any]]]:
    factors = [
        _factor(
            "peakSeverity",
            inp.peak_severity,
            _PEAK.get(inp.peak_severity, 0.0),
            f"the most severe event is severity {inp.peak_severity}",
        ),
        _factor(
            "criticality",
            inp.best_tier,
            _TIER.get(inp.best_tier, 0.0),
            f"the most critical affected service is tier {inp.best_tier}",
        ),
    ]
    if inp.spike >= 10:
        spike, detail = 1.0, "far above its usual rate"
    elif inp.spike >= 3:
        spike, detail = 0.5, "above its usual rate"
    elif inp.spike <= 1.5:
        spike, detail = -0.5, "at its usual rate: a chronic stream"
    else:
        spike, detail = 0.0, "slightly above its usual rate"
    factors.append(_factor("spike", inp.spike, spike, f"{inp.spike:.1f}x the baseline: {detail}"))
    breadth = 1.0 if inp.services >= 3 else 0.5 if inp.services == 2 else 0.0
    factors.append(_factor("breadth", inp.services, breadth, f"{inp.services} service(s) affected"))
    minutes = inp.duration_s / 60
    duration = 1.0 if minutes >= 120 else 0.5 if minutes >= 30 else 0.0
    factors.append(_factor("duration", minutes, duration, f"{minutes:.0f} minute(s) long"))
    if inp.flapping:
        factors.append(_factor("flapping", 1, -0.5, "keeps failing and recovering"))
    total = 1.0 + sum(f["contribution"] for f in factors)
    return max(1, min(5, int(total + 0.5))), factors
