"""Fingerprints that hold still: a template cluster keeps the fingerprint it was first given.

A template's text changes while the miner learns: the first "user alice failed to log in" is a
template of its own until "user bob failed to log in" turns it into "user <*> failed to log in".
Hashing the text as it stands would give one failure two fingerprints. Here a cluster is named by
the fingerprint of its first text, for its whole life:

- a cluster whose text changed keeps its fingerprint: the new text's fingerprint becomes an alias
  of it (`GroupState.aliases`, text fingerprint -> lasting fingerprint);
- a text whose fingerprint is already an alias resolves to that fingerprint, whichever cluster
  produced it; when a cluster arrives at a text known under another fingerprint (after a restart,
  or after the miner evicted and relearned a cluster), the two are merged: the fingerprint already
  known for the text survives, the cluster's own becomes an alias of it, and the incidents and
  pending clusters of the group move to the survivor (`on_merge`).

The aliases live in the group's state (every fingerprint names its service, so it belongs to
exactly one correlation key), bounded, and so survive a restart. A restarted miner is taught the
generalised templates of a group the first time the group is seen (`seed`), so that its lines
land in the same clusters at once instead of briefly getting fingerprints of their own. Replay can
be taught the templates live handed out (`learn`), so it gives the same fingerprints.
"""

from __future__ import annotations

from collections.abc import Callable

from aggregator.engine.state import GroupState
from aggregator.engine.templates import Template, TemplateMiner, fingerprint

Merge = Callable[[GroupState, str, str], None]

_MAX_CACHED = 100_000


class Fingerprints:
    def __init__(self, miner: TemplateMiner, *, max_aliases: int, on_merge: Merge) -> None:
        self._miner = miner
        self._max = max_aliases
        self._on_merge = on_merge
        # (cluster, service, error type) -> (the text fingerprint seen last, the lasting fingerprint).
        # Process-local, like the miner's cluster ids; the group's aliases are the durable truth.
        self._clusters: dict[tuple[int, str, str | None], tuple[str, str]] = {}
        self._seeded: set[str] = set()

    def resolve(self, group: GroupState, tpl: Template, service: str, error_type: str | None) -> str:
        """The lasting fingerprint of this line's cluster (learning aliases as texts change)."""
        if group.key not in self._seeded:
            self.seed(group)
        key = (tpl.cluster, service, error_type)
        text_fp = tpl.fingerprint
        hit = self._clusters.get(key)
        if hit is not None and hit[0] == text_fp:
            return hit[1]
        aliases = group.aliases
        known = aliases.get(text_fp)
        previous = hit[1] if hit is not None else None
        if known is None:
            lasting = previous or text_fp
            if lasting != text_fp:
                self._alias(group, text_fp, lasting)
        else:
            lasting = known
            if previous is not None and previous != known:
                self._merge(group, previous, known)
        if tpl.cluster and "<*>" in tpl.template:
            group.learned[lasting] = [service, error_type, tpl.template]
            if len(group.learned) > self._max:
                del group.learned[next(iter(group.learned))]
        if len(self._clusters) >= _MAX_CACHED:
            self._clusters.clear()
        self._clusters[key] = (text_fp, lasting)
        return lasting

    def canonical(self, group: GroupState, fp: str) -> str:
        """A fingerprint handed out at any time, resolved to the one that names its cluster now."""
        return group.aliases.get(fp, fp)

    def seed(self, group: GroupState) -> None:
        """Teaches the miner the group's generalised templates (once per group and process)."""
        if len(self._seeded) >= _MAX_CACHED:
            self._seeded.clear()
        self._seeded.add(group.key)
        for lasting, (service, error_type, text) in list(group.learned.items()):
            cluster = self._miner.seed(str(service), str(text))
            self._clusters[(cluster, str(service), error_type)] = (
                fingerprint(str(service), error_type, str(text)),
                lasting,
            )

    def learn(self, group: GroupState, service: str, error_type: str | None, text: str, lasting: str) -> None:
        """Records that `text` of `service` was handed out as `lasting` (from an incident live published)."""
        text_fp = fingerprint(service, error_type, text)
        if text_fp != lasting:
            self._alias(group, text_fp, lasting)
        if "<*>" in text:
            group.learned[lasting] = [service, error_type, text]
        self._seeded.discard(group.key)

    def _alias(self, group: GroupState, text_fp: str, lasting: str) -> None:
        aliases = group.aliases
        aliases[text_fp] = lasting
        while len(aliases) > self._max:
            del aliases[next(iter(aliases))]

    def _merge(self, group: GroupState, loser: str, survivor: str) -> None:
        aliases = group.aliases
        for text_fp, lasting in list(aliases.items()):
            if lasting == loser:
                aliases[text_fp] = survivor
        self._alias(group, loser, survivor)
        group.learned.pop(loser, None)
        # Cached clusters that named the loser now name the survivor.
        for cluster, (text_fp, lasting) in list(self._clusters.items()):
            if lasting == loser:
                self._clusters[cluster] = (text_fp, survivor)
        self._on_merge(group, loser, survivor)
