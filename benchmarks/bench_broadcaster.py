"""WebSocket broadcaster: fan-out throughput against a bare aiohttp loop, and end-to-end latency.

1. Messages/s delivered to 100 and to 1000 connected clients (about 300-byte events), through the
   broadcaster's hub and per-client outboxes (single `event` frames, and coalesced `events` frames),
   against a bare aiohttp broadcast loop (`for ws in clients: await ws.send_str(message)`) serving
   the same clients on the same machine. Each server runs in its own process; the clients share one
   process and only count the events they receive.
2. End-to-end latency from `POST /api/events` (the ingest gateway, in process) to the event frame on
   a WebSocket of the broadcaster (its own process, reading Kafka), p50 and p99: first a ramp to find
   the highest rate the pipeline keeps up with, then a fixed rate of half of it.

Loopback only; every loop is bounded in count and in time.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import secrets
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from aiohttp import web

sys.path.insert(0, str(Path(__file__).parent))
from _support import KAFKA, MONGO, PYTHON, free_port, process, row

from incident_shared.kafka import ensure_topics
from incident_shared.schemas.events import Event
from incident_shared.timeutil import utcnow
from incident_shared.topics import Topics
from ingest_gateway.app import build_app as build_gateway
from ingest_gateway.settings import GatewaySettings
from ws_broadcaster.app import HUB, build_app
from ws_broadcaster.protocol import encode_event
from ws_broadcaster.settings import BroadcasterSettings

RUN_LIMIT_S = 90.0
NEEDLE = b'"eventId"'  # once per event in every frame format


def make_event(i: int) -> Event:
    now = utcnow()
    return Event(
        eventId=f"evt_bench{i:09d}",
        service=f"service-{i % 12}",
        severity=1 + i % 5,
        timestamp=now,
        receivedAt=now,
        message=f"Timeout after {i % 5000}ms calling db-primary:5432 from pod api-{i % 97}",
        errorType="TimeoutError",
        metadata={"region": "eu-west-1"},
        tags=["bench"],
    )


# -- servers (each runs in its own process: `bench_broadcaster.py --serve ours|bare`) -------------------


def serve_ours(port: int) -> None:

    settings = BroadcasterSettings()
    app = build_app(settings)
    hub = app[HUB]
    # Bench-only pacing, as the Kafka reader is paced by its fetches: wait while some client has
    # more than half its queue waiting, so that the figure is delivered messages, not dropped ones.
    high = settings.max_queued_events // 2

    async def feed(count: int) -> None:
        batch = 100
        for start in range(0, count, batch):
            while any(c.queued_events > high for c in hub.clients):  # noqa: ASYNC110 - polls the outboxes
                await asyncio.sleep(0.001)
            now = utcnow()
            hub.publish_events([encode_event(make_event(i), now) for i in range(start, min(count, start + batch))])
            await asyncio.sleep(0)

    tasks: set[asyncio.Task[None]] = set()

    async def start(request: web.Request) -> web.Response:
        task = asyncio.create_task(feed(int(request.query["count"])))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        return web.json_response({"t0": time.time(), "clients": len(hub)})

    app.router.add_post("/bench/start", start)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


def serve_bare(port: int) -> None:
    clients: set[web.WebSocketResponse] = set()

    async def ws_handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(compress=False)
        await ws.prepare(request)
        clients.add(ws)
        try:
            async for _ in ws:
                pass
        finally:
            clients.discard(ws)
        return ws

    async def feed(count: int) -> None:
        for i in range(count):
            message = orjson.dumps({"type": "event", "data": make_event(i).to_api(), "timestamp": "now"}).decode()
            for ws in list(clients):
                await ws.send_str(message)

    tasks: set[asyncio.Task[None]] = set()

    async def start(request: web.Request) -> web.Response:
        task = asyncio.create_task(feed(int(request.query["count"])))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        return web.json_response({"t0": time.time(), "clients": len(clients)})

    async def live(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application()
    app.router.add_get("/ws", ws_handler)
    app.router.add_get("/health/live", live)
    app.router.add_post("/bench/start", start)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


# -- clients: raw sockets that only count events ------------------------------------------------------


class Counter:
    def __init__(self) -> None:
        self.count = 0
        self.last = 0.0


async def open_ws(port: int, path: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    if b" 101 " not in head.split(b"\r\n", 1)[0]:
        raise ConnectionError(head[:200].decode(errors="replace"))
    return reader, writer


async def count_events(reader: asyncio.StreamReader, counter: Counter, expect: int) -> None:
    tail = b""
    while counter.count < expect:
        chunk = await reader.read(256 * 1024)
        if not chunk:
            return
        data = tail + chunk
        found = data.count(NEEDLE)
        if found:
            counter.count += found
            counter.last = time.time()
        tail = data[-(len(NEEDLE) - 1) :]


async def fan_out_run(kind: str, clients: int, messages: int, prefix: str) -> dict[str, Any]:
    port = free_port()
    env = {"PORT": str(port), "KAFKA_TOPIC_PREFIX": prefix, "LOG_LEVEL": "WARNING", "WS_MAX_CLIENTS": "5000"}
    mode = "bare" if kind == "bare" else "ours"
    path = "/ws?batch=1" if kind == "batched" else "/ws"
    ready = f"http://127.0.0.1:{port}/health/live"
    with process([PYTHON, __file__, "--serve", mode, "--port", str(port)], env, ready_url=ready):
        sem = asyncio.Semaphore(50)

        async def one() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
            async with sem:
                return await open_ws(port, path)

        conns = await asyncio.gather(*(one() for _ in range(clients)))
        await asyncio.sleep(1.0)  # let the server settle the handshakes (and send the snapshots)
        counters = [Counter() for _ in conns]
        readers = [asyncio.create_task(count_events(r, c, messages)) for (r, _), c in zip(conns, counters, strict=True)]
        start_url = f"http://127.0.0.1:{port}/bench/start"
        async with aiohttp.ClientSession() as http, http.post(start_url, params={"count": str(messages)}) as resp:
            started = await resp.json()
        _, pending = await asyncio.wait(readers, timeout=RUN_LIMIT_S)
        for task in pending:
            task.cancel()
        for _, writer in conns:
            writer.close()
    delivered = sum(c.count for c in counters)
    end = max(c.last for c in counters)
    seconds = max(1e-9, end - started["t0"])
    return {
        "rate": delivered / seconds,
        "delivered": delivered,
        "expected": clients * messages,
        "seconds": seconds,
        "complete": not pending,
        "connected": started["clients"],
    }


async def fan_out(prefix: str) -> None:
    print("fan-out: events delivered per second, all clients subscribed to `all` (higher is better)")
    for clients, messages in ((100, 2000), (1000, 200)):
        results = {kind: await fan_out_run(kind, clients, messages, prefix) for kind in ("bare", "single", "batched")}
        bare = results["bare"]["rate"]
        for kind, label in (
            ("bare", "bare aiohttp loop (send_str per client per message)"),
            ("single", "broadcaster, one `event` frame per event"),
            ("batched", "broadcaster, coalesced `events` frames (dashboard)"),
        ):
            r = results[kind]
            note = "" if r["complete"] else f"  (incomplete: {r['delivered']}/{r['expected']} in {RUN_LIMIT_S:.0f}s)"
            ratio = "" if kind == "bare" else f"  = {r['rate'] / bare:.0%} of bare"
            row(f"{clients} clients x {messages} events: {label}", f"{r['rate']:>10,.0f} msg/s{ratio}{note}")


# -- end-to-end latency: POST /api/events -> event frame ----------------------------------------------


async def post_at_rate(
    http: aiohttp.ClientSession, url: str, *, rate: float, seconds: float, sent: dict[str, float], offset: int
) -> float:
    """POSTs single events at `rate`/s for `seconds`; returns the achieved rate."""
    count = int(rate * seconds)
    interval = 1.0 / rate
    sem = asyncio.Semaphore(128)
    tasks: list[asyncio.Task[None]] = []
    failures = 0

    async def post(i: int) -> None:
        nonlocal failures
        body = make_event(offset + i).to_api()
        payload = {k: body[k] for k in ("eventId", "service", "severity", "message", "errorType", "metadata", "tags")}
        async with sem:
            sent[payload["eventId"]] = time.perf_counter()
            async with http.post(url, json=payload) as resp:
                if resp.status != 201:
                    failures += 1
                await resp.read()

    start = time.perf_counter()
    for i in range(count):
        delay = start + i * interval - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(post(i)))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - start
    if failures:
        print(f"    {failures} POSTs failed at {rate:.0f}/s", file=sys.stderr)
    return (count - failures) / elapsed


async def latency(prefix: str) -> None:  # noqa: PLR0915 - one scenario, read top to bottom

    bport = free_port()
    env = {"PORT": str(bport), "KAFKA_TOPIC_PREFIX": prefix, "LOG_LEVEL": "WARNING", "HOST": "127.0.0.1"}
    with process([PYTHON, "-m", "ws_broadcaster"], env, ready_url=f"http://127.0.0.1:{bport}/health/ready"):
        gport = free_port()
        settings = GatewaySettings(
            PORT=gport,
            KAFKA_BOOTSTRAP_SERVERS=KAFKA,
            KAFKA_TOPIC_PREFIX=prefix,
            MONGODB_URI=MONGO,
            BROADCASTER_URL=f"http://127.0.0.1:{bport}",
            LOG_LEVEL="WARNING",
        )
        runner = web.AppRunner(build_gateway(settings), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", gport).start()
        sent: dict[str, float] = {}
        # Two listeners at once: straight to the broadcaster, and through the gateway's /ws proxy
        # (the dashboard's path: one origin, ws://localhost:5000/ws).
        paths = {"direct": f"ws://127.0.0.1:{bport}/ws", "via gateway": f"ws://127.0.0.1:{gport}/ws"}
        received: dict[str, dict[str, float]] = {name: {} for name in paths}
        try:
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=160)) as http:
                sockets = {name: await http.ws_connect(url) for name, url in paths.items()}
                subscribe = orjson.dumps({"type": "subscribe", "channels": ["all"], "batch": True}).decode()
                for ws in sockets.values():
                    await ws.send_str(subscribe)

                async def listen(ws: aiohttp.ClientWebSocketResponse, into: dict[str, float]) -> None:
                    async for msg in ws:
                        if msg.type != aiohttp.WSMsgType.TEXT:
                            break
                        now = time.perf_counter()
                        frame = orjson.loads(msg.data)
                        if frame["type"] == "event":
                            into[frame["data"]["eventId"]] = now
                        elif frame["type"] == "events":
                            for e in frame["data"]:
                                into[e["eventId"]] = now

                listeners = [asyncio.create_task(listen(sockets[n], received[n])) for n in paths]
                url = f"http://127.0.0.1:{gport}/api/events"
                offset = 0

                async def stage(rate: float, seconds: float) -> tuple[float, dict[str, list[float]], int]:
                    nonlocal offset
                    before = set(sent)
                    achieved = await post_at_rate(http, url, rate=rate, seconds=seconds, sent=sent, offset=offset)
                    offset += int(rate * seconds)
                    ids = [i for i in sent if i not in before]
                    deadline = time.perf_counter() + 5.0
                    while time.perf_counter() < deadline and not all(  # noqa: ASYNC110 - bounded wait
                        i in r for r in received.values() for i in ids
                    ):
                        await asyncio.sleep(0.05)
                    lat = {n: sorted((r[i] - sent[i]) * 1000 for i in ids if i in r) for n, r in received.items()}
                    missing = max(len(ids) - len(v) for v in lat.values())
                    return achieved, lat, missing

                def p(values: list[float], q: float) -> float:
                    return values[max(0, int(len(values) * q) - 1)] if values else float("inf")

                await stage(50, 2.0)  # warm-up: connections, producer, fetch sessions
                print("end-to-end: POST /api/events -> event frame on the WebSocket (ramp, 3 s a step)")
                best = 0.0
                for rate in (100, 200, 400, 800, 1600):
                    achieved, lat, missing = await stage(rate, 3.0)
                    worst = max(p(v, 0.99) for v in lat.values())
                    ok = achieved >= 0.95 * rate and missing == 0 and worst < 1000
                    row(
                        f"target {rate}/s",
                        f"achieved {achieved:,.0f}/s, p99 "
                        + ", ".join(f"{n} {p(v, 0.99):,.0f} ms" for n, v in lat.items())
                        + f", missing {missing}"
                        + ("" if ok else "  (not sustained)"),
                    )
                    if not ok:
                        break
                    best = rate
                if best:
                    fixed = best / 2
                    achieved, lat, missing = await stage(fixed, 10.0)
                    print(f"  highest sustained rate in the ramp: {best}/s; now {fixed:.0f}/s for 10 s:")
                    for name, values in lat.items():
                        row(
                            f"  WebSocket {name}",
                            f"p50 {statistics.median(values):,.1f} ms, p99 {p(values, 0.99):,.1f} ms"
                            f" (goal p99 <= 250 ms), missing {missing}",
                        )
                for task in listeners:
                    task.cancel()
                for ws in sockets.values():
                    await ws.close()
        finally:
            await runner.cleanup()


async def main() -> None:
    prefix = f"bench{secrets.token_hex(3)}."
    await ensure_topics(KAFKA, Topics(prefix))
    await fan_out(prefix)
    await latency(prefix)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--serve", choices=["ours", "bare"])
    parser.add_argument("--port", type=int)
    args = parser.parse_args()
    if args.serve == "ours":
        serve_ours(args.port)
    elif args.serve == "bare":
        serve_bare(args.port)
    else:
        asyncio.run(main())
