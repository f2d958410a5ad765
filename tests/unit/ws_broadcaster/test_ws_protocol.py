from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from ws_broadcaster.protocol import (
    Ping,
    ProtocolError,
    Subscribe,
    Unsubscribe,
    events_frame,
    incident_frame,
    parse_client_message,
)

pytestmark = pytest.mark.unit


def test_subscribe_to_services_and_all() -> None:
    msg = parse_client_message('{"type":"subscribe","channels":["payment-service","all"]}')
    assert msg == Subscribe(frozenset({"payment-service", "all"}))


def test_subscribe_can_opt_into_batching() -> None:
    assert parse_client_message('{"type":"subscribe","channels":["all"],"batch":true}') == Subscribe(
        frozenset({"all"}), True
    )


def test_unsubscribe_and_ping() -> None:
    assert parse_client_message('{"type":"unsubscribe","channels":["a"]}') == Unsubscribe(frozenset({"a"}))
    assert parse_client_message('{"type":"ping"}') == Ping()


def test_unknown_fields_are_tolerated() -> None:
    assert parse_client_message('{"type":"ping","id":7}') == Ping()


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("not json", "not valid JSON"),
        ("[1,2]", "JSON object"),
        ('{"type":"subscribe"}', '"channels" must be an array'),
        ('{"type":"subscribe","channels":"all"}', '"channels" must be an array'),
        ('{"type":"subscribe","channels":[3]}', "service names"),
        ('{"type":"subscribe","channels":["bad name!"]}', "service names"),
        ('{"type":"subscribe","channels":["a"],"batch":"yes"}', '"batch"'),
        ('{"type":"dance"}', "unknown message type"),
    ],
)
def test_malformed_messages_are_explained(text: str, says: str) -> None:
    with pytest.raises(ProtocolError, match=says):
        parse_client_message(text)


def test_too_many_channels_is_an_error() -> None:
    with pytest.raises(ProtocolError, match="at most 2"):
        parse_client_message('{"type":"subscribe","channels":["a","b","c"]}', max_channels=2)


def test_frames_built_from_preserialized_bytes_are_valid_json() -> None:
    now = datetime(2026, 1, 31, 12, 0, tzinfo=UTC)
    assert orjson.loads(events_frame([b'{"a":1}', b'{"b":2}'], now)) == {
        "type": "events",
        "data": [{"a": 1}, {"b": 2}],
        "timestamp": "2026-01-31T12:00:00.000Z",
    }
    assert orjson.loads(incident_frame("created", b'{"incidentId":"inc_1"}', now)) == {
        "type": "incident",
        "action": "created",
        "data": {"incidentId": "inc_1"},
        "timestamp": "2026-01-31T12:00:00.000Z",
    }
