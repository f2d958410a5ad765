import { useMemo, useState } from "react";
import { api } from "../api";
import { EventStream } from "../components/EventStream";
import { ErrorMessage, Panel } from "../components/Feedback";
import { IncidentList } from "../components/IncidentList";
import { StatTiles } from "../components/StatTiles";
import { TimelineChart } from "../components/TimelineChart";
import { useLoader } from "../hooks";
import { useLive } from "../store/liveStore";
import { filterIncidents, openIncidentsSorted } from "../store/logic";

/** What an on-call engineer watches: tiles, open incidents, the timeline and the live stream. */
export function Overview() {
  const incidents = useLive((s) => s.incidents);
  const [query, setQuery] = useState("");
  const open = useMemo(() => openIncidentsSorted(incidents), [incidents]);
  const shown = useMemo(() => filterIncidents(open, query), [open, query]);
  // Counts change with every incident change; refetch the stats on a gentle timer instead.
  const incidentStats = useLoader(() => api.incidentStats(), [], 15_000);
  const eventStats = useLoader(() => api.eventStats(60), [], 15_000);

  return (
    <div className="flex flex-col gap-3">
      <StatTiles incidentStats={incidentStats.data} eventStats={eventStats.data} />
      {incidentStats.error && <ErrorMessage title="Incident statistics unavailable" error={incidentStats.error} onRetry={incidentStats.reload} />}
      <div className="grid gap-3 xl:grid-cols-[minmax(0,5fr)_minmax(0,7fr)]">
        <Panel
          id="open-incidents"
          title={`Open incidents (${open.length})`}
          actions={
            <input
              type="search"
              className="input w-48 py-1"
              placeholder="Filter by service or title…"
              aria-label="Filter open incidents by service or title"
              value={query}
              onChange={(e) => setQuery(e.target.value)}
              data-testid="incident-filter"
            />
          }
        >
          <IncidentList
            incidents={shown}
            height={640}
            label="Open incidents, most severe first"
            empty={open.length ? "No open incident matches the filter." : "No open incident. All quiet."}
          />
        </Panel>
        <div className="flex min-w-0 flex-col gap-3">
          <Panel id="timeline" title="Events per minute by severity" actions={<span className="text-xs text-slate-500">last 60 min</span>}>
            {eventStats.error && <ErrorMessage title="Event statistics unavailable (showing live counts only)" error={eventStats.error} onRetry={eventStats.reload} />}
            <TimelineChart rollups={eventStats.data?.perMinute ?? []} />
          </Panel>
          <Panel id="stream" title="Live events">
            <EventStream height={330} />
          </Panel>
        </div>
      </div>
    </div>
  );
}
