import { useMemo } from "react";
import type { EventStats, IncidentStats } from "../api";
import { formatCount, formatDuration } from "../format";
import { useNow } from "../hooks";
import { liveStore, useLive } from "../store/liveStore";
import { liveEventsPerMinute, openIncidentsSorted } from "../store/logic";

function Tile({ label, value, hint, testId, tone = "text-slate-50" }: { label: string; value: string; hint?: string; testId: string; tone?: string }) {
  return (
    <div className="rounded-lg border border-slate-800 bg-slate-900/70 px-4 py-3" data-testid={testId}>
      <p className="text-xs font-medium uppercase tracking-wide text-slate-400">{label}</p>
      <p className={`mt-1 text-2xl font-semibold tabular-nums ${tone}`}>{value}</p>
      {hint && <p className="mt-0.5 truncate text-xs text-slate-500">{hint}</p>}
    </div>
  );
}

/** Events/min, open incidents, MTTA and MTTR; the rate is re-read every second, not every frame. */
export function StatTiles({ incidentStats, eventStats }: { incidentStats: IncidentStats | null; eventStats: EventStats | null }) {
  const now = useNow(1000);
  const incidents = useLive((s) => s.incidents);
  const open = useMemo(() => openIncidentsSorted(incidents), [incidents]);
  const { liveMinutes, received, skipped, serverDropped } = liveStore.getState();
  const live = liveEventsPerMinute(liveMinutes, now);
  const perMinute = Math.max(live, eventStats?.eventsPerMinute ?? 0);
  const critical = open.filter((i) => i.severityScore >= 4).length;
  const acknowledged = open.filter((i) => i.status === "acknowledged").length;
  const lost = skipped + serverDropped;
  return (
    <div className="grid grid-cols-2 gap-3 lg:grid-cols-4">
      <Tile
        testId="tile-events-per-minute"
        label="Events / min"
        value={formatCount(perMinute)}
        hint={`${formatCount(received)} received live${lost ? `, ${formatCount(lost)} not shown (burst)` : ""}`}
      />
      <Tile
        testId="tile-active-incidents"
        label="Open incidents"
        value={String(open.length)}
        tone={critical ? "text-red-300" : "text-slate-50"}
        hint={`${critical} high or critical · ${acknowledged} acknowledged`}
      />
      <Tile testId="tile-mtta" label="MTTA" value={formatDuration(incidentStats?.mttaSeconds)} hint="mean time to acknowledge" />
      <Tile testId="tile-mttr" label="MTTR" value={formatDuration(incidentStats?.mttrSeconds)} hint="mean time to resolve" />
    </div>
  );
}
