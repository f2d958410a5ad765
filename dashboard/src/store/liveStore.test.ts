import { describe, expect, it } from "vitest";
import type { LiveItem } from "../live/messages";
import { makeEvent, makeIncident } from "../test/factories";
import { createLiveStore } from "./liveStore";
import { filterEvents, openIncidentsSorted } from "./logic";

const ev = (overrides = {}): LiveItem => ({ kind: "event", event: makeEvent(overrides) });
const inc = (overrides = {}, action = "updated"): LiveItem => ({ kind: "incident", action, incident: makeIncident(overrides) });

describe("incidents merged by version", () => {
  it("keeps the newest version when changes arrive out of order", () => {
    const store = createLiveStore();
    store.getState().applyItems([inc({ version: 3, status: "acknowledged", assignee: "ana" })]);
    store.getState().applyItems([inc({ version: 2, status: "active", assignee: null })]);
    const incident = store.getState().incidents.inc_1!;
    expect(incident.version).toBe(3);
    expect(incident.status).toBe("acknowledged");
    expect(incident.assignee).toBe("ana");
  });

  it("applies a newer version, including one from a PATCH answer", () => {
    const store = createLiveStore();
    store.getState().applyItems([inc({ version: 1 })]);
    store.getState().upsertIncidents([makeIncident({ version: 2, status: "resolved" })]);
    expect(store.getState().incidents.inc_1!.status).toBe("resolved");
    // The broadcaster's copy of the older version arriving afterwards changes nothing.
    store.getState().applyItems([inc({ version: 1, status: "active" })]);
    expect(store.getState().incidents.inc_1!.status).toBe("resolved");
  });

  it("takes the highest version within one frame, whatever the order", () => {
    const store = createLiveStore();
    store.getState().applyItems([
      inc({ version: 5, severityScore: 5 }),
      inc({ version: 4, severityScore: 2 }),
      inc({ incidentId: "inc_2", version: 1 }),
    ]);
    expect(store.getState().incidents.inc_1!.severityScore).toBe(5);
    expect(Object.keys(store.getState().incidents).sort()).toEqual(["inc_1", "inc_2"]);
  });

  it("does not notify subscribers for a stale change", () => {
    const store = createLiveStore();
    store.getState().applyItems([inc({ version: 2 })]);
    const before = store.getState().incidents;
    store.getState().applyItems([inc({ version: 1 })]);
    expect(store.getState().incidents).toBe(before);
  });

  it("drops open incidents that a snapshot on reconnect no longer lists", () => {
    const store = createLiveStore();
    store.getState().applyItems([inc({ incidentId: "inc_gone", version: 4 }), inc({ incidentId: "inc_kept", version: 1 })]);
    store.getState().applyItems([{ kind: "snapshot", complete: true, incidents: [makeIncident({ incidentId: "inc_kept", version: 2 })] }]);
    const incidents = store.getState().incidents;
    expect(incidents.inc_gone).toBeUndefined();
    expect(incidents.inc_kept!.version).toBe(2);
  });

  it("only merges a partial snapshot, closing nothing", () => {
    const store = createLiveStore();
    store.getState().applyItems([inc({ incidentId: "inc_other", version: 1 })]);
    store.getState().applyItems([{ kind: "snapshot", complete: false, incidents: [makeIncident({ incidentId: "inc_new" })] }]);
    expect(Object.keys(store.getState().incidents).sort()).toEqual(["inc_new", "inc_other"]);
  });

  it("lists open incidents most severe first and leaves resolved ones out", () => {
    const store = createLiveStore();
    store.getState().applyItems([
      inc({ incidentId: "inc_low", severityScore: 2 }),
      inc({ incidentId: "inc_high", severityScore: 5 }),
      inc({ incidentId: "inc_done", severityScore: 5, status: "resolved" }),
      inc({ incidentId: "inc_ack", severityScore: 5, status: "acknowledged" }),
    ]);
    expect(openIncidentsSorted(store.getState().incidents).map((i) => i.incidentId)).toEqual(["inc_high", "inc_ack", "inc_low"]);
  });
});

describe("the event buffer", () => {
  it("keeps the newest events first and never more than its size", () => {
    const store = createLiveStore(100);
    for (let batch = 0; batch < 5; batch++) {
      store.getState().applyItems(Array.from({ length: 30 }, (_, i) => ev({ eventId: `evt_${batch}_${i}` })));
    }
    const { events, received } = store.getState();
    expect(events).toHaveLength(100);
    expect(events[0]!.eventId).toBe("evt_4_29");
    expect(events[99]!.eventId).toBe("evt_1_20");
    expect(received).toBe(150);
  });

  it("holds still while paused and counts what arrived meanwhile", () => {
    const store = createLiveStore(10);
    store.getState().applyItems([ev({ eventId: "evt_a" })]);
    store.getState().setPaused(true);
    store.getState().applyItems(Array.from({ length: 20 }, () => ev()));
    const state = store.getState();
    expect(state.frozen!.map((e) => e.eventId)).toEqual(["evt_a"]);
    expect(state.events).toHaveLength(10);
    expect(state.received - state.receivedAtPause).toBe(20);
    store.getState().setPaused(false);
    expect(store.getState().frozen).toBeNull();
  });

  it("counts events the server dropped for this client", () => {
    const store = createLiveStore();
    store.getState().applyItems([{ kind: "dropped", count: 42 }]);
    expect(store.getState().serverDropped).toBe(42);
  });

  it("learns service names from events and incidents", () => {
    const store = createLiveStore();
    store.getState().applyItems([ev({ service: "checkout" }), inc({ affectedServices: ["db-primary", "checkout"] })]);
    expect(store.getState().services).toEqual(["checkout", "db-primary"]);
  });
});

describe("stream filters", () => {
  it("filters by service, severity and text together", () => {
    const store = createLiveStore();
    store.getState().applyItems([
      ev({ eventId: "evt_pay_crit", service: "payment", severity: 5, message: "DB down" }),
      ev({ eventId: "evt_pay_info", service: "payment", severity: 1, message: "ok" }),
      ev({ eventId: "evt_auth_crit", service: "auth", severity: 5, message: "DB down" }),
      ev({ eventId: "evt_pay_warn", service: "payment", severity: 4, message: "slow query" }),
    ]);
    store.getState().setFilter({ service: "payment", severities: [4, 5] });
    const ids = (f = store.getState().filter) => filterEvents(store.getState().events, f).map((e) => e.eventId);
    expect(ids()).toEqual(["evt_pay_warn", "evt_pay_crit"]);
    store.getState().setFilter({ text: "db" });
    expect(ids()).toEqual(["evt_pay_crit"]);
    store.getState().resetFilter();
    expect(ids()).toHaveLength(4);
  });
});
