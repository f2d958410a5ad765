"""Every topic in the registry has an example that its own schema accepts."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from incident_shared.schemas import Event, EventValidationError
from incident_shared.schemas.events import event_from_record
from incident_shared.topics import ALL_TOPICS, EVENTS_DLQ, Topics

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("spec", ALL_TOPICS, ids=lambda s: s.base)
def test_examples_match_their_schema(spec: object) -> None:
    assert spec.example, f"{spec.base} has no example"  # type: ignore[attr-defined]
    schema = spec.schema  # type: ignore[attr-defined]
    if schema is Event:
        event = event_from_record(orjson.dumps(spec.example), record_timestamp=datetime.now(UTC), fallback_id="x")  # type: ignore[attr-defined]
        assert event.eventId == spec.example["eventId"]  # type: ignore[attr-defined]
    elif schema is not None:
        schema.model_validate(spec.example)


def test_the_dead_letter_example_is_an_invalid_event() -> None:
    with pytest.raises(EventValidationError):
        event_from_record(orjson.dumps(EVENTS_DLQ.example), record_timestamp=datetime.now(UTC), fallback_id="x")


def test_prefix_isolates_installations() -> None:
    assert Topics("t1.").events == "t1.events"
    assert Topics().incidents == "incidents"
    assert len({Topics("p.").name(s) for s in ALL_TOPICS}) == len(ALL_TOPICS)
