"""Sends a realistic incident storm through the REST API, so the dashboard comes alive.

    .venv/bin/python deploy/demo/storm.py [--api http://localhost:5000] [--duration 90] [--scale 0.5]

What it plays, on the wall clock (event timestamps are "now"):
- background noise from every service the whole time: access logs and slow-ish requests (1-2),
  with the odd harmless warning (3);
- at 5 s the orders database starts failing (5: connection refused, pool exhausted), and the
  failure cascades to its callers: order-service times out calling it (4) from 12 s, then
  payment-service and checkout-api see order-service answer 503 (4) from 20 s;
- from 8 s a Redis health check flaps: it fails and recovers every few seconds;
- at 35 s an unrelated failure: auth-service cannot refresh its identity provider's certificate;
- in the last tenth of the run the database recovers and the errors stop.

At the default scale (0.5) that peaks near 20 events/s, which a laptop's local stack processes as it
arrives; `--scale 1` doubles every rate, `--scale 5` makes a real storm.

It only talks HTTP (`POST /api/events/batch`, falling back to `POST /api/events`), prints one
progress line per second, and exits non-zero if the API rejects or cannot take the events.
"""

# A command-line demo: printing is its output (T201), and the randomness only varies demo data (S311).
# ruff: noqa: T201, S311
from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp

SERVICES = [
    "api-gateway",
    "checkout-api",
    "order-service",
    "payment-service",
    "inventory-service",
    "auth-service",
    "search-service",
    "notification-service",
    "postgres-orders",
    "redis-cache",
]
PATHS = ["/api/orders", "/api/cart", "/api/search", "/api/users/me", "/api/payments", "/api/inventory"]


def _ip(rng: random.Random) -> str:
    return f"10.0.{rng.randint(0, 9)}.{rng.randint(2, 250)}"


def noise(rng: random.Random) -> dict[str, Any]:
    service = rng.choice(SERVICES)
    roll = rng.random()
    if roll < 0.8:
        path = rng.choice(PATHS)
        return {
            "service": service,
            "severity": 1,
            "message": f"GET {path}/{rng.randint(1000, 99999)} 200 in {rng.randint(3, 120)}ms",
            "tags": ["access-log"],
        }
    if roll < 0.97:
        return {
            "service": service,
            "severity": 2,
            "message": f"Slow request: {rng.choice(PATHS)} took {rng.randint(800, 2400)}ms (threshold 750ms)",
            "metadata": {"host": f"{service}-{rng.randint(1, 3)}"},
        }
    return {
        "service": service,
        "severity": 3,
        "message": f"Retrying request {uuid.UUID(int=rng.getrandbits(128))} after transient error (attempt 2/3)",
        "errorType": "TransientError",
    }


def db_failure(rng: random.Random) -> dict[str, Any]:
    return rng.choice(
        [
            {
                "service": "postgres-orders",
                "severity": 5,
                "errorType": "ConnectionRefused",
                "message": f"could not connect to server: Connection refused at {_ip(rng)}:5432",
            },
            {
                "service": "postgres-orders",
                "severity": 5,
                "errorType": "TooManyConnections",
                "message": "FATAL: remaining connection slots are reserved for non-replication superuser connections",
            },
            {
                "service": "postgres-orders",
                "severity": 4,
                "errorType": "ReplicationLag",
                "message": f"replica lag {rng.randint(30, 240)}s exceeds 30s on standby {_ip(rng)}",
            },
        ]
    )


def order_timeouts(rng: random.Random) -> dict[str, Any]:
    return rng.choice(
        [
            {
                "service": "order-service",
                "severity": 4,
                "errorType": "TimeoutError",
                "message": f"Timeout after 5000ms calling postgres-orders (query {rng.randint(1000, 9999)})",
                "metadata": {"dependency": "postgres-orders"},
            },
            {
                "service": "order-service",
                "severity": 4,
                "errorType": "SQLTransientConnectionException",
                "message": (
                    "HikariPool-1 - Connection is not available, request timed out after 30000ms (postgres-orders)"
                ),
                "metadata": {"dependency": "postgres-orders"},
            },
        ]
    )


def caller_errors(rng: random.Random) -> dict[str, Any]:
    service = rng.choice(["payment-service", "checkout-api", "checkout-api"])
    return {
        "service": service,
        "severity": 4,
        "errorType": "UpstreamUnavailable",
        "message": (
            f"Upstream order-service returned 503 for order {rng.randint(10000, 99999)}"
            f" after {rng.randint(5000, 5200)}ms"
        ),
        "metadata": {"dependency": "order-service"},
    }


def auth_cert(rng: random.Random) -> dict[str, Any]:
    return {
        "service": "auth-service",
        "severity": rng.choice([4, 4, 5]),
        "errorType": "SSLError",
        "message": "TLS handshake with idp.example.com:443 failed: certificate has expired",
    }


def recovery(rng: random.Random) -> dict[str, Any]:
    service = rng.choice(["postgres-orders", "order-service", "checkout-api"])
    return {
        "service": service,
        "severity": 1,
        "message": f"Connection pool healthy again: {rng.randint(18, 20)}/20 connections available",
        "resolved": True,
    }


@dataclass
class Phase:
    """A source of events active between two fractions of the run, at `per_second` events/s."""

    name: str
    start: float  # seconds from the start
    end: float
    per_second: float
    make: Callable[[random.Random], dict[str, Any]]


@dataclass
class Counters:
    sent: int = 0
    rejected: int = 0
    failed_requests: int = 0
    errors: list[str] = field(default_factory=list)


def plan(duration: float, noise_rate: float, scale: float = 1.0) -> list[Phase]:
    end = duration * 0.9  # the last tenth is the recovery
    return [
        Phase("noise", 0, duration, noise_rate * scale, noise),
        Phase("database failure", 5, end, 8 * scale, db_failure),
        Phase("order-service timeouts", 12, end, 10 * scale, order_timeouts),
        Phase("callers see 503", 20, end, 12 * scale, caller_errors),
        Phase("auth certificate", 35, min(end, 55), 3 * scale, auth_cert),
        Phase("recovery", end, duration, 3 * scale, recovery),
    ]


def flapping_check(elapsed: float, duration: float) -> list[dict[str, Any]]:
    """A Redis health check failing for ~4 s then passing for ~4 s, once a second while it runs."""
    if not 8 <= elapsed < duration * 0.9:
        return []
    failing = int((elapsed - 8) // 4) % 2 == 0
    if failing:
        return [
            {
                "service": "redis-cache",
                "severity": 4,
                "errorType": "HealthCheckFailed",
                "message": "Health check redis-cache:6379 PING timed out after 1000ms",
                "tags": ["health-check"],
            }
        ]
    return [
        {
            "service": "redis-cache",
            "severity": 1,
            "message": "Health check redis-cache:6379 PING ok in 2ms",
            "tags": ["health-check"],
            "resolved": True,
        }
    ]


async def post_batch(
    session: aiohttp.ClientSession, api: str, events: list[dict[str, Any]], counters: Counters
) -> None:
    try:
        async with session.post(f"{api}/api/events/batch", json={"events": events}) as resp:
            body = await resp.json(content_type=None)
            if resp.status == 404:
                # An API without the batch endpoint: one request per event.
                await asyncio.gather(*(post_one(session, api, e, counters) for e in events))
                return
            if resp.status >= 400:
                counters.failed_requests += 1
                counters.errors.append(f"HTTP {resp.status}: {_error_text(body)}")
                return
            results = body.get("data") if isinstance(body, dict) else None
            failed = [r for r in results or [] if isinstance(r, dict) and r.get("success") is False]
            counters.rejected += len(failed)
            counters.sent += len(events) - len(failed)
            counters.errors.extend(str(r.get("error")) for r in failed[:3])
    except (aiohttp.ClientError, TimeoutError) as exc:
        counters.failed_requests += 1
        counters.errors.append(f"cannot reach {api}: {exc}")


async def post_one(session: aiohttp.ClientSession, api: str, event: dict[str, Any], counters: Counters) -> None:
    async with session.post(f"{api}/api/events", json=event) as resp:
        if resp.status == 201:
            counters.sent += 1
        else:
            counters.rejected += 1
            counters.errors.append(f"HTTP {resp.status}: {_error_text(await resp.json(content_type=None))}")


def _error_text(body: Any) -> str:
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return str(body["error"].get("message"))
    return str(body)[:200]


async def run(
    api: str, duration: float, noise_rate: float, *, scale: float, seed: int | None, token: str | None
) -> int:
    rng = random.Random(seed)
    phases = plan(duration, noise_rate, scale)
    counters = Counters()
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    timeout = aiohttp.ClientTimeout(total=15)
    async with aiohttp.ClientSession(headers=headers, timeout=timeout) as session:
        try:
            async with session.get(f"{api}/health/ready") as resp:
                if resp.status != 200:
                    print(f"warning: {api}/health/ready answered {resp.status}; sending anyway", file=sys.stderr)
        except aiohttp.ClientError as exc:
            print(f"error: the API at {api} is not reachable ({exc}); start it with `make up`", file=sys.stderr)
            return 2
        print(f"storm: {duration:.0f}s against {api}; open http://localhost:3000 to watch it", flush=True)
        started = time.monotonic()
        tick = 0.1
        carry = {p.name: 0.0 for p in phases}
        next_report = 1.0
        next_flap = 0.0
        pending: set[asyncio.Task[None]] = set()
        while (elapsed := time.monotonic() - started) < duration:
            batch: list[dict[str, Any]] = []
            for phase in phases:
                if phase.start <= elapsed < phase.end:
                    carry[phase.name] += phase.per_second * tick
                    while carry[phase.name] >= 1:
                        carry[phase.name] -= 1
                        batch.append(phase.make(rng))
            if elapsed >= next_flap:
                batch.extend(flapping_check(elapsed, duration))
                next_flap += 1.0
            if batch:
                now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
                for event in batch:
                    event.setdefault("timestamp", now)
                task = asyncio.create_task(post_batch(session, api, batch, counters))
                pending.add(task)
                task.add_done_callback(pending.discard)
            if elapsed >= next_report:
                active = [p.name for p in phases if p.start <= elapsed < p.end and p.name != "noise"]
                print(
                    f"  {elapsed:5.0f}s  sent {counters.sent:6d}  rejected {counters.rejected:4d}"
                    f"  failed requests {counters.failed_requests:3d}  {', '.join(active) or 'noise only'}",
                    flush=True,
                )
                for error in counters.errors[:3]:
                    print(f"         error: {error}", file=sys.stderr, flush=True)
                counters.errors.clear()
                next_report += 1.0
            await asyncio.sleep(tick)
        if pending:
            await asyncio.gather(*pending)
    print(
        f"storm done: {counters.sent} events accepted, {counters.rejected} rejected,",
        f"{counters.failed_requests} failed requests",
    )
    return 0 if counters.sent > 0 and counters.rejected == 0 and counters.failed_requests == 0 else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--api", default=os.environ.get("II_API_URL", "http://localhost:5000"), help="the API base URL")
    parser.add_argument("--duration", type=float, default=90.0, help="seconds to run (default 90)")
    parser.add_argument("--rate", type=float, default=10.0, help="background noise, events/s (default 10)")
    parser.add_argument(
        "--scale", type=float, default=0.5, help="multiplies every rate, e.g. 0.3 for a slow machine (default 0.5)"
    )
    parser.add_argument("--seed", type=int, default=None, help="random seed, for a repeatable storm")
    parser.add_argument(
        "--token", default=os.environ.get("II_API_TOKEN"), help="bearer token, if the API needs one for writes"
    )
    args = parser.parse_args()
    try:
        return asyncio.run(
            run(args.api.rstrip("/"), args.duration, args.rate, scale=args.scale, seed=args.seed, token=args.token)
        )
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
