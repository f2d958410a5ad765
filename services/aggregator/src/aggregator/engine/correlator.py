# ruff: noqa: PLR0912, PLR0915, PLR0917 - the grouping rules read best as one function each
"""The correlation engine: events in, incident changes out. Pure, deterministic, event-time driven.

Grouping, per correlation key (a service, or the group the topology puts it in):
- an event joins an open incident of its key that already has its fingerprint; else one where the
  same service fails in a similar way (same error type, or similar constant words); else one that a
  dependent service's failure started within the cascade window (dependencies from the topology,
  or evidence: a message naming another affected service);
- otherwise it waits in a pending cluster until enough events (severity >= 3) or one critical event
  open a new incident; low-severity events never open one;
- an incident quiet for the quiet period (event time, or wall time with nothing received) is over;
  one older than the maximum duration is locked. A recurrence opens a new incident linked to the
  previous one. A failure that keeps coming back after recoveries is one incident, marked flapping.

Changes are collected and turned into `IncidentChange`s by `flush()`, one per incident per flush,
so that a batch of a thousand events costs one update per incident, not a thousand.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aggregator.engine.baseline import Baselines
from aggregator.engine.config import CorrelationConfig
from aggregator.engine.names import names_in
from aggregator.engine.severity import ScoreInput, score
from aggregator.engine.state import (
    GroupState,
    IncidentState,
    Pending,
    PendingEvent,
    ServiceStat,
    TemplateStat,
)
from aggregator.engine.store import EngineStore
from aggregator.engine.templates import Template, TemplateMiner, jaccard
from incident_shared.ids import stable_id
from incident_shared.schemas.events import Event
from incident_shared.schemas.incidents import (
    Incident,
    IncidentAction,
    IncidentChange,
    IncidentCommand,
    IncidentSummary,
    TimelinePoint,
)

Clock = Callable[[], float]
_MAX_GROUP_SERVICES = 200
_MAX_TOKENS = 64
_ROLLUP_MINUTES = 180  # rollup counts kept per group: events later than this are counted from 1 again
_MAX_ROLLUPS = 2000
_MAX_NAMES = 64  # names kept per incident (cross-key evidence)
_CANDIDATE_TEMPLATES = 5
# A candidate carries its top templates as rows in this order (compact on the wire).
_TEMPLATE_FIELDS = ("fingerprint", "template", "service", "errorType", "count", "firstSeen", "lastSeen")
_CANDIDATE_TIMELINE = 60
_MAX_POINT_CACHES = 4096  # incidents whose built timeline points are kept for their next version


def _last_failure(inc: IncidentState) -> float:
    return inc.last_failure


def _extent(inc: IncidentState) -> tuple[set[str], int, int, float, float]:
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


def _dt(t: float) -> datetime:
    return datetime.fromtimestamp(round(t, 3), tz=UTC)


@dataclass(slots=True)
class Outcome:
    """What became of one event: its template and fingerprint, and the incident it joined (if any).

    `assigned` lists earlier events (ids) that joined the incident this event opened.
    """

    event: Event
    correlation_key: str
    template: str
    fingerprint: str
    incident_id: str | None
    assigned: list[str] = field(default_factory=list)
    rollup: int = 0  # events so far in this event's (minute, service, severity), this one included


@dataclass(slots=True)
class CommandResult:
    applied: bool
    reason: str = ""
    # (incident id, routing key) of incidents merged into this one that the command applies to too:
    # acknowledging or resolving a cascade acknowledges or resolves all of it.
    forward: list[tuple[str, str]] = field(default_factory=list)


class CorrelationEngine:
    """One engine serves any number of correlation keys; its state lives in `store`.

    `clock` gives wall time (epoch seconds) for createdAt/updatedAt and for closing incidents that
    went quiet in wall time; without one (replay, tests) the event time stands in for it, which
    makes every output a function of the events alone.
    """

    def __init__(
        self,
        config: CorrelationConfig,
        store: EngineStore,
        *,
        clock: Clock | None = None,
        miner: TemplateMiner | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self._clock = clock
        self._now_event = 0.0
        self.miner = miner or TemplateMiner(max_clusters=config.max_template_clusters)
        self.baselines = Baselines(
            store,
            half_life=config.baseline_half_life,
            max_keys=config.max_baselines,
            idle_expiry=config.baseline_idle_expiry,
        )
        self._group_of = config.topology.group_index()
        # Declared dependencies, transitively: a database failing shows up in its callers' callers
        # even when the caller in between logs nothing. `_calls[s]`: everything s depends on.
        calls = {s: set(d) for s, d in config.topology.depends_on.items()}
        self._calls: dict[str, set[str]] = {}
        for service, direct in calls.items():
            seen: set[str] = set()
            todo = list(direct)
            while todo:
                dep = todo.pop()
                if dep not in seen and dep != service:
                    seen.add(dep)
                    todo.extend(calls.get(dep, ()))
            if seen:
                self._calls[service] = seen
        self._dirty: dict[str, GroupState] = {}
        self._actions: dict[str, tuple[GroupState, list[IncidentAction]]] = {}
        self._candidates: list[dict[str, Any]] = []
        self._points: dict[str, dict[str, tuple[int, int, TimelinePoint]]] = {}

    # -- public API -------------------------------------------------------------------------------

    def correlation_key(self, service: str) -> str:
        return self._group_of.get(service, service)

    def now(self) -> float:
        return self._clock() if self._clock else self._now_event

    def process(self, event: Event, *, source: str | None = None, offset: int = -1) -> Outcome | None:
        """Takes one event; returns None for a duplicate.

        A duplicate is an event id already seen, or (when the caller names the record's `source`
        and `offset`) a record at or before the last one of that source applied to the group.
        """
        service = event.service
        key = self._group_of.get(service, service)
        group = None
        if source is not None:
            group = self._group(key)
            if offset <= group.offsets.get(source, -1):
                return None
            group.offsets[source] = offset
        # Store keys of per-group data start with the correlation key and \x1f: a partitioned
        # store keeps everything of one group together.
        prefix = key + "\x1f"
        t = event.timestamp.timestamp()
        minute = int(t // 60)
        # <group>\x1f<minute>\x1f<id>: a store may keep the ids of one group's minute together
        # (a duplicate carries the same timestamp, so the same minute).
        seen_key = f"{prefix}{minute}\x1f{event.eventId}"
        tag = f"{source}@{offset}" if source is not None else ""
        store = self.store
        seen = store.seen(seen_key)
        # Seen at this very position means the id was stored but not the group (a partial write
        # before a crash): the record is new to the group. Seen elsewhere, it is a duplicate.
        if seen is not None and (not tag or seen != tag):
            return None
        cfg = self.config
        store.remember(seen_key, t, tag)
        self._now_event = max(self._now_event, t)
        tpl = self.miner.template(service, event.errorType, event.message)
        if group is None:
            group = self._group(key)
        group.clock = max(group.clock, t)
        wall = self._clock() if self._clock else self._now_event
        group.last_wall = wall
        if service not in group.services and len(group.services) < _MAX_GROUP_SERVICES:
            group.services.append(service)
        self._close_quiet_by_event_time(group)
        spike = max(
            self.baselines.observe(prefix + "s:" + service, t),
            self.baselines.observe(prefix + "f:" + tpl.fingerprint, t),
        )
        mentions = self._mentions(group, service, event.message)
        if mentions:
            known = group.evidence.setdefault(service, [])
            for m in mentions:
                if m not in known and len(known) < 20:
                    known.append(m)

        outcome = Outcome(event, key, tpl.template, tpl.fingerprint, None)
        rk = f"{minute}|{service}|{event.severity}"
        outcome.rollup = group.rollups[rk] = group.rollups.get(rk, 0) + 1
        if len(group.rollups) > _MAX_ROLLUPS:
            horizon = minute - _ROLLUP_MINUTES
            group.rollups = {k: v for k, v in group.rollups.items() if int(k.split("|", 1)[0]) >= horizon}
        if event.resolved:
            inc = self._match(group, event, tpl, t, mentions, recovery=True)
            if inc is not None:
                inc.recovering_since = t
                self._add(group, inc, event, tpl, t, wall, spike, failure=False)
                outcome.incident_id = inc.incident_id
            return outcome

        inc = self._match(group, event, tpl, t, mentions, recovery=False)
        if inc is not None and t - inc.first_seen > cfg.max_duration:
            self._close(group, inc, "locked", inc.last_failure)
            previous: str | None = inc.incident_id
            inc = self._open(group, key, [self._pending_event(event, tpl, t)], previous, t, wall)
            self._touch_score(inc, spike)
            outcome.incident_id = inc.incident_id
            return outcome
        if inc is not None:
            if inc.recovering_since is not None:
                inc.recovering_since = None
                inc.flap_count += 1
                if inc.flap_count >= cfg.flap_threshold:
                    inc.flapping = True
            self._add(group, inc, event, tpl, t, wall, spike, failure=True)
            outcome.incident_id = inc.incident_id
            return outcome
        if event.severity <= cfg.low_severity_max:
            return outcome

        pending = self._pending_for(group, event, tpl)
        pending.count += 1
        pending.first = min(pending.first, t)
        pending.last = max(pending.last, t)
        cap = max(cfg.open_threshold, cfg.max_sample_events)
        if len(pending.events) < cap:
            pending.events.append(self._pending_event(event, tpl, t))
        if event.severity >= cfg.immediate_severity or pending.count >= cfg.open_threshold:
            del group.pending[pending.fingerprint]
            previous = self._previous(group, service, tpl)
            inc = self._open(group, key, pending.events, previous, pending.first, wall)
            inc.event_count += pending.count - len(pending.events)
            outcome.incident_id = inc.incident_id
            outcome.assigned = [e.event_id for e in pending.events if e.event_id != event.eventId]
            self._touch_score(inc, spike)
        return outcome

    def apply_command(self, command: IncidentCommand, key: str | None = None) -> CommandResult:
        """Applies a person's change. Re-applying the last applied command is a no-op."""
        found = self._find(command.incidentId, key)
        if found is None:
            return CommandResult(False, "unknown incident")
        group, inc = found
        if inc.last_command_id == command.commandId:
            return CommandResult(False, "already applied")
        at = command.issuedAt.timestamp()
        wall = self.now() or at
        action: IncidentAction = "updated"
        if command.action == "acknowledge":
            if inc.status == "active":
                inc.status = "acknowledged"
                inc.acknowledged_at = at
                inc.acknowledged_by = command.actor
        elif command.action == "resolve":
            if inc.status != "resolved":
                self._close(group, inc, "manual", at, actor=command.actor, emit=False)
            action = "resolved"
        elif command.action == "reopen":
            if inc.status == "resolved":
                group.closed.remove(inc)
                group.open.append(inc)
                inc.status = "active"
                inc.resolution = inc.resolved_at = inc.resolved_by = None
                inc.recovering_since = None
                inc.last_wall = wall
        elif command.action == "assign":
            inc.assignee = command.assignee
        elif command.action == "note" and command.note:
            inc.notes.append({"author": command.actor, "text": command.note, "at": at})
            del inc.notes[:-50]
        inc.last_command_id = command.commandId
        inc.updated_at = wall
        self._mark(group, inc, action)
        forward = []
        if command.action in ("acknowledge", "resolve", "assign"):
            forward = [(mid, str(m.get("routingKey", ""))) for mid, m in sorted(inc.linked.items())]
        return CommandResult(True, forward=forward)

    def apply_link(self, link: dict[str, Any], key: str | None = None) -> bool:
        """Applies a decision of the cross-key stage (`Linker`); one that changes nothing is a no-op."""
        found = self._find(str(link["incidentId"]), key)
        if found is None:
            return False
        group, inc = found
        if link.get("op") == "merge":
            target = link.get("mergedInto")
            if inc.merged_into == target:
                return False
            inc.merged_into = target
            if target is not None:
                inc.linked.clear()  # a merged incident is nobody's root
        elif link.get("op") == "member":
            member_id = str(link["memberId"])
            snapshot = link.get("member")
            if snapshot is None:
                if inc.linked.pop(member_id, None) is None:
                    return False
            else:
                if inc.linked.get(member_id) == snapshot:
                    return False
                inc.linked[member_id] = snapshot
        else:
            return False
        inc.updated_at = self.now() or inc.updated_at
        self._mark(group, inc, "updated")
        return True

    def take_candidates(self) -> list[dict[str, Any]]:
        """The cross-key candidates of the incidents changed by the last flushes (then forgotten)."""
        out, self._candidates = self._candidates, []
        return out

    def candidate(self, inc: IncidentState) -> dict[str, Any]:
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

    def apply_summary(self, summary: IncidentSummary, key: str | None = None) -> bool:
        """Merges a summary unless a summary of a later version is already there."""
        found = self._find(summary.incidentId, key)
        if found is None:
            return False
        group, inc = found
        current = inc.summary.get("basedOnVersion")
        if current is not None and summary.basedOnVersion < current:
            return False
        inc.summary = {
            "aiGeneratedSummary": summary.summary,
            "rootCause": summary.rootCause,
            "suggestedActions": list(summary.suggestedActions),
            "summaryKind": summary.kind,
            "summaryProvider": summary.provider,
            "summaryModel": summary.model,
            "summaryConfidence": summary.confidence,
            "summarizedAt": summary.generatedAt.timestamp(),
            "basedOnVersion": summary.basedOnVersion,
        }
        inc.updated_at = self.now() or summary.generatedAt.timestamp()
        self._mark(group, inc, "summary_updated")
        return True

    def close_quiet(self, wall_now: float) -> None:
        """Closes incidents that received nothing for the quiet period of wall time (a timer calls it)."""
        for key in self.store.group_keys():
            group = self._load(key)
            if group is None:
                continue
            for inc in list(group.open):
                if wall_now - inc.last_wall > self.config.quiet_period:
                    self._close(group, inc, "quiet", inc.last_failure + self.config.quiet_period)
            self._expire_group(group, wall_now)

    def finish(self, watermark: float) -> None:
        """Closes what is quiet as of event time `watermark` (the end of a replayed range)."""
        for key in self.store.group_keys():
            group = self._load(key)
            if group is None:
                continue
            for inc in list(group.open):
                if watermark - inc.last_failure > self.config.quiet_period:
                    self._close(group, inc, "quiet", inc.last_failure + self.config.quiet_period)

    def expire(self, now_event: float) -> None:
        """Forgets what is older than its window: event ids, minute counts, idle baselines."""
        self.store.expire(now_event - self.config.dedupe_window)
        self.baselines.expire(now_event)

    def flush(self) -> list[IncidentChange]:
        """Writes the touched state back to the store and returns the incident changes since the last flush."""
        changes: list[IncidentChange] = []
        for incident_id, (group, actions) in self._actions.items():
            inc = group.find(incident_id)
            if inc is None:
                continue
            emit: list[IncidentAction] = []
            if "created" in actions:
                emit.append("created")
            if "resolved" in actions and (not emit or inc.status == "resolved"):
                emit.append("resolved")
            rest = [a for a in actions if a not in ("created", "resolved")]
            if not emit and rest:
                emit.append("summary_updated" if rest[-1] == "summary_updated" else "updated")
            if not emit:
                emit.append("updated")
            if inc.origin is None:
                inc.origin = self._origin(inc, group)
            self._rescore(inc)
            for action in emit:
                inc.version += 1
                changes.append(
                    IncidentChange(action=action, incident=self.to_incident(inc), emittedAt=_dt(inc.updated_at))
                )
            self._candidates.append(self.candidate(inc))
        del self._candidates[:-10_000]  # nobody takes them (an engine without the cross-key stage)
        self._actions.clear()
        for group in self._dirty.values():
            self.store.put_group(group)
        self._dirty.clear()
        self.store.commit()
        return changes

    def incidents(self) -> list[IncidentState]:
        """Every incident the store holds, open and recently closed (for replay and tests)."""
        out: list[IncidentState] = []
        for key in self.store.group_keys():
            group = self._load(key)
            if group is not None:
                out.extend(group.closed)
                out.extend(group.open)
        return sorted(out, key=lambda i: (i.first_seen, i.incident_id))

    def to_incident(self, inc: IncidentState) -> Incident:
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
            for s in top[:10]
        ]
        services, event_count, _, first_seen, last_seen = _extent(inc)
        counts = inc.timeline
        for m in inc.linked.values():  # the incidents merged into this one count as its own
            templates.extend(dict(zip(_TEMPLATE_FIELDS, t, strict=True)) for t in m["templates"])
            if counts is inc.timeline:
                counts = {k: list(v) for k, v in inc.timeline.items()}
            for k, (count, maxsev) in m["timeline"].items():
                acc = counts.setdefault(k, [0, 0])
                acc[0] += count
                acc[1] = max(acc[1], maxsev)
        if inc.linked:
            templates.sort(key=lambda t: (-t["count"], t["firstSeen"]))
            del templates[10:]
        for t in templates:
            t["firstSeen"], t["lastSeen"] = _dt(t["firstSeen"]), _dt(t["lastSeen"])
        # Most points of a timeline are closed minutes that no longer change: each point is built
        # (and validated) once per value and reused by later versions of the incident.
        points = self._points.get(inc.incident_id)
        if points is None:
            if len(self._points) >= _MAX_POINT_CACHES:
                self._points.clear()
            points = self._points[inc.incident_id] = {}
        elif len(points) > 2 * self.config.max_timeline_points:
            points = self._points[inc.incident_id] = {k: v for k, v in points.items() if k in counts}
        timeline: list[TimelinePoint] = []
        for k, (count, maxsev) in sorted(counts.items()):
            cached = points.get(k)
            if cached is None or cached[0] != count or cached[1] != maxsev:
                minute, _, service = k.partition("|")
                point = TimelinePoint(minute=_dt(int(minute) * 60), service=service, count=count, maxSeverity=maxsev)
                points[k] = (count, maxsev, point)
            else:
                point = cached[2]
            timeline.append(point)
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
            "firstSeen": _dt(first_seen),
            "lastSeen": _dt(last_seen),
            "flapping": inc.flapping,
            "flapCount": inc.flap_count,
            "previousIncidentId": inc.previous_incident_id,
            "mergedInto": inc.merged_into,
            "mergedIncidentIds": sorted(inc.linked),
            "templates": templates,
            "timeline": timeline,
            "sampleEvents": inc.samples,
            "assignee": inc.assignee,
            "notes": [{"author": n["author"], "text": n["text"], "at": _dt(n["at"])} for n in inc.notes],
            "acknowledgedAt": _dt(inc.acknowledged_at) if inc.acknowledged_at else None,
            "acknowledgedBy": inc.acknowledged_by,
            "resolvedAt": _dt(inc.resolved_at) if inc.resolved_at else None,
            "resolvedBy": inc.resolved_by,
            "resolution": inc.resolution,
            "lastCommandId": inc.last_command_id,
            "createdAt": _dt(inc.created_at),
            "updatedAt": _dt(inc.updated_at),
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
                summarizedAt=_dt(summary["summarizedAt"]),
                summaryBasedOnVersion=summary["basedOnVersion"],
            )
        return Incident.model_validate(data)

    # -- grouping ---------------------------------------------------------------------------------

    def _group(self, key: str) -> GroupState:
        group = self._load(key)
        if group is None:
            group = self._dirty[key] = GroupState(key=key)
        return group

    def _load(self, key: str) -> GroupState | None:
        group = self._dirty.get(key)
        if group is None:
            group = self.store.get_group(key)
            if group is not None:
                self._dirty[key] = group
        return group

    def _joins_cascade(self, group: GroupState, inc: IncidentState, service: str, severity: int, affected: str) -> bool:
        """Whether a failure of `service` belongs to `inc`, where `affected` fails.

        Failures spread to callers: a service that depends on an affected one (declared, or named in
        its messages) joins with any failure. The other way round, a dependency joins only with a
        real failure (severity 4+, `cascade_dependency_severity`) of its own and of the affected
        caller: a caller's routine warnings in an incident are not what broke its dependency, and
        must not pull every failure of its dependencies into that incident.
        """
        if affected in self._calls.get(service, ()) or affected in group.evidence.get(service, ()):
            return True
        if service in self._calls.get(affected, ()) or service in group.evidence.get(affected, ()):
            floor = self.config.cascade_dependency_severity
            return severity >= floor and inc.services[affected].max_severity >= floor
        return False

    def _mentions(self, group: GroupState, service: str, message: str) -> list[str]:
        if not message:
            return []
        return [s for s in group.services if s != service and s in message]

    def _match(
        self, group: GroupState, event: Event, tpl: Template, t: float, mentions: list[str], *, recovery: bool
    ) -> IncidentState | None:
        cfg = self.config
        service = event.service
        quiet = cfg.quiet_period
        live = group.open
        if len(live) == 1:  # the common case: one open incident, read (never changed) in place
            only = live[0]
            if not only.first_seen - quiet <= t <= only.last_failure + quiet:
                return None
        else:
            live = [i for i in live if i.first_seen - quiet <= t <= i.last_failure + quiet]
            if not live:
                return None
            live.sort(key=_last_failure, reverse=True)  # stable, like sorting on -last_failure
        for inc in live:
            if tpl.fingerprint in inc.templates:
                return inc
        for inc in live:
            if service not in inc.services:
                continue
            if recovery:
                if not event.errorType or event.errorType in inc.error_types.get(service, ()):
                    return inc
                continue
            if event.errorType and event.errorType in inc.error_types.get(service, ()):
                return inc
            if jaccard(tpl.tokens, frozenset(inc.tokens.get(service, ()))) >= cfg.similarity_threshold:
                return inc
            if any(m in inc.services for m in mentions):
                return inc
        if recovery:
            return None
        for inc in live:
            if service in inc.services or t > inc.last_failure + cfg.cascade_window:
                continue
            if any(m in inc.services for m in mentions):
                return inc
            if event.severity > cfg.low_severity_max and any(
                self._joins_cascade(group, inc, service, event.severity, s) for s in inc.services
            ):
                return inc
        return None

    def _pending_for(self, group: GroupState, event: Event, tpl: Template) -> Pending:
        cfg = self.config
        pending = group.pending.get(tpl.fingerprint)
        if pending is not None:
            return pending
        for p in group.pending.values():
            if p.service != event.service:
                continue
            if (event.errorType and p.error_type == event.errorType) or jaccard(
                tpl.tokens, frozenset(p.tokens)
            ) >= cfg.similarity_threshold:
                return p
        pending = Pending(
            event.service,
            tpl.fingerprint,
            event.errorType,
            sorted(tpl.tokens)[:_MAX_TOKENS],
            0,
            float("inf"),
            float("-inf"),
        )
        group.pending[tpl.fingerprint] = pending
        return pending

    def _pending_event(self, event: Event, tpl: Template, t: float) -> PendingEvent:
        return PendingEvent(
            event.eventId,
            t,
            event.severity,
            event.service,
            tpl.fingerprint,
            tpl.template,
            event.errorType,
            event.to_api(),
        )

    def _previous(self, group: GroupState, service: str, tpl: Template) -> str | None:
        """The most recent closed incident of the same failure, for linking a recurrence to it."""
        for inc in reversed(group.closed):
            if (
                service in inc.services
                and (
                    tpl.fingerprint in inc.templates
                    or jaccard(tpl.tokens, frozenset(inc.tokens.get(service, ()))) >= self.config.similarity_threshold
                )
                and inc.resolved_at is not None
                and tpl
                and inc.last_seen + self.config.relink_window >= group.clock
            ):
                return inc.incident_id
        return None

    def _open(
        self, group: GroupState, key: str, events: list[PendingEvent], previous: str | None, first: float, wall: float
    ) -> IncidentState:
        cfg = self.config
        if len(group.open) >= cfg.max_open_per_group:
            oldest = min(group.open, key=lambda i: i.last_failure)
            self._close(group, oldest, "quiet", oldest.last_failure)
        # The id derives from the earliest event (by time, then id) of those that opened it, so that
        # the same events give the same id even when they arrive slightly out of order.
        first_id = min(events, key=lambda e: (e.t, e.event_id)).event_id
        inc = IncidentState(
            incident_id=stable_id("inc_", key, first_id),
            key=key,
            first_seen=first,
            last_seen=first,
            last_failure=first,
            created_at=wall or first,
            updated_at=wall or first,
            last_wall=wall,
            previous_incident_id=previous,
        )
        group.open.append(inc)
        for pe in sorted(events, key=lambda e: e.t):
            if pe.fingerprint not in inc.templates:
                self._note_names(inc, str(pe.api.get("message") or ""), pe.api.get("metadata"))
            self._add_raw(
                inc, pe.t, pe.severity, pe.service, pe.fingerprint, pe.template, pe.error_type, pe.api, failure=True
            )
        self._mark(group, inc, "created")
        return inc

    def _add(
        self,
        group: GroupState,
        inc: IncidentState,
        event: Event,
        tpl: Template,
        t: float,
        wall: float,
        spike: float,
        *,
        failure: bool,
    ) -> None:
        api = event.to_api() if len(inc.samples) < self.config.max_sample_events else None
        if failure and tpl.fingerprint not in inc.templates:
            self._note_names(inc, event.message, event.metadata)
        self._add_raw(
            inc,
            t,
            event.severity,
            event.service,
            tpl.fingerprint,
            tpl.template,
            event.errorType,
            api,
            failure=failure,
            tokens=tpl.tokens,
        )
        inc.last_wall = wall
        inc.updated_at = wall or t
        if len(inc.services) > 1:
            inc.origin = None  # recomputed at flush
        self._touch_score(inc, spike)
        self._mark(group, inc, "updated")

    def _add_raw(
        self,
        inc: IncidentState,
        t: float,
        severity: int,
        service: str,
        fp: str,
        template: str,
        error_type: str | None,
        api: dict[str, Any] | None,
        *,
        failure: bool,
        tokens: frozenset[str] | None = None,
    ) -> None:
        cfg = self.config
        inc.event_count += 1
        inc.last_seen = max(inc.last_seen, t)
        inc.first_seen = min(inc.first_seen, t)
        if failure:
            inc.last_failure = max(inc.last_failure, t)
            inc.peak_severity = max(inc.peak_severity, severity)
            inc.severity_total += severity
        stat = inc.services.get(service)
        if stat is None:
            inc.services[service] = ServiceStat(t, t, 1, severity)
            inc.origin = None
        else:
            stat.count += 1
            if t < stat.first:
                stat.first = t
                inc.origin = None
            stat.last = max(stat.last, t)
            stat.max_severity = max(stat.max_severity, severity)
        ts = inc.templates.get(fp)
        if ts is not None:
            ts.count += 1
            ts.first = min(ts.first, t)
            ts.last = max(ts.last, t)
        elif len(inc.templates) < cfg.max_templates_per_incident:
            inc.templates[fp] = TemplateStat(fp, template, service, error_type, 1, t, t)
            if failure:
                words = inc.tokens.setdefault(service, [])
                for w in sorted(
                    tokens if tokens is not None else self.miner.template(service, error_type, template).tokens
                ):
                    if w not in words and len(words) < _MAX_TOKENS:
                        words.append(w)
        if error_type and failure:
            ets = inc.error_types.setdefault(service, [])
            if error_type not in ets and len(ets) < 10:
                ets.append(error_type)
        minute = int(t // 60)
        tk = f"{minute}|{service}"
        point = inc.timeline.get(tk)
        if point is None:
            inc.timeline[tk] = [1, severity]
            if len(inc.timeline) > cfg.max_timeline_points:
                del inc.timeline[min(inc.timeline)]
        else:
            point[0] += 1
            point[1] = max(point[1], severity)
        if api is not None and len(inc.samples) < cfg.max_sample_events:
            inc.samples.append(api)

    def _note_names(self, inc: IncidentState, message: str, metadata: Any) -> None:
        """Keeps what a new kind of failure message names (a bounded sample: one per template)."""
        if len(inc.names) >= _MAX_NAMES:
            return
        own = inc.services
        for name in names_in(message, metadata if isinstance(metadata, dict) else None):
            if name not in own and name not in inc.names:
                inc.names.append(name)
                if len(inc.names) >= _MAX_NAMES:
                    return

    def _origin(self, inc: IncidentState, group: GroupState) -> str:
        """The most downstream affected dependency that failed first."""
        services = inc.services
        if len(services) == 1:
            return next(iter(services))
        declared = self.config.topology.depends_on

        def depth(s: str) -> int:
            # Affected services this one calls (declared, or named in its messages): the origin has none.
            deps = set(declared.get(s, ())) | set(group.evidence.get(s, ()))
            return sum(1 for d in deps if d in services)

        return min(services, key=lambda s: (depth(s), services[s].first, s))

    def _touch_score(self, inc: IncidentState, spike: float) -> None:
        inc.spike = spike  # the score itself is computed once per flush (`_rescore`)

    def _rescore(self, inc: IncidentState) -> None:
        spike = inc.spike
        services, _, peak, first, last = _extent(inc)  # a cascade is scored as a whole
        tiers = [self.config.tier(s) for s in services] or [self.config.default_tier]
        inc.score, inc.factors = score(
            ScoreInput(
                peak_severity=peak,
                best_tier=min(tiers),
                spike=spike,
                services=len(services),
                duration_s=last - first,
                flapping=inc.flapping,
            )
        )

    def _close(
        self,
        group: GroupState,
        inc: IncidentState,
        resolution: str,
        at: float,
        *,
        actor: str | None = None,
        emit: bool = True,
    ) -> None:
        if inc in group.open:
            group.open.remove(inc)
        inc.status = "resolved"
        inc.resolution = resolution
        inc.resolved_at = at
        inc.resolved_by = actor
        inc.recovering_since = None
        inc.updated_at = self.now() or at
        group.closed.append(inc)
        if len(group.closed) > self.config.max_closed_per_group:
            dropped = group.closed.pop(0)
            self._actions.pop(dropped.incident_id, None)
        if emit:
            self._mark(group, inc, "resolved")

    def _close_quiet_by_event_time(self, group: GroupState) -> None:
        cfg = self.config
        watermark = group.clock - cfg.allowed_lateness
        quiet = cfg.quiet_period
        # Checked first without copying: on almost every event nothing is due.
        due = False
        for inc in group.open:
            if watermark - inc.last_failure > quiet:
                due = True
                break
        if due:
            for inc in list(group.open):
                if watermark - inc.last_failure > quiet:
                    self._close(group, inc, "quiet", inc.last_failure + quiet)
        if group.pending:
            expiry = cfg.pending_expiry
            for fp, p in list(group.pending.items()):
                if watermark - p.last > expiry:
                    del group.pending[fp]

    def _expire_group(self, group: GroupState, wall_now: float) -> None:
        if not group.open and not group.pending and wall_now - group.last_wall > self.config.relink_window:
            self.store.delete_group(group.key)
            self._dirty.pop(group.key, None)

    def _find(self, incident_id: str, key: str | None) -> tuple[GroupState, IncidentState] | None:
        keys = [key] if key else list(self.store.group_keys())
        for k in keys:
            group = self._load(k)
            if group is None:
                continue
            inc = group.find(incident_id)
            if inc is not None:
                return group, inc
        if key:  # a routing key that does not hold it: look everywhere before giving up
            return self._find(incident_id, None)
        return None

    def _mark(self, group: GroupState, inc: IncidentState, action: IncidentAction) -> None:
        self._dirty[group.key] = group
        entry = self._actions.get(inc.incident_id)
        if entry is None:
            self._actions[inc.incident_id] = (group, [action])
        elif entry[1][-1] != action:
            entry[1].append(action)
