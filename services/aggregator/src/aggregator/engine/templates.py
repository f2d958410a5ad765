"""Templates: what kind of line an event's message is.

Two steps. Masking first (`masks.py`), so that obviously variable parts never reach the miner.
Then mining with Drain (`drain3`, MIT: a streaming implementation of He et al. 2017 with an LRU cap
on clusters), which folds the variable *words* that masks cannot know (user names, bucket names,
table names) into `<*>` once it has seen a few lines of the same shape. Each service is mined on its
own (its name leads every line the miner sees), so one service's lines never generalise another's:
"Timeout calling payments-db" stays a template of its own even when another service logs "Timeout
calling inventory-db".

A cluster's template changes as Drain generalises it, so the text's fingerprint changes too; the
fingerprint stage (`fingerprints.py`) gives each cluster one fingerprint for its whole life. Drain's
state is a cache: after a restart, `seed` teaches it the generalised templates the engine's state
kept, so the same lines land in the same clusters at once.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any, Final

from drain3.drain import Drain

from aggregator.engine.masks import mask

_TOKEN_RE: Final = re.compile(r"[A-Za-z][A-Za-z0-9_-]{2,}")
_PLACEHOLDER: Final = re.compile(r"<[A-Z*]+>")
_STOPWORDS: Final = frozenset(
    [
        "the",
        "and",
        "for",
        "from",
        "with",
        "was",
        "were",
        "has",
        "have",
        "had",
        "not",
        "but",
        "are",
        "this",
        "that",
        "into",
        "onto",
        "after",
        "before",
        "while",
        "when",
        "then",
        "than",
        "out",
        "off",
        "too",
        "via",
        "per",
        "its",
        "our",
        "your",
        "their",
        "all",
        "any",
        "can",
        "cannot",
        "could",
        "would",
        "should",
    ]
)


def signature_tokens(template: str) -> frozenset[str]:
    """The constant words of a template (lower case, no placeholders or stop words)."""
    words = _TOKEN_RE.findall(_PLACEHOLDER.sub(" ", template).lower())
    return frozenset(w for w in words if w not in _STOPWORDS)


def jaccard(a: frozenset[str] | set[str], b: frozenset[str] | set[str]) -> float:
    if not a or not b:
        return 1.0 if a == b else 0.0
    inter = len(a & b)
    return inter / (len(a) + len(b) - inter)


def fingerprint(service: str, error_type: str | None, template: str) -> str:
    """A short stable id of (service, error type, template text)."""
    raw = f"{service}\x1f{error_type or ''}\x1f{template}".encode()
    return hashlib.blake2b(raw, digest_size=8).hexdigest()


@dataclass(frozen=True, slots=True)
class Template:
    """A line's template as the miner has it now.

    `fingerprint` is the fingerprint of this text; `cluster` is the miner's cluster (0 for a line
    without a message), whose text may still change: the fingerprint stage turns both into the
    cluster's lasting fingerprint.
    """

    template: str
    fingerprint: str
    tokens: frozenset[str]
    cluster: int = 0


class _ServiceDrain(Drain):  # type: ignore[misc]  # drain3 ships no type information
    """Drain over lines led by their service's name: lines of two services never match, and the
    service's name does not count toward the similarity of two lines of one service (it would make
    short lines look more alike than they are)."""

    def get_seq_distance(self, seq1: Any, seq2: Any, include_params: bool) -> tuple[float, int]:
        if not seq1 or seq1[0] != seq2[0]:
            return 0.0, 0
        if len(seq1) == 1:
            return 1.0, 0
        sim, params = super().get_seq_distance(seq1[1:], seq2[1:], include_params)
        return float(sim), int(params)


class TemplateMiner:
    """Masks and mines messages into templates; bounded by `max_clusters` (least recently used go).

    A masked line seen before goes straight to its cluster (storms repeat the same shapes), and
    the template of a (cluster text, service, error type) is built once; both caches are bounded.
    """

    _CACHE = 50_000

    def __init__(self, *, max_clusters: int = 20_000, similarity: float = 0.4, depth: int = 4) -> None:
        # depth 4: the tree branches on the service (the first token), then compares every line of its length.
        self._drain = _ServiceDrain(sim_th=similarity, depth=depth, max_children=100, max_clusters=max_clusters)
        self._clusters: dict[str, Any] = {}
        self._texts: dict[int, tuple[tuple[str, ...], str]] = {}
        self._templates: dict[tuple[str, str | None, str], Template] = {}

    def template(self, service: str, error_type: str | None, message: str) -> Template:
        masked = mask(message.strip()) if message else ""
        if not masked:
            return self._template(service, error_type, f"<{error_type}>" if error_type else "<empty>", 0)
        line = f"{service} {masked}"
        cluster = self._clusters.get(line)
        if cluster is None:
            cluster, _ = self._drain.add_log_message(line)
            if len(self._clusters) >= self._CACHE:
                self._clusters.clear()
            self._clusters[line] = cluster
        return self._template(service, error_type, self._text(cluster), cluster.cluster_id)

    def seed(self, service: str, template: str) -> int:
        """Teaches the miner a template it learned before (after a restart); returns its cluster."""
        cluster, _ = self._drain.add_log_message(f"{service} {template}")
        return int(cluster.cluster_id)

    def cluster_count(self) -> int:
        return len(self._drain.clusters)

    def _text(self, cluster: Any) -> str:
        tokens = cluster.log_template_tokens
        known = self._texts.get(cluster.cluster_id)
        if known is not None and known[0] is tokens:
            return known[1]
        text = " ".join(tokens[1:])  # without the service that leads the line
        if len(self._texts) >= self._CACHE:
            self._texts.clear()
        self._texts[cluster.cluster_id] = (tokens, text)
        return text

    def _template(self, service: str, error_type: str | None, text: str, cluster: int) -> Template:
        key = (service, error_type, text)
        tpl = self._templates.get(key)
        if tpl is None or tpl.cluster != cluster:
            if len(self._templates) >= self._CACHE:
                self._templates.clear()
            tpl = self._templates[key] = Template(
                text, fingerprint(service, error_type, text), signature_tokens(text), cluster
            )
        return tpl
