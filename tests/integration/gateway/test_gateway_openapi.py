"""The OpenAPI document tells the truth: every route is in it, and answers match its schemas."""

from __future__ import annotations

import re
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from ingest_gateway.app import build_app, load_openapi
from ingest_gateway.settings import GatewaySettings

pytestmark = pytest.mark.integration

DOC = load_openapi()
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


def check(path: str, method: str, status: int, body: Any) -> None:
    responses = DOC["paths"][path][method]["responses"]
    assert str(status) in responses, f"{method.upper()} {path} answered {status}, which is not documented"
    spec = responses[str(status)]
    if "$ref" in spec:
        spec = DOC["components"]["responses"][spec["$ref"].rsplit("/", 1)[1]]
    schema = dict(spec["content"]["application/json"]["schema"])
    schema["components"] = DOC["components"]
    Draft202012Validator(schema).validate(body)


async def test_answers_match_the_documented_schemas(gateway: Any, mongo_db: Any) -> None:
    resp = await gateway.post("/api/events", json={"service": "api", "severity": 3, "message": "boom"})
    check("/api/events", "post", resp.status, await resp.json())
    resp = await gateway.post("/api/events", json={"service": "api"})
    check("/api/events", "post", resp.status, await resp.json())
    resp = await gateway.post("/api/events/batch", json=[{"service": "api", "severity": 3}, {"severity": 1}])
    check("/api/events/batch", "post", resp.status, await resp.json())
    resp = await gateway.get("/api/events")
    check("/api/events", "get", resp.status, await resp.json())
    resp = await gateway.get("/api/events/stats")
    check("/api/events/stats", "get", resp.status, await resp.json())
    resp = await gateway.get("/api/events/evt_missing")
    check("/api/events/{eventId}", "get", resp.status, await resp.json())
    resp = await gateway.get("/api/incidents")
    check("/api/incidents", "get", resp.status, await resp.json())
    resp = await gateway.get("/api/incidents/active")
    check("/api/incidents/active", "get", resp.status, await resp.json())
    resp = await gateway.get("/api/incidents/stats")
    check("/api/incidents/stats", "get", resp.status, await resp.json())
    resp = await gateway.patch("/api/incidents/inc_missing", json={"action": "resolve"})
    check("/api/incidents/{incidentId}", "patch", resp.status, await resp.json())
    for path in ("/health", "/health/live", "/health/ready", "/health/detailed"):
        resp = await gateway.get(path)
        check(path, "get", resp.status, await resp.json())
    resp = await gateway.get("/ws")
    check("/ws", "get", resp.status, await resp.json())
    resp = await gateway.get("/api/openapi.json")
    assert (await resp.json())["openapi"].startswith("3.1")
