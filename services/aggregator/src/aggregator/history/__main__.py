"""`python -m aggregator.history`: the history writer as a process of its own, beside the workers
(run them with AGGREGATOR_HISTORY_IN_WORKER=false). Health and metrics on PORT, like a worker:
`/health/ready` is 503 while MongoDB is unreachable or the writer holds on a failure."""

from __future__ import annotations

import asyncio
import signal
import time
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from aggregator.history.service import History
from aggregator.metrics import Metrics
from aggregator.settings import AggregatorSettings
from incident_shared.codec import dumps
from incident_shared.logging import setup_logging


def _json(body: Any, status: int = 200) -> web.Response:
    return web.Response(body=dumps(body), status=status, content_type="application/json")


def build_web(history: History, registry: CollectorRegistry) -> web.Application:
    started = time.monotonic()

    async def live(_: web.Request) -> web.Response:
        return _json({"status": "ok"})

    async def ready(_: web.Request) -> web.Response:
        if history.ready():
            return _json({"status": "ready"})
        return _json({"status": "not ready", "down": ["mongodb-projection"], "history": history.status()}, 503)

    async def detailed(_: web.Request) -> web.Response:
        ok = history.ready()
        body = {
            "status": "ok" if ok else "degraded",
            "service": "aggregator-history",
            "uptimeSeconds": round(time.monotonic() - started, 1),
            "history": history.status(),
        }
        return _json(body, 200 if ok else 503)

    async def metrics(_: web.Request) -> web.Response:
        return web.Response(body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.router.add_get("/health", live)
    app.router.add_get("/health/live", live)
    app.router.add_get("/health/ready", ready)
    app.router.add_get("/health/detailed", detailed)
    app.router.add_get("/metrics", metrics)
    return app


async def serve(settings: AggregatorSettings) -> None:
    registry = CollectorRegistry()
    history = History(settings, Metrics.create(registry))
    runner = web.AppRunner(build_web(history, registry), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "0.0.0.0", settings.port).start()  # noqa: S104 - probes come from outside the pod
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    task = asyncio.ensure_future(history.run())
    history.started(task)
    try:
        await asyncio.wait([task, asyncio.ensure_future(stopping.wait())], return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            task.result()  # a failure of the writer's own ends the process, whose restart resumes
    finally:
        await history.stop()
        await runner.cleanup()


def main() -> None:
    settings = AggregatorSettings()
    setup_logging("aggregator-history", settings.log_level, settings.log_format)
    asyncio.run(serve(settings))


if __name__ == "__main__":
    main()
