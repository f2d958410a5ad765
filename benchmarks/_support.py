"""Shared by the benchmark scripts: starting services as processes, waiting, printing results."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PYTHON = str(ROOT / ".venv/bin/python")
KAFKA = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
MONGO = os.environ.get("MONGODB_URI", "mongodb://127.0.0.1:27017")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, limit_s: float = 60.0) -> None:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 - a loopback URL we built
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"{url} did not answer 200 within {limit_s:.0f}s")


@contextmanager
def process(args: list[str], env: Mapping[str, str], ready_url: str | None = None) -> Iterator[subprocess.Popen[bytes]]:
    """Runs a process for the duration of the block; its output goes to .local/logs/bench-*.log."""
    logs = ROOT / ".local/logs"
    logs.mkdir(parents=True, exist_ok=True)
    log = (logs / f"bench-{Path(args[-1]).stem.replace('.', '-')}.log").open("ab")
    proc = subprocess.Popen(args, env={**os.environ, **env}, stdout=log, stderr=log, cwd=ROOT)
    try:
        if ready_url:
            wait_http(ready_url)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@contextmanager
def ferretdb() -> Iterator[str]:
    """A throwaway FerretDB (the local MongoDB-protocol server `make infra` builds) on a free port,
    with its data in a temporary directory: benchmarks never load the shared one. Yields its URI."""
    binary = Path(os.environ.get("II_HOME", ROOT / ".local")) / "bin" / "ferretdb-local"
    if not binary.exists():
        raise RuntimeError(f"{binary} is missing: run `make infra` (it builds the MongoDB-protocol server)")
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="bench-ferretdb-") as data:
        proc = subprocess.Popen(
            [str(binary), "-listen-addr", f"127.0.0.1:{port}", "-sqlite-dir", data],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 30
            while True:
                with socket.socket() as s:
                    if s.connect_ex(("127.0.0.1", port)) == 0:
                        break
                if time.monotonic() > deadline:
                    raise RuntimeError("the benchmark's FerretDB did not start")
                time.sleep(0.2)
            yield f"mongodb://127.0.0.1:{port}"
        finally:
            proc.terminate()
            proc.wait(timeout=30)


@contextmanager
def gateway_process(topic_prefix: str) -> Iterator[str]:
    """An ingest gateway process on a free port, writing to topics under `topic_prefix`; yields its URL."""
    port = free_port()
    env = {
        "PORT": str(port),
        "KAFKA_TOPIC_PREFIX": topic_prefix,
        "MONGODB_URI": MONGO,
        "KAFKA_BOOTSTRAP_SERVERS": KAFKA,
        "LOG_LEVEL": "WARNING",
    }
    base = f"http://127.0.0.1:{port}"
    with process([PYTHON, "-m", "ingest_gateway"], env, f"{base}/health/ready"):
        yield base


def vegeta() -> str:
    """The vegeta load generator (Go module proxy), built into .local/bin on first use."""
    found = shutil.which("vegeta") or str(ROOT / ".local/bin/vegeta")
    if not Path(found).exists():
        print("building the vegeta load generator (first run only)...", file=sys.stderr)
        subprocess.run(
            ["go", "install", "github.com/tsenart/vegeta/v12@v12.13.0"],
            env={**os.environ, "GOBIN": str(ROOT / ".local/bin")},
            check=True,
        )
    return found


async def post_repeatedly(
    url: str, body: bytes, content_type: str, *, per_request: int, seconds: float, concurrency: int = 4
) -> float:
    """Posts `body` (holding `per_request` items) for `seconds`, `concurrency` requests at a time, and
    returns items per second. Any answer but 200 or 201 stops the run with an error."""
    import aiohttp  # noqa: PLC0415 - not every benchmark needs an HTTP client

    sent = 0
    start = time.perf_counter()

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal sent
        while time.perf_counter() - start < seconds:
            async with session.post(url, data=body, headers={"Content-Type": content_type}) as resp:
                if resp.status not in (200, 201):
                    raise RuntimeError(f"{url} answered {resp.status}: {await resp.text()}")
                await resp.read()
            sent += per_request

    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
    return sent / (time.perf_counter() - start)


def attack(url: str, body: bytes, rate: int, duration: str, workers: int = 64) -> dict[str, Any]:
    """Runs vegeta against `url` (POST `body` as JSON; rate 0: as fast as `workers` allow) and
    returns its JSON report."""
    target = {
        "method": "POST",
        "url": url,
        "header": {"Content-Type": ["application/json"]},
        "body": base64.b64encode(body).decode(),
    }
    tool = vegeta()
    attack_cmd = [tool, "attack", "-format=json", f"-rate={rate}", f"-duration={duration}", "-timeout=10s"]
    if rate == 0:
        attack_cmd += [f"-max-workers={workers}", f"-workers={workers}"]
    result = subprocess.run(attack_cmd, input=json.dumps(target).encode() + b"\n", capture_output=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"vegeta failed: {result.stderr.decode()[-500:]}")
    report = subprocess.run([tool, "report", "-type=json"], input=result.stdout, capture_output=True, check=True)
    data: dict[str, Any] = json.loads(report.stdout)
    return data


def row(label: str, value: str) -> None:
    print(f"  {label:<58} {value}")
