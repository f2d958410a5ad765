"""The event contract against the whole stack, as real processes: a schema fuzzer at the API, the same
bad values as raw records on the `events` topic, and the contract's own example sent verbatim.

The stack is this module's own (ports shifted 500 past the other end-to-end stack's, its own topics
and database): the fuzzer acknowledges, assigns and resolves whatever incidents it finds, which
must not touch what other tests watch.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from support.e2e_stack import ROOT, Stack, run_stack
from support.storable_cases import CONTRACT_EXAMPLE, KEPT, REFUSED_BODIES

pytestmark = pytest.mark.e2e

OFFSET = int(os.environ.get("II_E2E_PORT_OFFSET", "10000")) + 500
# The history writer runs beside the aggregator (deploy/local/services.conf): reads need it.
SERVICES = ("ingest-gateway", "summarizer", "ws-broadcaster", "aggregator", "aggregator-history")
FUZZ_CONFIG = ROOT / "tests" / "e2e" / "fuzz" / "schemathesis.toml"
# Fixed by default so that `make test` is repeatable; FUZZ_SEED explores elsewhere.
FUZZ_SEED = os.environ.get("FUZZ_SEED", "20261130")
FUZZ_MAX_EXAMPLES = os.environ.get("FUZZ_MAX_EXAMPLES", "10")
READBACK_SECONDS = 120.0


@pytest.fixture(scope="module")
def contract_stack(kafka_bootstrap: str, mongo_uri: str) -> Iterator[Stack]:
    home = ROOT / ".local" / f"e2e-contract-{OFFSET}"
    with run_stack(
        kafka_bootstrap,
        mongo_uri,
        offset=OFFSET,
        home=home,
        services=SERVICES,
        env={"COMMAND_WAIT_SECONDS": "2"},
    ) as stack:
        yield stack


async def not_ready(stack: Stack) -> dict[str, int | str]:
    """Every service whose /health/ready is not 200, with what it answered."""
    urls = {
        "ingest-gateway": stack.api_url,
        "summarizer": stack.summarizer_url,
        "ws-broadcaster": stack.broadcaster_url,
        "aggregator": stack.aggregator_url,
    }
    down: dict[str, int | str] = {}
    async with aiohttp.ClientSession() as http:
        for name, url in urls.items():
            try:
                async with http.get(f"{url}/health/ready", timeout=aiohttp.ClientTimeout(total=10)) as resp:
                    if resp.status != 200:
                        down[name] = resp.status
            except (aiohttp.ClientError, TimeoutError) as exc:
                down[name] = type(exc).__name__
    return down


async def missing_events(stack: Stack, event_ids: set[str], within: float = READBACK_SECONDS) -> set[str]:
    """The ids GET /api/events/:id does not find within `within` seconds (the projection lags)."""
    missing = set(event_ids)
    deadline = asyncio.get_running_loop().time() + within
    async with aiohttp.ClientSession() as http:
        limit = asyncio.Semaphore(4)

        async def found(event_id: str) -> bool:
            async with limit, http.get(f"{stack.api_url}/api/events/{event_id}") as resp:
                return resp.status == 200

        while missing and asyncio.get_running_loop().time() < deadline:
            ids = sorted(missing)
            results = await asyncio.gather(*(found(i) for i in ids))
            missing -= {i for i, ok in zip(ids, results, strict=True) if ok}
            if missing:
                await asyncio.sleep(2)
    return missing


def _summary(output: str) -> str:
    lines = [line for line in output.splitlines() if re.search(r"Tested:|generated|found|Seed:", line)]
    return "; ".join(line.strip() for line in lines)


async def test_a_schema_fuzzer_finds_nothing_and_every_accepted_event_is_stored(
    contract_stack: Stack, tmp_path: Path
) -> None:
    """schemathesis, every check and phase (examples, coverage, fuzzing, stateful links): no 5xx, no
    answer outside the document, no invalid input accepted, no valid input refused."""
    accepted = tmp_path / "accepted.txt"
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT / "tests"),
        "SCHEMATHESIS_HOOKS": "support.schemathesis_hooks",
        "FUZZ_ACCEPTED_FILE": str(accepted),
    }
    command = [
        str(ROOT / ".venv/bin/schemathesis"),
        "--config-file",
        str(FUZZ_CONFIG),
        "run",
        f"{contract_stack.api_url}/api/openapi.json",
        "--phases",
        "examples,coverage,fuzzing,stateful",
        "--max-examples",
        FUZZ_MAX_EXAMPLES,
        "--seed",
        FUZZ_SEED,
        "--workers",
        "1",
        "--generation-database",
        "none",
        "--no-color",
        "--report",
        "junit",
        "--report-dir",
        str(tmp_path),
    ]
    run = await asyncio.to_thread(
        subprocess.run, command, env=env, capture_output=True, text=True, timeout=900, check=False, cwd=tmp_path
    )
    assert run.returncode == 0, f"schemathesis found problems ({_summary(run.stdout)}):\n{run.stdout[-12000:]}"
    tested = re.search(r"Tested: (\d+)", run.stdout)
    assert tested is not None, run.stdout[-2000:]
    assert int(tested[1]) >= 20, _summary(run.stdout)

    assert await not_ready(contract_stack) == {}, contract_stack.log("aggregator")
    event_ids = set(accepted.read_text().split()) if accepted.exists() else set()
    assert event_ids, "the fuzzer had no event accepted: the run tested nothing of the ingest path"
    missing = await missing_events(contract_stack, event_ids)
    assert not missing, f"{len(missing)} of {len(event_ids)} accepted events are not readable: {sorted(missing)[:10]}"


async def _dead_letters(bootstrap: str, topic: str, count: int, within: float = 90.0) -> dict[bytes, str]:
    """{record value: dlq-reason} of the first `count` records on the dead-letter topic."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    found: dict[bytes, str] = {}
    try:
        deadline = asyncio.get_running_loop().time() + within
        while len(found) < count and asyncio.get_running_loop().time() < deadline:
            for records in (await consumer.getmany(timeout_ms=1000)).values():
                for record in records:
                    headers = dict(record.headers)
                    found[record.value] = headers.get("dlq-reason", b"").decode()
    finally:
        await consumer.stop()
    return found


async def test_the_same_bad_values_through_the_api_and_straight_to_kafka(contract_stack: Stack) -> None:
    """A value the API refuses with a 400 naming the field goes, as raw bytes on `events`, to the
    dead-letter topic with a reason naming it; a value it keeps (made storable) is stored from both
    doors alike. Every service stays ready."""
    stack = contract_stack
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka_bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    kept: dict[str, Any] = {}
    try:
        async with aiohttp.ClientSession() as http:
            for name, body, field in REFUSED_BODIES:
                headers = {"Content-Type": "application/json"}
                async with http.post(f"{stack.api_url}/api/events", data=body, headers=headers) as resp:
                    assert resp.status == 400, name
                    error = (await resp.json())["error"]
                    fields = [d["field"].split("/")[0] for d in error.get("details") or []] or ["body"]
                    assert field in fields, (name, error)
                await producer.send_and_wait(f"{stack.topic_prefix}events", key=b"raw-kafka", value=body)
            for i, case in enumerate(KEPT):
                try:
                    metadata = orjson.dumps(case.metadata)
                except orjson.JSONEncodeError:
                    continue  # an integer only Python has: no JSON text carries it
                raw = b'{"service": "raw-kafka", "severity": 2, "eventId": "raw-%d", "metadata": %s}' % (i, metadata)
                await producer.send_and_wait(f"{stack.topic_prefix}events", key=b"raw-kafka", value=raw)
                sent = orjson.loads(raw) | {"service": "api-door", "eventId": f"api-{i}"}
                async with http.post(f"{stack.api_url}/api/events", json=sent) as resp:
                    assert resp.status == 201, (case.name, await resp.text())
                kept[f"evt_raw-{i}"] = kept[f"evt_api-{i}"] = case
    finally:
        await producer.stop()

    letters = await _dead_letters(stack.kafka_bootstrap, f"{stack.topic_prefix}events.dlq", len(REFUSED_BODIES))
    for name, body, field in REFUSED_BODIES:
        assert body in letters, f"{name}: not in the dead-letter topic"
        assert letters[body].startswith(field), (name, letters[body])

    assert not await missing_events(stack, set(kept))
    async with aiohttp.ClientSession() as http:
        for event_id, case in kept.items():
            async with http.get(f"{stack.api_url}/api/events/{event_id}") as resp:
                event = (await resp.json())["data"]
            assert event["metadata"] == case.stored, (event_id, case.name)
            assert tuple(a["path"] for a in event["metadataAdjustments"]) == case.paths, case.name
    assert await not_ready(stack) == {}, stack.log("aggregator")


async def test_the_contract_example_sent_verbatim_keeps_its_message_and_error_type(contract_stack: Stack) -> None:
    stack = contract_stack
    example = CONTRACT_EXAMPLE
    async with aiohttp.ClientSession() as http:
        ids = []
        for _ in range(5):
            async with http.post(f"{stack.api_url}/api/events", json=example) as resp:
                assert resp.status == 201
                ids.append((await resp.json())["data"]["eventId"])
        assert not await missing_events(stack, set(ids))
        event: dict[str, Any] = {}
        deadline = asyncio.get_running_loop().time() + 60
        while not event.get("incidentId") and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.5)  # the incident opens at the third event; earlier ones join it then
            async with http.get(f"{stack.api_url}/api/events/{ids[0]}") as resp:
                event = (await resp.json())["data"]
        assert event["message"] == "Database connection pool exhausted"
        assert event["errorType"] == "ConnectionTimeout"
        assert event["metadata"] == example["metadata"]
        assert event["template"] == "Database connection pool exhausted"
        async with http.get(f"{stack.api_url}/api/incidents/{event['incidentId']}") as resp:
            incident = (await resp.json())["data"]
        assert [t["template"] for t in incident["templates"]] == ["Database connection pool exhausted"]
        assert incident["templates"][0]["errorType"] == "ConnectionTimeout"
