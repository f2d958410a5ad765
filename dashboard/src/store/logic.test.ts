import { describe, expect, it } from "vitest";
import type { MinuteStats } from "../api";
import { makeEvent, makeIncident } from "../test/factories";
import {
  countByMinute,
  filterIncidents,
  liveEventsPerMinute,
  mergeIncidents,
  prependBounded,
  pruneResolved,
  timelineRows,
  toggleSeverity,
  DEFAULT_FILTER,
} from "./logic";

describe("prependBounded", () => {
  it("puts the batch's last event first and trims to the bound", () => {
    const old = [makeEvent({ eventId: "evt_old" })];
    const batch = [makeEvent({ eventId: "evt_1" }), makeEvent({ eventId: "evt_2" })];
    expect(prependBounded(old, batch, 2).map((e) => e.eventId)).toEqual(["evt_2", "evt_1"]);
    expect(prependBounded(old, batch, 10).map((e) => e.eventId)).toEqual(["evt_2", "evt_1", "evt_old"]);
  });

  it("handles a batch larger than the buffer", () => {
    const batch = Array.from({ length: 50 }, (_, i) => makeEvent({ eventId: `evt_${i}` }));
    const out = prependBounded([], batch, 5);
    expect(out.map((e) => e.eventId)).toEqual(["evt_49", "evt_48", "evt_47", "evt_46", "evt_45"]);
  });
});

describe("mergeIncidents", () => {
  it("returns the same map when every change is stale", () => {
    const map = mergeIncidents({}, [makeIncident({ version: 3 })]);
    expect(mergeIncidents(map, [makeIncident({ version: 3 }), makeIncident({ version: 1 })])).toBe(map);
  });

  it("keeps at most the given number of resolved incidents, the most recent ones", () => {
    const map = Object.fromEntries(
      Array.from({ length: 5 }, (_, i) => [
        `inc_${i}`,
        makeIncident({ incidentId: `inc_${i}`, status: "resolved", updatedAt: `2026-11-27T10:0${i}:00Z` }),
      ]),
    );
    map.inc_open = makeIncident({ incidentId: "inc_open", updatedAt: "2026-11-27T09:00:00Z" });
    expect(Object.keys(pruneResolved(map, 2)).sort()).toEqual(["inc_3", "inc_4", "inc_open"]);
  });
});

describe("the timeline", () => {
  const now = Date.parse("2026-11-27T10:02:30Z");

  it("counts live events per minute of event time and severity", () => {
    const buckets = countByMinute({}, [
      makeEvent({ timestamp: "2026-11-27T10:01:10Z", severity: 5 }),
      makeEvent({ timestamp: "2026-11-27T10:01:50Z", severity: 5 }),
      makeEvent({ timestamp: "2026-11-27T10:02:05Z", severity: 2 }),
    ]);
    expect(buckets[Date.parse("2026-11-27T10:01:00Z")]).toEqual({ "5": 2 });
    expect(buckets[Date.parse("2026-11-27T10:02:00Z")]).toEqual({ "2": 1 });
  });

  it("keeps only the newest minutes", () => {
    const events = Array.from({ length: 10 }, (_, i) => makeEvent({ timestamp: `2026-11-27T10:0${i}:00Z` }));
    const buckets = countByMinute({}, events, 3);
    expect(Object.keys(buckets).map(Number).sort()).toEqual(
      ["07", "08", "09"].map((m) => Date.parse(`2026-11-27T10:${m}:00Z`)),
    );
  });

  it("takes the larger of the API's rollup and the live count for each minute, never the sum", () => {
    const live = countByMinute({}, [
      makeEvent({ timestamp: "2026-11-27T10:02:01Z", severity: 4 }),
      makeEvent({ timestamp: "2026-11-27T10:02:02Z", severity: 4 }),
    ]);
    const rollups: MinuteStats[] = [
      { minute: "2026-11-27T10:01:00Z", total: 7, bySeverity: { "3": 7 }, byService: {} },
      { minute: "2026-11-27T10:02:00Z", total: 1, bySeverity: { "4": 1 }, byService: {} },
    ];
    const rows = timelineRows(rollups, live, now, 3);
    expect(rows.map((r) => r.total)).toEqual([0, 7, 2]);
    expect(rows[2]!.s4).toBe(2);
    expect(rows[1]!.s3).toBe(7);
  });

  it("estimates events per minute over the trailing minute", () => {
    const live = countByMinute({}, [
      ...Array.from({ length: 60 }, () => makeEvent({ timestamp: "2026-11-27T10:01:30Z" })),
      ...Array.from({ length: 30 }, () => makeEvent({ timestamp: "2026-11-27T10:02:10Z" })),
    ]);
    // Half of the previous minute (30) plus the current minute so far (30).
    expect(liveEventsPerMinute(live, now)).toBe(60);
  });
});

describe("incident filter", () => {
  it("matches the title, the id or any affected service", () => {
    const list = [
      makeIncident({ incidentId: "inc_a", title: "Timeouts calling db", affectedServices: ["orders"] }),
      makeIncident({ incidentId: "inc_b", title: "Certificate expired", affectedServices: ["auth-service"] }),
    ];
    expect(filterIncidents(list, "AUTH").map((i) => i.incidentId)).toEqual(["inc_b"]);
    expect(filterIncidents(list, "timeouts").map((i) => i.incidentId)).toEqual(["inc_a"]);
    expect(filterIncidents(list, "inc_").length).toBe(2);
    expect(filterIncidents(list, " ")).toBe(list);
  });
});

describe("severity filter", () => {
  it("toggles one severity off and on again", () => {
    const off = toggleSeverity(DEFAULT_FILTER, 2);
    expect(off.severities).toEqual([1, 3, 4, 5]);
    expect(toggleSeverity(off, 2).severities).toEqual([1, 2, 3, 4, 5]);
  });
});
