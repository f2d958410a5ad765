"""The health endpoints: ready versus ok, and a dependency that is down but not needed to serve."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry

from incident_shared.web.health import Check, add_health_routes

pytestmark = pytest.mark.unit


async def _up() -> str:
    return "fine"


async def _down() -> str:
    raise RuntimeError("incidents are not being updated: no aggregator is running")


async def _client(checks: list[Check]) -> TestClient[Any, Any]:
    app = web.Application()
    add_health_routes(app, service="svc", version="1", checks=checks, registry=CollectorRegistry())
    client: TestClient[Any, Any] = TestClient(TestServer(app))
    await client.start_server()
    return client


async def test_an_optional_dependency_down_is_degraded_but_ready() -> None:
    client = await _client([Check("kafka", _up), Check("aggregator", _down, required=False)])
    try:
        detailed = await client.get("/health/detailed")
        assert detailed.status == 200
        body = await detailed.json()
        assert (body["status"], body["ready"]) == ("degraded", True)
        assert body["problems"] == {
            "aggregator": "RuntimeError: incidents are not being updated: no aggregator is running"
        }
        assert body["dependencies"]["kafka"]["status"] == "up"
        assert (await client.get("/health/ready")).status == 200
        short = await (await client.get("/health")).json()
        assert short["status"] == "degraded"
        assert short["dependencies"] == {"kafka": "up", "aggregator": "down"}
        assert "no aggregator is running" in short["problems"]["aggregator"]
    finally:
        await client.close()


async def test_a_required_dependency_down_is_not_ready() -> None:
    client = await _client([Check("kafka", _down), Check("aggregator", _up, required=False)])
    try:
        detailed = await client.get("/health/detailed")
        assert detailed.status == 503
        body = await detailed.json()
        assert (body["status"], body["ready"]) == ("degraded", False)
        ready = await client.get("/health/ready")
        assert ready.status == 503
        assert (await ready.json())["down"] == ["kafka"]
        assert (await client.get("/health")).status == 200
    finally:
        await client.close()


async def test_all_up_is_ok_with_no_problems() -> None:
    client = await _client([Check("kafka", _up)])
    try:
        body = await (await client.get("/health/detailed")).json()
        assert (body["status"], body["ready"], body["problems"]) == ("ok", True, {})
    finally:
        await client.close()
