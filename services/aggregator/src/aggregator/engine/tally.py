"""What an incident counts: its events per service, template and minute, its samples, the names
its messages point at, what it reports on and why each template is part of it. All bounded.
"""

from __future__ import annotations

from typing import Any

from aggregator.engine.config import CorrelationConfig
from aggregator.engine.decisions import Decision
from aggregator.engine.lifecycle import note_identity
from aggregator.engine.names import names_in
from aggregator.engine.state import IncidentState, PendingEvent, ServiceStat, TemplateStat
from aggregator.engine.templates import signature_tokens

MAX_TOKENS = 64
_MAX_NAMES = 64  # names kept per incident (cross-key evidence)
_MAX_ERROR_TYPES = 10


class Tally:
    def __init__(self, config: CorrelationConfig) -> None:
        self.config = config

    def add(
        self,
        inc: IncidentState,
        line: PendingEvent,
        *,
        failure: bool,
        why: Decision | dict[str, Any],
        tokens: frozenset[str] | None = None,
        sample: bool = True,
    ) -> None:
        """Counts one event. `line.api` is its API form when `sample`, else at least its message,
        metadata and dedupKey. `why` it joined is kept for a template new to the incident."""
        fp = line.fingerprint
        if fp not in inc.templates:
            if failure:
                self.note_names(inc, str(line.api.get("message") or ""), line.api.get("metadata"))
            if fp not in inc.why and len(inc.why) < self.config.max_templates_per_incident:
                inc.why[fp] = why if isinstance(why, dict) else why.to_dict(at=line.t)
        if failure:
            dedup_key = line.api.get("dedupKey")
            identity, kind = (dedup_key, "dedupKey") if dedup_key else (fp, "fingerprint")
            note_identity(inc, identity, kind, line.service, line.error_type, resolved=False, t=line.t)
        self._count(inc, line, failure)
        self._template(inc, line, failure, tokens)
        self._timeline(inc, line)
        if sample and len(inc.samples) < self.config.max_sample_events:
            inc.samples.append(line.api)

    def _count(self, inc: IncidentState, line: PendingEvent, failure: bool) -> None:
        t, severity = line.t, line.severity
        inc.event_count += 1
        if t > inc.last_seen:
            inc.last_seen = t
        elif t < inc.first_seen:
            inc.first_seen = t
        if failure:
            inc.last_failure = max(inc.last_failure, t)
            inc.peak_severity = max(inc.peak_severity, severity)
            inc.severity_total += severity
            if line.error_type:
                ets = inc.error_types.setdefault(line.service, [])
                if line.error_type not in ets and len(ets) < _MAX_ERROR_TYPES:
                    ets.append(line.error_type)
        stat = inc.services.get(line.service)
        if stat is None:
            inc.services[line.service] = ServiceStat(t, t, 1, severity)
            inc.origin = None
            return
        stat.count += 1
        if t < stat.first:
            stat.first = t
            inc.origin = None
        stat.last = max(stat.last, t)
        stat.max_severity = max(stat.max_severity, severity)

    def _template(self, inc: IncidentState, line: PendingEvent, failure: bool, tokens: frozenset[str] | None) -> None:
        t = line.t
        ts = inc.templates.get(line.fingerprint)
        if ts is not None:
            ts.count += 1
            if t < ts.first:
                ts.first = t
            elif t > ts.last:
                ts.last = t
            if ts.template != line.template:
                ts.template = line.template  # the cluster's template generalised
            return
        if len(inc.templates) >= self.config.max_templates_per_incident:
            return
        inc.templates[line.fingerprint] = TemplateStat(
            line.fingerprint, line.template, line.service, line.error_type, 1, t, t
        )
        if failure:
            words = inc.tokens.setdefault(line.service, [])
            for w in sorted(tokens if tokens is not None else signature_tokens(line.template)):
                if w not in words and len(words) < MAX_TOKENS:
                    words.append(w)

    def _timeline(self, inc: IncidentState, line: PendingEvent) -> None:
        tk = f"{int(line.t // 60)}|{line.service}"
        point = inc.timeline.get(tk)
        if point is None:
            inc.timeline[tk] = [1, line.severity]
            if len(inc.timeline) > self.config.max_timeline_points:
                del inc.timeline[min(inc.timeline)]
        else:
            point[0] += 1
            point[1] = max(point[1], line.severity)

    def note_names(self, inc: IncidentState, message: str, metadata: Any) -> None:
        """Keeps what a new kind of failure message names (a bounded sample: one per template)."""
        if len(inc.names) >= _MAX_NAMES:
            return
        own = inc.services
        for name in names_in(message, metadata if isinstance(metadata, dict) else None):
            if name not in own and name not in inc.names:
                inc.names.append(name)
                if len(inc.names) >= _MAX_NAMES:
                    return


def rename_fingerprint(inc: IncidentState, loser: str, survivor: str) -> bool:
    """Moves what the incident counts under `loser` to `survivor` (two fingerprints named one
    template cluster); returns whether anything moved."""
    moved = False
    stat = inc.templates.pop(loser, None)
    if stat is not None:
        moved = True
        kept = inc.templates.get(survivor)
        if kept is None:
            stat.fingerprint = survivor
            inc.templates[survivor] = stat
        else:
            kept.count += stat.count
            kept.first = min(kept.first, stat.first)
            kept.last = max(kept.last, stat.last)
    why = inc.why.pop(loser, None)
    if why is not None:
        inc.why.setdefault(survivor, why)
    identity = inc.identities.pop(loser, None)
    if identity is not None:
        moved = True
        inc.identities.setdefault(survivor, identity)
    return moved
