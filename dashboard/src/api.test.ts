import { describe, expect, it } from "vitest";
import { ApiClient, ApiError, normalizeIncident } from "./api";

function fakeFetch(status: number, body: unknown, seen: { url?: string; init?: RequestInit } = {}): typeof fetch {
  return (async (url: string, init?: RequestInit) => {
    seen.url = url;
    seen.init = init;
    return new Response(typeof body === "string" ? body : JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
  }) as typeof fetch;
}

describe("ApiClient", () => {
  it("turns an error answer into an ApiError with the server's code and message", async () => {
    const client = new ApiClient({
      baseUrl: "http://api",
      fetchImpl: fakeFetch(404, { success: false, error: { code: "not_found", message: "no incident 'inc_x'" } }),
    });
    const err = await client.getIncident("inc_x").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).describe()).toBe("404 not_found: no incident 'inc_x'");
  });

  it("reports an unreachable API as a network error naming the address", async () => {
    const client = new ApiClient({
      baseUrl: "http://api",
      fetchImpl: (async () => {
        throw new TypeError("fetch failed");
      }) as typeof fetch,
    });
    const err = (await client.activeIncidents().catch((e: unknown) => e)) as ApiError;
    expect(err.code).toBe("network_error");
    expect(err.message).toContain("http://api");
  });

  it("reports a non-JSON error page with its HTTP status", async () => {
    const client = new ApiClient({ baseUrl: "http://api", fetchImpl: fakeFetch(502, "<html>Bad gateway</html>") });
    const err = (await client.incidentStats().catch((e: unknown) => e)) as ApiError;
    expect(err.status).toBe(502);
    expect(err.code).toBe("http_502");
  });

  it("sends filters as query parameters, leaving empty ones out, and reads the cursor", async () => {
    const seen: { url?: string } = {};
    const client = new ApiClient({ baseUrl: "http://api/", fetchImpl: fakeFetch(200, { success: true, data: [], nextCursor: "abc" }, seen) });
    const page = await client.listIncidents({ status: "resolved", service: "", minSeverity: 4, limit: 50, cursor: null });
    expect(seen.url).toBe("http://api/api/incidents?status=resolved&minSeverity=4&limit=50");
    expect(page.nextCursor).toBe("abc");
  });

  it("sends a PATCH command as JSON and returns the updated incident", async () => {
    const seen: { init?: RequestInit } = {};
    const client = new ApiClient({
      baseUrl: "http://api",
      fetchImpl: fakeFetch(200, { success: true, data: { incidentId: "inc_1", version: 4, status: "acknowledged", severityScore: 3 } }, seen),
    });
    const incident = await client.updateIncident("inc_1", { action: "acknowledge", actor: "ana" });
    expect(seen.init?.method).toBe("PATCH");
    expect(JSON.parse(String(seen.init?.body))).toEqual({ action: "acknowledge", actor: "ana" });
    expect(incident?.status).toBe("acknowledged");
  });
});

describe("normalizeIncident", () => {
  it("fills lists and optional fields an older or partial producer left out", () => {
    const incident = normalizeIncident({ incidentId: "inc_1", version: 2, severityScore: 9, status: "weird", firstSeen: "2026-11-27T10:00:00Z" })!;
    expect(incident.status).toBe("active");
    expect(incident.severityScore).toBe(5);
    expect(incident.templates).toEqual([]);
    expect(incident.lastSeen).toBe("2026-11-27T10:00:00Z");
    expect(incident.summaryKind).toBeNull();
  });

  it("rejects something that is not an incident", () => {
    expect(normalizeIncident({ status: "active" })).toBeNull();
    expect(normalizeIncident("inc_1")).toBeNull();
  });
});

describe("ApiClient with a token", () => {
  it("sends it as a bearer token on every request", async () => {
    const seen: Array<[string, RequestInit | undefined]> = [];
    const fetchImpl = (async (input: RequestInfo | URL, init?: RequestInit) => {
      seen.push([String(input), init]);
      return new Response(JSON.stringify({ success: true, data: [] }), { status: 200 });
    }) as typeof fetch;
    const client = new ApiClient({ baseUrl: "http://api", fetchImpl, token: () => "reader-1" });
    await client.activeIncidents();
    expect((seen[0]?.[1]?.headers as Record<string, string>).Authorization).toBe("Bearer reader-1");
  });

  it("asks for a token when the API answers 401", async () => {
    const { tokenRequired, setToken } = await import("./auth");
    setToken(null);
    const client = new ApiClient({
      baseUrl: "http://api",
      fetchImpl: (async () =>
        new Response(JSON.stringify({ success: false, error: { code: "unauthorized", message: "reading needs a token" } }), { status: 401 })) as typeof fetch,
      token: () => null,
    });
    await expect(client.activeIncidents()).rejects.toMatchObject({ status: 401, code: "unauthorized" });
    expect(tokenRequired()).toBe(true);
  });
});
