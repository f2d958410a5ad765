"""One connected client: its channels and its bounded outbox, drained by its own writer task.

The hub only ever appends to an outbox (synchronously, never awaiting a socket), so a stalled client
cannot slow anyone else. What waits in an outbox:
- event chunks, shared by every client with the same channels; when more than `max_queued_events`
  wait, the oldest are dropped and the client is later sent `{"type": "dropped", "count": n}`;
- incident updates, snapshots and control messages, never dropped; more than
  `max_queued_priority` of them waiting, or one frame not written within `send_timeout`, and the
  client is hopeless: it is disconnected and will reconnect to a fresh snapshot.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from incident_shared.timeutil import utcnow
from ws_broadcaster.metrics import BroadcasterMetrics
from ws_broadcaster.protocol import ALL, EncodedEvent, control_frame, events_frame

log = logging.getLogger(__name__)

Send = Callable[[bytes], Awaitable[None]]
Abort = Callable[[str], None]
Clock = Callable[[], datetime]


@dataclass(frozen=True, slots=True)
class ClientLimits:
    max_queued_events: int = 2000
    max_queued_priority: int = 1000
    send_timeout: float = 10.0  # enforced by `Hub.check_stalled`
    max_batch_events: int = 500


class EventChunk:
    """Events of one Kafka batch that one channel set selects; shared by all clients of that set."""

    __slots__ = ("_frame", "created", "events")

    def __init__(self, events: Sequence[EncodedEvent], created: datetime) -> None:
        self.events = events
        self.created = created
        self._frame: bytes | None = None

    def frame(self) -> bytes:
        """The whole chunk as one `events` frame, built once for every batching client."""
        if self._frame is None:
            self._frame = events_frame((e.data for e in self.events), self.created)
        return self._frame


@dataclass(slots=True)
class _Slice:
    chunk: EventChunk
    start: int = 0

    @property
    def remaining(self) -> int:
        return len(self.chunk.events) - self.start


@dataclass(frozen=True, slots=True)
class _Frame:
    data: bytes
    kind: str  # incident | snapshot | control


class Client:
    def __init__(
        self,
        *,
        client_id: str,
        send: Send,
        abort: Abort,
        limits: ClientLimits,
        metrics: BroadcasterMetrics,
        batching: bool = False,
        channels: frozenset[str] = frozenset({ALL}),
        clock: Clock = utcnow,
    ) -> None:
        self.client_id = client_id
        self.channels = channels
        # The connection starts on an implicit `all`; the first `subscribe` replaces it.
        self.explicit_channels = False
        self.batching = batching
        self.close_reason: str | None = None
        self._send = send
        self._abort = abort
        self._limits = limits
        self._metrics = metrics
        self._clock = clock
        self._items: deque[_Slice | _Frame] = deque()
        self._queued_events = 0
        self._queued_priority = 0
        self._dropped = 0  # dropped events the client has not been told about yet
        self._wakeup = asyncio.Event()
        self._closed = False
        self._sent = metrics.sent_by_type
        self._pending_counts = dict.fromkeys(metrics.sent_by_type, 0)
        self._pending_frames = 0
        self._pending_bytes = 0
        self._send_started: float | None = None

    @property
    def send_timeout(self) -> float:
        return self._limits.send_timeout

    @property
    def queued_events(self) -> int:
        return self._queued_events

    @property
    def idle(self) -> bool:
        return not self._items

    @property
    def closed(self) -> bool:
        return self._closed

    def enqueue_events(self, chunk: EventChunk) -> None:
        if self._closed:
            return
        self._items.append(_Slice(chunk))
        self._queued_events += len(chunk.events)
        excess = self._queued_events - self._limits.max_queued_events
        if excess > 0:
            self._drop_oldest_events(excess)
        self._wakeup.set()

    def enqueue(self, frame: bytes, kind: str) -> None:
        """Queues a message that is never dropped (incident, snapshot, control)."""
        if self._closed:
            return
        if self._queued_priority >= self._limits.max_queued_priority:
            self.fail("backlog")
            return
        self._items.append(_Frame(frame, kind))
        self._queued_priority += 1
        self._wakeup.set()

    def _drop_oldest_events(self, excess: int) -> None:
        dropped = 0
        emptied = False
        for item in self._items:
            if dropped >= excess:
                break
            if isinstance(item, _Slice):
                take = min(excess - dropped, item.remaining)
                item.start += take
                dropped += take
                emptied = emptied or item.remaining == 0
        if emptied:
            self._items = deque(i for i in self._items if not (isinstance(i, _Slice) and i.remaining == 0))
        self._queued_events -= dropped
        self._dropped += dropped
        self._metrics.messages_dropped.inc(dropped)

    def note_dropped(self, count: int) -> None:
        """Events this client will never get for a reason outside it; told with the next events."""
        if not self._closed:
            self._dropped += count

    def fail(self, reason: str) -> None:
        """Gives up on this client: stops its writer and closes its connection."""
        if self._closed:
            return
        log.warning(
            "disconnecting a client that cannot keep up",
            extra={"client": self.client_id, "reason": reason, "queuedEvents": self._queued_events},
        )
        self.close_reason = reason
        self.close()
        self._abort(reason)

    def close(self) -> None:
        self._closed = True
        self._items.clear()
        self._wakeup.set()

    def _next_frame(self) -> tuple[bytes, str, int]:
        """Takes the next frame to write: (payload, message type, number of messages in it)."""
        head = self._items[0]
        if isinstance(head, _Frame):
            self._items.popleft()
            self._queued_priority -= 1
            return head.data, head.kind, 1
        if self._dropped:
            count, self._dropped = self._dropped, 0
            return control_frame("dropped", self._clock(), count=count), "control", 1
        if not self.batching:
            event = head.chunk.events[head.start]
            head.start += 1
            self._queued_events -= 1
            if head.remaining == 0:
                self._items.popleft()
            return event.frame, "event", 1
        if (
            head.start == 0
            and head.remaining <= self._limits.max_batch_events
            and (len(self._items) == 1 or not isinstance(self._items[1], _Slice))
        ):
            self._items.popleft()
            self._queued_events -= head.remaining
            return head.chunk.frame(), "event", head.remaining
        # Several chunks (or part of one) waiting: coalesce them into one frame.
        datas: list[bytes] = []
        limit = self._limits.max_batch_events
        while self._items and len(datas) < limit:
            item = self._items[0]
            if not isinstance(item, _Slice):
                break
            take = min(limit - len(datas), item.remaining)
            datas.extend(e.data for e in item.chunk.events[item.start : item.start + take])
            item.start += take
            if item.remaining == 0:
                self._items.popleft()
        self._queued_events -= len(datas)
        return events_frame(datas, self._clock()), "event", len(datas)

    @property
    def send_started(self) -> float | None:
        """When (loop time) the frame being written started, or None when the writer is not blocked."""
        return self._send_started

    def _flush_metrics(self) -> None:
        for kind, count in self._pending_counts.items():
            if count:
                self._sent[kind].inc(count)
                self._pending_counts[kind] = 0
        if self._pending_frames:
            self._metrics.frames_sent.inc(self._pending_frames)
            self._metrics.bytes_sent.inc(self._pending_bytes)
            self._pending_frames = self._pending_bytes = 0

    async def run(self) -> None:
        """Writes queued frames until the client goes away or is given up on.

        A write that blocks is not timed here (a timer per frame would cost more than the write):
        the hub's watchdog (`Hub.check_stalled`) looks at `send_started` once a second instead.
        Metrics are added up locally and published when the outbox runs empty.
        """
        loop = asyncio.get_running_loop()
        counts = self._pending_counts
        try:
            while not self._closed:
                if not self._items:
                    self._flush_metrics()
                    self._wakeup.clear()
                    await self._wakeup.wait()
                    continue
                frame, kind, count = self._next_frame()
                self._send_started = loop.time()
                try:
                    await self._send(frame)
                except (ConnectionError, RuntimeError):
                    # The connection is closing (or was aborted); its handler ends the session.
                    self.close()
                    return
                finally:
                    self._send_started = None
                counts[kind] += count
                self._pending_frames += 1
                self._pending_bytes += len(frame)
                if self._pending_frames >= 1000:
                    self._flush_metrics()
        finally:
            self._flush_metrics()
