"""The second stage: cascades across correlation keys, from evidence, over incident candidates.

The first stage groups events per correlation key on the key's partition, so a failure that spreads
to services outside its topology group (a database and the callers whose messages name it) starts
one incident per key. Incidents are far fewer than events: every incident change is sent here as a
*candidate* (its services, when each started failing, the names its messages point at), all on one
partition, and the linker joins candidates that belong to one failure:

- two open incidents of different keys are related when one's messages name a service of the other
  and the later one started while the earlier one was failing (within the cascade window of its
  last failure);
- related incidents form a cascade; its root is the incident of the most downstream dependency
  that failed first (it names none of the others; ties go to the earliest start);
- every other member is *merged* into the root: it stays open on its own partition (its events keep
  arriving there) but carries `mergedInto`, and the root receives a snapshot of it (services,
  counts, templates, timeline) after each of its changes and reports them as its own;
- when a root goes quiet (or is locked), members whose failure ended with it (within the cascade
  window of its last failure) stay merged: they are its tail, and their last events still count on
  the root. Members still failing later are linked again: a new root is chosen, or a lone member
  is un-merged and shown again. A root a person resolved takes its members with it (the worker
  forwards the command), so they stay merged.

Pure and deterministic: `update()` returns the messages to send (each for one incident, to be
delivered under its routing key) and keeps the state changes aside until `commit()`, so that a
caller can send first and save after, and a crash in between replays the candidate.
Re-sending a decision is harmless: applying it again changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from typing import TYPE_CHECKING, Any

from aggregator.engine.decisions import Decision, quote

if TYPE_CHECKING:
    from aggregator.engine.correlator import CorrelationEngine
    from incident_shared.schemas.incidents import IncidentChange

Candidate = dict[str, Any]
Link = dict[str, Any]

_CANDIDATE = "c:"  # open candidates by incident id
_ROOT = "r:"  # the root each merged incident was assigned to
_WHY = "w:"  # why it was merged (a `Decision.to_dict()`)
_ENDED = "e:"  # a root that ended while members were winding down with it: its last candidate
_MAX_CASCADE = 50  # members of one cascade; more is not one failure
_MAX_OPEN = 5000  # open candidates kept; the least recently failing go first


def member_snapshot(c: Candidate, why: dict[str, Any] | None = None) -> dict[str, Any]:
    """What a root keeps of one merged incident, and why it was merged."""
    return {"why": why} | {
        k: c[k]
        for k in (
            "status",
            "firstSeen",
            "lastSeen",
            "eventCount",
            "peakSeverity",
            "services",
            "templates",
            "timeline",
            "routingKey",
        )
    }


def merge_link(incident_id: str, routing_key: str, merged_into: str | None) -> Link:
    return {"incidentId": incident_id, "routingKey": routing_key, "op": "merge", "mergedInto": merged_into}


def member_link(root_id: str, routing_key: str, member_id: str, snapshot: dict[str, Any] | None) -> Link:
    return {"incidentId": root_id, "routingKey": routing_key, "op": "member", "memberId": member_id, "member": snapshot}


class Linker:
    def __init__(self, state: MutableMapping[str, Any], *, cascade_window: float) -> None:
        self._state = state
        self._window = cascade_window
        self._writes: dict[str, Any] = {}  # key -> value, or None for a delete
        self._set_cache: dict[str, tuple[Candidate, frozenset[str], frozenset[str]]] = {}

    # -- state with the uncommitted writes on top ---------------------------------------------------

    def _get(self, key: str) -> Any:
        if key in self._writes:
            return self._writes[key]
        return self._state.get(key)

    def _put(self, key: str, value: Any) -> None:
        self._writes[key] = value

    def _open(self) -> Iterator[Candidate]:
        for key in list(self._state.keys()):
            if key.startswith(_CANDIDATE) and key not in self._writes:
                yield self._state[key]
        for key, value in self._writes.items():
            if key.startswith(_CANDIDATE) and value is not None:
                yield value

    def commit(self) -> None:
        """Saves what the last updates decided (after their messages were sent)."""
        for key, value in self._writes.items():
            if value is None:
                self._state.pop(key, None)
            else:
                self._state[key] = value
        self._writes.clear()

    # -- decisions ----------------------------------------------------------------------------------

    def update(self, c: Candidate) -> list[Link]:
        """Takes one incident's latest candidate; returns the link messages it calls for."""
        cid = c["incidentId"]
        out: list[Link] = []
        if c["status"] == "resolved":
            self._put(_CANDIDATE + cid, None)
            root = self._get(_ROOT + cid)
            if root is not None:
                root_c = self._get(_CANDIDATE + root) or self._get(_ENDED + root)
                if root_c is not None:  # the member's final numbers stay with its root
                    out.append(member_link(root, root_c["routingKey"], cid, member_snapshot(c, self._get(_WHY + cid))))
                # It stays merged (its history is part of the root's); the linker forgets it.
                self._put(_ROOT + cid, None)
                self._put(_WHY + cid, None)
                self._forget_ended(root)
            if c.get("resolution") == "manual":
                # A person resolved the cascade: its members are being resolved with it (the
                # command is forwarded to them), so they are not let go in between.
                return out
            orphans = [m for m in self._open() if self._get(_ROOT + m["incidentId"]) == cid]
            # Members whose failure ended with the root's (within the cascade window) are its tail:
            # they stay merged into it. Those still failing later are let go.
            tail = [m for m in orphans if m["lastFailure"] <= c["lastFailure"] + self._window]
            if tail:
                self._put(_ENDED + cid, c)
            done: set[str] = {m["incidentId"] for m in tail}
            for orphan in orphans:
                if orphan["incidentId"] not in done:
                    members = self._cascade(orphan["incidentId"])
                    done.update(m["incidentId"] for m in members)
                    self._settle(members, out)
            return out
        ended = self._ended_root(cid)
        if ended is not None:
            if c["lastFailure"] <= ended["lastFailure"] + self._window:
                # Winding down with its ended root: its numbers go on counting there.
                self._put(_CANDIDATE + cid, c)
                why = self._get(_WHY + cid)
                out.append(member_link(ended["incidentId"], ended["routingKey"], cid, member_snapshot(c, why)))
                out.append(merge_link(cid, c["routingKey"], ended["incidentId"]))
                return out
            # Failing again well after its root ended: no longer its tail, let go.
            out.append(member_link(ended["incidentId"], ended["routingKey"], cid, None))
            self._put(_ROOT + cid, None)
            self._put(_WHY + cid, None)
            out.append(merge_link(cid, c["routingKey"], None))
            self._forget_ended(ended["incidentId"])
        self._put(_CANDIDATE + cid, c)
        self._bound()
        members = self._cascade(cid)
        self._settle(members, out)
        root = self._get(_ROOT + cid)
        if root is not None and not any(m.get("memberId") == cid for m in out):
            root_c = self._get(_CANDIDATE + root)
            if root_c is not None:
                out.append(member_link(root, root_c["routingKey"], cid, member_snapshot(c, self._get(_WHY + cid))))
        if root is not None and not any(m["op"] == "merge" and m["incidentId"] == cid for m in out):
            # The decision again, in case the one sent before a crash never arrived (a no-op otherwise).
            out.append(merge_link(cid, c["routingKey"], root))
        return out

    def _ended_root(self, cid: str) -> Candidate | None:
        root = self._get(_ROOT + cid)
        if root is None or self._get(_CANDIDATE + root) is not None:
            return None
        ended: Candidate | None = self._get(_ENDED + root)
        return ended

    def _forget_ended(self, root: str) -> None:
        """Forgets an ended root once no open member refers to it any more."""
        if self._get(_ENDED + root) is None:
            return
        if not any(self._get(_ROOT + m["incidentId"]) == root for m in self._open()):
            self._put(_ENDED + root, None)

    def _sets(self, c: Candidate) -> tuple[frozenset[str], frozenset[str]]:
        """A candidate's names and lower-cased services as sets, built once per candidate object:
        relations are checked far more often than candidates change."""
        cached = self._set_cache.get(c["incidentId"])
        if cached is None or cached[0] is not c:
            if len(self._set_cache) > 2 * _MAX_OPEN:
                self._set_cache.clear()
            names, services = frozenset(c["names"]), frozenset(s.lower() for s in c["services"])
            cached = self._set_cache[c["incidentId"]] = (c, names, services)
        return cached[1], cached[2]

    def _names_any(self, a: Candidate, b: Candidate) -> bool:
        """Whether `a`'s messages name one of `b`'s services."""
        if not a["names"]:
            return False
        return not self._sets(a)[0].isdisjoint(self._sets(b)[1])

    def _why(self, m: Candidate, members: list[Candidate]) -> dict[str, Any] | None:
        """Why `m` is part of the cascade: the first other member it names, or that names it."""
        for o in members:
            if o is m or not self._related(m, o):
                continue
            for a, b in ((m, o), (o, m)):
                named = sorted(self._sets(a)[0] & self._sets(b)[1])
                if named:
                    a_services = ", ".join(sorted(a["services"]))
                    return Decision(
                        "names-service",
                        f"messages of {a_services} ({a['incidentId']}) name {quote(named)}, failing in "
                        f"{b['incidentId']}, and the two failed within {self._window / 60:.0f} min of each other",
                        evidence=tuple(named),
                    ).to_dict()
        return None

    def _related(self, a: Candidate, b: Candidate) -> bool:
        if a["routingKey"] == b["routingKey"]:
            return False
        w = self._window
        if not (a["firstSeen"] <= b["lastFailure"] + w and b["firstSeen"] <= a["lastFailure"] + w):
            return False
        return self._names_any(a, b) or self._names_any(b, a)

    def _cascade(self, start: str) -> list[Candidate]:
        """The open candidates related to `start`, directly or through others (bounded)."""
        first = self._get(_CANDIDATE + start)
        if first is None:
            return []
        candidates = [c for c in self._open() if c["incidentId"] != start]
        found = [first]
        todo = [first]
        while todo and len(found) < _MAX_CASCADE:
            cur = todo.pop()
            rest = []
            for other in candidates:
                if self._related(cur, other) and len(found) < _MAX_CASCADE:
                    found.append(other)
                    todo.append(other)
                else:
                    rest.append(other)
            candidates = rest
        return found

    def _settle(self, members: list[Candidate], out: list[Link]) -> None:
        """Assigns every member of one cascade to its root, sending only what changed."""
        if not members:
            return

        def depth(m: Candidate) -> int:  # the members whose services this one's messages name
            return sum(1 for o in members if o["incidentId"] != m["incidentId"] and self._names_any(m, o))

        root_c = min(members, key=lambda m: (depth(m), m["firstSeen"], m["incidentId"]))
        root = root_c["incidentId"] if len(members) > 1 else None
        for m in sorted(members, key=lambda m: m["incidentId"]):
            mid = m["incidentId"]
            current = self._get(_ROOT + mid)
            target = None if mid == root else root
            if current == target:
                continue
            if current is not None:
                old = self._get(_CANDIDATE + current)
                if old is not None:  # its former root lets go of it
                    out.append(member_link(current, old["routingKey"], mid, None))
            out.append(merge_link(mid, m["routingKey"], target))
            self._put(_ROOT + mid, target)
            why = self._why(m, members) if target is not None else None
            self._put(_WHY + mid, why)
            if target is not None:
                out.append(member_link(target, root_c["routingKey"], mid, member_snapshot(m, why)))

    def _bound(self) -> None:
        open_ = list(self._open())
        if len(open_) <= _MAX_OPEN:
            return
        open_.sort(key=lambda c: c["lastFailure"])
        roots = set()
        for c in open_[: len(open_) - _MAX_OPEN]:
            roots.add(self._get(_ROOT + c["incidentId"]))
            for prefix in (_CANDIDATE, _ROOT, _WHY):
                self._put(prefix + c["incidentId"], None)
        for root in roots - {None}:
            self._forget_ended(root)


def link_in_process(engine: CorrelationEngine, linker: Linker) -> list[IncidentChange]:
    """Runs the second stage inside one process (replay, tests): candidates of the changes flushed
    so far go through `linker`, its decisions are applied to `engine` at once, until nothing changes.

    Live, the same round trip goes over Kafka (candidates on one partition, decisions back to each
    incident's partition); the decisions are the same, only later.
    """
    changes: list[IncidentChange] = []
    for _ in range(10):  # each round is one hop: member -> root -> (nothing new); a bound, not a loop
        links: list[Link] = []
        for c in engine.take_candidates():
            links.extend(linker.update(c))
        linker.commit()
        applied = [engine.apply_link(link, link["routingKey"]) for link in links]
        if not any(applied):
            break
        changes.extend(engine.flush())
    return changes
