import { renderToStaticMarkup } from "react-dom/server";
import { MemoryRouter } from "react-router";
import { describe, expect, it } from "vitest";
import { makeIncident } from "../test/factories";
import { MergeNotice } from "./MergeNotice";

const render = (overrides: Record<string, unknown>) =>
  renderToStaticMarkup(
    <MemoryRouter>
      <MergeNotice incident={makeIncident(overrides)} />
    </MemoryRouter>,
  );

describe("MergeNotice", () => {
  it("links a merged incident to the root that stands for it", () => {
    const html = render({ incidentId: "inc_orders", mergedInto: "inc_db" });
    expect(html).toContain('data-testid="merged-into"');
    expect(html).toContain("Merged into");
    expect(html).toContain('href="/incidents/inc_db"');
  });

  it("lists the incidents merged into a root, each a link", () => {
    const html = render({ incidentId: "inc_db", mergedIncidentIds: ["inc_orders", "inc_checkout"] });
    expect(html).toContain("Merged incidents (2)");
    expect(html).toContain('href="/incidents/inc_orders"');
    expect(html).toContain('href="/incidents/inc_checkout"');
  });

  it("shows nothing for an incident outside any cascade", () => {
    expect(render({})).toBe("");
  });
});
