"""The WebSocket protocol: what clients may send, and the frames the server sends.

Client to server (text frames, JSON):
- `{"type": "subscribe", "channels": ["payment-service", ...] | ["all"], "batch": true?}`
- `{"type": "unsubscribe", "channels": [...]}`
- `{"type": "ping"}` (answered with `pong`; browsers cannot send protocol-level pings)

Server to client: `event`, `events` (coalesced, opt-in), `incident`, `snapshot`, `subscribed`,
`unsubscribed`, `dropped`, `heartbeat`, `pong`, `error`; see the service README.

Frames are built from bytes that were serialized once: an event's JSON object is encoded when it is
read from Kafka, and every client's frame reuses those bytes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import orjson

from incident_shared.codec import dumps
from incident_shared.schemas.events import SERVICE_PATTERN, Event
from incident_shared.timeutil import iso

ALL: Final = "all"
MAX_CLIENT_MESSAGE_BYTES: Final = 64 * 1024


class ProtocolError(ValueError):
    """A client message the server cannot act on; the text goes back to the client as an `error`."""


@dataclass(frozen=True, slots=True)
class Subscribe:
    channels: frozenset[str]
    batch: bool | None = None


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    channels: frozenset[str]


@dataclass(frozen=True, slots=True)
class Ping:
    pass


ClientMessage = Subscribe | Unsubscribe | Ping


def _channels(raw: Any, max_channels: int) -> frozenset[str]:
    if not isinstance(raw, list):
        raise ProtocolError('"channels" must be an array of service names or ["all"]')
    if len(raw) > max_channels:
        raise ProtocolError(f'"channels" has {len(raw)} items; at most {max_channels} are allowed')
    for item in raw:
        if not isinstance(item, str) or not (item == ALL or SERVICE_PATTERN.match(item)):
            raise ProtocolError(f'"channels" items must be service names or "all", got {str(item)[:60]!r}')
    return frozenset(raw)


def parse_client_message(text: str | bytes, *, max_channels: int = 500) -> ClientMessage:
    """Decodes one client message; raises `ProtocolError` with a message fit for the client."""
    if len(text) > MAX_CLIENT_MESSAGE_BYTES:
        raise ProtocolError(f"message is larger than {MAX_CLIENT_MESSAGE_BYTES} bytes")
    try:
        raw = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise ProtocolError(f"not valid JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise ProtocolError('a message must be a JSON object with a "type"')
    kind = raw.get("type")
    if kind == "subscribe":
        batch = raw.get("batch")
        if batch is not None and not isinstance(batch, bool):
            raise ProtocolError('"batch" must be true or false')
        return Subscribe(_channels(raw.get("channels"), max_channels), batch)
    if kind == "unsubscribe":
        return Unsubscribe(_channels(raw.get("channels"), max_channels))
    if kind == "ping":
        return Ping()
    raise ProtocolError(f'unknown message type {str(kind)[:40]!r}; expected "subscribe", "unsubscribe" or "ping"')


def matches(channels: frozenset[str], services: Iterable[str]) -> bool:
    """True when a client subscribed to `channels` should see something touching `services`."""
    if ALL in channels:
        return True
    return any(s in channels for s in services)


@dataclass(frozen=True, slots=True)
class EncodedEvent:
    """One event, serialized once: `data` is its JSON object, `frame` the whole `event` message."""

    service: str
    data: bytes
    frame: bytes


def encode_event(event: Event, now: datetime) -> EncodedEvent:
    data = orjson.dumps(event.to_api())
    return EncodedEvent(
        event.service, data, b'{"type":"event","data":' + data + b',"timestamp":"' + iso(now).encode() + b'"}'
    )


def events_frame(datas: Iterable[bytes], now: datetime) -> bytes:
    """A coalesced `events` frame from already serialized event objects (no JSON work per client)."""
    return b'{"type":"events","data":[' + b",".join(datas) + b'],"timestamp":"' + iso(now).encode() + b'"}'


def incident_frame(action: str, data: bytes, now: datetime) -> bytes:
    return (
        b'{"type":"incident","action":'
        + orjson.dumps(action)
        + b',"data":'
        + data
        + b',"timestamp":"'
        + iso(now).encode()
        + b'"}'
    )


def snapshot_frame(datas: Iterable[bytes], now: datetime, *, complete: bool) -> bytes:
    """The active incidents a client can see; it replaces the client's list of active incidents."""
    return (
        b'{"type":"snapshot","data":['
        + b",".join(datas)
        + b'],"complete":'
        + (b"true" if complete else b"false")
        + b',"timestamp":"'
        + iso(now).encode()
        + b'"}'
    )


def control_frame(kind: str, now: datetime, **fields: Any) -> bytes:
    """A small server message (`subscribed`, `dropped`, `heartbeat`, `pong`, `error`)."""
    return dumps({"type": kind, **fields, "timestamp": iso(now)})
