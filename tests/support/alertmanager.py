"""Prometheus Alertmanager as a real process, for the tests of the receivers that it sends to.

The binary is built from the Go module proxy by `deploy/ci.d/alertmanager.sh` (CI runs it before the
tests; here it runs on first use). Each Alertmanager gets its own free port, data directory and
configuration, with clustering off (`--cluster.listen-address=`: its default port, 9093, is the local
Kafka controller's). Alerts are posted to its API as Prometheus would post them.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from incident_shared.timeutil import iso

ROOT = Path(__file__).resolve().parents[2]
BINARY = ROOT / ".local" / "bin" / "alertmanager"
SETUP = ROOT / "deploy" / "ci.d" / "alertmanager.sh"


def alertmanager_binary() -> Path:
    """The Alertmanager binary, built first when it is missing; fails the test when it cannot be."""
    if not BINARY.exists():
        if shutil.which("go") is None:
            pytest.fail(f"Go is needed to build Alertmanager for this test: install it, then run {SETUP}")
        proc = subprocess.run(["bash", str(SETUP)], capture_output=True, text=True, timeout=1800, check=False)
        if proc.returncode != 0 or not BINARY.exists():
            pytest.fail(f"{SETUP} could not build Alertmanager:\n{proc.stderr[-2000:]}")
    return BINARY


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def config(receiver: dict[str, Any]) -> dict[str, Any]:
    """A configuration that sends every alert to `receiver`, at once, and each change within a second."""
    return {
        "route": {
            "receiver": receiver["name"],
            "group_by": ["alertname", "service"],
            "group_wait": "0s",
            "group_interval": "1s",
            "repeat_interval": "4h",
        },
        "receivers": [receiver],
    }


@dataclass(frozen=True)
class Alertmanager:
    url: str
    log: Path

    async def post_alert(
        self, labels: dict[str, str], annotations: dict[str, str], starts: datetime, ends: datetime | None = None
    ) -> None:
        """Posts one alert as Prometheus does; with `ends` in the past, the alert is resolved."""
        alert: dict[str, Any] = {"labels": labels, "annotations": annotations, "startsAt": iso(starts)}
        if ends is not None:
            alert["endsAt"] = iso(ends)
        alert["generatorURL"] = "http://prometheus.test/graph"
        async with aiohttp.ClientSession() as http:
            resp = await http.post(f"{self.url}/api/v2/alerts", json=[alert])
            assert resp.status == 200, f"Alertmanager refused the alert: {resp.status} {await resp.text()}"

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else "(no log)"


def _prepare(receiver: dict[str, Any], workdir: Path) -> Path:
    workdir.mkdir(parents=True, exist_ok=True)
    config_file = workdir / "alertmanager.yml"
    config_file.write_text(yaml.safe_dump(config(receiver)))
    return config_file


@asynccontextmanager
async def running_alertmanager(receiver: dict[str, Any], workdir: Path) -> AsyncIterator[Alertmanager]:
    """Starts Alertmanager with `receiver` as its only receiver; stops it afterwards."""
    binary = alertmanager_binary()
    config_file = _prepare(receiver, workdir)
    port = free_port()
    manager = Alertmanager(f"http://127.0.0.1:{port}", workdir / "alertmanager.log")
    with manager.log.open("wb") as out:
        proc = await asyncio.create_subprocess_exec(
            str(binary),
            f"--config.file={config_file}",
            f"--storage.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
            "--log.level=debug",
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        await _wait_ready(manager, proc)
        yield manager
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), timeout=20)
            except TimeoutError:
                proc.kill()
                await proc.wait()


async def _wait_ready(manager: Alertmanager, proc: asyncio.subprocess.Process) -> None:
    async with aiohttp.ClientSession() as http:
        for _ in range(150):
            if proc.returncode is not None:
                pytest.fail(f"Alertmanager exited with {proc.returncode}:\n{manager.log_tail()}")
            try:
                resp = await http.get(f"{manager.url}/-/ready")
                if resp.status == 200:
                    return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
    pytest.fail(f"Alertmanager did not become ready in 30s:\n{manager.log_tail()}")
