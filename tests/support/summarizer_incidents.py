"""Incidents built from a few facts, and a settable clock: shared by the summarizer's test layers."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from incident_shared.schemas import Incident, IncidentChange
from incident_shared.schemas.incidents import SeverityFactor, TemplateCount, TimelinePoint

T0 = datetime(2026, 1, 31, 12, 0, tzinfo=UTC)

T0 = datetime(2026, 1, 31, 12, 0, tzinfo=UTC)


class FakeClock:
    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def template(
    fp: str, text: str, service: str = "payment-service", count: int = 10, error_type: str | None = None
) -> TemplateCount:
    return TemplateCount(
        fingerprint=fp,
        template=text,
        service=service,
        errorType=error_type,
        count=count,
        firstSeen=T0,
        lastSeen=T0 + timedelta(minutes=1),
    )


def make_incident(**overrides: Any) -> Incident:
    base: dict[str, Any] = {
        "incidentId": "inc_test0001",
        "version": 1,
        "title": "payment-service: Timeout after <NUM>ms calling <HOST>",
        "routingKey": "payments",
        "severityScore": 3,
        "severityFactors": [SeverityFactor(name="criticality", value=1, contribution=1.5, detail="tier 1")],
        "affectedServices": ["payment-service"],
        "probableOrigin": "payment-service",
        "eventCount": 5,
        "firstSeen": T0,
        "lastSeen": T0 + timedelta(minutes=1),
        "templates": [
            template(
                "fp_timeout",
                "Timeout after <NUM>ms calling db-primary:<NUM>",
                count=5,
                error_type="TimeoutError",
            )
        ],
        "timeline": [TimelinePoint(minute=T0, service="payment-service", count=5, maxSeverity=4)],
        "sampleEvents": [
            {
                "service": "payment-service",
                "severity": 4,
                "timestamp": "2026-01-31T12:00:01.000Z",
                "message": "Timeout after 5000ms calling db-primary:5432",
                "errorType": "TimeoutError",
            }
        ],
        "createdAt": T0,
        "updatedAt": T0,
    }
    base.update(overrides)
    return Incident.model_validate(base)


def change(incident: Incident, action: str = "updated") -> IncidentChange:
    return IncidentChange.model_validate({"action": action, "incident": incident, "emittedAt": incident.updatedAt})


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def incident_factory() -> Callable[..., Incident]:
    return make_incident


@pytest.fixture
def change_of() -> Callable[..., IncidentChange]:
    return change


@pytest.fixture
def template_factory() -> Callable[..., TemplateCount]:
    return template
