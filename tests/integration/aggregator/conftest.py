"""Runs the aggregator as a real worker process against the test's topics and database."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from incident_shared.topics import Topics
from support.kafka_topics import topic_stem

ROOT = Path(__file__).parents[3]


class Worker:
    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = env
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self._fh = self.log.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "aggregator"], env=self.env, cwd=ROOT, stdout=self._fh, stderr=subprocess.STDOUT
        )

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)


@pytest.fixture
def aggregator_worker(  # noqa: PLR0917 - pytest injects fixtures by position
    topics: Topics,
    kafka_bootstrap: str,
    mongo_uri: str,
    mongo_db_name: str,
    tmp_path: Path,
    unique_name: Callable[[str], str],
) -> Iterator[Worker]:
    port = 16000 + int.from_bytes(os.urandom(2), "big") % 20000
    env = dict(os.environ)
    env.update(
        KAFKA_BOOTSTRAP_SERVERS=kafka_bootstrap,
        KAFKA_TOPIC_PREFIX=topics.prefix,
        MONGODB_URI=mongo_uri,
        MONGODB_DATABASE=mongo_db_name,
        PORT=str(port),
        AGGREGATOR_APP_ID=f"agg-{topic_stem(topics)}",
        AGGREGATOR_DATA_DIR=str(tmp_path / "data"),
        LOG_FORMAT="text",
        LOG_LEVEL="INFO",
        CORRELATION_CONFIG=str(ROOT / "deploy/config/correlation.toml"),
        AGGREGATOR_BATCH_SECONDS="0.2",
    )
    worker = Worker(env, tmp_path / "aggregator.log")
    worker.port = port  # type: ignore[attr-defined]
    yield worker
    worker.stop()


def wait_until(predicate: Callable[[], bool], timeout: float = 120.0, interval: float = 0.5) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError("condition not met in time")
