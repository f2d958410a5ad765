"""What the gateway says when what it stores into is missing: MongoDB unreachable (reads answer 503
and when to retry, events are still accepted), or the events topic not there."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

pytestmark = pytest.mark.integration


async def test_reads_answer_503_while_ingest_goes_on(make_gateway: Callable[..., Awaitable[Any]]) -> None:
    gw = await make_gateway(mongodb_uri="mongodb://127.0.0.1:9")
    accepted = await gw.post("/api/events", json={"service": "api", "severity": 4, "message": "still taken"})
    assert accepted.status == 201
    for path in ("/api/events", "/api/incidents/inc_x"):  # each waits out the client's 5 s server selection
        resp = await gw.get(path)
        assert resp.status == 503, path
        assert resp.headers["Retry-After"] == "5"
        error = (await resp.json())["error"]
        assert error["code"] == "mongodb_unavailable"
        assert "events are still accepted" in error["message"]
    detailed = await (await gw.get("/health/detailed")).json()
    assert detailed["dependencies"]["mongodb"]["status"] == "down"
    assert detailed["ready"] is False


async def test_a_missing_events_topic_makes_the_gateway_unready_and_says_so(
    make_gateway: Callable[..., Awaitable[Any]],
) -> None:
    gw = await make_gateway(kafka_topic_prefix="never-created.")
    ready = await gw.get("/health/ready")
    assert ready.status == 503
    assert (await ready.json())["down"] == ["kafka"]
    detailed = await (await gw.get("/health/detailed")).json()
    assert "topic 'never-created.events' is not available" in detailed["dependencies"]["kafka"]["error"]
