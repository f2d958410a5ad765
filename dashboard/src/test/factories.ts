/** Small builders for test data, shaped like the API's incidents and events. */
import { normalizeIncident, type Incident, type PlatformEvent } from "../api";

let seq = 0;

export function makeEvent(overrides: Partial<PlatformEvent> = {}): PlatformEvent {
  seq += 1;
  return {
    eventId: `evt_${seq}`,
    service: "payment-service",
    severity: 3,
    timestamp: "2026-11-27T10:00:30.000Z",
    message: `Timeout after ${seq}ms calling db-primary`,
    ...overrides,
  };
}

export function makeIncident(overrides: Record<string, unknown> = {}): Incident {
  const incident = normalizeIncident({
    incidentId: "inc_1",
    version: 1,
    status: "active",
    title: "db-primary connection failures",
    severityScore: 3,
    affectedServices: ["db-primary"],
    eventCount: 10,
    firstSeen: "2026-11-27T10:00:00Z",
    lastSeen: "2026-11-27T10:05:00Z",
    createdAt: "2026-11-27T10:00:00Z",
    updatedAt: "2026-11-27T10:05:00Z",
    ...overrides,
  });
  if (!incident) throw new Error("bad test incident");
  return incident;
}
