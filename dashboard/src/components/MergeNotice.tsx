import { Link } from "react-router";
import type { Incident } from "../api";

function IncidentLink({ incidentId }: { incidentId: string }) {
  return (
    <Link className="font-mono text-sky-400 underline" to={`/incidents/${encodeURIComponent(incidentId)}`}>
      {incidentId}
    </Link>
  );
}

/**
 * Where this incident stands in a cascade: a merged incident names the root that stands for it;
 * a root lists the incidents merged into it (their services and events are counted here).
 */
export function MergeNotice({ incident }: { incident: Incident }) {
  if (incident.mergedInto) {
    return (
      <p className="rounded-lg border border-amber-800 bg-amber-950/60 px-3 py-2 text-sm text-amber-100" data-testid="merged-into">
        Merged into <IncidentLink incidentId={incident.mergedInto} />: this failure is part of that incident&apos;s cascade, which
        counts its services and events and is where it is handled.
      </p>
    );
  }
  if (incident.mergedIncidentIds.length === 0) return null;
  return (
    <section aria-label="Merged incidents" className="rounded-lg border border-slate-800 bg-slate-900/70 px-3 py-2 text-sm" data-testid="merged-incidents">
      <h2 className="text-slate-300">
        Merged incidents ({incident.mergedIncidentIds.length}): the cascade reached further services; their events are counted here.
      </h2>
      <ul className="mt-1 flex flex-wrap gap-x-4 gap-y-1">
        {incident.mergedIncidentIds.map((id) => (
          <li key={id}>
            <IncidentLink incidentId={id} />
          </li>
        ))}
      </ul>
    </section>
  );
}
