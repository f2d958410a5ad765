"""The correlation engine: events in, incident changes out. Pure, deterministic, event-time driven.

One event goes through the stages in order, each in its own module:

1. **template** (`templates.py`, `fingerprints.py`): mask and mine the message into a template,
   named by a fingerprint that holds still for the template cluster's whole life;
2. **match** (`rules.py`): the matching rules, tried in order over the open incidents of the
   event's correlation key, each returning its decision and reason;
3. **open and lifecycle** (`opening.py`, `lifecycle.py`): an unmatched failure waits in a pending
   cluster until the opening rules open an incident (threshold, immediate severity, a departure
   from the template's baseline) or reopen the one it recurs from; incidents go quiet, are resolved
   by their sources, flap, are locked;
4. **score** (`severity.py`): once per incident per flush;
5. **cascade** (`linker.py`): incidents of different correlation keys joined from evidence.

Per correlation key (a service, or the group the topology puts it in) the state is one bounded
`GroupState`, like an Alertmanager aggregation group: its own event-time clock and timers, caps on
its open, closed and pending incidents, and a cap on the number of groups.

Changes are collected and turned into `IncidentChange`s by `flush()`, one per incident per flush,
so that a batch of a thousand events costs one update per incident, not a thousand. Every decision
is kept on the incident it concerns (`Incident.explanation`).
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aggregator.engine.baseline import Baselines
from aggregator.engine.commands import CommandResult, Commands
from aggregator.engine.config import CorrelationConfig
from aggregator.engine.decisions import Decision
from aggregator.engine.explain import NearMisses
from aggregator.engine.fingerprints import Fingerprints
from aggregator.engine.groups import Groups
from aggregator.engine.lifecycle import REOPENABLE, Lifecycle, all_resolved, note_identity
from aggregator.engine.opening import Case, OpenPolicy
from aggregator.engine.rules import Probe, SimilarWords, failure_matcher, recovery_matcher
from aggregator.engine.severity import ScoreInput, score
from aggregator.engine.state import GroupState, IncidentState, Pending, PendingEvent
from aggregator.engine.store import EngineStore
from aggregator.engine.tally import MAX_TOKENS, Tally, rename_fingerprint
from aggregator.engine.templates import TemplateMiner, jaccard, signature_tokens
from aggregator.engine.view import IncidentView, candidate, dt, extent
from incident_shared.ids import stable_id
from incident_shared.schemas.events import Event
from incident_shared.schemas.incidents import (
    Incident,
    IncidentAction,
    IncidentChange,
    IncidentCommand,
    IncidentSummary,
)

Clock = Callable[[], float]
_MAX_GROUP_SERVICES = 200
_ROLLUP_MINUTES = 180  # rollup counts kept per group: events later than this are counted from 1 again
_MAX_ROLLUPS = 2000
_MAX_PENDING_TIMES = 256  # failure times kept per pending cluster (its count in the open window)
_MAX_SWEPT = 100_000


def _last_failure(inc: IncidentState) -> float:
    return inc.last_failure


def _transitive(depends_on: Mapping[str, tuple[str, ...]]) -> dict[str, set[str]]:
    """Declared dependencies, transitively: a database failing shows up in its callers' callers
    even when the caller in between logs nothing. `out[s]`: everything s depends on."""
    calls = {s: set(d) for s, d in depends_on.items()}
    out: dict[str, set[str]] = {}
    for service, direct in calls.items():
        seen: set[str] = set()
        todo = list(direct)
        while todo:
            dep = todo.pop()
            if dep not in seen and dep != service:
                seen.add(dep)
                todo.extend(calls.get(dep, ()))
        if seen:
            out[service] = seen
    return out


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
class Step:
    """One event on its way through the stages."""

    group: GroupState
    event: Event
    probe: Probe
    outcome: Outcome
    wall: float
    spike: float
    service_key: str


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
        self.fingerprints = Fingerprints(
            self.miner, max_aliases=config.max_aliases_per_group, on_merge=self._merge_fingerprints
        )
        self.baselines = Baselines(
            store,
            half_life=config.baseline_half_life,
            max_keys=config.max_baselines,
            idle_expiry=config.baseline_idle_expiry,
        )
        self._group_of = config.topology.group_index()
        self._calls = _transitive(config.topology.depends_on)
        self.matcher = failure_matcher(
            similarity=config.similarity_threshold,
            calls=self._calls,
            dependency_floor=config.cascade_dependency_severity,
            low_max=config.low_severity_max,
            cascade_window=config.cascade_window,
        )
        self.recoveries = recovery_matcher(config.cascade_window)
        self.policy = OpenPolicy(config, self.baselines)
        self.groups = Groups(store, max_groups=config.max_groups, idle_expiry=config.relink_window)
        self.lifecycle = Lifecycle(config, self.groups.mark, self.now)
        self.commands = Commands(self.groups, self.lifecycle, self.now)
        self.view = IncidentView(config.max_timeline_points)
        self.tally = Tally(config)
        self.near_misses = NearMisses(config, SimilarWords(config.similarity_threshold), self._calls)
        self._candidates: list[dict[str, Any]] = []
        self._counted_window = max(config.open_window, config.warning_burst_window, config.warning_sustain_window)
        self._swept: dict[str, int] = {}  # group -> the minute of its clock pending clusters were expired

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
        key = self._group_of.get(event.service, event.service)
        t = event.timestamp.timestamp()
        group = self._admit(event, key, t, source, offset)
        if group is None:
            return None
        step = self._prepare(group, event, key, t)
        if event.resolved:
            self._recovery(step)
        elif not self._join(step) and event.severity > self.config.low_severity_max:
            self._pend(step)
        return step.outcome

    def apply_command(self, command: IncidentCommand, key: str | None = None) -> CommandResult:
        """Applies a person's change. Re-applying the last applied command is a no-op."""
        return self.commands.command(command, key)

    def apply_link(self, link: dict[str, Any], key: str | None = None) -> bool:
        """Applies a decision of the cross-key stage (`Linker`); one that changes nothing is a no-op."""
        return self.commands.link(link, key)

    def take_candidates(self) -> list[dict[str, Any]]:
        """The cross-key candidates of the incidents changed by the last flushes (then forgotten)."""
        out, self._candidates = self._candidates, []
        return out

    def candidate(self, inc: IncidentState) -> dict[str, Any]:
        """What the cross-key stage needs to know of an incident."""
        return candidate(inc)

    def apply_summary(self, summary: IncidentSummary, key: str | None = None) -> bool:
        """Merges a summary unless a summary of a later version is already there."""
        return self.commands.summary(summary, key)

    def close_quiet(self, wall_now: float) -> None:
        """Closes incidents that received nothing for their quiet limit of wall time (a timer calls it),
        forgets idle groups, and keeps the number of groups under its cap."""
        keys = self.groups.keys()
        for group in self.groups.each():
            for inc in list(group.open):
                if wall_now - inc.last_wall > self.lifecycle.quiet_limit(inc):
                    self.lifecycle.close_quiet(group, inc)
            self.groups.forget_idle(group, wall_now)
        self.groups.bound(keys)

    def finish(self, watermark: float) -> None:
        """Closes what is quiet as of event time `watermark` (the end of a replayed range)."""
        for group in self.groups.each():
            for inc in list(group.open):
                if watermark - inc.last_failure > self.lifecycle.quiet_limit(inc):
                    self.lifecycle.close_quiet(group, inc)

    def expire(self, now_event: float) -> None:
        """Forgets what is older than its window: event ids, minute counts, idle baselines."""
        self.store.expire(now_event - self.config.dedupe_window)
        self.baselines.expire(now_event)

    def flush(self) -> list[IncidentChange]:
        """Writes the touched state back to the store and returns the incident changes since the last flush."""
        changes: list[IncidentChange] = []
        for incident_id, group, actions in self.groups.take_actions():
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
                    IncidentChange(action=action, incident=self.view.incident(inc), emittedAt=dt(inc.updated_at))
                )
            self._candidates.append(candidate(inc))
        del self._candidates[:-10_000]  # nobody takes them (an engine without the cross-key stage)
        self.groups.write_back()
        return changes

    def incidents(self) -> list[IncidentState]:
        """Every incident the store holds, open and recently closed (for replay and tests)."""
        out: list[IncidentState] = []
        for group in self.groups.each():
            out.extend(group.closed)
            out.extend(group.open)
        return sorted(out, key=lambda i: (i.first_seen, i.incident_id))

    def pending(self) -> list[Pending]:
        """Failures that have not opened an incident, with the last opening decision (for replay)."""
        out: list[Pending] = []
        for group in self.groups.each():
            out.extend(group.pending.values())
        return sorted(out, key=lambda p: (p.first, p.fingerprint))

    def to_incident(self, inc: IncidentState) -> Incident:
        return self.view.incident(inc)

    def learn_fingerprint(self, service: str, error_type: str | None, template: str, fingerprint: str) -> None:
        """Records that live handed out `fingerprint` for this template (replay, from live incidents),
        so that the same lines get the same fingerprint here."""
        group = self.groups.get(self.correlation_key(service))
        self.fingerprints.learn(group, service, error_type, template, fingerprint)

    # -- stages -----------------------------------------------------------------------------------

    def _admit(self, event: Event, key: str, t: float, source: str | None, offset: int) -> GroupState | None:
        """The event's group, or None for a duplicate (remembering the event as seen)."""
        group = None
        if source is not None:
            group = self.groups.get(key)
            if offset <= group.offsets.get(source, -1):
                return None
            group.offsets[source] = offset
        # <group>\x1f<minute>\x1f<id>: store keys of per-group data start with the correlation key,
        # so that a partitioned store keeps a group together, and a store may keep the ids of one
        # group's minute together (a duplicate carries the same timestamp, so the same minute).
        seen_key = f"{key}\x1f{int(t // 60)}\x1f{event.eventId}"
        tag = f"{source}@{offset}" if source is not None else ""
        seen = self.store.seen(seen_key)
        # Seen at this very position means the id was stored but not the group (a partial write
        # before a crash): the record is new to the group. Seen elsewhere, it is a duplicate.
        if seen is not None and (not tag or seen != tag):
            return None
        self.store.remember(seen_key, t, tag)
        self._now_event = max(self._now_event, t)
        return group if group is not None else self.groups.get(key)

    def _prepare(self, group: GroupState, event: Event, key: str, t: float) -> Step:
        """Stage 1: the template and fingerprint; the group's clock, timers, baselines and rollups."""
        service = event.service
        error_type = event.errorType
        tpl = self.miner.template(service, error_type, event.message)
        fp = self.fingerprints.resolve(group, tpl, service, error_type)
        group.clock = max(group.clock, t)
        wall = self._clock() if self._clock else self._now_event
        group.last_wall = wall
        services = group.services
        if service not in services and len(services) < _MAX_GROUP_SERVICES:
            services.append(service)
        if group.open:
            self.lifecycle.close_due(group)
        if group.pending and int(group.clock // 60) != self._swept.get(group.key):
            self._expire_pending(group)  # once per group and minute of its clock
        prefix = key + "\x1f"
        service_key = prefix + "s:" + service
        spike = self.baselines.observe_pair(service_key, prefix + "f:" + fp, t)
        mentions = self._mentions(group, service, event.message) if len(services) > 1 else []
        if mentions:
            known = group.evidence.setdefault(service, [])
            for m in mentions:
                if m not in known and len(known) < 20:
                    known.append(m)
        outcome = Outcome(event, key, tpl.template, fp, None)
        minute = int(t // 60)
        rk = f"{minute}|{service}|{event.severity}"
        outcome.rollup = group.rollups[rk] = group.rollups.get(rk, 0) + 1
        if len(group.rollups) > _MAX_ROLLUPS:
            horizon = minute - _ROLLUP_MINUTES
            group.rollups = {k: v for k, v in group.rollups.items() if int(k.split("|", 1)[0]) >= horizon}
        probe = Probe(service, event.severity, error_type, fp, tpl.template, tpl.tokens, mentions, t, event.dedupKey)
        return Step(group, event, probe, outcome, wall, spike, service_key)

    def _join(self, step: Step) -> bool:
        """Stage 2: joins the event to the open incident a matching rule claims it for, or reopens
        the dormant incident of the alert it reports on; whether it did."""
        group, probe, t = step.group, step.probe, step.probe.t
        live = self._live(group, t)
        found = self.matcher.match(probe, live, group) if live else None
        if found is not None:
            inc, why = found
            if t - inc.first_seen > self.config.max_duration:
                self.lifecycle.close(
                    group, inc, "locked", inc.last_failure, detail="older than the maximum duration: locked"
                )
                opened = Decision("locked", f"continues {inc.incident_id}, locked after its maximum duration")
                inc = self._open(group, [self._line(step, full=True)], inc.incident_id, step.wall, opened)
            else:
                self.lifecycle.failing_again(inc, t)
                self._add(step, inc, why, failure=True)
            self._settle(step, inc)
            return True
        dedup_key = step.event.dedupKey
        if dedup_key is None:
            return False
        dormant = self.lifecycle.dormant(group, t, lambda i: dedup_key in i.identities)
        if dormant is None:
            return False
        why = Decision("same-identity", f"the alert {dedup_key} fired again")
        self.lifecycle.reopen(group, dormant, t, why, step.wall)
        self._add(step, dormant, why, failure=True)
        self._settle(step, dormant)
        return True

    def _settle(self, step: Step, inc: IncidentState) -> None:
        inc.spike = step.spike  # the score itself is computed once per flush (`_rescore`)
        step.outcome.incident_id = inc.incident_id

    def _live(self, group: GroupState, t: float) -> list[IncidentState]:
        """The open incidents an event at `t` may join, most recently failing first."""
        quiet = self.config.quiet_period
        limit = self.lifecycle.quiet_limit  # a flapping incident stays live through its quiet spells
        live = group.open
        if len(live) == 1:  # the common case: one open incident, read (never changed) in place
            only = live[0]
            return live if only.first_seen - quiet <= t <= only.last_failure + limit(only) else []
        live = [i for i in live if i.first_seen - quiet <= t <= i.last_failure + limit(i)]
        live.sort(key=_last_failure, reverse=True)  # stable, like sorting on -last_failure
        return live

    def _recovery(self, step: Step) -> None:
        """A resolve: the identities it resolves; an incident whose identities are all resolved ends."""
        group, probe, event, t = step.group, step.probe, step.event, step.probe.t
        live = self._live(group, t)
        found = self.recoveries.match(probe, live, group) if live else None
        if found is None:
            # A resolve for a failure whose incident already ended: remembered there, so that the
            # incident knows where each of its identities stands if it reopens.
            dormant = self.lifecycle.dormant(group, t, lambda i: bool(self._identities_resolved(i, probe, event)))
            if dormant is not None:
                for identity in self._identities_resolved(dormant, probe, event):
                    dormant.identities[identity][3:5] = [True, t]
            return
        inc, why = found
        resolved = self._identities_resolved(inc, probe, event)
        for identity in resolved:
            kind, service, error_type = inc.identities[identity][:3]
            note_identity(inc, identity, kind, service, error_type, resolved=True, t=t)
        self._add(step, inc, why, failure=False)
        self._settle(step, inc)
        if resolved and all_resolved(inc):
            self.lifecycle.end_by_source(group, inc, t, event.source)

    def _identities_resolved(self, inc: IncidentState, probe: Probe, event: Event) -> list[str]:
        """The identities of `inc` a resolve event resolves: its dedupKey; else its fingerprint;
        else the failures of its service with the same error type, or in similar words, or (when
        none is similar) all of them: the service says it recovered."""
        if event.dedupKey is not None:
            return [event.dedupKey] if event.dedupKey in inc.identities else []
        if probe.fingerprint in inc.identities:
            return [probe.fingerprint]
        own = [k for k, v in inc.identities.items() if v[0] == "fingerprint" and v[1] == probe.service]
        if probe.error_type:
            return [k for k in own if inc.identities[k][2] == probe.error_type]
        threshold = self.config.similarity_threshold
        similar = [
            k
            for k in own
            if k in inc.templates and jaccard(probe.tokens, signature_tokens(inc.templates[k].template)) >= threshold
        ]
        return similar or own

    def _pend(self, step: Step) -> None:
        """Stage 3: the event waits in its failure's pending cluster; the opening rules decide
        whether the cluster now opens an incident, or reopens the one it recurs from."""
        cfg = self.config
        group, probe, t = step.group, step.probe, step.probe.t
        pending = self._pending_for(group, probe)
        pending.count += 1
        pending.first = min(pending.first, t)
        pending.last = max(pending.last, t)
        pending.max_severity = max(pending.max_severity, probe.severity)
        times = pending.times
        insort(times, t)  # kept sorted: a count in a window is a bisection
        # Only the longest window the opening rules count in matters (and the state stays small).
        old = bisect_left(times, t - self._counted_window)
        if old or len(times) > _MAX_PENDING_TIMES:
            del times[: max(old, len(times) - _MAX_PENDING_TIMES)]
        pending.events.append(self._line(step, full=True))
        if len(pending.events) > max(cfg.open_threshold, cfg.warning_sustain_count, cfg.max_sample_events):
            del pending.events[0]  # the latest: enough for every opening rule's count
        fp = pending.fingerprint
        count = self.policy.count_in_window(pending, t)
        if count < cfg.open_threshold and pending.max_severity < cfg.immediate_severity:
            pending.verdict = self.policy.too_few(count)  # the common case, decided at once
            return
        # A failure that ended less than the recurrence window ago is judged by the threshold alone
        # (its baseline has learned the failure itself); it reopens its incident unless a person
        # resolved that one, which is final.
        recent = self.lifecycle.recent(group, t, lambda i: fp in i.templates or fp in i.identities)
        dormant = recent if recent is not None and recent.resolution in (None, *REOPENABLE) else None
        case = Case(pending, t, count, group.key + "\x1f" + "f:" + fp, step.service_key, recent is not None)
        verdict = self.policy.judge(case)
        pending.verdict = verdict.decision.to_dict(action=verdict.action, at=t)
        if verdict.action != "open":
            return
        del group.pending[fp]
        start = t - cfg.open_window
        events = [e for e in pending.events if e.t >= start] or pending.events[-1:]
        if dormant is not None:
            inc = dormant
            self.lifecycle.reopen(group, inc, t, verdict.decision, step.wall)
            for line in sorted(events, key=lambda e: e.t):
                self.tally.add(inc, line, failure=True, why=pending.why.get(line.fingerprint) or verdict.decision)
        else:
            previous = self._previous(group, probe)
            inc = self._open(group, events, previous, step.wall, verdict.decision, why=pending.why)
            others = [o for o in group.open if o is not inc]
            if others:
                inc.not_merged = self.near_misses.among(probe, others, group)
        inc.event_count += max(0, count - len(events))
        step.outcome.assigned = [e.event_id for e in events if e.event_id != step.event.eventId]
        self._settle(step, inc)

    def _pending_for(self, group: GroupState, probe: Probe) -> Pending:
        cfg = self.config
        pending = group.pending.get(probe.fingerprint)
        if pending is not None:
            return pending
        for p in group.pending.values():
            if p.service != probe.service:
                continue
            if probe.error_type and p.error_type == probe.error_type:
                why = Decision("same-error-type", f"{probe.service} fails with the same error type, {probe.error_type}")
            else:
                score = jaccard(probe.tokens, frozenset(p.tokens))
                if score < cfg.similarity_threshold:
                    continue
                why = Decision(
                    "similar-words",
                    f"{probe.service} fails in similar words (similarity {score:.2f}, at least "
                    f"{cfg.similarity_threshold:.2f})",
                    score=score,
                    evidence=tuple(sorted(probe.tokens & frozenset(p.tokens))[:8]),
                )
            if probe.fingerprint not in p.why and len(p.why) < cfg.max_templates_per_incident:
                p.why[probe.fingerprint] = why.to_dict(at=probe.t)
            return p
        pending = Pending(
            probe.service,
            probe.fingerprint,
            probe.error_type,
            sorted(probe.tokens)[:MAX_TOKENS],
            0,
            float("inf"),
            float("-inf"),
        )
        group.pending[probe.fingerprint] = pending
        return pending

    def _expire_pending(self, group: GroupState) -> None:
        if len(self._swept) >= _MAX_SWEPT:
            self._swept.clear()
        self._swept[group.key] = int(group.clock // 60)
        watermark = group.clock - self.config.allowed_lateness
        expiry = self.config.pending_expiry
        for fp, p in list(group.pending.items()):
            if watermark - p.last > expiry:
                del group.pending[fp]

    def _line(self, step: Step, *, full: bool) -> PendingEvent:
        """The event as an incident counts it; `full`: with its API form, for a sample."""
        event, probe = step.event, step.probe
        api = (
            event.to_api()
            if full
            else {"message": event.message, "metadata": event.metadata, "dedupKey": event.dedupKey}
        )
        return PendingEvent(
            event.eventId,
            probe.t,
            event.severity,
            event.service,
            probe.fingerprint,
            probe.template,
            event.errorType,
            api,
        )

    def _previous(self, group: GroupState, probe: Probe) -> str | None:
        """The most recent closed incident of the same failure, for linking a recurrence to it."""
        for inc in reversed(group.closed):
            if (
                probe.service in inc.services
                and (
                    probe.fingerprint in inc.templates
                    or jaccard(probe.tokens, frozenset(inc.tokens.get(probe.service, ())))
                    >= self.config.similarity_threshold
                )
                and inc.resolved_at is not None
                and inc.last_seen + self.config.relink_window >= group.clock
            ):
                return inc.incident_id
        return None

    def _open(
        self,
        group: GroupState,
        events: list[PendingEvent],
        previous: str | None,
        wall: float,
        opened: Decision,
        *,
        why: dict[str, dict[str, Any]] | None = None,
    ) -> IncidentState:
        if len(group.open) >= self.config.max_open_per_group:
            oldest = min(group.open, key=_last_failure)
            self.lifecycle.close(group, oldest, "quiet", oldest.last_failure, detail="closed to make room")
        # The id derives from the earliest event (by time, then id) of those that opened it, so that
        # the same events give the same id even when they arrive slightly out of order.
        first_event = min(events, key=lambda e: (e.t, e.event_id))
        first = first_event.t
        inc = IncidentState(
            incident_id=stable_id("inc_", group.key, first_event.event_id),
            key=group.key,
            first_seen=first,
            last_seen=first,
            last_failure=first,
            created_at=wall or first,
            updated_at=wall or first,
            last_wall=wall,
            previous_incident_id=previous,
        )
        inc.opened = opened.to_dict(at=events[-1].t)
        group.open.append(inc)
        for line in sorted(events, key=lambda e: e.t):
            self.tally.add(inc, line, failure=True, why=(why or {}).get(line.fingerprint) or opened)
        self.groups.mark(group, inc, "created")
        return inc

    def _add(self, step: Step, inc: IncidentState, why: Decision, *, failure: bool) -> None:
        sample = len(inc.samples) < self.config.max_sample_events
        line = self._line(step, full=sample)
        self.tally.add(inc, line, failure=failure, why=why, tokens=step.probe.tokens, sample=sample)
        inc.last_wall = step.wall
        inc.updated_at = step.wall or step.probe.t
        if len(inc.services) > 1:
            inc.origin = None  # recomputed at flush
        self.groups.mark(step.group, inc, "updated")

    def _merge_fingerprints(self, group: GroupState, loser: str, survivor: str) -> None:
        """Two fingerprints name one template cluster: the group's incidents and pending clusters
        keep the survivor."""
        for inc in group.open + group.closed:
            if rename_fingerprint(inc, loser, survivor):
                self.groups.mark(group, inc, "updated")
        pending = group.pending.pop(loser, None)
        if pending is not None:
            pending.fingerprint = survivor
            kept = group.pending.setdefault(survivor, pending)
            if kept is not pending:
                kept.count += pending.count
                kept.times = sorted(kept.times + pending.times)[-_MAX_PENDING_TIMES:]
                kept.events = sorted(kept.events + pending.events, key=lambda e: e.t)[-len(kept.events) :]
                kept.first = min(kept.first, pending.first)
                kept.max_severity = max(kept.max_severity, pending.max_severity)
        self.groups.touch(group)

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

    def _rescore(self, inc: IncidentState) -> None:
        spike = inc.spike
        services, _, peak, first, last = extent(inc)  # a cascade is scored as a whole
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

    def _mentions(self, group: GroupState, service: str, message: str) -> list[str]:
        if not message:
            return []
        return [s for s in group.services if s != service and s in message]
