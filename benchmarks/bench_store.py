"""The history store at a week of traffic: read latencies through the gateway, with concurrent readers.

1. Starts a store of its own (FerretDB on PostgreSQL, as `make up` runs it, with its data under
   .local/bench-store; or `--mongodb-uri` to measure another server, such as MongoDB) and loads it
   directly, with the projection's own document builders: by default 1,000,000 events over the last
   seven days (a background of noise, and the events of 20,000 incidents of heavy-tailed sizes, up to
   storms of hundreds of events a minute) and the 20,000 incidents, which also go to an `incidents`
   topic on the local Kafka, where the gateway's incident view reads them. A store loaded within
   the last hour is reused (`--reload` forces a new one).
2. Starts the gateway as a process on that store and topic, then, for each endpoint in turn, keeps
   `--readers` concurrent readers busy for `--seconds` and prints p50 / p99 / max latency and the
   request rate. Incidents and events are picked at random, so big incidents count as often as
   small ones.
3. Prints the load rate, the store's size and oldest event (what the retention metrics report), a
   retention sweep's duration, the incident view's load time and the gateway's memory.

    .venv/bin/python benchmarks/bench_store.py [--events N] [--incidents N] [--readers N] [--seconds S]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from aiokafka import AIOKafkaProducer
from pymongo import AsyncMongoClient

sys.path.insert(0, str(Path(__file__).parent))
from _support import KAFKA, PYTHON, ROOT, free_port, process, row

from incident_shared import mongo
from incident_shared.codec import dumps
from incident_shared.kafka import ensure_topics
from incident_shared.retention import Retention, RetentionPolicy
from incident_shared.schemas import Event, Incident
from incident_shared.timeutil import utcnow
from incident_shared.topics import Topics

HOME = ROOT / ".local" / "bench-store"
DATABASE = "bench_store"
TOPICS = Topics("bench-store.")
SERVICES = [
    f"{a}-{b}"
    for a in ("payment", "auth", "orders", "search", "cart", "catalog", "email", "billing", "gateway", "users")
    for b in ("service", "db", "worker", "cache")
]
MESSAGES = [
    ("Timeout after {n}ms calling {h}:5432", "TimeoutError"),
    ("Connection refused to {h}:{n}", "ConnectionRefusedError"),
    ("GET /api/v1/items/{n} returned 500", "HttpError"),
    ("Slow query took {n}ms on table orders", "SlowQuery"),
    ("Cache miss ratio {n}% above threshold", None),
    ("Health check failed for {h}", "HealthCheckFailed"),
    ("Retrying request {n} of 5", "Retry"),
    ("User {n} login failed: invalid token", "AuthError"),
]
SPAN = timedelta(days=7) - timedelta(hours=1)  # a week, less a margin before the retention cutoff


# -- the data ------------------------------------------------------------------------------------


def event_id(i: int) -> str:
    return f"evt_bench{i:08d}"


def incident_id(k: int) -> str:
    return f"inc_bench{k:06d}"


@dataclass(frozen=True, slots=True)
class Plan:
    """Who is where: each incident's start, length, services and size; the rest is background."""

    now: datetime
    starts: list[datetime]
    minutes: list[int]
    services: list[list[str]]
    sizes: list[int]
    noise: int


def plan(n_events: int, n_incidents: int, now: datetime, rng: random.Random) -> Plan:
    # 40% of the events belong to incidents, whose sizes are heavy-tailed (most have a few events,
    # a few have thousands); the rest is background noise that joins none.
    raw = [rng.paretovariate(1.2) for _ in range(n_incidents)]
    scale = n_events * 0.4 / sum(raw)
    sizes = [max(3, int(r * scale)) for r in raw]
    starts = sorted(now - SPAN + SPAN * rng.random() for _ in range(n_incidents))
    # Long incidents are the big ones: 5 to 60 events a minute, at most four hours (the engine's cap).
    minutes = [min(240, max(1, int(size / rng.uniform(5, 60)))) for size in sizes]
    # The newest incidents cannot outlive now.
    starts = [min(s, now - timedelta(minutes=m)) for s, m in zip(starts, minutes, strict=True)]
    services = [rng.sample(SERVICES, rng.choice((1, 1, 1, 2, 3))) for _ in range(n_incidents)]
    return Plan(now, starts, minutes, services, sizes, max(0, n_events - sum(sizes)))


def make_event(
    i: int, ts: datetime, *, service: str, severity: int, inc: str | None, rng: random.Random
) -> dict[str, Any]:
    text, error_type = MESSAGES[i % len(MESSAGES)]
    ts = ts.replace(microsecond=ts.microsecond // 1000 * 1000)
    event = Event(
        eventId=event_id(i),
        service=service,
        severity=severity,
        timestamp=ts,
        receivedAt=ts + timedelta(milliseconds=rng.randrange(5, 400)),
        message=text.format(n=rng.randrange(1, 99999), h=f"host-{rng.randrange(50)}"),
        errorType=error_type,
        metadata={"region": rng.choice(("eu-west-1", "us-east-1")), "requestId": f"req-{rng.getrandbits(40):x}"},
        tags=["bench", service.split("-", 1)[0]],
    )
    template = text.replace("{n}", "<NUM>").replace("{h}", "<HOST>")
    return mongo.event_document(event, incident_id=inc, fingerprint=f"fp{i % 5000:04d}", template=template)


def events(p: Plan, rng: random.Random) -> Iterator[dict[str, Any]]:
    """Every event, incident by incident with the background interleaved (roughly time-ordered)."""
    i = 0
    per_incident_noise = p.noise // max(1, len(p.sizes))
    for k, size in enumerate(p.sizes):
        start, span = p.starts[k], timedelta(minutes=p.minutes[k])
        for _ in range(size):
            ts = start + span * rng.random()
            service = rng.choice(p.services[k])
            yield make_event(i, ts, service=service, severity=rng.choice((3, 4, 4, 5)), inc=incident_id(k), rng=rng)
            i += 1
        # The background, spread among the incidents (the remainder after the last one).
        last = k == len(p.sizes) - 1
        for _ in range(p.noise - per_incident_noise * k if last else per_incident_noise):
            ts = p.now - SPAN + SPAN * rng.random()
            service = rng.choice(SERVICES)
            yield make_event(i, ts, service=service, severity=rng.choice((1, 1, 2, 2, 3)), inc=None, rng=rng)
            i += 1


def incident(k: int, p: Plan, roots: list[str], rng: random.Random) -> Incident:
    start, minutes, services, size = p.starts[k], p.minutes[k], p.services[k], p.sizes[k]
    last = start + timedelta(minutes=minutes)
    recent = p.now - last < timedelta(minutes=45)
    status = rng.choice(("active", "active", "acknowledged")) if recent else "resolved"
    merged = rng.choice(roots) if roots and rng.random() < 0.05 else None
    timeline = [
        {"minute": mongo.minute_of(start) + timedelta(minutes=m), "service": s, "count": 1 + size // (minutes + 1)}
        | {"maxSeverity": 4}
        for m in range(minutes + 1)
        for s in services
    ][-240:]
    templates = [
        {
            "fingerprint": f"fp{k:05d}{j}",
            "template": MESSAGES[(k + j) % len(MESSAGES)][0].replace("{n}", "<NUM>").replace("{h}", "<HOST>"),
            "service": services[j % len(services)],
            "errorType": MESSAGES[(k + j) % len(MESSAGES)][1],
            "count": size // 3 + 1,
            "firstSeen": start,
            "lastSeen": last,
        }
        for j in range(3)
    ]
    factors = [
        {"name": n, "value": round(rng.random() * 5, 2), "contribution": round(rng.random(), 2), "detail": f"{n}: …"}
        for n in ("criticality", "peakSeverity", "spike", "breadth", "duration")
    ]
    return Incident(
        incidentId=incident_id(k),
        version=1 + size // 10,
        status=status,
        title=f"{services[0]}: {templates[0]['template']}",
        correlationKey=services[0],
        routingKey=services[0],
        severityScore=rng.randint(2, 5),
        severityFactors=factors,
        affectedServices=services,
        probableOrigin=services[0],
        eventCount=size,
        firstSeen=start,
        lastSeen=last,
        mergedInto=merged,
        templates=templates,
        timeline=timeline,
        sampleEvents=[{"eventId": event_id(0), "service": services[0], "message": "a sample event"}] * min(size, 5),
        aiGeneratedSummary=f"{services[0]} fails: its database connection pool is exhausted, callers time out.",
        rootCause="The connection pool of the primary database is exhausted.",
        suggestedActions=["Check the pool size", "Look for slow queries", "Scale the primary"],
        summaryKind="rule-based",
        summaryProvider="rule-based",
        createdAt=start,
        updatedAt=last,
        acknowledgedAt=start + timedelta(minutes=3) if status != "active" else None,
        resolvedAt=last if status == "resolved" else None,
    )


# -- the store -----------------------------------------------------------------------------------


def local_store(action: str, port: int) -> None:
    env = {**os.environ, "II_HOME": str(HOME), "MONGO_PORT": str(port)}
    scripts = ["mongo.sh", "postgres.sh"] if action == "stop" else ["mongo.sh"]
    for script in scripts:
        subprocess.run([str(ROOT / "deploy/local" / script), action], env=env, check=True)


async def loaded_at(db: Any) -> datetime | None:
    meta = await db["bench_meta"].find_one({"_id": "volumes"})
    return meta["loadedAt"] if meta else None


async def load_incidents(db: Any, p: Plan, n_incidents: int, rng: random.Random) -> None:
    """To the topic (the gateway's view) and to the store (one incident by id)."""
    await ensure_topics(KAFKA, TOPICS)
    producer = AIOKafkaProducer(bootstrap_servers=KAFKA, acks="all", linger_ms=20, max_batch_size=1 << 20)
    await producer.start()
    roots: list[str] = []
    docs: list[dict[str, Any]] = []
    started = time.perf_counter()
    try:
        for k in range(n_incidents):
            inc = incident(k, p, roots, rng)
            if inc.mergedInto is None:
                roots = [*roots[-19:], inc.incidentId]
            change = {"action": "updated", "incident": inc, "emittedAt": p.now}
            await producer.send(TOPICS.incidents, dumps(change), key=inc.incidentId.encode())
            docs.append({"_id": inc.incidentId, **mongo.incident_document(inc)})
            if len(docs) == 250:
                await db[mongo.INCIDENTS].insert_many(docs, ordered=False)
                docs = []
        if docs:
            await db[mongo.INCIDENTS].insert_many(docs, ordered=False)
        await producer.flush()
    finally:
        await producer.stop()
    row("incidents loaded (store and topic)", f"{n_incidents:,} in {time.perf_counter() - started:.0f}s")


async def load_events(db: Any, p: Plan, rng: random.Random) -> int:
    """Batches of 1,000 with three writers, as a projection writes them; returns how many."""
    started = time.perf_counter()
    done = 0
    queue: asyncio.Queue[list[dict[str, Any]] | None] = asyncio.Queue(maxsize=6)

    async def writer() -> None:
        nonlocal done
        while (batch := await queue.get()) is not None:
            await db[mongo.EVENTS].insert_many(batch, ordered=False)
            done += len(batch)
            if done % 100_000 < len(batch):
                rate = done / (time.perf_counter() - started)
                print(f"    {done:>9,} events stored ({rate:,.0f}/s)", file=sys.stderr, flush=True)

    writers = [asyncio.create_task(writer()) for _ in range(3)]
    batch: list[dict[str, Any]] = []
    for doc in events(p, rng):
        batch.append(doc)
        if len(batch) == 1000:
            await queue.put(batch)
            batch = []
    if batch:
        await queue.put(batch)
    for _ in writers:
        await queue.put(None)
    await asyncio.gather(*writers)
    seconds = time.perf_counter() - started
    row("events loaded (insert_many of 1,000, 3 writers, indexes on)", f"{done:,} at {done / seconds:,.0f} events/s")
    return done


async def load(uri: str, n_events: int, n_incidents: int) -> None:
    client: AsyncMongoClient[dict[str, Any]] = mongo.make_client(uri, app_name="bench-store", timeout_ms=30000)
    db = client[DATABASE]
    await client.drop_database(DATABASE)
    await mongo.ensure_indexes(db)
    rng = random.Random(20261130)
    p = plan(n_events, n_incidents, utcnow(), rng)
    await load_incidents(db, p, n_incidents, rng)
    done = await load_events(db, p, rng)
    await db["bench_meta"].insert_one({"_id": "volumes", "loadedAt": p.now, "events": done, "incidents": n_incidents})
    await client.close()


async def describe(uri: str) -> tuple[int, int]:
    client: AsyncMongoClient[dict[str, Any]] = mongo.make_client(uri, app_name="bench-store", timeout_ms=30000)
    db = client[DATABASE]
    meta = await db["bench_meta"].find_one({"_id": "volumes"})
    retention = Retention(db, RetentionPolicy())
    report = await retention.sweep()
    for name, size in report.sizes.items():
        row(f"store: {name}", f"{size.documents:,} documents, {size.bytes / 2**20:,.0f} MiB")
    oldest = report.oldest_event
    row(
        "store: oldest event kept",
        f"{oldest:%Y-%m-%d %H:%M} ({(utcnow() - oldest) / timedelta(days=1):.1f} days)" if oldest else "none",
    )
    row("retention sweep (nothing due: lookups only)", f"{report.seconds:.1f}s, TTL indexes: {retention.ttl}")
    await client.close()
    return int(meta["events"]), int(meta["incidents"])


# -- the readers ---------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


async def measure(
    label: str, call: Callable[[aiohttp.ClientSession, random.Random], Awaitable[None]], readers: int, seconds: float
) -> None:
    latencies: list[float] = []
    errors = 0
    connector = aiohttp.TCPConnector(limit=readers)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60)) as http:
        for warm in range(3):
            await call(http, random.Random(warm))
        deadline = time.perf_counter() + seconds

        async def reader(n: int) -> None:
            nonlocal errors
            rng = random.Random(n)
            while time.perf_counter() < deadline:
                t0 = time.perf_counter()
                try:
                    await call(http, rng)
                except aiohttp.ClientError:
                    errors += 1
                    continue
                latencies.append(time.perf_counter() - t0)

        started = time.perf_counter()
        await asyncio.gather(*(reader(n) for n in range(readers)))
        elapsed = time.perf_counter() - started
    if not latencies:
        row(label, f"no answer ({errors} errors)")
        return
    ms = [x * 1000 for x in latencies]
    row(
        label,
        f"p50 {statistics.median(ms):7.1f} ms   p99 {percentile(ms, 99):7.1f} ms   max {max(ms):7.1f} ms"
        f"   {len(ms) / elapsed:6.1f} req/s" + (f"   {errors} errors" if errors else ""),
    )


def endpoints(base: str, n_events: int, n_incidents: int) -> list[tuple[str, Callable[..., Awaitable[None]]]]:
    async def get(http: aiohttp.ClientSession, path: str, **params: str) -> None:
        async with http.get(base + path, params=params) as resp:
            await resp.read()
            if resp.status != 200:
                raise aiohttp.ClientResponseError(resp.request_info, (), status=resp.status)

    def some_incident(rng: random.Random) -> str:
        return incident_id(rng.randrange(n_incidents))

    async def incident_page(http: aiohttp.ClientSession, rng: random.Random) -> None:
        # What the incident page asks for at once: the incident (with its timeline) and its events.
        inc = some_incident(rng)
        await asyncio.gather(get(http, f"/api/incidents/{inc}"), get(http, "/api/events", incidentId=inc))

    return [
        ("GET /api/events/:id", lambda h, r: get(h, f"/api/events/{event_id(r.randrange(n_events))}")),
        ("GET /api/incidents/:id", lambda h, r: get(h, f"/api/incidents/{some_incident(r)}")),
        ("GET /api/events?incidentId= (first page)", lambda h, r: get(h, "/api/events", incidentId=some_incident(r))),
        ("incident page (the two above, in parallel)", incident_page),
        ("GET /api/incidents (first page)", lambda h, r: get(h, "/api/incidents")),
        (
            "GET /api/incidents?service=&status=resolved",
            lambda h, r: get(h, "/api/incidents", service=r.choice(SERVICES), status="resolved"),
        ),
        ("GET /api/incidents/active", lambda h, r: get(h, "/api/incidents/active")),
        ("GET /api/incidents/stats", lambda h, r: get(h, "/api/incidents/stats")),
        ("GET /api/events (first page)", lambda h, r: get(h, "/api/events")),
        ("GET /api/events?service= (first page)", lambda h, r: get(h, "/api/events", service=r.choice(SERVICES))),
        ("GET /api/events?minSeverity=4 (first page)", lambda h, r: get(h, "/api/events", minSeverity="4")),
        ("GET /api/events/stats (last 60 minutes)", lambda h, r: get(h, "/api/events/stats")),
    ]


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def database_size(uri: str) -> None:
    """The PostgreSQL database's own size: FerretDB's figures leave out TOAST (large documents such
    as incidents) and the GIN indexes beside its own."""
    if "127.0.0.1" not in uri:
        return
    script = ROOT / "deploy/local/postgres.sh"
    sql = "SELECT pg_size_pretty(pg_database_size('ferretdb'))"
    out = subprocess.run(
        [str(script), "psql", "-tAc", sql],
        env={**os.environ, "II_HOME": str(HOME)},
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode == 0:
        row("store: PostgreSQL database size (everything)", out.stdout.strip())


async def prepare_store(args: argparse.Namespace, uri: str) -> tuple[int, int]:
    client: AsyncMongoClient[dict[str, Any]] = mongo.make_client(uri, app_name="bench-store", timeout_ms=30000)
    when = await loaded_at(client[DATABASE])
    await client.close()
    fresh = when is not None and utcnow() - when < timedelta(hours=1)
    if args.reload or not fresh:
        print(f"loading {args.events:,} events and {args.incidents:,} incidents (minutes on 2 cores)...")
        await load(uri, args.events, args.incidents)
    else:
        print(f"reusing the store loaded at {when:%H:%M} (--reload to load again)")
    counts = await describe(uri)
    if not args.mongodb_uri:
        database_size(uri)
    return counts


async def read(args: argparse.Namespace, uri: str, n_events: int, n_incidents: int) -> None:
    gateway_port = free_port()
    env = {
        "PORT": str(gateway_port),
        "MONGODB_URI": uri,
        "MONGODB_DATABASE": DATABASE,
        "KAFKA_BOOTSTRAP_SERVERS": KAFKA,
        "KAFKA_TOPIC_PREFIX": TOPICS.prefix,
        "LOG_LEVEL": "WARNING",
        "RETENTION_ENABLED": "false",  # measured above; not a background load on the reads
    }
    base = f"http://127.0.0.1:{gateway_port}"
    started = time.perf_counter()
    with process([PYTHON, "-m", "ingest_gateway"], env, ready_url=f"{base}/health/ready") as gateway:
        async with aiohttp.ClientSession() as http:
            while True:  # readiness does not wait for the incident view; the lists do
                async with http.get(f"{base}/api/incidents/active") as resp:
                    if resp.status == 200:
                        break
                await asyncio.sleep(0.2)
        row("gateway ready, incident view loaded from the topic", f"{time.perf_counter() - started:.1f}s")
        row("gateway memory with the incident view", f"{rss_mib(gateway.pid):.0f} MiB RSS")
        load1 = os.getloadavg()[0]
        print(f"reads with {args.readers} concurrent readers, {args.seconds:.0f}s each (load average {load1:.1f}):")
        for label, call in endpoints(base, n_events, n_incidents):
            await measure(label, call, args.readers, args.seconds)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--incidents", type=int, default=20_000)
    parser.add_argument("--readers", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=15.0, help="per endpoint")
    parser.add_argument("--reload", action="store_true", help="load the store again even if it is recent")
    parser.add_argument("--mongodb-uri", help="measure this server instead of starting FerretDB on PostgreSQL")
    parser.add_argument("--keep-running", action="store_true", help="leave the bench store running")
    args = parser.parse_args()

    port = free_port()
    uri = args.mongodb_uri or f"mongodb://127.0.0.1:{port}"
    print(f"store: {'the given server' if args.mongodb_uri else 'FerretDB on PostgreSQL, ' + str(HOME)}")
    if not args.mongodb_uri:
        local_store("start", port)
    try:
        n_events, n_incidents = await prepare_store(args, uri)
        await read(args, uri, n_events, n_incidents)
    finally:
        if not args.mongodb_uri and not args.keep_running:
            local_store("stop", port)


if __name__ == "__main__":
    asyncio.run(main())
