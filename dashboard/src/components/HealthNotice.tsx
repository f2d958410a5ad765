import type { PlatformHealth } from "../live/health";

/**
 * Beside the live feed's state: what the feed alone cannot show. Incidents not being updated comes
 * first (the stream of events may look perfectly alive meanwhile); other dependencies that are down
 * are named. The full reason is in the tooltip and for screen readers.
 */
export function HealthNotice({ health }: { health: PlatformHealth | null }) {
  if (!health) return null;
  if (health.incidentsStalled) {
    return (
      <span
        role="alert"
        data-testid="pipeline-health"
        data-status="stalled"
        title={health.incidentsStalled}
        className="inline-flex max-w-[28rem] items-center gap-2 rounded-full bg-red-950 px-2.5 py-1 text-red-200 ring-1 ring-red-700"
      >
        <span aria-hidden="true" className="h-2.5 w-2.5 shrink-0 rounded-full bg-red-500" />
        <span className="shrink-0">Incidents not updating</span>
        <span className="sr-only">: {health.incidentsStalled}</span>
      </span>
    );
  }
  const down = Object.keys(health.otherProblems).sort();
  if (down.length === 0) return null;
  const reasons = down.map((name) => `${name}: ${health.otherProblems[name]}`).join("\n");
  return (
    <span
      role="status"
      data-testid="pipeline-health"
      data-status="degraded"
      title={reasons}
      className="inline-flex items-center gap-2 rounded-full bg-amber-950 px-2.5 py-1 text-amber-200 ring-1 ring-amber-700"
    >
      <span aria-hidden="true" className="h-2.5 w-2.5 rounded-full bg-amber-400" />
      <span>Degraded: {down.join(", ")}</span>
      <span className="sr-only">{reasons}</span>
    </span>
  );
}
