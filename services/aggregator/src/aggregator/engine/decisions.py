"""A decision and its reason: what every rule of the engine returns, and what an incident shows.

`rule` is a stable machine name (`same-fingerprint`, `similar-words`, `threshold`, ...); `detail` is
one line a person reads; `score` is the number the rule compared, where there is one (a word
similarity, a probability); `evidence` quotes what it saw (shared words, the names a message
mentions). Kept on incidents as plain dicts (`to_dict`), so the state stays JSON.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Decision:
    rule: str
    detail: str
    score: float | None = None
    evidence: tuple[str, ...] = ()

    def to_dict(self, **extra: Any) -> dict[str, Any]:
        out: dict[str, Any] = {"rule": self.rule, "detail": self.detail}
        if self.score is not None:
            out["score"] = round(self.score, 4)
        if self.evidence:
            out["evidence"] = list(self.evidence)
        out.update(extra)
        return out


def quote(words: Iterable[str], limit: int = 8) -> str:
    """`"a", "b", "c"` for a detail line (at most `limit` words)."""
    items = sorted(words)
    shown = ", ".join(f'"{w}"' for w in items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")
