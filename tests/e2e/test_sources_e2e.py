"""Alerts and logs from real senders become incidents, through the whole stack.

The stack runs as processes (tests/e2e/conftest.py). Prometheus Alertmanager, as its own process,
sends through its PagerDuty receiver to the gateway's `/v2/enqueue`; the OpenTelemetry Python SDK,
as its own process, exports logs to `/v1/logs`. What a person then sees through the read API:
an incident for the failing service, and the alert's resolve attached to that same incident.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import sys
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from incident_shared.timeutil import utcnow
from support.alertmanager import running_alertmanager

pytestmark = pytest.mark.e2e

TESTS = Path(__file__).resolve().parents[1]


async def _poll(check: Callable[[], Awaitable[Any]], within: float, what: str) -> Any:
    """Calls `check` until it returns something truthy; fails naming `what` after `within` seconds."""
    try:
        async with asyncio.timeout(within):
            while True:
                if found := await check():
                    return found
                await asyncio.sleep(0.5)
    except TimeoutError:
        pytest.fail(f"{what} did not happen within {within:g}s")


async def _get(http: aiohttp.ClientSession, url: str, **params: str) -> list[dict[str, Any]]:
    resp = await http.get(url, params=params)
    if resp.status != 200:
        return []
    data: list[dict[str, Any]] = (await resp.json())["data"]
    return data


async def _alert_fired_then_resolved(stack: Any, tmp_path: Path, service: str) -> dict[str, Any]:
    """Fires a critical alert for `service` through Alertmanager's PagerDuty receiver, waits for its
    incident, resolves the alert, and returns the incident once the resolve event belongs to it."""
    receiver = {
        "name": "incident-intelligence",
        "pagerduty_configs": [
            {
                "routing_key": "e2e-routing-key",
                "url": f"{stack.api_url}/v2/enqueue",
                "component": "{{ .CommonLabels.service }}",
                "severity": "{{ .CommonLabels.severity }}",
                "class": "{{ .CommonLabels.alertname }}",
            }
        ],
    }
    labels = {"alertname": "PrimaryDown", "service": service, "severity": "critical"}
    annotations = {"summary": f"{service} primary is not accepting connections"}
    async with running_alertmanager(receiver, tmp_path) as manager, aiohttp.ClientSession() as http:
        starts = utcnow() - timedelta(seconds=30)
        await manager.post_alert(labels, annotations, starts)
        incidents = await _poll(
            lambda: _get(http, f"{stack.api_url}/api/incidents", service=service), 120, "an incident from the alert"
        )
        assert len(incidents) == 1, incidents
        incident: dict[str, Any] = incidents[0]
        assert incident["status"] == "active", incident

        await manager.post_alert(labels, annotations, starts, ends=utcnow())

        async def resolve_in_incident() -> list[dict[str, Any]]:
            events = await _get(http, f"{stack.api_url}/api/events", service=service)
            return [e for e in events if e["resolved"] and e.get("incidentId")]

        (resolve,) = await _poll(resolve_in_incident, 120, f"the resolve joining the incident\n{manager.log_tail()}")
        assert resolve["source"] == "pagerduty"
        assert resolve["incidentId"] == incident["incidentId"]
        return incident


async def test_alertmanager_pagerduty_alert_opens_an_incident_that_its_resolve_joins(
    stack: Any, tmp_path: Path
) -> None:
    service = f"e2e-pd-{secrets.token_hex(3)}"
    incident = await _alert_fired_then_resolved(stack, tmp_path, service)
    assert incident["affectedServices"] == [service]
    assert incident["severityScore"] >= 4


async def test_alertmanager_pagerduty_resolve_resolves_the_incident(stack: Any, tmp_path: Path) -> None:
    service = f"e2e-pd-{secrets.token_hex(3)}"
    incident = await _alert_fired_then_resolved(stack, tmp_path, service)
    async with aiohttp.ClientSession() as http:

        async def resolved() -> dict[str, Any] | None:
            resp = await http.get(f"{stack.api_url}/api/incidents/{incident['incidentId']}")
            data: dict[str, Any] = (await resp.json())["data"] if resp.status == 200 else {}
            return data if data.get("status") == "resolved" else None

        # Far shorter than the quiet period (10 minutes): only the resolve itself can do this.
        await _poll(resolved, 30, "the incident resolving on its alert's resolve")


async def test_opentelemetry_sdk_logs_open_an_incident(stack: Any) -> None:
    service = f"e2e-otel-{secrets.token_hex(3)}"
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "support.otel_log_sender",
        "--endpoint",
        f"{stack.api_url}/v1/logs",
        "--service",
        service,
        env={**os.environ, "PYTHONPATH": str(TESTS)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode == 0, err.decode()[-2000:]
    assert "SUCCESS" in out.decode()
    async with aiohttp.ClientSession() as http:
        incidents = await _poll(
            lambda: _get(http, f"{stack.api_url}/api/incidents", service=service), 120, "an incident from the logs"
        )
        events = await _poll(
            lambda: _get(http, f"{stack.api_url}/api/events", service=service, minSeverity="3"), 60, "the events"
        )
    assert incidents[0]["affectedServices"] == [service]
    assert {e["source"] for e in events} == {"otlp"}
    assert {e["severity"] for e in events} <= {3, 4, 5}
    assert any(e.get("incidentId") == incidents[0]["incidentId"] for e in events)
