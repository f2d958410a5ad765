"""The aggregator's processing steps without Faust: each one's job, and what becomes of a record
that cannot be processed (dead-lettered with the reason; the rest of the batch goes on)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import orjson
import pytest
from aiokafka.errors import KafkaTimeoutError, MessageSizeTooLargeError

from aggregator.assignments import Assignment
from aggregator.cascade import LinkCandidates, parse_candidate
from aggregator.correlate import ApplyCommands, Correlate, Cycle, EngineContext
from aggregator.engine import CorrelationConfig, CorrelationEngine, Linker
from aggregator.intake import Decode, Decoded, DecodeEvents, ForwardMiskeyed
from aggregator.publish import Publish, SaveState
from aggregator.records import InvalidRatioGuard
from aggregator.routing import partition_for
from aggregator.steps import Batch, Record, Span, Terminal
from aggregator.worker import to_record
from incident_shared.schemas.incidents import IncidentCommand
from incident_shared.timeutil import epoch_ms
from support import aggregator_steps as s
from support.engine_scenarios import T0, make_event

pytestmark = pytest.mark.unit


class Collect(Terminal):
    """The rest of a chain, reduced to remembering what it was given."""

    def __init__(self) -> None:
        self.got: list[Any] = []
        self.polled = 0

    async def submit(self, message: object) -> None:
        self.got.append(message)

    async def poll(self) -> None:
        self.polled += 1


def _engine_chain(
    engine: CorrelationEngine | None = None,
) -> tuple[Correlate, Collect, s.ListSink, Any, CorrelationEngine]:
    m, registry = s.metrics()
    dead, dlq = s.dead_letters(m)
    engine = engine or s.engine()
    rest = Collect()
    return Correlate(rest, EngineContext(engine, asyncio.Lock(), m, dead)), rest, dlq, registry, engine


async def test_an_invalid_record_is_dead_lettered_with_its_reason_and_the_batch_goes_on() -> None:
    m, registry = s.metrics()
    dead, dlq = s.dead_letters(m)
    rest = Collect()
    step = DecodeEvents(rest, dead, InvalidRatioGuard(0.5, 1000))
    good = make_event("api", 4, "boom", T0)
    batch = [
        s.event_record(good, offset=10),
        s.record(b"{not json", offset=11, key=b"api"),
        s.event_record(make_event("api", 4, "again", T0), offset=12),
    ]
    await step.submit(batch)
    [out] = rest.got
    assert [d.record.offset for d in out.items] == [10, 12]
    assert out.items[0].value.eventId == good.eventId
    assert out.span.ranges == {("events", 0): (10, 12)}  # the dead letter's position is settled too
    [letter] = dlq.sent
    assert letter.key == b"api"
    assert letter.value == b"{not json"
    assert b"not valid JSON" in letter.headers["dlq-reason"]
    assert letter.headers["dlq-origin"] == b"events/0/11"
    assert letter.headers["dlq-kind"] == b"invalid"
    assert s.value(registry, "aggregator_dead_letters_total", reason="invalid") == 1


async def test_a_record_without_a_timestamp_field_takes_the_records_own_time() -> None:
    m, _ = s.metrics()
    dead, _ = s.dead_letters(m)
    rest = Collect()
    sent_at = T0 + timedelta(hours=5, milliseconds=123)
    body = orjson.dumps({"service": "api", "severity": 5, "message": "disk full"})
    await DecodeEvents(rest, dead, InvalidRatioGuard(0.5, 1000)).submit([s.record(body, offset=0, at=sent_at)])
    [item] = rest.got[0].items
    assert item.value.timestamp == sent_at
    assert item.value.receivedAt == sent_at


def test_faust_timestamps_in_seconds_become_record_milliseconds() -> None:
    """Faust hands the record timestamp over in seconds; read as milliseconds it put events in 1970."""
    sent_at = T0 + timedelta(milliseconds=457)
    message = SimpleNamespace(
        topic="events", partition=1, offset=7, key=b"k", value=b"{}", timestamp=epoch_ms(sent_at) / 1000, headers=None
    )
    r = to_record(message)
    assert r.timestamp_ms == epoch_ms(sent_at)
    assert (r.source, r.origin) == ("events/1", "events/1/7")


async def test_an_event_keyed_off_its_groups_partition_is_forwarded_once_under_its_correlation_key() -> None:
    m, registry = s.metrics()
    rekeyed = s.ListSink()
    rest = Collect()
    step = ForwardMiskeyed(rest, rekeyed, lambda service: "payments" if service == "api" else service, 6, m.rekeyed)
    home = partition_for("payments", 6)
    elsewhere = (home + 1) % 6
    here = make_event("api", 4, "at home", T0)
    away = make_event("api", 4, "keyed otherwise", T0)
    records = [s.event_record(here, offset=3, partition=home), s.event_record(away, offset=9, partition=elsewhere)]

    batch = Batch([Decoded(records[0], here), Decoded(records[1], away)], Span.of(records))
    await step.submit(batch)
    [forwarded] = rekeyed.sent
    assert forwarded.key == b"payments"
    assert orjson.loads(forwarded.value or b"")["eventId"] == away.eventId  # the id derived where it was read
    [out] = rest.got
    assert [d.value.eventId for d in out.items] == [here.eventId]
    assert out.span.ranges == Span.of(records).ranges
    assert s.value(registry, "aggregator_rekeyed_events_total") == 1


async def test_events_become_a_cycle_with_the_assignment_of_every_position() -> None:
    step, rest, _, _, _ = _engine_chain()
    events = [make_event("api", 5, f"disk full on node-{i}", T0 + timedelta(seconds=i)) for i in range(3)]
    records = [s.event_record(e, offset=100 + i, partition=2) for i, e in enumerate(events)]

    await step.submit(Batch([Decoded(r, e) for r, e in zip(records, events, strict=True)], Span.of(records)))
    [cycle] = rest.got
    assert isinstance(cycle, Cycle)
    assert [c.action for c in cycle.changes] == ["created"]
    incident_id = cycle.changes[0].incident.incidentId
    [a] = cycle.assignments
    assert (a.topic, a.partition, a.first, a.last) == ("events", 2, 100, 102)
    assert [(r.offset, r.event_id, r.incident_id) for r in a.rows] == [
        (100 + i, e.eventId, incident_id) for i, e in enumerate(events)
    ]
    minute = int(T0.timestamp() // 60)
    assert a.rollups == {(minute, "api", 5): 3}
    assert cycle.candidates, "every incident change is a candidate for the cross-key stage"


async def test_a_batch_delivered_again_is_recognised_and_still_settles_its_positions() -> None:
    step, rest, _, registry, _ = _engine_chain()
    events = [make_event("api", 4, f"timeout {i}", T0 + timedelta(seconds=i)) for i in range(4)]
    records = [s.event_record(e, offset=i) for i, e in enumerate(events)]

    batch = Batch([Decoded(r, e) for r, e in zip(records, events, strict=True)], Span.of(records))
    await step.submit(batch)
    await step.submit(batch)
    again = rest.got[1]
    assert again.changes == []
    [a] = again.assignments
    assert (a.first, a.last, a.rows) == (0, 3, [])
    assert s.value(registry, "aggregator_duplicate_events_total") == 4


class Brittle(CorrelationEngine):
    """An engine that fails on one service's events, as a bug would."""

    def process(self, event: Any, *, source: str | None = None, offset: int = -1) -> Any:
        if event.service == "cursed":
            raise ZeroDivisionError("the engine's bug")
        return super().process(event, source=source, offset=offset)


async def test_an_event_the_engine_fails_on_is_dead_lettered_and_the_others_are_processed() -> None:
    step, rest, dlq, registry, _ = _engine_chain(Brittle(CorrelationConfig(), s.SavingStore()))
    ok = make_event("api", 5, "disk full", T0)
    bad = make_event("cursed", 5, "disk full", T0)
    records = [s.event_record(bad, offset=0), s.event_record(ok, offset=1)]

    await step.submit(Batch([Decoded(records[0], bad), Decoded(records[1], ok)], Span.of(records)))
    [letter] = dlq.sent
    assert letter.headers["dlq-reason"] == b"engine: ZeroDivisionError: the engine's bug"
    assert letter.headers["dlq-kind"] == b"failed"
    assert letter.headers["dlq-origin"] == b"events/0/0"
    [a] = rest.got[0].assignments
    assert [r.event_id for r in a.rows] == [ok.eventId]
    assert (a.first, a.last) == (0, 1)
    assert s.value(registry, "aggregator_dead_letters_total", reason="failed") == 1


async def test_the_timer_closes_what_went_quiet_and_publishes_it() -> None:
    m, _ = s.metrics()
    dead, _ = s.dead_letters(m)
    engine = CorrelationEngine(CorrelationConfig(), s.SavingStore(), clock=T0.timestamp)
    rest = Collect()
    clock = [T0.timestamp()]
    step = Correlate(rest, EngineContext(engine, asyncio.Lock(), m, dead), clock=lambda: clock[0])
    event = make_event("api", 5, "disk full", T0)
    record = s.event_record(event, offset=0)

    await step.submit(Batch([Decoded(record, event)], Span.of([record])))
    clock[0] += 3 * 3600
    await step.poll()
    assert [c.action for c in rest.got[-1].changes] == ["resolved"]
    assert rest.polled == 1  # poll goes down the chain


async def test_publish_waits_for_the_broker_then_saves_the_state() -> None:
    m, registry = s.metrics()
    incidents, candidates, assignments = s.ListSink(), s.ListSink(), s.ListSink()
    store = s.SavingStore()
    step, rest, _, _, _ = _engine_chain()
    step.next_step = Publish(
        SaveState(store), incidents=incidents, candidates=candidates, assignments=assignments, metrics=m
    )
    event = make_event("api", 5, "disk full", T0)
    record = s.event_record(event, offset=5, partition=4)

    await step.submit(Batch([Decoded(record, event)], Span.of([record])))
    [change] = incidents.sent
    incident_id = orjson.loads(change.value or b"")["incident"]["incidentId"]
    assert change.key == incident_id.encode()
    assert [orjson.loads(c.value or b"")["incidentId"] for c in candidates.sent] == [incident_id]
    [a] = assignments.sent
    assert a.partition == 4  # beside the records it covers
    assert Assignment.decode(a.value or b"").rows[0].incident_id == incident_id
    assert store.saves == 1
    assert s.value(registry, "aggregator_incident_changes_total", action="created") == 1
    assert rest.got == []  # the chain's rest was replaced by the real tail


async def test_a_record_too_large_for_its_topic_is_counted_and_skipped_but_anything_else_stops_the_save() -> None:
    m, registry = s.metrics()
    store = s.SavingStore()
    incidents = s.ListSink(fail=[MessageSizeTooLargeError()])
    tail = Publish(SaveState(store), incidents=incidents, candidates=s.ListSink(), assignments=None, metrics=m)
    engine = s.engine()
    engine.process(make_event("api", 5, "disk full", T0))
    changes = engine.flush()
    await tail.submit(Cycle(changes, []))
    assert store.saves == 1
    assert s.value(registry, "aggregator_publish_refused_total", what="incident") == 1
    incidents.fail.append(KafkaTimeoutError())
    with pytest.raises(KafkaTimeoutError):
        await tail.submit(Cycle(changes, []))
    assert store.saves == 1  # not saved: the input is replayed after the restart


async def test_an_invalid_command_is_dead_lettered_and_an_unknown_incident_is_counted() -> None:
    m, registry = s.metrics()
    dead, dlq = s.dead_letters(m)
    rest = Collect()
    commands = s.ListSink()
    step = Decode(
        ApplyCommands(rest, EngineContext(s.engine(), asyncio.Lock(), m, dead), commands=commands),
        IncidentCommand.model_validate_json,
        dead,
        "command",
    )
    unknown = IncidentCommand(
        commandId="cmd_1", incidentId="inc_nope", action="acknowledge", actor="alice", issuedAt=T0
    ).model_dump_json()
    await step.submit(
        [
            s.record(b'{"action": "explode"}', offset=0, topic="incident-commands", key=b"api"),
            s.record(unknown.encode(), offset=1, topic="incident-commands", key=b"api"),
        ]
    )
    [letter] = dlq.sent
    assert letter.headers["dlq-reason"].startswith(b"command: ")
    assert letter.headers["dlq-origin"] == b"incident-commands/0/0"
    assert s.value(registry, "aggregator_commands_total", result="unknown incident") == 1
    assert len(rest.got) == 1  # the cycle still runs (and saves) for the batch
    assert commands.sent == []


async def test_a_candidate_the_cross_key_stage_fails_on_is_dead_lettered_and_the_next_one_starts_clean() -> None:
    m, registry = s.metrics()
    dead, dlq = s.dead_letters(m)
    links = s.ListSink()
    state: dict[str, Any] = {}
    step = Decode(
        LinkCandidates(lambda: Linker(state, cascade_window=600.0), links, m, dead), parse_candidate, dead, "candidate"
    )
    engine = s.engine()
    engine.process(make_event("api", 5, "disk full", T0))
    engine.flush()
    [good] = engine.take_candidates()
    broken = {"incidentId": "inc_x", "routingKey": "x"}  # no status: the linker cannot read it
    await step.submit(
        [
            s.record(b"[1, 2]", offset=0, topic="candidates"),
            s.record(orjson.dumps(broken), offset=1, topic="candidates"),
            s.record(orjson.dumps(good), offset=2, topic="candidates"),
        ]
    )
    reasons = [d.headers["dlq-reason"] for d in dlq.sent]
    assert reasons[0].startswith(b"candidate: not an incident candidate")
    assert reasons[1].startswith(b"cascade: KeyError")
    assert list(state) == [f"c:{good['incidentId']}"]  # only the good candidate was saved
    assert s.value(registry, "aggregator_dead_letters_total", reason="failed") == 1


def test_a_record_knows_where_it_was_read() -> None:
    r = Record("events", 3, 42, None, b"{}", None)
    assert (r.source, r.origin) == ("events/3", "events/3/42")
