"""Identifiers: `evt_…` for events, `inc_…` for incidents, time-ordered so they sort by creation."""

from __future__ import annotations

import hashlib
import random
import time

# Ids need to be unique, not unpredictable: 64 random bits after the millisecond, from a generator
# seeded by the OS, at a fraction of the cost of `secrets` on the ingest hot path.
_random = random.Random()  # noqa: S311 - uniqueness, not secrecy


def _time_ordered(prefix: str) -> str:
    return f"{prefix}{time.time_ns() // 1_000_000:012x}{_random.getrandbits(64):016x}"


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
