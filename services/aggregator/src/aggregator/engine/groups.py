"""The groups: one bounded state per correlation key, like Alertmanager's aggregation groups.

Each correlation key has one `GroupState` with its own event-time clock and timers (the quiet
period, the recurrence window, pending expiry) and caps on its open, closed and pending
incidents. `Groups` loads them from the store on first use, keeps those touched since the last
flush, collects the incident actions of a flush (one change per incident, whatever happened to it),
forgets idle groups, and caps their number: beyond `max_groups`, the least recently active groups
with nothing open or pending are forgotten first.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from aggregator.engine.state import GroupState, IncidentState
from aggregator.engine.store import EngineStore
from incident_shared.schemas.incidents import IncidentAction


class Groups:
    def __init__(self, store: EngineStore, *, max_groups: int, idle_expiry: float) -> None:
        self.store = store
        self._max = max_groups
        self._idle_expiry = idle_expiry
        self._dirty: dict[str, GroupState] = {}
        self._actions: dict[str, tuple[GroupState, list[IncidentAction]]] = {}

    def get(self, key: str) -> GroupState:
        """The group of `key`, new if the store has none."""
        group = self.load(key)
        if group is None:
            group = self._dirty[key] = GroupState(key=key)
        return group

    def load(self, key: str) -> GroupState | None:
        group = self._dirty.get(key)
        if group is None:
            group = self.store.get_group(key)
            if group is not None:
                self._dirty[key] = group
        return group

    def keys(self) -> list[str]:
        return list(self.store.group_keys())

    def each(self) -> Iterator[GroupState]:
        for key in self.keys():
            group = self.load(key)
            if group is not None:
                yield group

    def find(self, incident_id: str, key: str | None) -> tuple[GroupState, IncidentState] | None:
        """The incident and its group; under `key` first (its routing key), else anywhere."""
        if key:
            group = self.load(key)
            inc = group.find(incident_id) if group is not None else None
            if group is not None and inc is not None:
                return group, inc
        for group in self.each():
            inc = group.find(incident_id)
            if inc is not None:
                return group, inc
        return None

    def touch(self, group: GroupState) -> None:
        self._dirty[group.key] = group

    def mark(self, group: GroupState, inc: IncidentState, action: IncidentAction) -> None:
        """Records that `inc` changed (`action`), to be published at the next flush."""
        self._dirty[group.key] = group
        entry = self._actions.get(inc.incident_id)
        if entry is None:
            self._actions[inc.incident_id] = (group, [action])
        elif entry[1][-1] != action:
            entry[1].append(action)

    def take_actions(self) -> list[tuple[str, GroupState, list[IncidentAction]]]:
        out = [(iid, group, actions) for iid, (group, actions) in self._actions.items()]
        self._actions.clear()
        return out

    def write_back(self) -> None:
        for group in self._dirty.values():
            self.store.put_group(group)
        self._dirty.clear()
        self.store.commit()

    def forget_idle(self, group: GroupState, wall_now: float) -> None:
        """Forgets a group with nothing open or pending that saw nothing for the idle expiry."""
        if not group.open and not group.pending and wall_now - group.last_wall > self._idle_expiry:
            self._forget(group.key)

    def bound(self, keys: Iterable[str]) -> None:
        """Forgets the least recently active groups with nothing open or pending, down to the cap."""
        keys = list(keys)
        excess = len(keys) - self._max
        if excess <= 0:
            return
        idle: list[tuple[float, str]] = []
        for key in keys:
            group = self.load(key)
            if group is not None and not group.open and not group.pending:
                idle.append((group.last_wall, key))
        for _, key in sorted(idle)[:excess]:
            self._forget(key)

    def _forget(self, key: str) -> None:
        self.store.delete_group(key)
        self._dirty.pop(key, None)
