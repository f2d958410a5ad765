"""The contract's own event shape: `metadata.message` and `metadata.errorType` mean the top-level fields.

Clients written against the contract's example send the message and error type inside `metadata`;
the product must correlate them exactly as it does the top-level form.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from incident_shared.schemas import parse_event
from incident_shared.schemas.events import Event
from support.engine_scenarios import Scenario
from support.storable_cases import CONTRACT_EXAMPLE

pytestmark = pytest.mark.unit

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def parse(raw: dict[str, Any], at: datetime = NOW) -> Event:
    return parse_event(raw, received_at=at)


def test_the_contract_example_has_its_message_and_error_type() -> None:
    event = parse(CONTRACT_EXAMPLE)
    assert event.message == "Database connection pool exhausted"
    assert event.errorType == "ConnectionTimeout"
    api = event.to_api()
    assert api["message"] == "Database connection pool exhausted"
    assert api["errorType"] == "ConnectionTimeout"


def test_metadata_is_kept_as_it_was_sent() -> None:
    event = parse(CONTRACT_EXAMPLE)
    assert event.metadata == CONTRACT_EXAMPLE["metadata"]
    assert event.to_api()["metadata"] == CONTRACT_EXAMPLE["metadata"]
    assert "metadataAdjustments" not in event.to_api()


def test_top_level_fields_win_over_metadata() -> None:
    event = parse(CONTRACT_EXAMPLE | {"message": "Pool exhausted on db-1", "errorType": "PoolError"})
    assert event.message == "Pool exhausted on db-1"
    assert event.errorType == "PoolError"
    assert event.metadata["message"] == "Database connection pool exhausted"


def test_an_empty_top_level_message_does_not_hide_the_metadata_one() -> None:
    event = parse(CONTRACT_EXAMPLE | {"message": ""})
    assert event.message == "Database connection pool exhausted"


@pytest.mark.parametrize(
    ("metadata", "message", "error_type"),
    [
        ({"msg": "dial tcp 10.0.0.7:5432: i/o timeout"}, "dial tcp 10.0.0.7:5432: i/o timeout", None),
        ({"exception.type": "TimeoutError", "exception.message": "read timed out"}, "read timed out", "TimeoutError"),
        ({"exception": {"type": "TimeoutError", "message": "read timed out"}}, "read timed out", "TimeoutError"),
        ({"error": {"type": "IOError", "message": "disk full"}}, "disk full", "IOError"),
        ({"error.type": "IOError"}, "", "IOError"),
        # The contract's own names come first.
        ({"message": "first", "msg": "second", "errorType": "A", "exception.type": "B"}, "first", "A"),
    ],
)
def test_the_documented_spellings_of_real_senders(
    metadata: dict[str, Any], message: str, error_type: str | None
) -> None:
    event = parse({"service": "api", "severity": 4, "metadata": metadata})
    assert (event.message, event.errorType) == (message, error_type)


def test_values_that_are_not_text_are_not_taken_for_the_message() -> None:
    event = parse({"service": "api", "severity": 4, "metadata": {"message": {"text": "x"}, "errorType": 42}})
    assert event.message == ""
    assert event.errorType is None


def test_a_long_metadata_message_is_cut_to_the_field_limit_and_kept_whole_in_metadata() -> None:
    long = "x" * 9000
    event = parse({"service": "api", "severity": 4, "metadata": {"message": long}})
    assert len(event.message) == 8192
    assert event.metadata["message"] == long


def _storm(shape: str) -> Scenario:
    """Two failure modes of one service, sent in the top-level or in the contract's metadata shape."""
    scenario = Scenario()
    modes = [
        ("Database connection pool exhausted after {i}000ms", "ConnectionTimeout"),
        ("certificate expired for host pay-{i}.example.com", "CertificateExpired"),
    ]
    for k, (message, error_type) in enumerate(modes):
        for i in range(20):
            text = message.format(i=i)
            fields = (
                {"message": text, "errorType": error_type}
                if shape == "top-level"
                else {"metadata": {"message": text, "errorType": error_type, "requestId": f"req-{k}{i}"}}
            )
            at = NOW + timedelta(seconds=k * 5 + i * 10)
            raw = {"service": "payment-service", "severity": 4, "eventId": f"{shape}-{k}-{i}"} | fields
            scenario.events.append(parse(raw | {"timestamp": at.isoformat()}, at=at))
    return scenario


def test_two_failure_modes_sent_in_the_contract_shape_are_two_incidents_as_in_the_top_level_shape() -> None:
    nested = _storm("metadata").run()
    flat = _storm("top-level").run()
    assert len(nested.incidents) == 2
    assert sorted(i.eventCount for i in nested.incidents) == [20, 20]
    assert sorted(t.template for i in nested.incidents for t in i.templates) == sorted(
        t.template for i in flat.incidents for t in i.templates
    )
    db, cert = sorted(t.template for i in nested.incidents for t in i.templates)
    # The message's constant words, with the variable parts masked (never "<empty>").
    assert db.startswith("Database connection pool exhausted after <")
    assert cert.startswith("certificate expired for host <")
    assert sorted(t.errorType or "" for i in nested.incidents for t in i.templates) == [
        "CertificateExpired",
        "ConnectionTimeout",
    ]


def test_the_contract_shape_gives_the_same_fingerprints_as_the_top_level_shape() -> None:
    nested = [o.fingerprint for o in _storm("metadata").run().outcomes if o is not None]
    flat = [o.fingerprint for o in _storm("top-level").run().outcomes if o is not None]
    assert nested == flat
    assert len(set(nested)) == 2
