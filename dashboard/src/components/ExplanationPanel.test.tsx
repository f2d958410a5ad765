import { renderToStaticMarkup } from "react-dom/server";
import { MemoryRouter } from "react-router";
import { describe, expect, it } from "vitest";
import { normalizeExplanation } from "../api";
import { makeIncident } from "../test/factories";
import { ExplanationPanel } from "./ExplanationPanel";

// An explanation as the aggregator publishes it (see Incident.explanation in the OpenAPI document).
const explanation = {
  opened: { rule: "departure", detail: "12 failures within 10 min (threshold 3), a departure from its baseline", score: 0.00002 },
  joined: [
    {
      fingerprint: "fp_a",
      service: "orders-db",
      template: "too many connections",
      at: "2026-11-27T10:00:00Z",
      rule: "departure",
      detail: "12 failures within 10 min",
    },
    {
      fingerprint: "fp_b",
      service: "orders-db",
      template: "could not accept connection: too many connections for role <*>",
      at: "2026-11-27T10:01:00Z",
      rule: "similar-words",
      detail: 'orders-db fails in similar words: "connections", "many" (similarity 0.40, at least 0.30)',
      score: 0.4,
      evidence: ["connections", "many"],
    },
  ],
  merged: [{ incidentId: "inc_orders", rule: "names-service", detail: "messages of order-service name \"orders-db\"", evidence: ["orders-db"] }],
  notMerged: [{ incidentId: "inc_cert", service: "orders-db", rule: "different-failure", detail: "orders-db also fails in inc_cert, in other words: similarity 0.05", score: 0.05 }],
  history: [{ what: "flapping", at: "2026-11-27T10:30:00Z", detail: "3 cycles of failing and recovering: marked flapping" }],
};

const render = (overrides: Record<string, unknown>) =>
  renderToStaticMarkup(
    <MemoryRouter>
      <ExplanationPanel incident={makeIncident(overrides)} />
    </MemoryRouter>,
  );

describe("ExplanationPanel", () => {
  it("shows why the incident opened, why each template joined, what was merged and what was not", () => {
    const html = render({ explanation });
    expect(html).toContain("departure from baseline");
    expect(html).toContain("a departure from its baseline");
    expect(html).toContain("could not accept connection: too many connections for role &lt;*&gt;");
    expect(html).toContain("similar words");
    expect(html).toContain("similarity 0.40");
    expect(html).toContain('href="/incidents/inc_orders"');
    expect(html).toContain('href="/incidents/inc_cert"');
    expect(html).toContain("a different failure");
    expect(html).toContain("marked flapping");
    for (const section of ["why-opened", "why-joined", "why-merged", "why-not-merged", "why-history"]) {
      expect(html).toContain(`data-testid="${section}"`);
    }
  });

  it("says so when an incident carries no explanation", () => {
    expect(render({})).toContain("No explanation was recorded");
  });
});

describe("normalizeExplanation", () => {
  it("keeps what the views need and drops malformed entries", () => {
    const normalized = normalizeExplanation({ ...explanation, joined: [...explanation.joined, "junk"], merged: [{ rule: "x" }] })!;
    expect(normalized.opened?.rule).toBe("departure");
    expect(normalized.joined).toHaveLength(2);
    expect(normalized.joined[1]!.evidence).toEqual(["connections", "many"]);
    expect(normalized.joined[0]!.score).toBeNull();
    expect(normalized.merged).toEqual([]);
    expect(normalizeExplanation(null)).toBeNull();
  });
});
