"""The matching rules: whether an event belongs to an open incident, and why.

Each rule is a small object that looks at one event (a `Probe`) and one incident and returns a
`Decision` (it belongs, and the reason) or None. Rules come in tiers, tried in order over the
incidents open at the event's time, most recently failing first; within a tier, each incident is
asked every rule of the tier before the next incident:

1. the same identity (the alert's dedupKey) or the same fingerprint, whatever the service;
2. the same service failing in a similar way: the same error type, similar constant words
   (Jaccard similarity of the templates' words, at least `similarity_threshold`), or a message
   naming another service of the incident;
3. another service, within the cascade window of the incident's latest failure: its message names
   a service of the incident, or a dependency joins them (declared in the topology, or learned
   from messages that named it), in the direction failures spread.

A recovery (a resolved event) is matched by identity, fingerprint, or the same service with the
same error type (or none). Adding a rule is adding an object to a tier.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from aggregator.engine.decisions import Decision, quote
from aggregator.engine.state import GroupState, IncidentState
from aggregator.engine.templates import jaccard


@dataclass(slots=True)
class Probe:
    """What the rules need to know of one event."""

    service: str
    severity: int
    error_type: str | None
    fingerprint: str
    template: str
    tokens: frozenset[str]
    mentions: list[str]  # other services of the group its message names
    t: float
    dedup_key: str | None


class Rule(Protocol):
    name: str

    def check(self, p: Probe, inc: IncidentState, group: GroupState) -> Decision | None: ...


class SameIdentity:
    """The same alert: its dedupKey is one the incident reports on."""

    name = "same-identity"

    def check(self, p: Probe, inc: IncidentState, group: GroupState) -> Decision | None:
        if p.dedup_key is not None and p.dedup_key in inc.identities:
            return Decision(self.name, f"the same alert (dedupKey {p.dedup_key})", evidence=(p.dedup_key,))
        return None


_SAME_LINE = Decision("same-fingerprint", "the same kind of line as events already in the incident")


class SameFingerprint:
    name = "same-fingerprint"

    def check(self, p: Probe, inc: IncidentState, group: GroupState) -> Decision | None:
        return _SAME_LINE if p.fingerprint in inc.templates else None


class SameErrorType:
    name = "same-error-type"

    def check(self, p: Probe, inc: IncidentState, group: GroupState) -> Decision | None:
        if p.error_type and p.error_type in inc.error_types.get(p.service, ()):
            return Decision(self.name, f"{p.service} fails with the same error type, {p.error_type}")
        return None


class SimilarWords:
    name = "similar-words"

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold

    def score(self, p: Probe, inc: IncidentState) -> tuple[float, frozenset[str]]:
        words = frozenset(inc.tokens.get(p.service, ()))
        return jaccard(p.tokens, words), p.tokens & words

    def check(self, p: Probe, inc: IncidentState, group: GroupState) -> Decision | None:
        score, shared = self.score(p, inc)
        if score >= self.threshold:
            return Decision(
                self.name,
                f"{p.service} fails in similar words: {quote(shared)} "
                f"(similarity {score:.2f}, at least {self.threshold:.2f})",
                score=score,
                evidence=tuple(sorted(shared)[:8]),
            )
        return None


class NamesService:
    """The event's message names a service of the incident ("Timeout calling payments-db")."""

    name = "names-service"

    def check(self, p: Probe, inc: IncidentState, group: GroupState) -> Decision | None:
        named = [m for m in p.mentions if m in inc.services]
        if named:
            return Decision(
                self.name, f"{p.service}'s message names {quote(named)}, affected here", evidence=tuple(named)
            )
        return None


class Dependency:
    """A dependency joins two services' failures, in the direction failures spread.

    A service that depends on an affected one (declared, or named in its messages before) joins
    with any failure. The other way round, a dependency joins only with a real failure (severity
    `floor`+) of its own and of the affected caller: a caller's routine warnings are not what broke
    its dependency, and must not pull every failure of its dependencies into the incident.
    """

    name = "dependency"

    def __init__(self, calls: Mapping[str, set[str]], floor: int, low_max: int) -> None:
        self._calls = calls
        self._floor = floor
        self._low_max = low_max

    def check(self, p: Probe, inc: IncidentState, group: GroupState) -> Decision | None:
        if p.severity <= self._low_max:
            return None
        service = p.service
        calls = self._calls
        evidence = group.evidence
        for affected, stat in inc.services.items():
            if affected in calls.get(service, ()):
                return Decision(self.name, f"{service} depends on {affected} (declared)", evidence=(affected,))
            if affected in evidence.get(service, ()):
                return Decision(
                    self.name, f"{service} depends on {affected} (its messages named it)", evidence=(affected,)
                )
            if p.severity >= self._floor and stat.max_severity >= self._floor:
                how = (
                    "declared"
                    if service in calls.get(affected, ())
                    else "named in its messages"
                    if service in evidence.get(affected, ())
                    else None
                )
                if how is not None:
                    return Decision(
                        self.name,
                        f"{affected} depends on {service} ({how}) and both fail at severity {self._floor}+",
                        evidence=(affected,),
                    )
        return None


@dataclass(frozen=True, slots=True)
class Tier:
    """Rules asked of each incident in turn; `scope` says which incidents: any, those where the
    event's service is already affected (`same`), or those where it is not, within the cascade
    window (`other`)."""

    scope: str
    rules: Sequence[Rule]


class Matcher:
    def __init__(self, tiers: Sequence[Tier], cascade_window: float) -> None:
        self.tiers = tiers
        self._window = cascade_window

    def match(
        self, p: Probe, live: Sequence[IncidentState], group: GroupState
    ) -> tuple[IncidentState, Decision] | None:
        """The first incident a rule claims the event for, with that rule's decision."""
        service = p.service
        for tier in self.tiers:
            scope = tier.scope
            for inc in live:
                if scope == "same" and service not in inc.services:
                    continue
                if scope == "other" and (service in inc.services or p.t > inc.last_failure + self._window):
                    continue
                for rule in tier.rules:
                    d = rule.check(p, inc, group)
                    if d is not None:
                        return inc, d
        return None


class RecoveryOfService:
    """A recovery of a service affected here, with the same error type or none."""

    name = "recovery-of-service"

    def check(self, p: Probe, inc: IncidentState, group: GroupState) -> Decision | None:
        if not p.error_type or p.error_type in inc.error_types.get(p.service, ()):
            return Decision(self.name, f"a recovery reported by {p.service}")
        return None


def failure_matcher(
    *, similarity: float, calls: Mapping[str, set[str]], dependency_floor: int, low_max: int, cascade_window: float
) -> Matcher:
    return Matcher(
        [
            Tier("any", [SameIdentity(), SameFingerprint()]),
            Tier("same", [SameErrorType(), SimilarWords(similarity), NamesService()]),
            Tier("other", [NamesService(), Dependency(calls, dependency_floor, low_max)]),
        ],
        cascade_window,
    )


def recovery_matcher(cascade_window: float) -> Matcher:
    return Matcher(
        [Tier("any", [SameIdentity(), SameFingerprint()]), Tier("same", [RecoveryOfService()])], cascade_window
    )
