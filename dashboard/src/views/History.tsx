import { useState } from "react";
import { useSearchParams } from "react-router";
import { api, type IncidentStatus } from "../api";
import { ErrorMessage, Panel } from "../components/Feedback";
import { IncidentList } from "../components/IncidentList";
import { localInputToIso, severityLabel } from "../format";
import { useLoader } from "../hooks";
import { useLive } from "../store/liveStore";
import { SEVERITIES } from "../store/logic";

const PAGE_SIZE = 50;
const FIELDS = ["q", "status", "service", "minSeverity", "from", "to", "includeMerged"] as const;
type Field = (typeof FIELDS)[number];

/**
 * Past and present incidents, searchable and filterable, newest activity first, one page at a
 * time. The filters live in the URL, so a search can be shared and Back works.
 */
export function History() {
  const [params, setParams] = useSearchParams();
  const applied = Object.fromEntries(FIELDS.map((f) => [f, params.get(f) ?? ""])) as Record<Field, string>;
  const [draft, setDraft] = useState(applied);
  // The cursors of the pages before the current one; the current page's cursor is in the URL.
  const [previous, setPrevious] = useState<(string | null)[]>([]);
  const cursor = params.get("cursor");
  const services = useLive((s) => s.services);

  const page = useLoader(
    () =>
      api.listIncidents({
        q: applied.q,
        status: applied.status as IncidentStatus | "",
        service: applied.service,
        minSeverity: applied.minSeverity ? Number(applied.minSeverity) : "",
        from: localInputToIso(applied.from),
        to: localInputToIso(applied.to),
        // Incidents merged into another are part of its cascade; listed only when asked for.
        includeMerged: applied.includeMerged === "true" || undefined,
        limit: PAGE_SIZE,
        cursor,
      }),
    [params.toString()],
  );

  const search = (values: Record<Field, string>) => {
    const next = new URLSearchParams();
    for (const f of FIELDS) if (values[f]) next.set(f, values[f]);
    setPrevious([]);
    setParams(next);
  };

  const goTo = (nextCursor: string | null) => {
    const next = new URLSearchParams(params);
    if (nextCursor) next.set("cursor", nextCursor);
    else next.delete("cursor");
    setParams(next);
  };

  const field = (name: Field) => ({
    value: draft[name],
    onChange: (e: React.ChangeEvent<HTMLInputElement | HTMLSelectElement>) => setDraft({ ...draft, [name]: e.target.value }),
  });

  const pageNumber = previous.length + 1;
  const incidents = page.data?.data ?? [];

  return (
    <div className="flex flex-col gap-3">
      <h1 className="text-xl font-semibold text-slate-50">Incident history</h1>
      <form
        className="flex flex-wrap items-end gap-2 rounded-lg border border-slate-800 bg-slate-900/70 p-3"
        onSubmit={(e) => {
          e.preventDefault();
          search(draft);
        }}
        aria-label="Search incidents"
      >
        <label className="flex flex-col gap-0.5 text-xs text-slate-400">
          Title contains
          <input type="search" className="input w-56" placeholder="e.g. timeout" {...field("q")} data-testid="history-q" />
        </label>
        <label className="flex flex-col gap-0.5 text-xs text-slate-400">
          Status
          <select className="input" {...field("status")} data-testid="history-status">
            <option value="">any</option>
            <option value="active">active</option>
            <option value="acknowledged">acknowledged</option>
            <option value="resolved">resolved</option>
          </select>
        </label>
        <label className="flex flex-col gap-0.5 text-xs text-slate-400">
          Service
          <input className="input w-44" list="history-services" placeholder="any" {...field("service")} />
          <datalist id="history-services">
            {services.map((s) => (
              <option key={s} value={s} />
            ))}
          </datalist>
        </label>
        <label className="flex flex-col gap-0.5 text-xs text-slate-400">
          Severity
          <select className="input" {...field("minSeverity")}>
            <option value="">any</option>
            {SEVERITIES.slice(1).map((s) => (
              <option key={s} value={s}>
                {s} {severityLabel(s)} or higher
              </option>
            ))}
          </select>
        </label>
        <label className="flex flex-col gap-0.5 text-xs text-slate-400">
          From
          <input type="datetime-local" className="input" {...field("from")} />
        </label>
        <label className="flex flex-col gap-0.5 text-xs text-slate-400">
          To
          <input type="datetime-local" className="input" {...field("to")} />
        </label>
        <label className="flex items-center gap-1 self-center text-xs text-slate-400" title="Incidents that are part of another incident's cascade">
          <input
            type="checkbox"
            checked={draft.includeMerged === "true"}
            onChange={(e) => setDraft({ ...draft, includeMerged: e.target.checked ? "true" : "" })}
            data-testid="history-include-merged"
          />
          Include merged
        </label>
        <button type="submit" className="btn btn-primary">
          Search
        </button>
        <button
          type="button"
          className="btn btn-ghost"
          onClick={() => {
            const empty = Object.fromEntries(FIELDS.map((f) => [f, ""])) as Record<Field, string>;
            setDraft(empty);
            search(empty);
          }}
        >
          Reset
        </button>
      </form>

      {page.error && <ErrorMessage title="Search failed" error={page.error} onRetry={page.reload} />}

      <Panel
        id="history-results"
        title={page.loading ? "Searching…" : `Page ${pageNumber}: ${incidents.length} incident${incidents.length === 1 ? "" : "s"}`}
        actions={
          <nav aria-label="Pages" className="flex gap-2">
            <button
              type="button"
              className="btn btn-secondary"
              disabled={previous.length === 0 || page.loading}
              onClick={() => {
                const before = previous.slice(0, -1);
                const target = previous[previous.length - 1] ?? null;
                setPrevious(before);
                goTo(target);
              }}
            >
              ← Newer
            </button>
            <button
              type="button"
              className="btn btn-secondary"
              disabled={!page.data?.nextCursor || page.loading}
              onClick={() => {
                setPrevious([...previous, cursor]);
                goTo(page.data?.nextCursor ?? null);
              }}
              data-testid="history-next"
            >
              Older →
            </button>
          </nav>
        }
      >
        <IncidentList incidents={incidents} height={600} label="Incidents, most recently active first" empty={page.loading ? "Loading…" : "No incident matches these filters."} />
      </Panel>
    </div>
  );
}
