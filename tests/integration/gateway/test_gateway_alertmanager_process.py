"""Prometheus Alertmanager, as a real process, sending to the gateway: a firing alert, then its resolve.

Once through its PagerDuty receiver (`pagerduty_configs` with `url` pointed at `/v2/enqueue`), once
through its webhook receiver (`webhook_configs` to `/api/integrations/alertmanager`). Both with
API_TOKENS set, authorising as a real deployment would: the PagerDuty sender with its routing key,
the webhook with the bearer token from its `http_config`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from incident_shared.timeutil import utcnow
from support.alertmanager import running_alertmanager

pytestmark = pytest.mark.integration

TOKEN = "am-test-token-7f3a"  # noqa: S105 - the test's own token
LABELS = {"alertname": "OrdersDbDown", "service": "orders-db", "severity": "critical", "team": "storage"}
ANNOTATIONS = {"summary": "orders-db is not answering on 5432"}


async def fire_then_resolve(
    receiver: dict[str, Any], workdir: Path, read_events: Callable[[int], Awaitable[list[Any]]]
) -> list[Any]:
    """Runs Alertmanager with `receiver`, fires an alert, then resolves it; returns the two records."""
    async with running_alertmanager(receiver, workdir) as manager:
        starts = utcnow() - timedelta(minutes=2)
        await manager.post_alert(LABELS, ANNOTATIONS, starts)
        records = await read_events(1)
        assert records, f"nothing arrived for the firing alert; Alertmanager's log:\n{manager.log_tail()}"
        await manager.post_alert(LABELS, ANNOTATIONS, starts, ends=utcnow())
        records = await read_events(2)
        assert len(records) == 2, f"nothing arrived for the resolve; Alertmanager's log:\n{manager.log_tail()}"
    return records


async def test_pagerduty_receiver_trigger_then_resolve_reach_the_topic(
    make_gateway: Any, topics: Any, read_topic: Any, decode: Any, tmp_path: Path
) -> None:
    gateway = await make_gateway(api_tokens=TOKEN)
    receiver = {
        "name": "incident-intelligence",
        "pagerduty_configs": [
            {
                "routing_key": TOKEN,
                "url": str(gateway.make_url("/v2/enqueue")),
                # The templates a user writes so that each alert group names its service.
                "component": "{{ .CommonLabels.service }}",
                "severity": "{{ .CommonLabels.severity }}",
                "class": "{{ .CommonLabels.alertname }}",
                "group": "{{ .CommonLabels.team }}",
            }
        ],
    }
    records = await fire_then_resolve(receiver, tmp_path, lambda n: read_topic(topics.events, n, wait=30))

    triggered, resolved = decode(records)
    assert triggered["source"] == resolved["source"] == "pagerduty"
    assert triggered["service"] == resolved["service"] == "orders-db"
    assert triggered["severity"] == 5
    assert triggered["errorType"] == "OrdersDbDown"
    assert triggered["message"].startswith("[FIRING:1] OrdersDbDown orders-db")
    assert triggered["metadata"]["customDetails"]["num_firing"] == 1
    assert (triggered["resolved"], resolved["resolved"]) == (False, True)
    assert resolved["message"].startswith("[RESOLVED] OrdersDbDown")
    # Alertmanager's dedup key is its alert group's: the resolve names the trigger it ends.
    assert triggered["dedupKey"] == resolved["dedupKey"]
    assert len(triggered["dedupKey"]) == 64
    assert records[0].key == records[1].key == b"orders-db"


async def test_webhook_receiver_firing_then_resolved_reach_the_topic(
    make_gateway: Any, topics: Any, read_topic: Any, decode: Any, tmp_path: Path
) -> None:
    gateway = await make_gateway(api_tokens=TOKEN)
    receiver = {
        "name": "incident-intelligence",
        "webhook_configs": [
            {
                "url": str(gateway.make_url("/api/integrations/alertmanager")),
                "send_resolved": True,
                "http_config": {"authorization": {"type": "Bearer", "credentials": TOKEN}},
            }
        ],
    }
    records = await fire_then_resolve(receiver, tmp_path, lambda n: read_topic(topics.events, n, wait=30))

    firing, resolved = decode(records)
    assert firing["source"] == resolved["source"] == "alertmanager"
    assert firing["service"] == resolved["service"] == "orders-db"
    assert firing["severity"] == 5
    assert firing["message"] == ANNOTATIONS["summary"]
    assert firing["errorType"] == "OrdersDbDown"
    assert (firing["resolved"], resolved["resolved"]) == (False, True)
    assert firing["dedupKey"] == resolved["dedupKey"]  # the alert's fingerprint
    assert firing["metadata"]["labels"] == LABELS


async def test_webhook_without_the_token_is_refused_and_alertmanager_says_so(
    make_gateway: Any, topics: Any, read_topic: Any, tmp_path: Path
) -> None:
    gateway = await make_gateway(api_tokens=TOKEN)
    receiver = {
        "name": "incident-intelligence",
        "webhook_configs": [{"url": str(gateway.make_url("/api/integrations/alertmanager"))}],
    }
    async with running_alertmanager(receiver, tmp_path) as manager:
        await manager.post_alert(LABELS, ANNOTATIONS, utcnow())
        assert await read_topic(topics.events, 1, wait=5) == []
        assert "401" in manager.log_tail()
