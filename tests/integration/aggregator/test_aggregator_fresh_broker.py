"""On a broker started for the first time, a worker's first table writes and a restart after a
SIGKILL mid-stream lose, duplicate and leave uncommitted nothing.

A young broker is slow: it can leave a just-created topic out of a metadata answer, and it answers
offset fetches late. Both once broke the worker there and not on a warm broker (a crash on the
first table write; after a restart, committed offsets that crept or stopped while the worker went
on processing), so this runs against a second, throwaway broker whose storage is wiped first.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from incident_shared.topics import Topics
from support.aggregator_storm import kill_mid_stream_and_restart

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
INSTANCE = "kafka-aggregator-fresh-test"
ENV = {**os.environ, "KAFKA_INSTANCE": INSTANCE, "KAFKA_PORT": "19192", "KAFKA_CONTROLLER_PORT": "19193"}
STATE = Path(os.environ.get("II_HOME", ROOT / ".local")) / INSTANCE


def broker(action: str) -> None:
    subprocess.run([str(ROOT / "deploy/local/kafka.sh"), action], env=ENV, check=True, timeout=180)


@pytest.fixture
def kafka_bootstrap() -> Iterator[str]:
    """A brand-new broker (this module's tests and fixtures use it instead of the shared one)."""
    broker("stop")
    shutil.rmtree(STATE, ignore_errors=True)
    broker("start")
    try:
        yield "127.0.0.1:19192"
    finally:
        broker("stop")
        shutil.rmtree(STATE, ignore_errors=True)


@pytest.mark.timeout(600)
async def test_a_worker_killed_mid_stream_on_a_brand_new_broker_loses_and_duplicates_nothing(
    aggregator_worker: Any, topics: Topics, kafka_bootstrap: str, mongo_uri: str, mongo_db_name: str
) -> None:
    await kill_mid_stream_and_restart(aggregator_worker, topics, kafka_bootstrap, mongo_uri, mongo_db_name)
