"""The summarizer's /api/ai answers match the API's OpenAPI document (served by the gateway)."""

from __future__ import annotations

import asyncio

import pytest

from support.openapi_check import check_answer

pytestmark = pytest.mark.integration


async def test_the_ai_answers_match_the_documented_schemas(summarizer_app, incident_factory, change_of, kafka_io):
    client = await summarizer_app(api_tokens="tok")
    await kafka_io.send_change(change_of(incident_factory(incidentId="inc_doc1", eventCount=1)))
    auth = {"Authorization": "Bearer tok"}

    for path, method, url, headers in [
        ("/api/ai/health", "get", "/api/ai/health", {}),
        ("/api/ai/circuit-breaker", "get", "/api/ai/circuit-breaker", {}),
        ("/api/ai/circuit-breaker/reset", "post", "/api/ai/circuit-breaker/reset", {}),
        ("/api/ai/circuit-breaker/reset", "post", "/api/ai/circuit-breaker/reset", auth),
        ("/api/ai/summarize/{incidentId}", "post", "/api/ai/summarize/inc_missing", auth),
        ("/api/ai/summarize/{incidentId}", "post", "/api/ai/summarize/inc_doc1", {}),
    ]:
        resp = await client.request(method, url, headers=headers)
        check_answer(path, method, resp.status, await resp.json())

    # The incident arrives through the topic; summarize it once it is there.
    async with asyncio.timeout(60):
        while True:
            resp = await client.post("/api/ai/summarize/inc_doc1", headers=auth)
            if resp.status != 404:
                break
            await asyncio.sleep(0.2)
    assert resp.status == 200
    check_answer("/api/ai/summarize/{incidentId}", "post", resp.status, await resp.json())
    resp = await client.get("/api/ai/metrics")
    check_answer("/api/ai/metrics", "get", resp.status, await resp.json())
