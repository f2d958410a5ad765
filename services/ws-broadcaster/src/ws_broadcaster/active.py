"""The active incidents, rebuilt from the compacted `incidents` topic: what a new client sees first."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from incident_shared.codec import dumps
from incident_shared.schemas.incidents import IncidentChange
from ws_broadcaster.protocol import matches

# Resolved incidents remembered for deduplication (a redelivered older version must not bring one back).
_RESOLVED_MEMORY: Final = 10_000


@dataclass(frozen=True, slots=True)
class IncidentEntry:
    """One incident's latest version, serialized once."""

    incident_id: str
    version: int
    services: frozenset[str]
    severity: int
    last_seen: datetime
    data: bytes


@dataclass(frozen=True, slots=True)
class AppliedChange:
    """A change that moved an incident forward, ready to broadcast."""

    action: str
    entry: IncidentEntry
    # The services of the version it replaces: a client that saw the incident under a service it no
    # longer lists still hears about the change.
    previous_services: frozenset[str] = frozenset()


class ActiveIncidents:
    """Incidents not yet resolved, newest version each; older or repeated versions are ignored.

    An open incident merged into another one (`mergedInto` set: part of that root's cascade) is kept
    apart: it is still tracked, so that versions stay ordered and its changes still go out, but it is
    not in the snapshot. Once un-merged it is back in the snapshot.
    """

    def __init__(self) -> None:
        self._active: dict[str, IncidentEntry] = {}
        self._merged: dict[str, IncidentEntry] = {}
        self._resolved: OrderedDict[str, int] = OrderedDict()
        self._snapshot_all: list[bytes] | None = None

    def __len__(self) -> int:
        """The incidents in the snapshot (merged ones are not)."""
        return len(self._active)

    def apply(self, change: IncidentChange) -> AppliedChange | None:
        """Applies one change; returns it when it is news, None when it is stale or a duplicate."""
        incident = change.incident
        known = self._active.get(incident.incidentId) or self._merged.get(incident.incidentId)
        if incident.version <= self._known_version(incident.incidentId):
            return None
        entry = IncidentEntry(
            incident_id=incident.incidentId,
            version=incident.version,
            services=frozenset(incident.affectedServices),
            severity=incident.severityScore,
            last_seen=incident.lastSeen,
            data=dumps(incident),
        )
        self._snapshot_all = None
        if incident.status == "resolved":
            self._mark_resolved(incident.incidentId, incident.version)
        elif incident.mergedInto is not None:
            self._resolved.pop(incident.incidentId, None)
            self._active.pop(incident.incidentId, None)
            self._merged[incident.incidentId] = entry
        else:
            self._resolved.pop(incident.incidentId, None)
            self._merged.pop(incident.incidentId, None)
            self._active[incident.incidentId] = entry
        return AppliedChange(change.action, entry, known.services if known else frozenset())

    def _known_version(self, incident_id: str) -> int:
        known = self._active.get(incident_id) or self._merged.get(incident_id)
        return known.version if known else self._resolved.get(incident_id, 0)

    def _mark_resolved(self, incident_id: str, version: int) -> None:
        self._merged.pop(incident_id, None)
        if self._active.pop(incident_id, None) is not None:
            self._snapshot_all = None
        self._resolved[incident_id] = version
        self._resolved.move_to_end(incident_id)
        while len(self._resolved) > _RESOLVED_MEMORY:
            self._resolved.popitem(last=False)

    def note_resolved(self, incident_id: str, version: int) -> bool:
        """Applies a resolution known only by id and version (nothing to broadcast: used while loading,
        when most of the compacted topic is long-resolved incidents not worth validating in full)."""
        if version <= self._known_version(incident_id):
            return False
        self._mark_resolved(incident_id, version)
        return True

    def forget(self, incident_id: str) -> None:
        """A tombstone on the compacted topic: the incident is gone."""
        self._merged.pop(incident_id, None)
        if self._active.pop(incident_id, None) is not None:
            self._snapshot_all = None

    def _ordered(self, entries: Iterable[IncidentEntry]) -> list[bytes]:
        # Most severe first, then most recent: the order a person triages in.
        ranked = sorted(entries, key=lambda e: (e.severity, e.last_seen), reverse=True)
        return [e.data for e in ranked]

    def snapshot(self, channels: frozenset[str]) -> list[bytes]:
        """The serialized active incidents a client subscribed to `channels` can see."""
        if not channels:
            return []
        if "all" in channels:
            if self._snapshot_all is None:
                self._snapshot_all = self._ordered(self._active.values())
            return self._snapshot_all
        return self._ordered(e for e in self._active.values() if matches(channels, e.services))
