import { describe, expect, it } from "vitest";
import { fetchHealth, readHealth } from "./health";

const STALLED =
  "RuntimeError: incidents are not being updated: no aggregator is running (consumer group 'aggregator' has no members); 40 events wait in 'events'. Start the aggregator; it resumes where it stopped";

describe("readHealth", () => {
  it("finds incidents not being updated among the gateway's problems", () => {
    const health = readHealth({ status: "degraded", ready: true, problems: { aggregator: STALLED } });
    expect(health.incidentsStalled).toMatch(/^incidents are not being updated: no aggregator is running/);
    expect(health.otherProblems).toEqual({});
  });

  it("names the other dependencies that are down", () => {
    const health = readHealth({ status: "degraded", problems: { mongodb: "ServerSelectionTimeoutError: refused", kafka: 3 } });
    expect(health.incidentsStalled).toBeNull();
    expect(health.otherProblems).toEqual({ mongodb: "refused", kafka: "down" });
  });

  it("treats a healthy or unexpected answer as no news", () => {
    expect(readHealth({ status: "ok", problems: {} })).toEqual({ incidentsStalled: null, otherProblems: {} });
    expect(readHealth({ status: "ready" })).toEqual({ incidentsStalled: null, otherProblems: {} });
    expect(readHealth(null)).toEqual({ incidentsStalled: null, otherProblems: {} });
    expect(readHealth({ problems: ["aggregator"] })).toEqual({ incidentsStalled: null, otherProblems: {} });
  });
});

describe("fetchHealth", () => {
  it("asks the gateway's /health and reads it", async () => {
    const asked: string[] = [];
    const fake = (async (input: RequestInfo | URL) => {
      asked.push(String(input));
      return new Response(JSON.stringify({ status: "degraded", problems: { aggregator: STALLED } }), { status: 200 });
    }) as typeof fetch;
    const health = await fetchHealth("http://api.test:5000/", fake);
    expect(asked).toEqual(["http://api.test:5000/health"]);
    expect(health.incidentsStalled).toContain("40 events wait");
  });

  it("fails on an answer that is not 200, so the indicator shows nothing stale", async () => {
    const fake = (async () => new Response("bad gateway", { status: 502 })) as typeof fetch;
    await expect(fetchHealth("http://api.test", fake)).rejects.toThrow("GET /health answered 502");
  });
});
