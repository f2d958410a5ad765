"""Names an event's message points at: the evidence that one failure involves another service.

A caller's failure names what it calls: "Timeout calling postgres-orders", "Upstream order-service
returned 503", "connect to redis-cache:6379 refused", "GET http://inventory.prod.svc/items failed".
Masking (templates.py) removes hosts, ports and URLs from templates, and the constant words of a
template keep only plain names, so the names are taken here from the raw message and from short
metadata values, for the first event of each template an incident sees (a bounded sample).

A name is lower-cased; a dotted host name also gives its first label, since a service is usually
addressed as `<service>.<namespace>.svc...` or `<service>.example.com`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, Final

_URL_HOST: Final = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://(?:[^@/\s]+@)?([A-Za-z0-9_.-]+)")
_HOST_PORT: Final = re.compile(r"\b([A-Za-z][\w-]*(?:\.[\w-]+)*):\d{2,5}\b")
# Identifier-like words: letters, digits, `-`, `_`, `.` inside; at least three characters.
_WORD: Final = re.compile(r"[A-Za-z][A-Za-z0-9_.-]*[A-Za-z0-9]")
_MAX_METADATA_VALUE = 100


def _with_label(name: str, out: list[str]) -> None:
    name = name.lower().strip(".")
    if len(name) < 3:
        return
    out.append(name)
    if "." in name:
        first = name.split(".", 1)[0]
        if len(first) >= 3:
            out.append(first)


def names_in(message: str, metadata: Mapping[str, Any] | None = None) -> list[str]:
    """Host names, URL hosts and identifier-like words of `message`, and short metadata values."""
    out: list[str] = []
    for m in _URL_HOST.finditer(message):
        _with_label(m.group(1), out)
    for m in _HOST_PORT.finditer(message):
        _with_label(m.group(1), out)
    for w in _WORD.findall(message):
        _with_label(w, out)
    if metadata:
        for value in metadata.values():
            if isinstance(value, str) and len(value) <= _MAX_METADATA_VALUE:
                for w in _WORD.findall(value):
                    _with_label(w, out)
    return list(dict.fromkeys(out))


def names_any(names: Iterable[str], services: Iterable[str]) -> bool:
    """Whether any of `services` is among `names` (both as the engine keeps them)."""
    have = set(names)
    return any(s.lower() in have for s in services)
