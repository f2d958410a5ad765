"""Templates and fingerprints: what kind of line an event's message is.

Two steps. Masking first, with one generic set of rules, most specific first (URLs, emails,
UUIDs, IPs, host:port, paths, quoted values, hex, `key=value` values, numbers with units, any
token holding a digit), so that obviously variable parts never reach the miner. Then mining with
Drain (`drain3`, MIT: a streaming implementation of He et al. 2017 with an LRU cap on clusters),
which folds the variable *words* that masks cannot know (user names, bucket names, table names)
into `<*>` once it has seen a few lines of the same shape. Drain's state is a cache: a worker that
restarts learns the same templates again within a few lines.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any, Final

from drain3.drain import Drain

_MASKS: Final = [
    ("URL", r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s\"'<>]+"),
    ("EMAIL", r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b"),
    ("UUID", r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"),
    ("IP", r"\b\d{1,3}(?:\.\d{1,3}){3}(?::\d{1,5})?\b|\b(?:[0-9a-fA-F]{1,4}:){3,7}[0-9a-fA-F]{1,4}\b"),
    ("HOST", r"\b[a-zA-Z][\w-]*(?:\.[\w-]+)*:\d{2,5}\b"),
    ("PATH", r"(?<![\w/.])(?:/[\w.@%+-]+){2,}/?"),
    ("STR", r"\"[^\"\n]{0,200}\"|(?<!\w)'[^'\n]{0,200}'(?!\w)"),
    ("HEX", r"\b0x[0-9a-fA-F]+\b|\b(?=[0-9a-fA-F]*\d)(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{8,}\b"),
    ("KV", r"\b(?P<kvkey>[A-Za-z_][\w.-]*)=(?P<kvval>[^\s,;&)\]]+)"),
    ("NUM", r"(?<![\w.])[-+]?\d+(?:\.\d+)?(?:ms|us|ns|s|m|h|d|[KMGT]i?B?|%)?(?![\w.])"),
    ("ID", r"\b[\w.-]*\d[\w.-]*\b"),
]
_MASK_RE: Final = re.compile("|".join(f"(?P<{name}>{pattern})" for name, pattern in _MASKS))
_TOKEN_RE: Final = re.compile(r"[A-Za-z][A-Za-z_-]{2,}")
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


def _replace(match: re.Match[str]) -> str:
    kind = match.lastgroup
    if kind == "KV":
        return f"{match.group('kvkey')}=<*>"
    return f"<{kind}>"


_STR_RE: Final = re.compile(dict(_MASKS)["STR"])
_SUSPECT: Final = re.compile(r"[\d/@:=]")
# Masking is token by token, and the same tokens come back line after line (words, durations,
# host:port pairs): each distinct token is masked once (the cache is bounded; full, it starts over).
_TOKEN_CACHE: dict[str, str] = {}
_TOKEN_CACHE_SIZE: Final = 100_000


def mask(message: str) -> str:
    """The message with its obviously variable parts replaced by `<KIND>` placeholders.

    Quoted values first (they may hold spaces); then, token by token, only tokens holding a digit
    or one of `/@:=` go through the masks: most words of a line never need the regex.
    """
    if "'" in message or '"' in message:
        message = _STR_RE.sub("<STR>", message)
    cache = _TOKEN_CACHE
    tokens = message.split()
    out: list[str | None] = list(map(cache.get, tokens))
    if None in out:
        for i, hit in enumerate(out):
            if hit is None:
                tok = tokens[i]
                if tok.isdigit() and tok.isascii():
                    masked = "<NUM>"  # what the masks make of it, without the regex
                elif _SUSPECT.search(tok):
                    masked = _MASK_RE.sub(_replace, tok)
                else:
                    masked = tok
                if len(cache) >= _TOKEN_CACHE_SIZE:
                    cache.clear()
                cache[tok] = out[i] = masked
    return " ".join(out)  # type: ignore[arg-type]  # every None was replaced above


def signature_tokens(template: str) -> frozenset[str]:
    """The constant words of a template (lower case, no placeholders or stop words)."""
    words = _TOKEN_RE.findall(template.replace("<*>", " ").lower())
    return frozenset(w for w in words if w not in _STOPWORDS and not w.isupper())


def jaccard(a: frozenset[str] | set[str], b: frozenset[str] | set[str]) -> float:
    if not a or not b:
        return 1.0 if a == b else 0.0
    inter = len(a & b)
    return inter / (len(a) + len(b) - inter)


def fingerprint(service: str, error_type: str | None, template: str) -> str:
    """A short stable id of (service, error type, template)."""
    raw = f"{service}\x1f{error_type or ''}\x1f{template}".encode()
    return hashlib.blake2b(raw, digest_size=8).hexdigest()


@dataclass(frozen=True, slots=True)
class Template:
    template: str
    fingerprint: str
    tokens: frozenset[str]


class TemplateMiner:
    """Masks and mines messages into templates; bounded by `max_clusters` (least recently used go).

    A masked line seen before goes straight to its cluster (storms repeat the same shapes), and
    the fingerprint of a (service, error type, template) is computed once; both caches are bounded.
    """

    _CACHE = 50_000

    def __init__(self, *, max_clusters: int = 20_000, similarity: float = 0.4, depth: int = 4) -> None:
        self._drain = Drain(sim_th=similarity, depth=depth, max_children=100, max_clusters=max_clusters)
        self._clusters: dict[str, Any] = {}
        self._templates: dict[tuple[str, str | None, str], Template] = {}

    def template(self, service: str, error_type: str | None, message: str) -> Template:
        masked = mask(message.strip()) if message else ""
        if not masked:
            text = f"<{error_type}>" if error_type else "<empty>"
        else:
            cluster = self._clusters.get(masked)
            if cluster is None:
                cluster, _ = self._drain.add_log_message(masked)
                if len(self._clusters) >= self._CACHE:
                    self._clusters.clear()
                self._clusters[masked] = cluster
            text = cluster.get_template()
        key = (service, error_type, text)
        tpl = self._templates.get(key)
        if tpl is None:
            if len(self._templates) >= self._CACHE:
                self._templates.clear()
            tpl = self._templates[key] = Template(text, fingerprint(service, error_type, text), signature_tokens(text))
        return tpl
