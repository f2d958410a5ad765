import { describe, expect, it } from "vitest";
import { parseFrame } from "./messages";

const event = { eventId: "evt_1", service: "payment-service", severity: 4, timestamp: "2026-11-27T10:00:00Z", message: "Timeout" };
const incident = { incidentId: "inc_1", version: 2, status: "active", severityScore: 4, affectedServices: ["db"], firstSeen: "2026-11-27T10:00:00Z", lastSeen: "2026-11-27T10:01:00Z" };

describe("parseFrame", () => {
  it("reads the contract's event and incident messages", () => {
    const items = [
      ...parseFrame(JSON.stringify({ type: "event", data: event, timestamp: "x" })),
      ...parseFrame(JSON.stringify({ type: "incident", action: "summary_updated", data: incident })),
    ];
    expect(items.map((i) => i.kind)).toEqual(["event", "incident"]);
    expect(items[1]).toMatchObject({ action: "summary_updated", incident: { incidentId: "inc_1", version: 2, templates: [] } });
  });

  it("unpacks coalesced frames, in order, with a drop count", () => {
    const frame = {
      type: "batch",
      messages: [{ type: "event", data: event }, { type: "incident", action: "created", data: incident }, { ...event, eventId: "evt_2" }],
      dropped: 7,
    };
    expect(parseFrame(JSON.stringify(frame)).map((i) => i.kind)).toEqual(["event", "incident", "event", "dropped"]);
    expect(parseFrame(JSON.stringify({ type: "events", data: [event, event] }))).toHaveLength(2);
  });

  it("reads a snapshot of active incidents in either spelling", () => {
    for (const msg of [
      { type: "snapshot", data: [incident] },
      { type: "snapshot", data: { incidents: [incident] } },
      { type: "active_incidents", incidents: [incident] },
    ]) {
      const items = parseFrame(JSON.stringify(msg));
      expect(items).toHaveLength(1);
      expect(items[0]).toMatchObject({ kind: "snapshot", incidents: [{ incidentId: "inc_1" }] });
    }
  });

  it("ignores heartbeats, unknown types, garbage and events without an id", () => {
    expect(parseFrame(JSON.stringify({ type: "heartbeat", timestamp: "x" }))).toEqual([]);
    expect(parseFrame(JSON.stringify({ type: "something-new", data: {} }))).toEqual([]);
    expect(parseFrame("not json")).toEqual([]);
    expect(parseFrame(JSON.stringify({ type: "event", data: { service: "x" } }))).toEqual([]);
  });

  it("reads newline-separated messages in one frame", () => {
    const text = `${JSON.stringify({ type: "event", data: event })}\n${JSON.stringify({ type: "dropped", count: 3 })}`;
    expect(parseFrame(text).map((i) => i.kind)).toEqual(["event", "dropped"]);
  });

  it("reports a server error message", () => {
    expect(parseFrame(JSON.stringify({ type: "error", error: { code: "bad", message: "unknown channel" } }))).toEqual([
      { kind: "error", message: "unknown channel" },
    ]);
    expect(parseFrame(JSON.stringify({ type: "error", error: "a message must be a JSON object" }))).toEqual([
      { kind: "error", message: "a message must be a JSON object" },
    ]);
  });
});
