"""The storage rules: legal JSON is kept (adjusted where the store cannot hold it), the rest refused."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from incident_shared.schemas import EventValidationError, parse_event
from incident_shared.schemas.events import event_from_record
from incident_shared.schemas.storable import UnstorableError, make_storable
from support.storable_cases import KEPT, REFUSED_BODIES, UNCHANGED, Kept

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize("case", KEPT, ids=lambda c: c.name)
def test_values_the_store_cannot_hold_are_kept_in_a_form_it_can(case: Kept) -> None:
    stored, adjustments = make_storable(case.metadata)
    assert stored == case.stored
    assert tuple(a.path for a in adjustments) == case.paths


@pytest.mark.parametrize("metadata", UNCHANGED)
def test_what_both_stores_hold_is_left_alone_and_not_copied(metadata: dict[str, Any]) -> None:
    stored, adjustments = make_storable(metadata)
    assert stored is metadata
    assert adjustments == []


def test_a_kept_value_can_be_read_back_exactly() -> None:
    sent = {"matrix": [[1, 2], [3, 4]], "big": 2**64 - 1}
    event = parse_event({"service": "api", "severity": 3, "metadata": sent}, received_at=NOW)
    restored = dict(event.metadata)
    for adjustment in event.metadataAdjustments:
        assert adjustment.kept_as == "json-text"
        key = adjustment.path.lstrip("/")
        restored[key] = orjson.loads(restored[key])
    assert restored == sent


def test_a_renamed_key_says_what_it_was() -> None:
    event = parse_event(
        {"service": "api", "severity": 3, "metadata": {"k8s": {"app.kubernetes.io/name": "checkout"}}},
        received_at=NOW,
    )
    [adjustment] = event.to_api()["metadataAdjustments"]
    assert adjustment == {
        "path": "/k8s/app\uff0ekubernetes\uff0eio~1name",
        "keptAs": "renamed-key",
        "reason": "a key with '.' cannot be stored; look-alike characters replace them",
        "key": "app.kubernetes.io/name",
    }
    assert event.metadata == {"k8s": {"app\uff0ekubernetes\uff0eio/name": "checkout"}}


@pytest.mark.parametrize(("value", "text"), [(math.nan, "NaN"), (math.inf, "Infinity"), (-math.inf, "-Infinity")])
def test_numbers_that_are_not_finite_from_code_are_kept_as_text(value: float, text: str) -> None:
    stored, [adjustment] = make_storable({"ratio": value})
    assert stored == {"ratio": text}
    assert adjustment.path == "/ratio"


@pytest.mark.parametrize(
    ("metadata", "path"),
    [
        ({"s": "\ud800"}, "/s"),
        ({"\udfff": 1}, ""),
        ({1: "not a string key"}, ""),
        ({"t": (1, 2)}, "/t"),
        ({"a.b": 1, "a\uff0eb": 2}, ""),
    ],
)
def test_what_is_not_json_at_all_is_refused_naming_the_place(metadata: dict[Any, Any], path: str) -> None:
    with pytest.raises(UnstorableError) as caught:
        make_storable(metadata)
    assert caught.value.path == path


@pytest.mark.parametrize(("name", "body", "field"), REFUSED_BODIES, ids=[c[0] for c in REFUSED_BODIES])
def test_a_record_that_is_not_an_event_is_refused_with_the_field(name: str, body: bytes, field: str) -> None:
    with pytest.raises(EventValidationError) as caught:
        event_from_record(body, record_timestamp=NOW, fallback_id="evt_x")
    assert any(e.field.split("/")[0].split("[")[0] == field for e in caught.value.errors), caught.value.errors


def test_a_record_keeps_the_adjustments_the_gateway_made() -> None:
    event = parse_event({"service": "api", "severity": 3, "metadata": {"k": [[1]]}}, received_at=NOW)
    again = event_from_record(event.to_record(), record_timestamp=NOW, fallback_id="evt_x")
    assert again.metadata == {"k": "[[1]]"}
    assert again.metadataAdjustments == event.metadataAdjustments


def test_the_same_value_straight_on_kafka_is_kept_the_same_way() -> None:
    body = orjson.dumps({"service": "api", "severity": 3, "metadata": {"k": [[], None, ""]}})
    event = event_from_record(body, record_timestamp=NOW, fallback_id="evt_x")
    assert event.metadata == {"k": '[[],null,""]'}
    assert [a.path for a in event.metadataAdjustments] == ["/k"]


@pytest.mark.parametrize("field", ["timestamp", "message", "metadata", "tags", "resolved", "eventId", "severity"])
def test_an_explicit_null_is_refused_for_fields_that_are_not_nullable(field: str) -> None:
    with pytest.raises(EventValidationError) as caught:
        parse_event({"service": "api", "severity": 3} | {field: None}, received_at=NOW)
    assert [e.field for e in caught.value.errors] == [field]


def test_error_type_and_dedup_key_may_be_null() -> None:
    event = parse_event({"service": "api", "severity": 3, "errorType": None, "dedupKey": None}, received_at=NOW)
    assert event.errorType is None
    assert event.dedupKey is None


def test_a_whole_number_written_as_a_float_is_a_severity() -> None:
    assert parse_event({"service": "api", "severity": 4.0}, received_at=NOW).severity == 4
