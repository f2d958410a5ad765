"""A whole stack of its own, for faults: its own Kafka and MongoDB-protocol server (so stopping them
disturbs nobody), the services as processes, the AI stand-in, and a supervisor.

Every port derives from one base, 5500 + II_E2E_PORT_OFFSET (default 10000) modulo 20000, so that
the fault stack runs beside `make up` and beside the end-to-end stack of the same offset, and stays
below 32768, where Linux picks the local ports of outgoing connections (a listener there can find
its port taken by some client at the moment it binds). With the default: the API on :15500, the
summarizer :15501, the broadcaster :15502, the aggregator :16566 and its history writer :16567, the
AI stand-in :15599, Kafka :15700 (controller :15701), the MongoDB-protocol server :15800. Kafka and
FerretDB are started by deploy/local/kafka.sh and mongo.sh under their own instance names (fresh
data each run); the services by deploy/local/services.sh with II_PORT_OFFSET and their own II_HOME
(pid files and logs in .local/faults-<base>/).

The supervisor restarts a service whose process has exited, as Kubernetes restarts a container:
at once the first time, then with a doubling delay (up to 30 s) while it keeps exiting. Like a
liveness probe, it also kills and restarts a service whose `/health/live` failed three times in a
row (every two seconds) after it had once answered. Every restart is recorded with its reason; a
test reads them to tell a supervisor restart from a manual one (there are none) and reports them.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
# As `make up` runs them: the history writer (events, rollups, incidents into MongoDB) beside the
# aggregator, as a process of its own (deploy/local/services.conf).
SERVICES = ("ingest-gateway", "summarizer", "ws-broadcaster", "aggregator", "aggregator-history")
BASE_PORTS = {
    "ingest-gateway": 5000,
    "summarizer": 5001,
    "ws-broadcaster": 5002,
    "aggregator": 6066,
    "aggregator-history": 6067,
}


def fault_base() -> int:
    return 5500 + int(os.environ.get("II_E2E_PORT_OFFSET", "10000")) % 20000


@dataclass
class Restart:
    service: str
    at: float  # time.monotonic()
    reason: str  # "exited", or "liveness" (killed after failing its liveness probe)


@dataclass
class FaultStack:
    base: int = field(default_factory=fault_base)
    log: Callable[[str], None] = print
    database: str = "faults"
    restarts: list[Restart] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.offset = self.base - 5000  # II_PORT_OFFSET: the API on the base port
        self.home = ROOT / ".local" / f"faults-{self.base}"
        self.kafka_port = self.base + 200
        self.mongo_port = self.base + 300
        self.provider_port = self.base + 99
        self.kafka_bootstrap = f"127.0.0.1:{self.kafka_port}"
        self.mongo_uri = f"mongodb://127.0.0.1:{self.mongo_port}"
        self.api_url = self.url("ingest-gateway")
        self.provider_url = f"http://127.0.0.1:{self.provider_port}"
        self._infra_env = {
            **os.environ,
            "KAFKA_INSTANCE": f"kafka-faults-{self.base}",
            "KAFKA_PORT": str(self.kafka_port),
            "KAFKA_CONTROLLER_PORT": str(self.kafka_port + 1),
            "KAFKA_HEAP": "512m",
            "MONGO_INSTANCE": f"ferretdb-faults-{self.base}",
            "MONGO_PORT": str(self.mongo_port),
        }
        self.env = {
            **os.environ,
            "II_HOME": str(self.home),
            "II_PORT_OFFSET": str(self.offset),
            "KAFKA_BOOTSTRAP_SERVERS": self.kafka_bootstrap,
            "KAFKA_TOPIC_PREFIX": "",
            "MONGODB_URI": self.mongo_uri,
            "MONGODB_DATABASE": self.database,
            "LOG_LEVEL": "INFO",
            "AGGREGATOR_APP_ID": "aggregator",
            "AGGREGATOR_DATA_DIR": str(self.home / "aggregator"),
            # The gateway's view of the aggregator: look often, call it stuck after 20 s without progress.
            "AGGREGATOR_CHECK_SECONDS": "1",
            "AGGREGATOR_STALL_SECONDS": "20",
            # The summarizer calls the stand-in through the real SDK; short timings so that an
            # outage of the provider opens the breaker, and its end closes it, within the test.
            "AI_PROVIDER": "claude",
            "ANTHROPIC_API_KEY": "sk-ant-faults-fake",
            "ANTHROPIC_BASE_URL": self.provider_url,
            "AI_MAX_ATTEMPTS": "2",
            "AI_RETRY_MAX_WAIT_SECONDS": "1",
            "AI_BREAKER_FAILURE_THRESHOLD": "2",
            "AI_BREAKER_COOLDOWN_SECONDS": "5",
            "SUMMARY_SETTLE_SECONDS": "3",
            "SUMMARY_MIN_INTERVAL_SECONDS": "5",
        }
        self._provider: subprocess.Popen[bytes] | None = None
        self._supervisor: threading.Thread | None = None
        self._stop = threading.Event()
        self._paused: set[str] = set()
        self._lock = threading.Lock()

    # -- addresses ----------------------------------------------------------------------------------

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{BASE_PORTS[service] + self.offset}"

    def pid(self, service: str) -> int | None:
        path = self.home / "run" / f"{service}.pid"
        try:
            pid = int(path.read_text().strip())
        except (OSError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        return pid

    def log_tail(self, service: str, chars: int = 3000) -> str:
        path = self.home / "logs" / f"{service}.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else "(no log)"

    # -- the infrastructure ---------------------------------------------------------------------------

    def _script(self, name: str, *args: str, env: dict[str, str] | None = None, timeout: float = 240) -> None:
        subprocess.run(
            [str(ROOT / "deploy/local" / name), *args],
            env=env or self._infra_env,
            check=True,
            timeout=timeout,
            stdout=subprocess.DEVNULL,
        )

    def kafka(self, action: str) -> None:
        self._script("kafka.sh", action)

    def mongo(self, action: str) -> None:
        self._script("mongo.sh", action)

    def provider_outage(self, status: int | None) -> None:
        """Makes the AI stand-in answer every call with `status` (None: answer normally again)."""
        request = urllib.request.Request(  # noqa: S310 - a loopback URL we built
            f"{self.provider_url}/control/outage",
            data=b'{"status": %d}' % status if status is not None else None,
            method="POST" if status is not None else "DELETE",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=5) as resp:  # noqa: S310
            resp.read()

    # -- lifecycle ----------------------------------------------------------------------------------------

    def start(self) -> None:
        """Fresh Kafka and FerretDB data, topics, the stand-in, every service ready, the supervisor on."""
        self.stop(quiet=True)
        for instance in (self._infra_env["KAFKA_INSTANCE"], self._infra_env["MONGO_INSTANCE"]):
            shutil.rmtree(ROOT / ".local" / instance, ignore_errors=True)
        shutil.rmtree(self.home, ignore_errors=True)
        self.log(f"starting Kafka on :{self.kafka_port} and FerretDB on :{self.mongo_port}")
        self.kafka("start")
        self.mongo("start")
        subprocess.run(
            [str(ROOT / ".venv/bin/python"), "-m", "incident_shared.admin", "create-topics"],
            env=self.env,
            check=True,
            timeout=120,
            stdout=subprocess.DEVNULL,
        )
        self.home.mkdir(parents=True, exist_ok=True)
        self._provider = subprocess.Popen(
            [str(ROOT / ".venv/bin/python"), "-m", "summarizer.fakeprovider", "--port", str(self.provider_port)],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.log("starting the services")
        started = subprocess.run(
            [str(ROOT / "deploy/local/services.sh"), "start", *SERVICES],
            env=self.env,
            timeout=600,
            check=False,
            capture_output=True,
            text=True,
        )
        if started.returncode != 0:
            raise RuntimeError(f"the fault stack did not start:\n{started.stderr[-4000:]}")
        self._stop.clear()
        self._supervisor = threading.Thread(target=self._supervise, name="supervisor", daemon=True)
        self._supervisor.start()

    def stop(self, *, quiet: bool = False) -> None:
        self._stop.set()
        if self._supervisor is not None:
            self._supervisor.join(timeout=10)
            self._supervisor = None
        subprocess.run(
            [str(ROOT / "deploy/local/services.sh"), "stop", *SERVICES],
            env=self.env,
            timeout=300,
            check=False,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        if self._provider is not None:
            self._provider.terminate()
            self._provider.wait(timeout=30)
            self._provider = None
        for script in ("mongo.sh", "kafka.sh"):
            with contextlib.suppress(subprocess.SubprocessError):
                self._script(script, "stop")
        if not quiet:
            for instance in (self._infra_env["KAFKA_INSTANCE"], self._infra_env["MONGO_INSTANCE"]):
                shutil.rmtree(ROOT / ".local" / instance, ignore_errors=True)

    # -- faults on services ---------------------------------------------------------------------------

    def kill(self, service: str) -> None:
        """SIGKILL: no shutdown, no commit, no leaving the consumer group."""
        pid = self.pid(service)
        if pid is None:
            raise RuntimeError(f"{service} is not running")
        os.kill(pid, signal.SIGKILL)

    def pause(self, service: str) -> None:
        """The supervisor leaves `service` alone (stopped on purpose) until `resume`."""
        with self._lock:
            self._paused.add(service)

    def resume(self, service: str) -> None:
        with self._lock:
            self._paused.discard(service)

    def service_script(self, action: str, *names: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(ROOT / "deploy/local/services.sh"), action, *names],
            env=self.env,
            timeout=300,
            check=False,
            capture_output=True,
            text=True,
        )

    def _supervise(self) -> None:
        backoff = dict.fromkeys(SERVICES, 0.0)
        not_before = dict.fromkeys(SERVICES, 0.0)
        started_at = dict.fromkeys(SERVICES, time.monotonic())
        live_failures = dict.fromkeys(SERVICES, 0)
        seen_live = dict.fromkeys(SERVICES, False)
        killed = dict.fromkeys(SERVICES, False)
        starting: dict[str, subprocess.Popen[bytes]] = {}
        tick = 0
        while not self._stop.wait(0.5):
            tick += 1
            now = time.monotonic()
            for service in SERVICES:
                with self._lock:
                    if service in self._paused:
                        seen_live[service] = False
                        continue
                launcher = starting.get(service)
                if launcher is not None and launcher.poll() is None and self.pid(service) is None:
                    continue  # being started
                starting.pop(service, None)
                pid = self.pid(service)
                if pid is not None:
                    if now - started_at[service] > 60:
                        backoff[service] = 0.0  # ran a minute: the next exit is restarted at once
                    if tick % 4 == 0 and self._failed_liveness(service, seen_live, live_failures):
                        self.log(f"supervisor: {service} failed its liveness probe 3 times; killing it")
                        killed[service] = True
                        with contextlib.suppress(ProcessLookupError):
                            os.kill(pid, signal.SIGKILL)
                    continue
                if now < not_before[service]:
                    continue
                reason = "liveness" if killed[service] else "exited"
                killed[service], seen_live[service], live_failures[service] = False, False, 0
                self.restarts.append(Restart(service, now, reason))
                self.log(f"supervisor: {service} {'was killed' if reason == 'liveness' else 'exited'}; restarting it")
                starting[service] = subprocess.Popen(
                    [str(ROOT / "deploy/local/services.sh"), "start", service],
                    env=self.env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                started_at[service] = now
                backoff[service] = min(30.0, backoff[service] * 2 or 1.0)
                not_before[service] = now + backoff[service]
        for launcher in starting.values():
            with contextlib.suppress(ProcessLookupError):
                launcher.terminate()

    def _failed_liveness(self, service: str, seen_live: dict[str, bool], failures: dict[str, int]) -> bool:
        """Probes /health/live; True on the third failure in a row after a first success."""
        if self.get_json(f"{self.url(service)}/health/live", timeout=2)[0] == 200:
            seen_live[service], failures[service] = True, 0
            return False
        if not seen_live[service]:
            return False  # still starting: a startup probe's business, not a liveness failure
        failures[service] += 1
        return failures[service] >= 3

    # -- health -----------------------------------------------------------------------------------------

    def get_json(self, url: str, timeout: float = 5) -> tuple[int, Any]:
        import json  # noqa: PLC0415 - only the health helpers decode JSON here

        try:
            with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - loopback URLs we built
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null")
        except (OSError, ValueError):
            return 0, None

    def ready(self, service: str) -> bool:
        return self.get_json(f"{self.url(service)}/health/ready")[0] == 200

    def not_ready(self) -> list[str]:
        return [s for s in SERVICES if not self.ready(s)]
