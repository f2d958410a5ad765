"""What others change on incidents: a person's commands, the summarizer's summaries, and the
cross-key stage's cascade decisions. Each is idempotent: applied twice, it changes nothing more.

A person's resolve is final (see `lifecycle.py`): the incident does not reopen by itself; if its
failure comes back that is a new incident linked to it. A person's reopen makes it active again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aggregator.engine.groups import Groups
from aggregator.engine.lifecycle import Lifecycle, note
from aggregator.engine.state import GroupState, IncidentState
from incident_shared.schemas.incidents import IncidentAction, IncidentCommand, IncidentSummary


@dataclass(slots=True)
class CommandResult:
    applied: bool
    reason: str = ""
    # (incident id, routing key) of incidents merged into this one that the command applies to too:
    # acknowledging or resolving a cascade acknowledges or resolves all of it.
    forward: list[tuple[str, str]] = field(default_factory=list)


class Commands:
    def __init__(self, groups: Groups, lifecycle: Lifecycle, now: Callable[[], float]) -> None:
        self._groups = groups
        self._lifecycle = lifecycle
        self._now = now

    def command(self, command: IncidentCommand, key: str | None) -> CommandResult:
        found = self._groups.find(command.incidentId, key)
        if found is None:
            return CommandResult(False, "unknown incident")
        group, inc = found
        if inc.last_command_id == command.commandId:
            return CommandResult(False, "already applied")
        at = command.issuedAt.timestamp()
        wall = self._now() or at
        action = self._apply(group, inc, command, at, wall)
        inc.last_command_id = command.commandId
        inc.updated_at = wall
        self._groups.mark(group, inc, action)
        forward = []
        if command.action in ("acknowledge", "resolve", "assign"):
            forward = [(mid, str(m.get("routingKey", ""))) for mid, m in sorted(inc.linked.items())]
        return CommandResult(True, forward=forward)

    def _apply(
        self, group: GroupState, inc: IncidentState, command: IncidentCommand, at: float, wall: float
    ) -> IncidentAction:
        actor = command.actor
        if command.action == "acknowledge":
            if inc.status == "active":
                inc.status = "acknowledged"
                inc.acknowledged_at = at
                inc.acknowledged_by = actor
        elif command.action == "resolve":
            if inc.status != "resolved":
                detail = f"resolved by {actor}: final, a recurrence opens a new incident"
                self._lifecycle.close(group, inc, "manual", at, actor=actor, emit=False, detail=detail)
            return "resolved"
        elif command.action == "reopen":
            if inc.status == "resolved":
                group.closed.remove(inc)
                group.open.append(inc)
                inc.status = "active"
                inc.resolution = inc.resolved_at = inc.resolved_by = None
                inc.recovering_since = None
                inc.last_wall = wall
                note(inc, "reopened", at, f"reopened by {actor}")
        elif command.action == "assign":
            inc.assignee = command.assignee
        elif command.action == "note" and command.note:
            inc.notes.append({"author": actor, "text": command.note, "at": at})
            del inc.notes[:-50]
        return "updated"

    def summary(self, summary: IncidentSummary, key: str | None) -> bool:
        """Merges a summary unless a summary of a later version is already there."""
        found = self._groups.find(summary.incidentId, key)
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
        inc.updated_at = self._now() or summary.generatedAt.timestamp()
        self._groups.mark(group, inc, "summary_updated")
        return True

    def link(self, link: dict[str, Any], key: str | None) -> bool:
        """Applies a decision of the cross-key stage; one that changes nothing is a no-op."""
        found = self._groups.find(str(link["incidentId"]), key)
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
        inc.updated_at = self._now() or inc.updated_at
        self._groups.mark(group, inc, "updated")
        return True
