"""Fixtures shared by every test layer.

Integration tests use the one local Kafka and MongoDB-protocol server (`make infra` starts them;
KAFKA_BOOTSTRAP_SERVERS / MONGODB_URI point elsewhere). Each test gets its own random topic prefix
and database name, so tests never see each other's data.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import urlparse

import pytest
from pymongo import AsyncMongoClient

from incident_shared.kafka import ensure_topics
from incident_shared.topics import Topics
from support.kafka_topics import delete_topics_containing, topic_stem

# Fixtures that several test folders share live in tests/support (importable: pytest's pythonpath).
pytest_plugins = ["support.summarizer_incidents"]

KAFKA = os.environ.get("TEST_KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
MONGO = os.environ.get("TEST_MONGODB_URI", "mongodb://127.0.0.1:27017")


def _reachable(hostport: str) -> bool:
    host, _, port = hostport.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def kafka_bootstrap() -> str:
    if not _reachable(KAFKA.split(",")[0]):
        pytest.fail(f"Kafka is not reachable at {KAFKA}: run `make infra` first")
    return KAFKA


@pytest.fixture(scope="session")
def mongo_uri() -> str:
    parsed = urlparse(MONGO)
    if not _reachable(f"{parsed.hostname}:{parsed.port or 27017}"):
        pytest.fail(f"the MongoDB-protocol server is not reachable at {MONGO}: run `make infra` first")
    return MONGO


@pytest.fixture
def unique_name() -> Callable[[str], str]:
    """Makes a random name with the given prefix: `unique_name('t')` -> 't3f9a1c2b'."""
    return lambda prefix: f"{prefix}{secrets.token_hex(4)}"


@pytest.fixture
async def topics(kafka_bootstrap: str, unique_name: Callable[[str], str]) -> AsyncIterator[Topics]:
    """A fresh set of the registry's topics under a random prefix, created on the real broker.

    Afterwards every topic whose name contains the prefix's stem is deleted: the registry's, and
    those of a worker whose app id is built from it (`topic_stem`).
    """
    t = Topics(prefix=unique_name("t") + ".")
    await ensure_topics(kafka_bootstrap, t)
    yield t
    await delete_topics_containing(kafka_bootstrap, topic_stem(t))


@pytest.fixture
async def mongo_db_name(mongo_uri: str, unique_name: Callable[[str], str]) -> AsyncIterator[str]:
    """A random database name, dropped after the test."""
    name = unique_name("test_")
    yield name
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_uri)
    try:
        await client.drop_database(name)
    finally:
        await client.close()


@pytest.fixture
async def mongo_db(mongo_uri: str, mongo_db_name: str) -> AsyncIterator[Any]:
    """This test's database on the real MongoDB-protocol server (timezone-aware datetimes)."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_uri, tz_aware=True)
    yield client[mongo_db_name]
    await client.close()
