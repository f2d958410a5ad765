"""The standard health and metrics endpoints.

- `/health/live`: 200 while the process serves requests (a liveness probe restarts a wedged one).
- `/health/ready`: 200 when every dependency needed to serve is reachable, else 503 naming them.
- `/health/detailed`: each dependency with status and latency, the version and uptime; 503 when not
  ready.
- `/health`: the short form of the above, always 200 so that a person (or the dashboard) can read it.
- `/metrics`: Prometheus text format from the service's own registry.

`status` is `ok` only when every dependency is up, and `degraded` as soon as one is down, required
or not: a service can be ready (serving) while something its users rely on fails, such as incidents
no longer being updated, and its health says so. `ready` tells the two apart, and `problems` names
each dependency that is down with the reason.

Probe results are cached for a second so that a storm of probes costs one round trip.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from incident_shared.codec import dumps

Probe = Callable[[], Awaitable[str]]


@dataclass(slots=True)
class Check:
    """A dependency probe: returns a short description, or raises when the dependency is down."""

    name: str
    probe: Probe
    required: bool = True  # counts for readiness
    timeout: float = 3.0
    _cached: tuple[float, dict[str, Any]] | None = field(default=None, repr=False)

    async def run(self) -> dict[str, Any]:
        now = time.monotonic()
        if self._cached and now - self._cached[0] < 1.0:
            return self._cached[1]
        start = time.perf_counter()
        result: dict[str, Any]
        try:
            async with asyncio.timeout(self.timeout):
                detail = await self.probe()
            result = {"status": "up", "detail": detail}
        except Exception as exc:  # noqa: BLE001 - any failure means "down"; the reason is reported
            result = {"status": "down", "error": f"{type(exc).__name__}: {exc}"[:300]}
        result["latencyMs"] = round((time.perf_counter() - start) * 1000, 1)
        result["required"] = self.required
        self._cached = (now, result)
        return result


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=dumps(body), status=status, content_type="application/json", headers=headers)


def add_health_routes(
    app: web.Application,
    *,
    service: str,
    version: str,
    checks: Sequence[Check],
    registry: CollectorRegistry,
) -> None:
    started = time.monotonic()

    async def run_all() -> dict[str, dict[str, Any]]:
        results = await asyncio.gather(*(c.run() for c in checks))
        return {c.name: r for c, r in zip(checks, results, strict=True)}

    def ready(results: dict[str, dict[str, Any]]) -> bool:
        return all(r["status"] == "up" for r in results.values() if r["required"])

    def summary(results: dict[str, dict[str, Any]]) -> dict[str, Any]:
        problems = {name: r.get("error", "down") for name, r in results.items() if r["status"] != "up"}
        return {
            "status": "degraded" if problems else "ok",
            "ready": ready(results),
            "service": service,
            "version": version,
            "uptimeSeconds": round(time.monotonic() - started, 1),
            "problems": problems,
        }

    async def health(_: web.Request) -> web.Response:
        results = await run_all()
        return json_response({**summary(results), "dependencies": {name: r["status"] for name, r in results.items()}})

    async def live(_: web.Request) -> web.Response:
        return json_response({"status": "ok"})

    async def ready_handler(_: web.Request) -> web.Response:
        results = await run_all()
        if ready(results):
            return json_response({"status": "ready"})
        down = sorted(name for name, r in results.items() if r["required"] and r["status"] != "up")
        return json_response({"status": "not ready", "down": down}, status=503)

    async def detailed(_: web.Request) -> web.Response:
        results = await run_all()
        body = {**summary(results), "dependencies": results}
        return json_response(body, status=200 if body["ready"] else 503)

    async def metrics(_: web.Request) -> web.Response:
        return web.Response(body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    app.router.add_get("/health", health)
    app.router.add_get("/health/live", live)
    app.router.add_get("/health/ready", ready_handler)
    app.router.add_get("/health/detailed", detailed)
    app.router.add_get("/metrics", metrics)
