"""Fixtures for the broadcaster's unit tests: a hub and clients whose sockets are lists."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from support.ws_broadcaster_fakes import NOW, FakeSocket
from ws_broadcaster.client import Client, ClientLimits
from ws_broadcaster.hub import Hub
from ws_broadcaster.metrics import BroadcasterMetrics


@pytest.fixture
def metrics() -> BroadcasterMetrics:
    return BroadcasterMetrics(CollectorRegistry())


@pytest.fixture
def hub(metrics: BroadcasterMetrics) -> Hub:
    h = Hub(metrics=metrics, max_batch_events=100, clock=lambda: NOW)
    h.mark_incidents_loaded()
    return h


ClientFactory = Callable[..., tuple[Client, FakeSocket]]


@pytest.fixture
def connect(hub: Hub, metrics: BroadcasterMetrics) -> Any:
    """connect(**limits) -> (client, socket): a registered client with its writer running."""
    tasks: list[asyncio.Task[None]] = []

    def _connect(batching: bool = False, **limits: Any) -> tuple[Client, FakeSocket]:
        sock = FakeSocket()
        client = Client(
            client_id=f"c{len(tasks)}",
            send=sock.send,
            abort=sock.abort,
            limits=ClientLimits(**{"max_batch_events": 100, **limits}),
            metrics=metrics,
            batching=batching,
            clock=lambda: NOW,
        )
        hub.register(client)
        tasks.append(asyncio.create_task(client.run()))
        return client, sock

    yield _connect
    for task in tasks:
        task.cancel()
