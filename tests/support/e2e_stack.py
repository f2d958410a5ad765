"""Runs the product's services as real processes (deploy/local/services.sh), for end-to-end tests.

A stack runs beside anything `make up` started: its ports are shifted by an offset, it has its own
topics (a random prefix, deleted afterwards), consumer groups and database, and its pid files and
logs live in `.local/e2e*/`.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from support.kafka_topics import delete_topics_containing

ROOT = Path(__file__).resolve().parents[2]


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


@contextmanager
def run_stack(
    kafka_bootstrap: str,
    mongo_uri: str,
    *,
    offset: int,
    home: Path,
    services: Sequence[str] = (),
    env: dict[str, str] | None = None,
) -> Iterator[Stack]:
    """Starts `services` (all of services.conf by default) shifted by `offset`, and stops them after."""
    prefix = f"e2e{secrets.token_hex(3)}."
    database = f"e2e_{secrets.token_hex(3)}"
    full_env = {
        **os.environ,
        "II_HOME": str(home),
        "II_PORT_OFFSET": str(offset),
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "KAFKA_TOPIC_PREFIX": prefix,
        "MONGODB_URI": mongo_uri,
        "MONGODB_DATABASE": database,
        # Consumer groups and the aggregator's internal topics are named from these, not from the
        # topic prefix: the stack's own keep it apart from any other stack on the same broker.
        "AGGREGATOR_APP_ID": f"aggregator-{prefix.rstrip('.')}",
        "SUMMARIZER_CONSUMER_GROUP": f"summarizer-{prefix.rstrip('.')}",
        "LOG_LEVEL": "INFO",
        # The summarizer talks to a local stand-in speaking the Anthropic protocol: no test reaches
        # a real provider, and the AI path (SDK, retries, breaker, budget) runs end to end.
        "AI_PROVIDER": "claude",
        "ANTHROPIC_API_KEY": "sk-ant-e2e-fake",
        "ANTHROPIC_BASE_URL": f"http://127.0.0.1:{5099 + offset}",
        "SUMMARY_SETTLE_SECONDS": "5",
        **(env or {}),
    }
    fake_provider = subprocess.Popen(
        [str(ROOT / ".venv/bin/python"), "-m", "summarizer.fakeprovider", "--port", str(5099 + offset)],
        env=full_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    subprocess.run(
        [str(ROOT / ".venv/bin/python"), "-m", "incident_shared.admin", "create-topics"],
        env=full_env,
        check=True,
        timeout=120,
    )
    script = str(ROOT / "deploy/local/services.sh")
    started = subprocess.run(
        [script, "start", *services], env=full_env, timeout=600, check=False, capture_output=True, text=True
    )
    if started.returncode != 0:
        subprocess.run([script, "stop", *services], env=full_env, timeout=120, check=False)
        fake_provider.terminate()
        pytest.fail(f"the end-to-end stack did not start:\n{started.stderr[-4000:]}")
    try:
        yield Stack(
            api_url=f"http://127.0.0.1:{5000 + offset}",
            ws_url=f"ws://127.0.0.1:{5000 + offset}/ws",
            dashboard_url=f"http://localhost:{3000 + offset}",
            aggregator_url=f"http://127.0.0.1:{6066 + offset}",
            summarizer_url=f"http://127.0.0.1:{5001 + offset}",
            broadcaster_url=f"http://127.0.0.1:{5002 + offset}",
            topic_prefix=prefix,
            database=database,
            kafka_bootstrap=kafka_bootstrap,
            mongo_uri=mongo_uri,
            logs=home / "logs",
        )
    finally:
        subprocess.run([script, "stop", *services], env=full_env, timeout=180, check=False)
        fake_provider.terminate()
        fake_provider.wait(timeout=30)
        asyncio.run(delete_topics_containing(kafka_bootstrap, prefix.rstrip(".")))
