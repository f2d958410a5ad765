"""The gateway's receivers for other systems, each against the gateway's own API as the yardstick.

1. OpenTelemetry logs: exports of 512 records (the SDK's default batch), protobuf and OTLP/JSON,
   4 at a time, in records/s, against the same events as `POST /api/events/batch` of 512.
2. PagerDuty Events API v2: single triggers per second (vegeta, max rate, 64 workers) against
   single `POST /api/events`.

One gateway process, Kafka on loopback, every run bounded in time.
"""

from __future__ import annotations

import asyncio
import secrets
import sys
import time
from pathlib import Path
from typing import Any

import orjson
from aiokafka.admin import AIOKafkaAdminClient
from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
from opentelemetry.proto.resource.v1.resource_pb2 import Resource

sys.path.insert(0, str(Path(__file__).parent))
from _support import KAFKA, attack, gateway_process, post_repeatedly, row

from incident_shared.kafka import ensure_topics
from incident_shared.topics import Topics

BATCH = 512
DURATION_S = 10.0
SERVICES = [f"service-{i}" for i in range(12)]


def message(i: int) -> str:
    return f"upstream request {i} to inventory-api:8080 failed after 1500ms: connection reset by peer"


def log_export(seed: int) -> ExportLogsServiceRequest:
    """One export: 512 records at WARN to FATAL over the services, with a few attributes each."""
    now = time.time_ns()
    resource_logs = []
    for s, service in enumerate(SERVICES):
        records = [
            LogRecord(
                time_unix_nano=now + i,
                severity_number=13 + 4 * (i % 3),  # type: ignore[arg-type]
                body=AnyValue(string_value=message(seed + i)),
                attributes=[
                    KeyValue(key="exception.type", value=AnyValue(string_value="ConnectionResetError")),
                    KeyValue(key="k8s.pod.name", value=AnyValue(string_value=f"checkout-7d9f8-{i % 97:05d}")),
                    KeyValue(key="retry.attempt", value=AnyValue(int_value=i % 3)),
                ],
            )
            for i in range(s, BATCH, len(SERVICES))
        ]
        resource_logs.append(
            ResourceLogs(
                resource=Resource(attributes=[KeyValue(key="service.name", value=AnyValue(string_value=service))]),
                scope_logs=[ScopeLogs(log_records=records)],
            )
        )
    return ExportLogsServiceRequest(resource_logs=resource_logs)


def otlp_json(export: ExportLogsServiceRequest) -> bytes:
    return json_format.MessageToJson(export, indent=None).encode()


def event(i: int) -> dict[str, Any]:
    """The event an exported record becomes, as a client of the gateway's own API would send it."""
    return {
        "service": SERVICES[i % len(SERVICES)],
        "severity": 3 + i % 3,
        "message": message(i),
        "errorType": "ConnectionResetError",
        "metadata": {"k8s_pod_name": f"checkout-7d9f8-{i % 97:05d}", "retry_attempt": i % 3},
    }


async def throughput(url: str, body: bytes, content_type: str) -> float:
    """Records/s posting the same body of BATCH records, 4 requests at a time.

    The same body each time: the gateway does not deduplicate (the aggregator does), and encoding a
    fresh one per request would measure this client rather than the gateway.
    """
    return await post_repeatedly(url, body, content_type, per_request=BATCH, seconds=DURATION_S)


async def main() -> None:
    topics = Topics(prefix=f"bench{secrets.token_hex(3)}.")
    await ensure_topics(KAFKA, topics)
    try:
        await measure(topics)
    finally:
        await delete_topics(topics.prefix)


async def measure(topics: Topics) -> None:
    print(f"== receivers for other systems (topics {topics.prefix}*, {DURATION_S:.0f}s per run, 2-core machine)")
    with gateway_process(topics.prefix) as base:
        export = log_export(0)
        protobuf = await throughput(f"{base}/v1/logs", export.SerializeToString(), "application/x-protobuf")
        as_json = await throughput(f"{base}/v1/logs", otlp_json(export), "application/json")
        own = await throughput(
            f"{base}/api/events/batch", orjson.dumps([event(i) for i in range(BATCH)]), "application/json"
        )
        trigger = {
            "routing_key": "bench",
            "event_action": "trigger",
            "payload": {"summary": message(1), "source": "db-7", "severity": "error", "component": "orders-db"},
        }
        pagerduty = attack(f"{base}/v2/enqueue", orjson.dumps(trigger), 0, "10s")
        single = attack(f"{base}/api/events", orjson.dumps(event(1)), 0, "10s")

    row("OTLP logs, protobuf, exports of 512 (records/s)", f"{protobuf:,.0f}")
    row("OTLP logs, JSON, exports of 512 (records/s)", f"{as_json:,.0f}")
    row("same events as POST /api/events/batch of 512 (events/s)", f"{own:,.0f}")
    row("protobuf / own API", f"{protobuf / own:.0%}")
    row("PagerDuty trigger via /v2/enqueue (req/s, 64 workers)", f"{pagerduty['throughput']:,.0f}")
    row("  success", f"{pagerduty['success']:.1%}")
    row("single POST /api/events (req/s, 64 workers)", f"{single['throughput']:,.0f}")
    row("PagerDuty / own API", f"{pagerduty['throughput'] / single['throughput']:.0%}")


async def delete_topics(prefix: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=KAFKA, client_id="bench-cleanup")
    await admin.start()
    try:
        await admin.delete_topics([t for t in await admin.list_topics() if t.startswith(prefix)])
    finally:
        await admin.close()


if __name__ == "__main__":
    asyncio.run(main())
