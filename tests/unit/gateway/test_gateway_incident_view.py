"""The gateway's incident view: what lists, open incidents and statistics are answered from."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from incident_shared.codec import dumps
from incident_shared.schemas import Incident
from ingest_gateway.incident_view import BadIncidentRecordError, IncidentFilter, IncidentView, incident_of

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def incident(incident_id: str, *, minutes_ago: float, version: int = 1, **extra: Any) -> dict[str, Any]:
    """An incident as the topic carries it (JSON-decoded, times as ISO strings)."""
    last = NOW - timedelta(minutes=minutes_ago)
    fields: dict[str, Any] = {
        "incidentId": incident_id,
        "version": version,
        "title": f"{incident_id}: Connection refused",
        "severityScore": 3,
        "affectedServices": ["checkout"],
        "eventCount": 5,
        "firstSeen": last - timedelta(minutes=5),
        "lastSeen": last,
        "createdAt": last - timedelta(minutes=5),
        "updatedAt": last,
        "routingKey": "checkout",
        "timeline": [{"minute": last, "service": "checkout", "count": 5, "maxSeverity": 3}],
    }
    fields.update(extra)
    decoded: dict[str, Any] = orjson.loads(dumps(Incident.model_validate(fields)))
    return decoded


def view_of(*incidents: dict[str, Any], max_age: timedelta = timedelta(days=30)) -> IncidentView:
    view = IncidentView(max_age, clock=lambda: NOW)
    for i in incidents:
        view.apply(i)
    return view


def ids(entries: list[Any]) -> list[str]:
    return [e.incident_id for e in entries]


def test_pages_go_from_the_most_recently_seen_back_with_a_cursor() -> None:
    view = view_of(*(incident(f"inc_{n:02d}", minutes_ago=n) for n in range(7)))
    first, last = view.page(IncidentFilter(), 3)
    assert ids(first) == ["inc_00", "inc_01", "inc_02"]
    assert last is not None
    second, last = view.page(IncidentFilter(), 3, (last.last_seen_ms, last.incident_id))
    assert ids(second) == ["inc_03", "inc_04", "inc_05"]
    assert last is not None
    third, last = view.page(IncidentFilter(), 3, (last.last_seen_ms, last.incident_id))
    assert ids(third) == ["inc_06"]
    assert last is None


def test_a_newer_version_moves_an_incident_and_an_older_one_is_ignored() -> None:
    view = view_of(incident("inc_a", minutes_ago=10), incident("inc_b", minutes_ago=5))
    assert view.apply(incident("inc_a", minutes_ago=1, version=2, status="acknowledged"))
    assert not view.apply(incident("inc_a", minutes_ago=30, version=1))
    page, _ = view.page(IncidentFilter(), 10)
    assert ids(page) == ["inc_a", "inc_b"]
    assert page[0].status == "acknowledged"
    assert len(view) == 2


def test_filters_match_as_the_api_documents_them() -> None:
    view = view_of(
        incident("inc_db", minutes_ago=1, severityScore=5, affectedServices=["postgres", "checkout"]),
        incident("inc_auth", minutes_ago=2, severityScore=2, affectedServices=["auth"], status="resolved"),
        incident("inc_merged", minutes_ago=3, mergedInto="inc_db"),
    )

    def find(**kw: Any) -> list[str]:
        return ids(view.page(IncidentFilter(**kw), 50)[0])

    assert find() == ["inc_db", "inc_auth"]
    assert find(include_merged=True) == ["inc_db", "inc_auth", "inc_merged"]
    assert find(services=frozenset({"postgres"})) == ["inc_db"]
    assert find(statuses=frozenset({"resolved"})) == ["inc_auth"]
    assert find(min_severity=3) == ["inc_db"]
    assert find(severities=frozenset({2})) == ["inc_auth"]
    assert find(text="inc_auth: connection") == ["inc_auth"]
    assert find(since=NOW - timedelta(seconds=90)) == ["inc_db"]
    # [from, to): started before `to` (first seen 6 and 7 minutes ago).
    assert find(until=NOW - timedelta(minutes=6, seconds=30)) == ["inc_auth"]


def test_lists_leave_out_the_per_incident_detail() -> None:
    view = view_of(incident("inc_a", minutes_ago=1, notes=[{"author": "a", "text": "x", "at": NOW}]))
    entry = view.get("inc_a")
    assert entry is not None
    listed = orjson.loads(entry.data)
    assert listed["incidentId"] == "inc_a"
    assert listed["lastSeen"] == "2026-11-30T11:59:00.000Z"
    assert not {"timeline", "templates", "sampleEvents", "notes"} & set(listed)
    assert {"aiGeneratedSummary", "rootCause", "suggestedActions", "affectedServices"} <= set(listed)


def test_open_incidents_are_the_most_severe_first_without_merged_ones() -> None:
    view = view_of(
        incident("inc_low", minutes_ago=1, severityScore=2),
        incident("inc_high", minutes_ago=9, severityScore=5, status="acknowledged"),
        incident("inc_done", minutes_ago=2, severityScore=5, status="resolved"),
        incident("inc_part", minutes_ago=2, severityScore=4, mergedInto="inc_high"),
    )
    assert ids(view.open_incidents(include_merged=False)) == ["inc_high", "inc_low"]
    assert ids(view.open_incidents(include_merged=True)) == ["inc_high", "inc_part", "inc_low"]
    view.apply(incident("inc_low", minutes_ago=0, version=2, status="resolved"))
    assert ids(view.open_incidents(include_merged=False)) == ["inc_high"]


def test_incidents_past_retention_are_dropped_and_stay_dropped() -> None:
    view = view_of(
        incident("inc_old", minutes_ago=60 * 24 * 31), incident("inc_new", minutes_ago=1), max_age=timedelta(days=30)
    )
    assert ids(view.page(IncidentFilter(), 10)[0]) == ["inc_new"]
    # Time passes: what ages out goes, and a redelivered older version cannot bring it back.
    later = IncidentView(timedelta(hours=1), clock=lambda: NOW)
    for i in (incident("inc_a", minutes_ago=50), incident("inc_b", minutes_ago=10)):
        later.apply(i)
    later.clock = lambda: NOW + timedelta(minutes=45)
    assert later.expire() == 1
    assert ids(later.page(IncidentFilter(), 10)[0]) == ["inc_b"]
    assert not later.apply(incident("inc_a", minutes_ago=50))


def test_statistics_count_a_cascade_once_with_mtta_and_mttr() -> None:
    view = view_of(
        incident("inc_root", minutes_ago=1, status="acknowledged", acknowledgedAt=NOW - timedelta(minutes=3)),
        incident("inc_child", minutes_ago=1, mergedInto="inc_root", acknowledgedAt=NOW - timedelta(minutes=3)),
        incident(
            "inc_fixed",
            minutes_ago=20,
            status="resolved",
            severityScore=5,
            acknowledgedAt=NOW - timedelta(minutes=23),
            resolvedAt=NOW - timedelta(minutes=15),
        ),
    )
    stats = view.stats(days=7)
    assert stats["byStatus"] == {"acknowledged": 1, "active": 0, "resolved": 1}
    assert stats["open"] == 1
    assert stats["bySeverity"] == {"1": 0, "2": 0, "3": 1, "4": 0, "5": 0}
    # First seen 6 and 25 minutes ago; acknowledged 3 and 23 minutes ago; resolved 15 minutes ago.
    assert stats["mttaSeconds"] == pytest.approx((180 + 120) / 2)
    assert stats["mttrSeconds"] == pytest.approx(600)


def test_a_tombstone_removes_the_incident() -> None:
    view = view_of(incident("inc_a", minutes_ago=1), incident("inc_b", minutes_ago=2))
    view.forget("inc_a")
    assert view.get("inc_a") is None
    assert ids(view.page(IncidentFilter(), 10)[0]) == ["inc_b"]
    assert ids(view.open_incidents(include_merged=False)) == ["inc_b"]


async def test_a_waiting_patch_gets_the_version_that_applied_its_command() -> None:
    view = view_of(incident("inc_a", minutes_ago=1))
    applied = view.expect_command("inc_a", "cmd_2")
    view.apply(incident("inc_a", minutes_ago=1, version=2, lastCommandId="cmd_1"))
    assert not applied.done()
    view.apply(incident("inc_a", minutes_ago=1, version=3, lastCommandId="cmd_2", status="acknowledged"))
    whole = orjson.loads(await asyncio.wait_for(applied, 1))
    assert whole["version"] == 3
    assert whole["status"] == "acknowledged"
    assert "timeline" in whole  # the whole incident, not the list form


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"not json", "not JSON"),
        (b'{"action": "updated"}', "no incident"),
        (b'{"incident": {"incidentId": "inc_x"}}', "missing field"),
        (b'{"incident": {"incidentId": "inc_x", "version": 1, "status": "gone", "severityScore": 3}}', "status"),
    ],
)
def test_a_record_that_is_not_an_incident_change_is_refused_with_the_reason(value: bytes, reason: str) -> None:
    view = IncidentView(timedelta(days=1), clock=lambda: NOW)

    def apply() -> None:
        view.apply(incident_of(value))

    with pytest.raises(BadIncidentRecordError, match=reason):
        apply()
    assert len(view) == 0
