import { describe, expect, it } from "vitest";
import { ApiClient, normalizeIncident } from "../api";
import type { LiveItem } from "../live/messages";
import { makeIncident } from "../test/factories";
import { createLiveStore } from "./liveStore";
import { openIncidentsSorted } from "./logic";

const inc = (overrides = {}): LiveItem => ({ kind: "incident", action: "updated", incident: makeIncident(overrides) });
const openIds = (store: ReturnType<typeof createLiveStore>) => openIncidentsSorted(store.getState().incidents).map((i) => i.incidentId);

describe("incidents merged into a cascade's root", () => {
  it("reads mergedInto and mergedIncidentIds, and treats documents without them as incidents of their own", () => {
    const merged = normalizeIncident({ incidentId: "inc_orders", version: 2, mergedInto: "inc_db" })!;
    expect(merged.mergedInto).toBe("inc_db");
    expect(merged.mergedIncidentIds).toEqual([]);
    const root = normalizeIncident({ incidentId: "inc_db", version: 3, mergedIncidentIds: ["inc_orders", 7, "inc_checkout"] })!;
    expect(root.mergedInto).toBeNull();
    expect(root.mergedIncidentIds).toEqual(["inc_orders", "inc_checkout"]);
    expect(normalizeIncident({ incidentId: "inc_old", version: 1 })!.mergedInto).toBeNull();
  });

  it("leaves merged incidents out of the open list, and brings one back when it is un-merged", () => {
    const store = createLiveStore();
    store.getState().applyItems([
      inc({ incidentId: "inc_db", version: 1, severityScore: 5 }),
      inc({ incidentId: "inc_orders", version: 1, severityScore: 4 }),
    ]);
    expect(openIds(store)).toEqual(["inc_db", "inc_orders"]);

    // The aggregator merges order-service's incident into the database's: the update drops it.
    store.getState().applyItems([
      inc({ incidentId: "inc_orders", version: 2, severityScore: 4, mergedInto: "inc_db" }),
      inc({ incidentId: "inc_db", version: 2, severityScore: 5, mergedIncidentIds: ["inc_orders"], affectedServices: ["postgres-orders", "order-service"] }),
    ]);
    expect(openIds(store)).toEqual(["inc_db"]);
    // Still known, for its own page.
    expect(store.getState().incidents.inc_orders!.mergedInto).toBe("inc_db");

    // The root resolved while order-service kept failing: it is an incident of its own again.
    store.getState().applyItems([
      inc({ incidentId: "inc_db", version: 3, status: "resolved", mergedIncidentIds: [] }),
      inc({ incidentId: "inc_orders", version: 3, severityScore: 4, mergedInto: null }),
    ]);
    expect(openIds(store)).toEqual(["inc_orders"]);
  });

  it("asks the API for merged incidents only when told to", async () => {
    const urls: string[] = [];
    const client = new ApiClient({
      baseUrl: "http://api",
      fetchImpl: (async (url: string) => {
        urls.push(url);
        return new Response(JSON.stringify({ success: true, data: [], nextCursor: null }), { status: 200 });
      }) as typeof fetch,
    });
    await client.listIncidents({ status: "resolved" });
    await client.listIncidents({ status: "resolved", includeMerged: true });
    expect(urls).toEqual(["http://api/api/incidents?status=resolved", "http://api/api/incidents?status=resolved&includeMerged=true"]);
  });
});
