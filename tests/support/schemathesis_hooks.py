"""Hooks for the schemathesis run against the live gateway (loaded through SCHEMATHESIS_HOOKS).

- Generated service names that are valid are mapped onto a few realistic ones, so the correlation
  engine sees a handful of services as in real traffic rather than thousands of random strings.
- Valid timestamps outside the window the API takes (at most 30 days old, 5 minutes ahead: a bound
  relative to now that JSON Schema cannot state) are moved into it.
- A batch is cut to its first 20 events: a thousand generated events test nothing twenty do not,
  and every accepted event is read back one by one afterwards.
None of these touches an invalid value or an invalid batch size, so a negative case stays negative.
- Every event the gateway accepted is appended to FUZZ_ACCEPTED_FILE (one event id a line), so the
  suite can read each one back afterwards.
"""

from __future__ import annotations

import hashlib
import os
from datetime import timedelta
from typing import Any

import orjson
import schemathesis

from incident_shared.schemas.events import SERVICE_PATTERN
from incident_shared.timeutil import iso, parse_iso, utcnow

SERVICES = ("checkout", "payments", "payments-db", "auth", "search", "inventory", "api-gateway", "notifications")
EVENT_PATHS = ("/api/events", "/api/events/batch")
MAX_BATCH = 20


def _service(value: Any) -> Any:
    if isinstance(value, str) and SERVICE_PATTERN.match(value):
        return "fuzz-" + SERVICES[hashlib.sha256(value.encode()).digest()[0] % len(SERVICES)]
    return value


def _timestamp(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        when = parse_iso(value)
    except ValueError:
        return value
    now = utcnow()
    if now - timedelta(days=29) <= when <= now:
        return value
    # Keep the generated sub-second part so that equal inputs still map to equal timestamps.
    return iso(now - timedelta(minutes=1, microseconds=when.microsecond))


def _realistic(event: Any) -> None:
    if isinstance(event, dict):
        if "service" in event:
            event["service"] = _service(event["service"])
        if "timestamp" in event:
            event["timestamp"] = _timestamp(event["timestamp"])


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    if case.method.upper() != "POST" or case.path not in EVENT_PATHS:
        return
    body = case.body
    items = body.get("events") if isinstance(body, dict) and case.path.endswith("/batch") else body
    if isinstance(items, list) and MAX_BATCH < len(items) <= 1000:
        del items[MAX_BATCH:]
    for event in items if isinstance(items, list) else [items]:
        _realistic(event)


def _accepted_ids(path: str, status: int, body: Any) -> list[str]:
    if not isinstance(body, dict) or status >= 300:
        return []
    data = body.get("data")
    if path == "/api/events" and isinstance(data, dict):
        return [str(data["eventId"])] if "eventId" in data else []
    if path == "/api/events/batch" and isinstance(data, dict):
        results = data.get("results") or []
        return [str(r["eventId"]) for r in results if isinstance(r, dict) and r.get("success") and "eventId" in r]
    if isinstance(data, dict) and isinstance(data.get("events"), list):
        return [str(e["eventId"]) for e in data["events"] if isinstance(e, dict) and "eventId" in e]
    return []


@schemathesis.hook
def after_call(context: Any, case: Any, response: Any) -> None:
    target = os.environ.get("FUZZ_ACCEPTED_FILE")
    if not target or case.method.upper() != "POST":
        return
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return
    ids = _accepted_ids(case.path, response.status_code, body)
    if ids:
        with open(target, "a", encoding="utf-8") as out:  # noqa: PTH123 - appended from many calls
            out.write("".join(f"{i}\n" for i in ids))
