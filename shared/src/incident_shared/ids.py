"""Identifiers: `evt_…` for events, `inc_…` for incidents, time-ordered so they sort by creation."""

from __future__ import annotations

import hashlib
import secrets
import time


def _time_ordered(prefix: str) -> str:
    return f"{prefix}{time.time_ns() // 1_000_000:012x}{secrets.token_hex(8)}"


def new_event_id() -> str:
    return _time_ordered("evt_")


def new_incident_id() -> str:
    return _time_ordered("inc_")


def new_command_id() -> str:
    return _time_ordered("cmd_")


def stable_id(prefix: str, *parts: str | int) -> str:
    """A deterministic id from `parts`: the same inputs give the same id on every replay."""
    digest = hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=12).hexdigest()
    return f"{prefix}{digest}"
