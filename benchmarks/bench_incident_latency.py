"""How fast a new failure reaches a person: from `POST /api/events` of a severity-5 event on a new
service to the incident's `created` frame on a WebSocket, with background traffic.

The whole path as processes: ingest gateway -> Kafka -> aggregator -> Kafka -> ws-broadcaster ->
WebSocket, with the history writer inside the aggregator or beside it (`--history`, as `make up`
runs it: its own process, at a lower CPU priority); MongoDB is a throwaway FerretDB on SQLite (the
embedded default), never the shared one. Background events go through the gateway's batch endpoint at a
steady rate (mostly low-severity noise with some recurring errors, as a busy estate sends); each
probe subscribes to its own new service's channel, posts one event, and times the frame. Prints
p50/p95/p99/max per background rate. Needs the local Kafka and the FerretDB binary (`make infra`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import secrets
import statistics
import sys
import tempfile
import time
import urllib.request
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import orjson

sys.path.insert(0, str(Path(__file__).parent))
from _support import KAFKA, PYTHON, ferretdb, free_port, process, row

from incident_shared.kafka import ensure_topics
from incident_shared.topics import Topics

BATCH = 100
PROBE_LIMIT_S = 30.0


def background_event(i: int) -> dict[str, Any]:
    service = f"svc-{i % 20}"
    if i % 20 == 0:  # a recurring error on a few services keeps incidents open and updating
        return {"service": service, "severity": 4, "message": f"Timeout after {i % 900}ms calling db-{i % 3}:5432"}
    return {"service": service, "severity": 1 + i % 2, "message": f"GET /api/items/{i} 200 in {i % 97}ms"}


async def background(session: aiohttp.ClientSession, api: str, rate: int, stop: asyncio.Event, sent: list[int]) -> None:
    """`rate` events/s in batches of BATCH, paced by the clock (a slow answer does not slow the rate)."""
    i = 0
    interval = BATCH / rate
    next_at = time.monotonic()
    pending: set[asyncio.Task[None]] = set()

    async def post(events: list[dict[str, Any]]) -> None:
        async with session.post(f"{api}/api/events/batch", data=orjson.dumps(events), headers=JSON) as resp:
            await resp.read()
            if resp.status in (201, 207):
                sent[0] += len(events)

    while not stop.is_set():
        events = [background_event(i + k) for k in range(BATCH)]
        i += BATCH
        task = asyncio.create_task(post(events))
        pending.add(task)
        task.add_done_callback(pending.discard)
        next_at += interval
        await asyncio.sleep(max(0.0, next_at - time.monotonic()))
    await asyncio.gather(*pending, return_exceptions=True)


JSON = {"Content-Type": "application/json"}


async def probe(
    session: aiohttp.ClientSession, api: str, ws: aiohttp.ClientWebSocketResponse, service: str
) -> tuple[float, float]:
    await ws.send_str(orjson.dumps({"type": "subscribe", "channels": [service]}).decode())
    async with asyncio.timeout(30):
        while True:
            m = orjson.loads((await ws.receive()).data)
            if m.get("type") == "subscribed":
                break
    event = {"service": service, "severity": 5, "message": "disk full on /var/lib/data", "errorType": "DiskFull"}
    started = time.perf_counter()
    async with session.post(f"{api}/api/events", data=orjson.dumps(event), headers=JSON) as resp:
        if resp.status != 201:
            raise RuntimeError(f"the probe event was refused: {resp.status} {await resp.text()}")
    async with asyncio.timeout(PROBE_LIMIT_S):
        while True:
            m = orjson.loads((await ws.receive()).data)
            if (
                m.get("type") == "incident"
                and m.get("action") == "created"
                and service in m["data"]["affectedServices"]
            ):
                took = time.perf_counter() - started
                # Where it went: the engine's wall clock when it opened the incident, against the
                # event's receipt time (set by the gateway) and now (same clock on one machine).
                created = datetime.fromisoformat(m["data"]["createdAt"].replace("Z", "+00:00")).timestamp()
                return took, took - (time.time() - created)


def engine_events(metrics_url: str) -> float:
    """Events the aggregator's engine has processed so far (its own counter)."""
    with urllib.request.urlopen(metrics_url, timeout=5) as resp:  # noqa: S310 - a loopback URL we built
        for line in resp.read().decode().splitlines():
            if line.startswith("aggregator_events_total "):
                return float(line.split()[1])
    return 0.0


async def phase(  # noqa: PLR0917 - one phase's parameters
    api: str, ws_url: str, metrics_url: str, rate: int, probes: int, every: float, *, verbose: bool
) -> None:
    async with aiohttp.ClientSession() as session:
        stop = asyncio.Event()
        sent = [0]
        load = asyncio.create_task(background(session, api, rate, stop, sent))
        await asyncio.sleep(10)  # the background reaches its steady state first
        ws = await session.ws_connect(ws_url)
        started, counted, processed = time.monotonic(), sent[0], engine_events(metrics_url)
        latencies: list[float] = []
        behind = False
        try:
            for i in range(probes):
                try:
                    took, to_engine = await probe(session, api, ws, f"probe-{secrets.token_hex(3)}-{i}")
                except TimeoutError:
                    behind = True  # the engine is more than the probe's limit behind: it does not keep up
                    break
                latencies.append(took)
                if verbose:
                    print(
                        f"    probe {i}: {took * 1000:.0f} ms ({to_engine * 1000:.0f} ms until the engine opened it)",
                        file=sys.stderr,
                        flush=True,
                    )
                await asyncio.sleep(every)
        finally:
            elapsed = time.monotonic() - started
            achieved = (sent[0] - counted) / elapsed
            engine = (engine_events(metrics_url) - processed) / elapsed
            stop.set()
            await load
            await ws.close()
    label = (
        f"background {rate:,} events/s (sent {achieved:,.0f}/s, engine took {engine:,.0f}/s), {len(latencies)} probes"
    )
    if behind or not latencies:
        row(label, f"fell behind: a probe waited over {PROBE_LIMIT_S:.0f}s")
        return
    q = statistics.quantiles(latencies, n=100, method="inclusive")
    row(
        label,
        f"p50 {q[49] * 1000:.0f} ms, p95 {q[94] * 1000:.0f} ms, p99 {q[98] * 1000:.0f} ms, "
        f"max {max(latencies) * 1000:.0f} ms",
    )


async def main(rates: list[int], probes: int, every: float, *, history: str, verbose: bool = False) -> None:
    topics = Topics(prefix=f"lat{secrets.token_hex(3)}.")
    await ensure_topics(KAFKA, topics)
    api_port, agg_port, ws_port = free_port(), free_port(), free_port()
    with ferretdb() as mongo:
        common = {
            "KAFKA_BOOTSTRAP_SERVERS": KAFKA,
            "KAFKA_TOPIC_PREFIX": topics.prefix,
            "MONGODB_URI": mongo,
            "MONGODB_DATABASE": "bench",
            "LOG_LEVEL": "WARNING",
            "HOST": "127.0.0.1",
        }
        aggregator = {
            **common,
            "PORT": str(agg_port),
            "AGGREGATOR_APP_ID": f"lat-agg-{secrets.token_hex(3)}",
            "AGGREGATOR_DATA_DIR": tempfile.mkdtemp(prefix="lat-agg"),
            "AGGREGATOR_HISTORY_IN_WORKER": str(history == "worker").lower(),
        }
        history_port = free_port()
        beside = (
            process(
                ["nice", "-n", "10", PYTHON, "-m", "aggregator.history"],
                {**aggregator, "PORT": str(history_port)},
                f"http://127.0.0.1:{history_port}/health/ready",
            )
            if history == "beside"
            else contextlib.nullcontext()
        )
        with (
            process([PYTHON, "-m", "aggregator"], aggregator, f"http://127.0.0.1:{agg_port}/health/ready"),
            beside,
            process(
                [PYTHON, "-m", "ws_broadcaster"],
                {**common, "PORT": str(ws_port)},
                f"http://127.0.0.1:{ws_port}/health/ready",
            ),
            process(
                [PYTHON, "-m", "ingest_gateway"],
                {**common, "PORT": str(api_port)},
                f"http://127.0.0.1:{api_port}/health/ready",
            ),
        ):
            print(f"first event of a new failure -> incident `created` frame on the WebSocket (history {history}):")
            for rate in rates:
                await phase(
                    f"http://127.0.0.1:{api_port}",
                    f"ws://127.0.0.1:{ws_port}/ws",
                    f"http://127.0.0.1:{agg_port}/metrics",
                    rate,
                    probes,
                    every,
                    verbose=verbose,
                )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", default="100,500,1000,2000", help="background events/s, comma-separated")
    parser.add_argument("--probes", type=int, default=50, help="probes per rate")
    parser.add_argument("--every", type=float, default=0.4, help="seconds between probes")
    parser.add_argument("--history", choices=("beside", "worker"), default="beside", help="where history is written")
    parser.add_argument("--verbose", action="store_true", help="print each probe's time as it comes")
    args = parser.parse_args()
    rates = [int(r) for r in args.rates.split(",")]
    asyncio.run(main(rates, args.probes, args.every, history=args.history, verbose=args.verbose))
