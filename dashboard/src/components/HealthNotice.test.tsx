import { renderToStaticMarkup } from "react-dom/server";
import { describe, expect, it } from "vitest";
import { HealthNotice } from "./HealthNotice";

describe("HealthNotice", () => {
  it("says that incidents are not updating, with the reason for a tooltip and screen readers", () => {
    const reason = "incidents are not being updated: the aggregator has processed nothing for 75s while 900 events wait";
    const html = renderToStaticMarkup(<HealthNotice health={{ incidentsStalled: reason, otherProblems: { mongodb: "down" } }} />);
    expect(html).toContain('data-status="stalled"');
    expect(html).toContain('role="alert"');
    expect(html).toContain("Incidents not updating");
    expect(html).toContain(`title="${reason}"`);
    expect(html).toContain("900 events wait");
  });

  it("names other dependencies that are down", () => {
    const html = renderToStaticMarkup(<HealthNotice health={{ incidentsStalled: null, otherProblems: { mongodb: "refused", kafka: "timeout" } }} />);
    expect(html).toContain('data-status="degraded"');
    expect(html).toContain("Degraded: kafka, mongodb");
    expect(html).toContain("mongodb: refused");
  });

  it("shows nothing while all is well or before the first answer", () => {
    expect(renderToStaticMarkup(<HealthNotice health={{ incidentsStalled: null, otherProblems: {} }} />)).toBe("");
    expect(renderToStaticMarkup(<HealthNotice health={null} />)).toBe("");
  });
});
