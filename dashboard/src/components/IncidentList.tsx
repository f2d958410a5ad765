import { useMemo } from "react";
import { Link } from "react-router";
import { List, type RowComponentProps } from "react-window";
import type { Incident } from "../api";
import { formatAge, formatCount } from "../format";
import { useNow } from "../hooks";
import { ServiceChip, SeverityBadge, StatusBadge } from "./SeverityBadge";

const ROW_HEIGHT = 86;

interface RowProps {
  incidents: readonly Incident[];
  now: number;
}

function IncidentRow({ index, style, ariaAttributes, incidents, now }: RowComponentProps<RowProps>) {
  const incident = incidents[index]!;
  return (
    <div style={style} {...ariaAttributes} className="px-1 py-1">
      <Link
        to={`/incidents/${encodeURIComponent(incident.incidentId)}`}
        className="flex h-full flex-col justify-between rounded-md border border-slate-800 bg-slate-900 px-3 py-2 hover:border-slate-600 hover:bg-slate-800/70"
        data-testid="incident-row"
        data-incident-id={incident.incidentId}
        data-status={incident.status}
      >
        <div className="flex items-center gap-2">
          <SeverityBadge severity={incident.severityScore} />
          <span className="min-w-0 flex-1 truncate text-sm font-medium text-slate-100" title={incident.title}>
            {incident.title || incident.incidentId}
          </span>
          <StatusBadge status={incident.status} />
        </div>
        <div className="flex items-center gap-1 overflow-hidden">
          {incident.affectedServices.slice(0, 4).map((s) => (
            <ServiceChip key={s} name={s} origin={s === incident.probableOrigin} />
          ))}
          {incident.affectedServices.length > 4 && <span className="text-xs text-slate-400">+{incident.affectedServices.length - 4}</span>}
          {incident.flapping && <span className="rounded bg-violet-900 px-1.5 text-xs text-violet-100">flapping ×{incident.flapCount}</span>}
          {incident.mergedInto && <span className="truncate rounded bg-amber-900 px-1.5 text-xs text-amber-100">merged into {incident.mergedInto}</span>}
          {incident.mergedIncidentIds.length > 0 && <span className="rounded bg-slate-700 px-1.5 text-xs text-slate-100">+{incident.mergedIncidentIds.length} merged</span>}
        </div>
        <div className="flex gap-3 text-xs tabular-nums text-slate-400">
          <span>{formatCount(incident.eventCount)} events</span>
          <span>age {formatAge(incident.firstSeen, now)}</span>
          <span>last {formatAge(incident.lastSeen, now)} ago</span>
          {incident.assignee && <span className="truncate">→ {incident.assignee}</span>}
        </div>
      </Link>
    </div>
  );
}

/** A virtualized list of incidents; each row is a link (Tab to reach, Enter to open). */
export function IncidentList({ incidents, height, empty, label }: { incidents: readonly Incident[]; height: number; empty: string; label: string }) {
  const now = useNow(1000);
  const rowProps = useMemo(() => ({ incidents, now }), [incidents, now]);
  if (incidents.length === 0) {
    return (
      <p className="flex items-center justify-center rounded border border-dashed border-slate-800 text-sm text-slate-500" style={{ height }} data-testid="incident-list-empty">
        {empty}
      </p>
    );
  }
  return <List style={{ height }} rowComponent={IncidentRow} rowCount={incidents.length} rowHeight={ROW_HEIGHT} rowProps={rowProps} aria-label={label} data-testid="incident-list" />;
}
