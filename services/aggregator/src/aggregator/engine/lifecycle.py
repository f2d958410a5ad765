"""An incident's life after it opens: quiet, resolved by its source, reopened, flapping, locked.

- **Quiet**: an incident with no failure for `quiet_period` (event time, or wall time with nothing
  received) is resolved (`resolution: "quiet"`).
- **Resolves resolve**: an incident reports on identities (each event's dedupKey, else its
  fingerprint). When every identity's latest event is a resolve (`resolved: true`: a resolved
  Alertmanager alert, a PagerDuty resolve, a check that passes), the incident is resolved at once,
  `resolution: "source"`, `resolvedBy` the source of the last resolve.
- **Recurrence**: an incident resolved as quiet or by its source is *dormant* for
  `recurrence_window` after its last failure: if the failure comes back (its fingerprint, or a
  trigger of one of its alerts) it reopens, and counts a cycle. Later than that, a recurrence is
  a new incident linked to it (`previousIncidentId`).
- **Flapping**: at `flap_threshold` cycles the incident is marked flapping. A flapping incident
  stays open through its quiet spells and its sources' resolves (they show as history), so that
  it no longer flips between resolved and active; it ends once it has not failed for
  `recurrence_window`, resolved as of its last recovery (`source`) or last failure (`quiet`).
- **A person's resolve is final**: the incident does not reopen by itself, flapping or not; if
  the failure comes back that is a new incident linked to it. A person can reopen it.
- **Locked**: an incident older than `max_duration` is locked; its failure continues in a new
  incident linked to it.
"""

from __future__ import annotations

from collections.abc import Callable

from aggregator.engine.config import CorrelationConfig
from aggregator.engine.decisions import Decision
from aggregator.engine.state import GroupState, IncidentState
from incident_shared.schemas.incidents import IncidentAction

Mark = Callable[[GroupState, IncidentState, IncidentAction], None]
Clock = Callable[[], float]

_MAX_HISTORY = 20
_MAX_IDENTITIES = 50
REOPENABLE = ("quiet", "source")


def note(inc: IncidentState, what: str, at: float, detail: str) -> None:
    """Adds a line to the incident's history (the first few and the latest are kept)."""
    inc.history.append({"what": what, "at": at, "detail": detail})
    if len(inc.history) > _MAX_HISTORY:
        del inc.history[3]


def note_identity(
    inc: IncidentState, identity: str, kind: str, service: str, error_type: str | None, *, resolved: bool, t: float
) -> None:
    known = inc.identities.get(identity)
    if known is None:
        if len(inc.identities) >= _MAX_IDENTITIES:
            return
        inc.identities[identity] = [kind, service, error_type, resolved, t]
    elif t >= known[4]:
        known[3] = resolved
        known[4] = t


def all_resolved(inc: IncidentState) -> bool:
    return bool(inc.identities) and all(v[3] for v in inc.identities.values())


class Lifecycle:
    def __init__(self, config: CorrelationConfig, mark: Mark, now: Clock) -> None:
        self.config = config
        self._mark = mark
        self._now = now

    def quiet_limit(self, inc: IncidentState) -> float:
        """How long without a failure ends this incident."""
        return self.config.recurrence_window if inc.flapping else self.config.quiet_period

    def close(
        self,
        group: GroupState,
        inc: IncidentState,
        resolution: str,
        at: float,
        *,
        actor: str | None = None,
        emit: bool = True,
        detail: str = "",
    ) -> None:
        if inc in group.open:
            group.open.remove(inc)
        inc.status = "resolved"
        inc.resolution = resolution
        inc.resolved_at = at
        inc.resolved_by = actor
        inc.recovering_since = None
        inc.updated_at = self._now() or at
        note(inc, "resolved", at, detail or f"resolved ({resolution})")
        group.closed.append(inc)
        if len(group.closed) > self.config.max_closed_per_group:
            group.closed.pop(0)
        if emit:
            self._mark(group, inc, "resolved")

    def close_quiet(self, group: GroupState, inc: IncidentState) -> None:
        """Ends an incident that went quiet: resolved by its source if that is where it stands."""
        if inc.flapping and inc.recovering_since is not None and all_resolved(inc):
            at = inc.recovering_since
            detail = f"no failure for {self.config.recurrence_window / 60:.0f} min after its last recovery"
            self.close(group, inc, "source", at, actor=inc.resolved_by, detail=detail)
            return
        limit = self.quiet_limit(inc)
        self.close(
            group,
            inc,
            "quiet",
            inc.last_failure + self.config.quiet_period,
            detail=f"no failure for {limit / 60:.0f} min",
        )

    def end_by_source(self, group: GroupState, inc: IncidentState, t: float, source: str) -> None:
        """Every identity of the incident is resolved: closed at once, or (flapping) recovering."""
        if inc.flapping:
            if inc.recovering_since is None:
                inc.recovering_since = t
                inc.resolved_by = source
                note(inc, "recovering", t, f"every failure it reports resolved ({source}); flapping, so it stays open")
            return
        self.close(
            group, inc, "source", t, actor=source, detail=f"every failure it reports on was resolved by {source}"
        )

    def failing_again(self, inc: IncidentState, t: float) -> None:
        """A failure on an open incident: one more cycle if it was recovering, or (flapping, so
        kept open) had been quiet for longer than the quiet period."""
        if inc.recovering_since is not None:
            inc.recovering_since = None
            inc.resolved_by = None
            self._cycle(inc, t, "failing again after its recovery")
        elif inc.flapping and t - inc.last_failure > self.config.quiet_period:
            self._cycle(inc, t, f"failing again after {(t - inc.last_failure) / 60:.0f} min without a failure")

    def reopen(self, group: GroupState, inc: IncidentState, t: float, why: Decision, wall: float) -> None:
        """A dormant incident whose failure came back (one that ended but is not closed yet is
        closed first: it did go quiet)."""
        if inc in group.open:
            self.close_quiet(group, inc)
        if inc in group.closed:
            group.closed.remove(inc)
        if len(group.open) >= self.config.max_open_per_group:
            oldest = min(group.open, key=lambda i: i.last_failure)
            self.close(group, oldest, "quiet", oldest.last_failure)
        group.open.append(inc)
        gap = t - (inc.resolved_at or inc.last_failure)
        inc.status = "active"
        inc.resolution = inc.resolved_at = inc.resolved_by = None
        inc.acknowledged_at = inc.acknowledged_by = None
        inc.recovering_since = None
        inc.last_wall = wall
        inc.updated_at = wall or t
        self._cycle(inc, t, f"reopened {gap / 60:.0f} min after it ended: {why.detail}")
        self._mark(group, inc, "updated")

    def _cycle(self, inc: IncidentState, t: float, detail: str) -> None:
        inc.flap_count += 1
        note(inc, "cycle", t, f"cycle {inc.flap_count}: {detail}")
        if not inc.flapping and inc.flap_count >= self.config.flap_threshold:
            inc.flapping = True
            note(
                inc,
                "flapping",
                t,
                f"{inc.flap_count} cycles of failing and recovering: marked flapping; it stays open until it has "
                f"not failed for {self.config.recurrence_window / 60:.0f} min",
            )

    def dormant(self, group: GroupState, t: float, match: Callable[[IncidentState], bool]) -> IncidentState | None:
        """The most recent incident that ended by itself less than the recurrence window ago and
        that `match` claims: closed as quiet or by its source, or open but quiet for longer than its
        quiet limit (the group's clock, held back by the allowed lateness, has not closed it yet)."""
        recent = self.recent(group, t, match)
        return recent if recent is not None and recent.resolution in (None, *REOPENABLE) else None

    def recent(self, group: GroupState, t: float, match: Callable[[IncidentState], bool]) -> IncidentState | None:
        """The most recent incident that `match` claims and that ended less than the recurrence
        window ago, however it ended (a person's resolve included)."""
        window = self.config.recurrence_window
        for inc in group.open:
            if t - inc.last_failure > self.quiet_limit(inc) and match(inc):
                return inc
        for inc in reversed(group.closed):
            if t - inc.last_failure <= window and match(inc):
                return inc
        return None

    def close_due(self, group: GroupState) -> None:
        """Closes what went quiet as of the group's event-time clock (less the allowed lateness)."""
        watermark = group.clock - self.config.allowed_lateness
        quiet = self.config.quiet_period
        # Checked first without copying: on almost every event nothing is due.
        for inc in group.open:
            if watermark - inc.last_failure > quiet:
                break
        else:
            return
        for inc in list(group.open):
            if watermark - inc.last_failure > self.quiet_limit(inc):
                self.close_quiet(group, inc)
