"""Who may read, with real requests: browser origins, read and write tokens, OPTIONS and Allow, and
the `/api/ai/*` forwarder's errors in the API's one shape."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from support.openapi_check import check_answer

pytestmark = pytest.mark.integration

DASHBOARD = "http://localhost:3000"
FOREIGN = "https://evil.example"


async def test_a_page_from_another_origin_is_refused(gateway: Any) -> None:
    resp = await gateway.get("/api/incidents/active", headers={"Origin": FOREIGN})
    assert resp.status == 403
    body = await resp.json()
    assert body["error"]["code"] == "origin_not_allowed"
    assert "CORS_ORIGINS" in body["error"]["message"]
    assert "Access-Control-Allow-Origin" not in resp.headers
    check_answer("/api/incidents/active", "get", resp.status, body)


async def test_the_dashboard_origin_is_served_with_cors_headers(gateway: Any) -> None:
    resp = await gateway.get("/api/incidents/active", headers={"Origin": DASHBOARD})
    assert resp.status == 200
    assert resp.headers["Access-Control-Allow-Origin"] == DASHBOARD
    assert resp.headers["Vary"] == "Origin"


async def test_a_preflight_from_the_dashboard_is_answered_and_one_from_elsewhere_refused(gateway: Any) -> None:
    headers = {"Access-Control-Request-Method": "PATCH", "Access-Control-Request-Headers": "authorization"}
    ok = await gateway.options("/api/incidents/inc_x", headers={"Origin": DASHBOARD, **headers})
    assert ok.status == 204
    assert "PATCH" in ok.headers["Access-Control-Allow-Methods"]
    assert "Authorization" in ok.headers["Access-Control-Allow-Headers"]
    refused = await gateway.options("/api/incidents/inc_x", headers={"Origin": FOREIGN, **headers})
    assert refused.status == 403


async def test_clients_without_origin_and_same_origin_pages_are_served(gateway: Any) -> None:
    assert (await gateway.get("/api/incidents/active")).status == 200
    own = f"http://{gateway.host}:{gateway.port}"
    assert (await gateway.get("/api/incidents/active", headers={"Origin": own})).status == 200


async def test_the_websocket_refuses_a_foreign_page_before_any_upgrade(gateway: Any) -> None:
    resp = await gateway.get(
        "/ws",
        headers={
            "Origin": FOREIGN,
            "Connection": "Upgrade",
            "Upgrade": "websocket",
            "Sec-WebSocket-Version": "13",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        },
    )
    assert resp.status == 403


async def test_with_read_tokens_the_websocket_needs_one_before_it_is_forwarded(make_gateway: Any) -> None:
    gateway = await make_gateway(read_tokens="reader", broadcaster_url="http://127.0.0.1:9")
    upgrade = {
        "Connection": "Upgrade",
        "Upgrade": "websocket",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
    }
    assert (await gateway.get("/ws", headers=upgrade)).status == 401
    assert (await gateway.get("/ws?token=wrong", headers=upgrade)).status == 401
    # With the token the request goes on to the broadcaster (unreachable here: 503, not 401).
    assert (await gateway.get("/ws?token=reader", headers=upgrade)).status == 503


async def test_any_origin_when_configured_so(make_gateway: Any) -> None:
    gateway = await make_gateway(cors_origins="*")
    resp = await gateway.get("/api/incidents/active", headers={"Origin": FOREIGN})
    assert resp.status == 200
    assert resp.headers["Access-Control-Allow-Origin"] == "*"


async def test_with_read_tokens_reads_need_one(make_gateway: Any) -> None:
    gateway = await make_gateway(read_tokens="reader-1, reader-2", api_tokens="writer")
    anonymous = await gateway.get("/api/events")
    assert anonymous.status == 401
    assert anonymous.headers["WWW-Authenticate"].startswith("Bearer")
    check_answer("/api/events", "get", anonymous.status, await anonymous.json())
    for token in ("reader-2", "writer"):
        resp = await gateway.get("/api/events", headers={"Authorization": f"Bearer {token}"})
        assert resp.status == 200, token
    wrong = await gateway.get("/api/incidents/stats", headers={"Authorization": "Bearer nope"})
    assert wrong.status == 401


async def test_with_read_tokens_health_metrics_and_the_document_stay_open(make_gateway: Any) -> None:
    gateway = await make_gateway(read_tokens="reader")
    for path in ("/health", "/health/live", "/metrics", "/api/openapi.json"):
        assert (await gateway.get(path)).status == 200, path


async def test_a_read_token_does_not_write(make_gateway: Any) -> None:
    gateway = await make_gateway(read_tokens="reader", api_tokens="writer")
    event = {"service": "api", "severity": 3}
    refused = await gateway.post("/api/events", json=event, headers={"Authorization": "Bearer reader"})
    assert refused.status == 401
    accepted = await gateway.post("/api/events", json=event, headers={"Authorization": "Bearer writer"})
    assert accepted.status == 201


async def test_without_tokens_reads_and_writes_are_open(gateway: Any) -> None:
    assert (await gateway.get("/api/events")).status == 200
    assert (await gateway.post("/api/events", json={"service": "api", "severity": 2})).status == 201


async def test_options_lists_exactly_the_methods_of_the_resource(gateway: Any) -> None:
    batch = await gateway.options("/api/events/batch")
    assert batch.status == 204
    assert set(batch.headers["Allow"].split(", ")) == {"POST", "OPTIONS"}
    active = await gateway.options("/api/incidents/active")
    assert set(active.headers["Allow"].split(", ")) == {"GET", "HEAD", "OPTIONS"}
    one = await gateway.options("/api/incidents/inc_x")
    assert set(one.headers["Allow"].split(", ")) == {"GET", "HEAD", "PATCH", "OPTIONS"}


async def test_a_method_a_resource_lacks_is_405_naming_the_ones_it_has(gateway: Any) -> None:
    get_batch = await gateway.get("/api/events/batch")
    assert get_batch.status == 405
    assert set(get_batch.headers["Allow"].split(",")) == {"POST"}
    patch_stats = await gateway.patch("/api/incidents/stats", json={"action": "resolve"})
    assert patch_stats.status == 405
    assert "PATCH" not in patch_stats.headers["Allow"]
    assert (await patch_stats.json())["error"]["code"] == "method_not_allowed"


@pytest.fixture
async def plain_upstream() -> AsyncIterator[str]:
    """A stand-in summarizer whose framework answers unknown paths and methods in plain text."""
    app = web.Application()

    async def health(_: web.Request) -> web.Response:
        return web.json_response({"success": True, "data": {"status": "ok"}})

    app.router.add_get("/api/ai/health", health)
    server = TestServer(app)
    await server.start_server()
    yield str(server.make_url("")).rstrip("/")
    await server.close()


async def test_ai_errors_come_in_the_api_error_shape(make_gateway: Any, plain_upstream: str) -> None:
    gateway = await make_gateway(summarizer_url=plain_upstream)
    assert (await gateway.get("/api/ai/health")).status == 200
    missing = await gateway.get("/api/ai/nothing-here")
    assert missing.status == 404
    assert (await missing.json())["success"] is False
    wrong_method = await gateway.request("TRACE", "/api/ai/health")
    assert wrong_method.status == 405
    body = await wrong_method.json()
    assert body["error"]["code"] == "method_not_allowed"
    assert "GET" in wrong_method.headers["Allow"]


async def test_ai_unreachable_is_a_503_in_the_api_error_shape(make_gateway: Any) -> None:
    gateway = await make_gateway(summarizer_url="http://127.0.0.1:9")
    resp = await gateway.get("/api/ai/health")
    assert resp.status == 503
    check_answer("/api/ai/health", "get", resp.status, await resp.json())
