"""The correlation settings: timings, thresholds, caps, service tiers and the topology.

One generic configuration serves every source; what an operator tunes lives in one TOML file
(`deploy/config/correlation.toml`, path from CORRELATION_CONFIG). A missing file gives the defaults.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from incident_shared.topology import Topology, topology_from_mapping


@dataclass(frozen=True, slots=True)
class CorrelationConfig:
    """Every knob of the engine. Durations are in seconds of event time unless named `wall`."""

    quiet_period: float = 600.0  # an incident with no event for this long is over
    max_duration: float = 4 * 3600.0  # after this an incident is locked; later events open a new one
    open_threshold: int = 3  # events of severity >= 3 within the open window that open an incident
    open_window: float = 600.0  # ... counted within this window
    immediate_severity: int = 5  # an event this severe opens an incident at once
    low_severity_max: int = 2  # events at or below never open an incident on their own
    # Warnings (severity up to this) open an incident only as a burst: `open_threshold` of them
    # within `warning_burst_window`, and not when the template is mostly logged at severity 1-2.
    # A service without a baseline yet: its warnings wait until they have gone on for
    # `warning_settle`, and while they are less than `warning_share` of its lines in the burst window
    # unless they go on (`warning_sustain_count` within `warning_sustain_window`).
    warning_max_severity: int = 3
    warning_burst_window: float = 120.0
    warning_settle: float = 30.0
    warning_share: float = 0.5
    warning_sustain_window: float = 300.0
    warning_sustain_count: int = 9
    # A service watched this long has a baseline per template: a count that is not unusual at the
    # template's usual rate (probability above `baseline_p_value`) opens nothing.
    baseline_min_history: float = 1200.0
    baseline_p_value: float = 0.0001
    # A failure that comes back within this long after its incident closed (quiet, or resolved by
    # its source) reopens that incident and counts a cycle; a flapping incident ends only after
    # this long without a failure.
    recurrence_window: float = 3600.0
    cascade_window: float = 300.0  # a dependent service failing this close joins the incident
    cascade_dependency_severity: int = 4  # a dependency joins its caller's incident from this severity
    similarity_threshold: float = 0.3  # constant-word overlap for two templates of one service to be one failure
    relink_window: float = 24 * 3600.0  # a new incident of a failure seen within this links to the previous one
    flap_threshold: int = 3  # cycles (recovered or quiet, then failing again) that mark an incident flapping
    baseline_half_life: float = 1800.0  # EWMA half-life of per-minute rates
    dedupe_window: float = 3600.0  # event ids remembered for this long (event time)
    allowed_lateness: float = 120.0  # an event this much older than its group's clock still counts as now
    # Caps that keep memory flat under an endless stream of new services and messages.
    max_open_per_group: int = 50
    max_closed_per_group: int = 20
    max_templates_per_incident: int = 20
    max_timeline_points: int = 240
    max_sample_events: int = 5
    max_template_clusters: int = 20_000
    max_aliases_per_group: int = 1000  # fingerprint aliases (and learned templates) kept per group
    max_groups: int = 100_000  # groups with nothing open beyond this are forgotten, least recent first
    max_baselines: int = 50_000
    baseline_idle_expiry: float = 24 * 3600.0
    pending_expiry: float = 600.0
    # Service criticality: tier 1 is critical, 3 is best effort.
    tiers: Mapping[str, int] = field(default_factory=dict)
    default_tier: int = 2
    topology: Topology = field(default_factory=Topology)

    def tier(self, service: str) -> int:
        return self.tiers.get(service, self.default_tier)


_SCALARS = {f.name for f in fields(CorrelationConfig)} - {"tiers", "topology"}


def config_from_mapping(data: Mapping[str, Any]) -> CorrelationConfig:
    """Builds a config from parsed TOML: `[correlation]` knobs, `[tiers]` and `[topology]` tables."""
    knobs = dict(data.get("correlation", {}))
    unknown = sorted(set(knobs) - _SCALARS)
    if unknown:
        raise ValueError(f"unknown correlation settings: {', '.join(unknown)}")
    tiers: dict[str, int] = {}
    for tier_name, services in dict(data.get("tiers", {})).items():
        if tier_name == "default":
            knobs["default_tier"] = int(services)
            continue
        level = int(str(tier_name).removeprefix("tier"))
        for service in services:
            tiers[str(service)] = level
    topology = topology_from_mapping(data)
    base = CorrelationConfig()
    typed = {k: type(getattr(base, k))(v) for k, v in knobs.items()}
    return replace(base, tiers=tiers, topology=topology, **typed)


def load_config(path: str | Path | None) -> CorrelationConfig:
    """Reads the TOML file at `path`; None or a missing file gives the defaults."""
    if path is None:
        return CorrelationConfig()
    p = Path(path)
    if not p.exists():
        return CorrelationConfig()
    with p.open("rb") as fh:
        return config_from_mapping(tomllib.load(fh))
