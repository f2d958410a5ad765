"""The hub: who is connected, what each listens to, and the fan-out of events and incident changes.

Fan-out is synchronous and never touches a socket: for each Kafka batch the hub filters the events
once per distinct channel set (usually a handful: `all` and a few service lists), wraps them in one
shared chunk, and appends that chunk to the outbox of every client with that channel set. Each
client's writer task then sends at its own pace (see `client.py`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime

from incident_shared.schemas.incidents import IncidentChange
from incident_shared.timeutil import utcnow
from ws_broadcaster.active import ActiveIncidents
from ws_broadcaster.client import Client, EventChunk
from ws_broadcaster.metrics import BroadcasterMetrics
from ws_broadcaster.protocol import (
    ALL,
    EncodedEvent,
    Ping,
    ProtocolError,
    Subscribe,
    Unsubscribe,
    control_frame,
    incident_frame,
    matches,
    parse_client_message,
    snapshot_frame,
)

log = logging.getLogger(__name__)


class Hub:
    def __init__(
        self,
        *,
        metrics: BroadcasterMetrics,
        active: ActiveIncidents | None = None,
        max_batch_events: int = 500,
        max_channels_per_client: int = 500,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.active = active if active is not None else ActiveIncidents()
        self.incidents_loaded = False
        self._metrics = metrics
        self._max_batch = max_batch_events
        self._max_channels = max_channels_per_client
        self._clock = clock
        self._groups: dict[frozenset[str], set[Client]] = {}
        self._clients: set[Client] = set()

    @property
    def clients(self) -> frozenset[Client]:
        return frozenset(self._clients)

    def __len__(self) -> int:
        return len(self._clients)

    # -- membership -------------------------------------------------------------------------------

    def register(self, client: Client) -> None:
        """Adds a client and queues its first snapshot of the active incidents."""
        self._clients.add(client)
        self._join(client)
        self._metrics.connections.set(len(self._clients))
        self._metrics.connections_opened.inc()
        self._send_snapshot(client)

    def unregister(self, client: Client, reason: str = "normal") -> None:
        if client not in self._clients:
            return
        self._clients.discard(client)
        self._leave(client)
        client.close()
        self._metrics.connections.set(len(self._clients))
        self._metrics.connections_closed.labels(client.close_reason or reason).inc()

    def _join(self, client: Client) -> None:
        self._groups.setdefault(client.channels, set()).add(client)
        self._update_subscription_metrics()

    def _leave(self, client: Client) -> None:
        group = self._groups.get(client.channels)
        if group is not None:
            group.discard(client)
            if not group:
                del self._groups[client.channels]
        self._update_subscription_metrics()

    def _update_subscription_metrics(self) -> None:
        self._metrics.subscriptions.set(sum(len(key) * len(group) for key, group in self._groups.items()))
        self._metrics.subscription_groups.set(len(self._groups))

    def _set_channels(self, client: Client, channels: frozenset[str]) -> bool:
        if channels == client.channels:
            return False
        self._leave(client)
        client.channels = channels
        self._join(client)
        return True

    def _send_snapshot(self, client: Client) -> None:
        datas = self.active.snapshot(client.channels)
        client.enqueue(snapshot_frame(datas, self._clock(), complete=self.incidents_loaded), "snapshot")

    # -- client messages ---------------------------------------------------------------------------

    def handle_message(self, client: Client, text: str | bytes) -> None:
        """Acts on one client message; a malformed one gets an `error` back and changes nothing."""
        now = self._clock()
        try:
            message = parse_client_message(text, max_channels=self._max_channels)
            if isinstance(message, Subscribe):
                base = client.channels if client.explicit_channels else frozenset()
                wanted = self._check_channel_count(base | message.channels)
                client.explicit_channels = True
                if message.batch is not None:
                    client.batching = message.batch
                changed = self._set_channels(client, wanted)
                client.enqueue(
                    control_frame("subscribed", now, channels=sorted(client.channels), batch=client.batching),
                    "control",
                )
                if changed:
                    self._send_snapshot(client)
            elif isinstance(message, Unsubscribe):
                client.explicit_channels = True
                changed = self._set_channels(client, client.channels - message.channels)
                client.enqueue(control_frame("unsubscribed", now, channels=sorted(client.channels)), "control")
                if changed:
                    self._send_snapshot(client)
            elif isinstance(message, Ping):
                client.enqueue(control_frame("pong", now), "control")
        except ProtocolError as exc:
            self._metrics.client_messages.labels("error").inc()
            client.enqueue(control_frame("error", now, error=str(exc)), "control")
            return
        self._metrics.client_messages.labels("ok").inc()

    def _check_channel_count(self, channels: frozenset[str]) -> frozenset[str]:
        if len(channels) > self._max_channels:
            raise ProtocolError(f"at most {self._max_channels} channels per connection")
        return channels

    # -- fan-out -----------------------------------------------------------------------------------

    def publish_events(self, events: Sequence[EncodedEvent]) -> None:
        """Queues a batch of events for every client whose channels select them."""
        if not events or not self._groups:
            return
        now = self._clock()
        for channels, clients in self._groups.items():
            if not clients or not channels:
                continue
            selected = events if ALL in channels else [e for e in events if e.service in channels]
            for start in range(0, len(selected), self._max_batch):
                chunk = EventChunk(selected[start : start + self._max_batch], now)
                for client in clients:
                    client.enqueue_events(chunk)

    def events_skipped(self, count: int) -> None:
        """The replica skipped `count` events to catch up; every client hears it (as `dropped`)."""
        self._metrics.events_skipped.inc(count)
        for client in list(self._clients):
            client.note_dropped(count)

    def publish_incident(self, change: IncidentChange) -> None:
        """Applies an incident change to the snapshot and, once the snapshot is loaded, broadcasts it."""
        applied = self.active.apply(change)
        self._metrics.active_incidents.set(len(self.active))
        if applied is None or not self.incidents_loaded:
            return
        frame = incident_frame(applied.action, applied.entry.data, self._clock())
        services = applied.entry.services | applied.previous_services
        for channels, clients in self._groups.items():
            if matches(channels, services):
                for client in clients:
                    client.enqueue(frame, "incident")

    def note_resolved(self, incident_id: str, version: int) -> None:
        """A resolution read while loading the snapshot (nothing is broadcast before it is loaded)."""
        self.active.note_resolved(incident_id, version)
        self._metrics.active_incidents.set(len(self.active))

    def forget_incident(self, incident_id: str) -> None:
        self.active.forget(incident_id)
        self._metrics.active_incidents.set(len(self.active))

    def mark_incidents_loaded(self) -> None:
        """The snapshot caught up with the topic: clients that connected earlier get it complete."""
        if self.incidents_loaded:
            return
        self.incidents_loaded = True
        log.info("active incidents loaded", extra={"activeIncidents": len(self.active)})
        for client in list(self._clients):
            self._send_snapshot(client)

    def check_stalled(self, now: float) -> int:
        """Disconnects clients whose current write started more than their send timeout before `now`
        (loop time); returns how many. Called about once a second."""
        stalled = [
            c for c in self._clients if (started := c.send_started) is not None and now - started > c.send_timeout
        ]
        for client in stalled:
            client.fail("slow")
        return len(stalled)

    def heartbeat(self) -> None:
        """Sends `heartbeat` to idle clients, so that a browser can tell a quiet stream from a dead one."""
        frame = control_frame("heartbeat", self._clock())
        for client in list(self._clients):
            if client.idle:
                client.enqueue(frame, "control")
