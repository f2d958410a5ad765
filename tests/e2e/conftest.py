"""The end-to-end stack: every service of `deploy/local/services.conf` as real processes.

It runs beside anything `make up` started: its ports are shifted by II_PORT_OFFSET (10000: the API
on :15000, the dashboard on :13000), it has its own topics (a random prefix) and its own database,
and its pid files and logs live in `.local/e2e/`. Started once per test session, stopped at the end.
"""

from __future__ import annotations

import os
import secrets
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Another port offset (II_E2E_PORT_OFFSET) lets two people run the end-to-end tests on one machine.
OFFSET = int(os.environ.get("II_E2E_PORT_OFFSET", "10000"))


@dataclass(frozen=True)
class Stack:
    api_url: str
    ws_url: str
    dashboard_url: str
    aggregator_url: str
    summarizer_url: str
    broadcaster_url: str
    topic_prefix: str
    database: str
    kafka_bootstrap: str
    mongo_uri: str
    logs: Path

    def log(self, service: str) -> str:
        path = self.logs / f"{service}.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else "(no log)"


@pytest.fixture(scope="session")
def stack(kafka_bootstrap: str, mongo_uri: str) -> Iterator[Stack]:
    prefix = f"e2e{secrets.token_hex(3)}."
    database = f"e2e_{secrets.token_hex(3)}"
    home = ROOT / ".local" / ("e2e" if OFFSET == 10000 else f"e2e-{OFFSET}")
    env = {
        **os.environ,
        "II_HOME": str(home),
        "II_PORT_OFFSET": str(OFFSET),
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "KAFKA_TOPIC_PREFIX": prefix,
        "MONGODB_URI": mongo_uri,
        "MONGODB_DATABASE": database,
        # The aggregator's consumer group and internal topics are named after its app id, not the
        # topic prefix: without one of its own, stacks on the shared Kafka would join one group.
        "AGGREGATOR_APP_ID": f"agg-{prefix.rstrip('.')}",
        "LOG_LEVEL": "INFO",
        # The summarizer talks to a local stand-in speaking the Anthropic protocol: no test reaches
        # a real provider, and the AI path (SDK, retries, breaker, budget) runs end to end.
        "AI_PROVIDER": "claude",
        "ANTHROPIC_API_KEY": "sk-ant-e2e-fake",
        "ANTHROPIC_BASE_URL": f"http://127.0.0.1:{5099 + OFFSET}",
        "SUMMARY_SETTLE_SECONDS": "5",
    }
    fake_provider = subprocess.Popen(
        [str(ROOT / ".venv/bin/python"), "-m", "summarizer.fakeprovider", "--port", str(5099 + OFFSET)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    subprocess.run(
        [str(ROOT / ".venv/bin/python"), "-m", "incident_shared.admin", "create-topics"],
        env=env,
        check=True,
        timeout=120,
    )
    script = str(ROOT / "deploy/local/services.sh")
    started = subprocess.run([script, "start"], env=env, timeout=600, check=False, capture_output=True, text=True)
    if started.returncode != 0:
        subprocess.run([script, "stop"], env=env, timeout=120, check=False)
        fake_provider.terminate()
        pytest.fail(f"the end-to-end stack did not start:\n{started.stderr[-4000:]}")
    try:
        yield Stack(
            api_url=f"http://127.0.0.1:{5000 + OFFSET}",
            ws_url=f"ws://127.0.0.1:{5000 + OFFSET}/ws",
            dashboard_url=f"http://localhost:{3000 + OFFSET}",
            aggregator_url=f"http://127.0.0.1:{6066 + OFFSET}",
            summarizer_url=f"http://127.0.0.1:{5001 + OFFSET}",
            broadcaster_url=f"http://127.0.0.1:{5002 + OFFSET}",
            topic_prefix=prefix,
            database=database,
            kafka_bootstrap=kafka_bootstrap,
            mongo_uri=mongo_uri,
            logs=home / "logs",
        )
    finally:
        subprocess.run([script, "stop"], env=env, timeout=180, check=False)
        fake_provider.terminate()
        fake_provider.wait(timeout=30)
