import { useEffect, useMemo, useState } from "react";
import { Link, useParams } from "react-router";
import { Bar, BarChart, CartesianGrid, Legend, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";
import { api, errorText, type Incident, type IncidentCommand } from "../api";
import { ExplanationPanel } from "../components/ExplanationPanel";
import { ErrorMessage, Panel } from "../components/Feedback";
import { MergeNotice } from "../components/MergeNotice";
import { ServiceChip, SeverityBadge, StatusBadge } from "../components/SeverityBadge";
import { formatAge, formatCount, formatDateTime, formatTime } from "../format";
import { useLoader, useNow } from "../hooks";
import { liveStore, useLive } from "../store/liveStore";
import { isNewer, timeOf } from "../store/logic";

const SERVICE_COLORS = ["#38bdf8", "#f97316", "#a78bfa", "#34d399", "#f472b6", "#facc15", "#60a5fa", "#fb7185", "#4ade80", "#c084fc"];

/** The incident as fetched, replaced by any newer version the live feed or a PATCH brought. */
function useIncident(incidentId: string) {
  const loaded = useLoader(() => api.getIncident(incidentId), [incidentId]);
  const live = useLive((s) => s.incidents[incidentId]);
  const incident = useMemo(() => {
    if (!loaded.data) return live ?? null;
    return live && isNewer(loaded.data, live) ? live : loaded.data;
  }, [loaded.data, live]);
  return { incident, loaded };
}

export function IncidentDetail() {
  const { incidentId = "" } = useParams();
  const { incident, loaded } = useIncident(incidentId);
  const now = useNow(1000);

  if (!incident) {
    return (
      <div className="flex flex-col gap-3">
        <BackLink />
        {loaded.error ? (
          <ErrorMessage title={`Cannot load incident ${incidentId}`} error={loaded.error} onRetry={loaded.reload} />
        ) : (
          <p className="text-slate-400">Loading incident {incidentId}…</p>
        )}
      </div>
    );
  }

  return (
    <div className="flex flex-col gap-3" data-testid="incident-detail" data-incident-id={incident.incidentId}>
      <BackLink />
      {loaded.error && <ErrorMessage title="Refreshing this incident failed (showing the live copy)" error={loaded.error} onRetry={loaded.reload} />}
      <header className="flex flex-wrap items-center gap-3">
        <SeverityBadge severity={incident.severityScore} />
        <h1 className="min-w-0 flex-1 text-xl font-semibold text-slate-50">{incident.title || incident.incidentId}</h1>
        <span data-testid="incident-status">
          <StatusBadge status={incident.status} />
        </span>
      </header>
      <dl className="flex flex-wrap gap-x-6 gap-y-1 text-sm text-slate-400">
        <Meta label="Id" value={<span className="font-mono">{incident.incidentId}</span>} />
        <Meta label="Events" value={formatCount(incident.eventCount)} />
        <Meta label="First seen" value={`${formatDateTime(incident.firstSeen)} (${formatAge(incident.firstSeen, now)} ago)`} />
        <Meta label="Last seen" value={`${formatTime(incident.lastSeen)} (${formatAge(incident.lastSeen, now)} ago)`} />
        <Meta label="Assignee" value={<span data-testid="incident-assignee">{incident.assignee ?? "nobody"}</span>} />
        {incident.acknowledgedAt && <Meta label="Acknowledged" value={`${formatTime(incident.acknowledgedAt)} by ${incident.acknowledgedBy ?? "?"}`} />}
        {incident.resolvedAt && <Meta label="Resolved" value={resolvedText(incident)} />}
        {incident.flapping && <Meta label="Flapping" value={`${incident.flapCount} cycles${incident.recovering ? ", recovering now" : ""}`} />}
        {!incident.flapping && incident.flapCount > 0 && <Meta label="Reopened" value={`${incident.flapCount}×`} />}
        {incident.identities.length > 0 && <Meta label="Reports on" value={<span data-testid="incident-identities">{identitiesText(incident)}</span>} />}
        {incident.previousIncidentId && (
          <Meta
            label="Recurrence of"
            value={
              <Link className="font-mono text-sky-400 underline" to={`/incidents/${encodeURIComponent(incident.previousIncidentId)}`}>
                {incident.previousIncidentId}
              </Link>
            }
          />
        )}
        <Meta label="Version" value={String(incident.version)} />
      </dl>
      <MergeNotice incident={incident} />

      <Actions incident={incident} />

      <div className="grid gap-3 xl:grid-cols-2">
        <SummaryPanel incident={incident} />
        <div className="flex flex-col gap-3">
          <Panel id="services" title="Origin and affected services">
            <div className="flex flex-col gap-2 text-sm">
              <p>
                <span className="text-slate-400">Probable origin: </span>
                {incident.probableOrigin ? <ServiceChip name={incident.probableOrigin} origin /> : <span className="text-slate-500">not determined</span>}
              </p>
              <div className="flex flex-wrap gap-1" data-testid="affected-services">
                {incident.affectedServices.map((s) => (
                  <ServiceChip key={s} name={s} origin={s === incident.probableOrigin} />
                ))}
              </div>
            </div>
          </Panel>
          <SeverityPanel incident={incident} />
        </div>
      </div>

      <ExplanationPanel incident={incident} />

      <Panel id="service-timeline" title="Timeline per service" actions={<span className="text-xs text-slate-500">events per minute (event time)</span>}>
        <ServiceTimeline incident={incident} />
      </Panel>

      <div className="grid gap-3 xl:grid-cols-2">
        <TemplatesPanel incident={incident} />
        <SampleEventsPanel incident={incident} />
      </div>
      <NotesPanel incident={incident} />
    </div>
  );
}

const RESOLUTIONS: Record<string, string> = {
  manual: "by hand",
  quiet: "no failure for the quiet period",
  source: "every failure it reports on resolved by its source",
  locked: "locked after its maximum duration",
};

function resolvedText(incident: Incident): string {
  const by = incident.resolvedBy ? ` by ${incident.resolvedBy}` : "";
  const how = incident.resolution ? ` (${RESOLUTIONS[incident.resolution] ?? incident.resolution})` : "";
  return `${formatTime(incident.resolvedAt ?? "")}${by}${how}`;
}

function identitiesText(incident: Incident): string {
  const alerts = incident.identities.filter((i) => i.kind === "dedupKey");
  const failures = incident.identities.length - alerts.length;
  const resolved = incident.identities.filter((i) => i.resolved).length;
  const parts = [alerts.length ? `${alerts.length} alert(s)` : "", failures ? `${failures} failure(s)` : ""].filter(Boolean);
  return `${parts.join(" and ")}, ${resolved} resolved`;
}

function BackLink() {
  return (
    <Link to="/" className="w-fit text-sm text-sky-400 hover:underline">
      ← Overview
    </Link>
  );
}

function Meta({ label, value }: { label: string; value: React.ReactNode }) {
  return (
    <div className="flex gap-1">
      <dt>{label}:</dt>
      <dd className="text-slate-200">{value}</dd>
    </div>
  );
}

const ACTOR_KEY = "incident-intelligence.actor";

function storedActor(): string {
  try {
    return localStorage.getItem(ACTOR_KEY) ?? "";
  } catch {
    return "";
  }
}

/** Acknowledge, resolve, reopen, assign and note; each sends a PATCH and shows its answer. */
function Actions({ incident }: { incident: Incident }) {
  const [actor, setActor] = useState(storedActor);
  const [assignee, setAssignee] = useState(incident.assignee ?? "");
  const [note, setNote] = useState("");
  const [pending, setPending] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => setAssignee(incident.assignee ?? ""), [incident.incidentId, incident.assignee]);

  const send = async (command: IncidentCommand) => {
    setPending(command.action);
    setError(null);
    try {
      localStorage.setItem(ACTOR_KEY, actor);
    } catch {
      // Private mode: the name is simply not remembered.
    }
    try {
      const updated = await api.updateIncident(incident.incidentId, { ...command, ...(actor.trim() ? { actor: actor.trim() } : {}) });
      if (updated) liveStore.getState().upsertIncidents([updated]);
      if (command.action === "note") setNote("");
    } catch (err) {
      setError(errorText(err));
    } finally {
      setPending(null);
    }
  };

  const busy = pending !== null;
  return (
    <section aria-label="Incident actions" className="flex flex-col gap-2 rounded-lg border border-slate-800 bg-slate-900/70 p-3">
      <div className="flex flex-wrap items-end gap-2">
        {incident.status === "active" && (
          <button type="button" className="btn btn-warn" disabled={busy} onClick={() => void send({ action: "acknowledge" })} data-testid="action-acknowledge">
            {pending === "acknowledge" ? "Acknowledging…" : "Acknowledge"}
          </button>
        )}
        {incident.status !== "resolved" && (
          <button type="button" className="btn btn-success" disabled={busy} onClick={() => void send({ action: "resolve" })} data-testid="action-resolve">
            {pending === "resolve" ? "Resolving…" : "Resolve"}
          </button>
        )}
        {incident.status === "resolved" && (
          <button type="button" className="btn btn-secondary" disabled={busy} onClick={() => void send({ action: "reopen" })} data-testid="action-reopen">
            {pending === "reopen" ? "Reopening…" : "Reopen"}
          </button>
        )}
        <label className="flex flex-col gap-0.5 text-xs text-slate-400">
          Your name
          <input className="input w-36" value={actor} onChange={(e) => setActor(e.target.value)} placeholder="anonymous" maxLength={100} />
        </label>
        <form
          className="flex items-end gap-1"
          onSubmit={(e) => {
            e.preventDefault();
            void send({ action: "assign", assignee: assignee.trim() });
          }}
        >
          <label className="flex flex-col gap-0.5 text-xs text-slate-400">
            Assignee
            <input className="input w-36" value={assignee} onChange={(e) => setAssignee(e.target.value)} placeholder="who owns it" maxLength={100} data-testid="assignee-input" />
          </label>
          <button type="submit" className="btn btn-secondary" disabled={busy || assignee.trim() === (incident.assignee ?? "")}>
            {pending === "assign" ? "Assigning…" : "Assign"}
          </button>
        </form>
      </div>
      <form
        className="flex items-end gap-1"
        onSubmit={(e) => {
          e.preventDefault();
          if (note.trim()) void send({ action: "note", note: note.trim() });
        }}
      >
        <label className="flex min-w-0 flex-1 flex-col gap-0.5 text-xs text-slate-400">
          Note
          <input className="input" value={note} onChange={(e) => setNote(e.target.value)} placeholder="What you found or did" maxLength={2000} data-testid="note-input" />
        </label>
        <button type="submit" className="btn btn-secondary" disabled={busy || !note.trim()}>
          {pending === "note" ? "Adding…" : "Add note"}
        </button>
      </form>
      {error && <ErrorMessage title="The change was not applied" error={error} />}
    </section>
  );
}

function summaryAuthor(incident: Incident): string {
  if (incident.summaryKind === "rule-based" || incident.summaryProvider === "rule-based") return "Rule-based summary (no AI model)";
  const provider = incident.summaryProvider ?? "AI";
  return incident.summaryModel ? `AI summary by ${provider} · ${incident.summaryModel}` : `AI summary by ${provider}`;
}

function SummaryPanel({ incident }: { incident: Incident }) {
  const [requesting, setRequesting] = useState(false);
  const [result, setResult] = useState<{ ok: boolean; text: string } | null>(null);
  const request = async () => {
    setRequesting(true);
    setResult(null);
    try {
      const message = await api.requestSummary(incident.incidentId);
      setResult({ ok: true, text: `${message}; it appears here when ready.` });
    } catch (err) {
      setResult({ ok: false, text: errorText(err) });
    } finally {
      setRequesting(false);
    }
  };
  const hasSummary = Boolean(incident.aiGeneratedSummary || incident.rootCause);
  const ruleBased = incident.summaryKind === "rule-based" || incident.summaryProvider === "rule-based";
  return (
    <Panel
      id="summary"
      title="Summary"
      actions={
        <button type="button" className="btn btn-secondary" onClick={() => void request()} disabled={requesting} data-testid="request-summary">
          {requesting ? "Requesting…" : "Request fresh summary"}
        </button>
      }
    >
      <div className="flex flex-col gap-3 text-sm" data-testid="summary">
        {hasSummary ? (
          <>
            <p className={`w-fit rounded px-2 py-0.5 text-xs font-medium ${ruleBased ? "bg-slate-700 text-slate-100" : "bg-indigo-900 text-indigo-100"}`} data-testid="summary-author">
              {summaryAuthor(incident)}
              {incident.summaryConfidence !== null && ` · confidence ${Math.round(incident.summaryConfidence * 100)}%`}
              {incident.summarizedAt && ` · ${formatTime(incident.summarizedAt)}`}
            </p>
            {incident.aiGeneratedSummary && <p className="whitespace-pre-line leading-relaxed text-slate-100" data-testid="summary-text">{incident.aiGeneratedSummary}</p>}
            {incident.rootCause && (
              <div>
                <h3 className="text-xs font-semibold uppercase tracking-wide text-slate-400">Likely root cause</h3>
                <p className="mt-1 whitespace-pre-line text-slate-200">{incident.rootCause}</p>
              </div>
            )}
            {incident.suggestedActions.length > 0 && (
              <div>
                <h3 className="text-xs font-semibold uppercase tracking-wide text-slate-400">Suggested actions</h3>
                <ol className="mt-1 list-decimal space-y-1 pl-5 text-slate-200">
                  {incident.suggestedActions.map((a, i) => (
                    <li key={i}>{a}</li>
                  ))}
                </ol>
              </div>
            )}
          </>
        ) : (
          <p className="text-slate-400" data-testid="summary-pending">
            No summary yet: the summarizer writes one once the first burst has settled.
          </p>
        )}
        {result &&
          (result.ok ? (
            <p role="status" className="text-xs text-emerald-300">
              {result.text}
            </p>
          ) : (
            <ErrorMessage title="Summary request failed" error={result.text} />
          ))}
      </div>
    </Panel>
  );
}

function SeverityPanel({ incident }: { incident: Incident }) {
  const maxContribution = Math.max(0.01, ...incident.severityFactors.map((f) => Math.abs(f.contribution)));
  return (
    <Panel id="severity" title={`Severity score ${incident.severityScore} / 5`}>
      {incident.severityFactors.length === 0 ? (
        <p className="text-sm text-slate-500">No factor breakdown for this incident.</p>
      ) : (
        <table className="w-full text-sm">
          <caption className="sr-only">What makes up the severity score</caption>
          <thead>
            <tr className="text-left text-xs text-slate-400">
              <th className="pb-1 font-medium">Factor</th>
              <th className="pb-1 font-medium">Value</th>
              <th className="pb-1 font-medium">Contribution</th>
            </tr>
          </thead>
          <tbody>
            {incident.severityFactors.map((f) => (
              <tr key={f.name} className="border-t border-slate-800 align-top">
                <td className="py-1 pr-2">
                  <span className="font-medium text-slate-200">{f.name}</span>
                  {f.detail && <p className="text-xs text-slate-400">{f.detail}</p>}
                </td>
                <td className="py-1 pr-2 tabular-nums text-slate-300">{Number.isInteger(f.value) ? f.value : f.value.toFixed(2)}</td>
                <td className="w-40 py-1">
                  <div className="flex items-center gap-2">
                    <div className="h-2 flex-1 rounded bg-slate-800" aria-hidden="true">
                      <div className={`h-2 rounded ${f.contribution >= 0 ? "bg-orange-500" : "bg-sky-500"}`} style={{ width: `${(Math.abs(f.contribution) / maxContribution) * 100}%` }} />
                    </div>
                    <span className="w-10 text-right tabular-nums text-slate-300">{f.contribution >= 0 ? "+" : ""}{f.contribution.toFixed(2)}</span>
                  </div>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Panel>
  );
}

/** One stacked bar per minute, one colour per service: where the failure started and how it spread. */
function ServiceTimeline({ incident }: { incident: Incident }) {
  const { rows, services } = useMemo(() => {
    const byMinute = new Map<number, Record<string, number>>();
    const totals = new Map<string, number>();
    for (const p of incident.timeline) {
      const minute = timeOf(p.minute);
      const row = byMinute.get(minute) ?? { minute };
      row[p.service] = (row[p.service] ?? 0) + p.count;
      byMinute.set(minute, row);
      totals.set(p.service, (totals.get(p.service) ?? 0) + p.count);
    }
    const services = [...totals.keys()].sort((a, b) => (a === incident.probableOrigin ? -1 : b === incident.probableOrigin ? 1 : (totals.get(b) ?? 0) - (totals.get(a) ?? 0)));
    // Every minute from the first to the last, so that quiet minutes show as gaps, not as nothing.
    const minutes = [...byMinute.keys()].sort((a, b) => a - b);
    const rows: Record<string, number>[] = [];
    if (minutes.length > 0) {
      const first = minutes[0]!;
      const last = Math.min(minutes[minutes.length - 1]!, first + 6 * 60 * 60_000);
      for (let minute = first; minute <= last; minute += 60_000) rows.push(byMinute.get(minute) ?? { minute });
    }
    return { rows, services };
  }, [incident.timeline, incident.probableOrigin]);

  if (rows.length === 0) return <p className="text-sm text-slate-500">No timeline recorded yet.</p>;
  const label = (m: unknown) => new Date(Number(m)).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", hour12: false });
  return (
    <div className="h-64 w-full" data-testid="service-timeline" role="img" aria-label={`Events per minute for ${services.join(", ")}`}>
      <ResponsiveContainer width="100%" height="100%">
        <BarChart data={rows} margin={{ top: 4, right: 8, bottom: 0, left: -12 }}>
          <CartesianGrid stroke="#1e293b" vertical={false} />
          <XAxis dataKey="minute" tickFormatter={label} stroke="#64748b" fontSize={11} minTickGap={20} />
          <YAxis stroke="#64748b" fontSize={11} allowDecimals={false} />
          <Tooltip labelFormatter={label} contentStyle={{ background: "#0f172a", border: "1px solid #334155", fontSize: 12 }} cursor={{ fill: "#1e293b" }} />
          <Legend wrapperStyle={{ fontSize: 12 }} />
          {services.map((s, i) => (
            <Bar key={s} dataKey={s} stackId="svc" maxBarSize={56} fill={SERVICE_COLORS[i % SERVICE_COLORS.length]} isAnimationActive={false} />
          ))}
        </BarChart>
      </ResponsiveContainer>
    </div>
  );
}

function TemplatesPanel({ incident }: { incident: Incident }) {
  const templates = [...incident.templates].sort((a, b) => b.count - a.count);
  return (
    <Panel id="templates" title="Top failure templates">
      {templates.length === 0 ? (
        <p className="text-sm text-slate-500">No templates recorded.</p>
      ) : (
        <div className="max-h-80 overflow-auto" tabIndex={0} aria-label="Failure templates, most frequent first">
          <table className="w-full text-sm">
            <thead className="sticky top-0 bg-slate-900">
              <tr className="text-left text-xs text-slate-400">
                <th className="pb-1 pr-3 font-medium">Count</th>
                <th className="pb-1 pr-3 font-medium">Service</th>
                <th className="pb-1 font-medium">Template</th>
              </tr>
            </thead>
            <tbody>
              {templates.map((t) => (
                <tr key={`${t.fingerprint}-${t.service}`} className="border-t border-slate-800 align-top">
                  <td className="py-1 pr-3 tabular-nums text-slate-200">{formatCount(t.count)}</td>
                  <td className="py-1 pr-3 font-mono text-xs text-slate-300">{t.service}</td>
                  <td className="break-all py-1 font-mono text-xs text-slate-200">
                    {t.errorType && <span className="text-slate-500">{t.errorType}: </span>}
                    {t.template}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </Panel>
  );
}

function SampleEventsPanel({ incident }: { incident: Incident }) {
  return (
    <Panel id="samples" title="Sample events">
      {incident.sampleEvents.length === 0 ? (
        <p className="text-sm text-slate-500">No sample events.</p>
      ) : (
        <ul className="max-h-80 space-y-1 overflow-auto" tabIndex={0} aria-label="Sample events">
          {incident.sampleEvents.map((e) => (
            <li key={e.eventId} className="flex items-start gap-2 border-t border-slate-800 pt-1 font-mono text-xs">
              <span className="shrink-0 tabular-nums text-slate-400">{formatTime(e.timestamp)}</span>
              <SeverityBadge severity={e.severity} compact />
              <span className="shrink-0 text-slate-300">{e.service}</span>
              <span className="min-w-0 break-words text-slate-200">{e.message}</span>
            </li>
          ))}
        </ul>
      )}
    </Panel>
  );
}

function NotesPanel({ incident }: { incident: Incident }) {
  return (
    <Panel id="notes" title={`Notes (${incident.notes.length})`}>
      {incident.notes.length === 0 ? (
        <p className="text-sm text-slate-500">No notes yet.</p>
      ) : (
        <ul className="space-y-2 text-sm" data-testid="notes">
          {incident.notes.map((n, i) => (
            <li key={`${n.at}-${i}`} className="border-l-2 border-slate-700 pl-2">
              <p className="text-xs text-slate-400">
                {n.author} · {formatDateTime(n.at)}
              </p>
              <p className="whitespace-pre-line text-slate-200">{n.text}</p>
            </li>
          ))}
        </ul>
      )}
    </Panel>
  );
}
