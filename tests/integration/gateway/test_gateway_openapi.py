"""The OpenAPI document tells the truth: every route is in it, and answers match its schemas."""

from __future__ import annotations

import re
from typing import Any

import pytest

from ingest_gateway.app import build_app
from ingest_gateway.settings import GatewaySettings
from support.openapi_check import DOC, check_answer

pytestmark = pytest.mark.integration

# Paths the gateway forwards to another service instead of routing one by one.
FORWARDED_PREFIX = "/api/ai/"


def app_routes() -> set[tuple[str, str]]:
    app = build_app(GatewaySettings())
    routes = set()
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter")
        if route.method in ("HEAD", "OPTIONS") or path is None or path.startswith(FORWARDED_PREFIX):
            continue
        routes.add((route.method.lower(), re.sub(r"\{(\w+)(:[^}]*)?\}", r"{\1}", path)))
    return routes


def documented() -> set[tuple[str, str]]:
    return {
        (method, path)
        for path, item in DOC["paths"].items()
        for method in item
        if not path.startswith(FORWARDED_PREFIX)
    }


def test_every_route_is_documented_and_every_documented_path_exists() -> None:
    assert app_routes() - documented() == set(), "routes missing from openapi.yaml"
    assert documented() - app_routes() == set(), "openapi.yaml documents routes that do not exist"


def test_the_ai_endpoints_of_the_contract_are_documented() -> None:
    for path in (
        "/api/ai/health",
        "/api/ai/metrics",
        "/api/ai/summarize/{incidentId}",
        "/api/ai/circuit-breaker",
        "/api/ai/circuit-breaker/reset",
    ):
        assert path in DOC["paths"]


async def test_answers_match_the_documented_schemas(gateway: Any, mongo_db: Any) -> None:
    resp = await gateway.post("/api/events", json={"service": "api", "severity": 3, "message": "boom"})
    check_answer("/api/events", "post", resp.status, await resp.json())
    resp = await gateway.post("/api/events", json={"service": "api"})
    check_answer("/api/events", "post", resp.status, await resp.json())
    resp = await gateway.post("/api/events/batch", json=[{"service": "api", "severity": 3}, {"severity": 1}])
    check_answer("/api/events/batch", "post", resp.status, await resp.json())
    resp = await gateway.get("/api/events")
    check_answer("/api/events", "get", resp.status, await resp.json())
    resp = await gateway.get("/api/events/stats")
    check_answer("/api/events/stats", "get", resp.status, await resp.json())
    resp = await gateway.get("/api/events/evt_missing")
    check_answer("/api/events/{eventId}", "get", resp.status, await resp.json())
    resp = await gateway.get("/api/incidents")
    check_answer("/api/incidents", "get", resp.status, await resp.json())
    resp = await gateway.get("/api/incidents/active")
    check_answer("/api/incidents/active", "get", resp.status, await resp.json())
    resp = await gateway.get("/api/incidents/stats")
    check_answer("/api/incidents/stats", "get", resp.status, await resp.json())
    resp = await gateway.patch("/api/incidents/inc_missing", json={"action": "resolve"})
    check_answer("/api/incidents/{incidentId}", "patch", resp.status, await resp.json())
    for path in ("/health", "/health/live", "/health/ready", "/health/detailed"):
        resp = await gateway.get(path)
        check_answer(path, "get", resp.status, await resp.json())
    resp = await gateway.get("/ws")
    check_answer("/ws", "get", resp.status, await resp.json())
    resp = await gateway.get("/api/openapi.json")
    assert (await resp.json())["openapi"].startswith("3.1")
