import { Link } from "react-router";
import type { Explanation, Incident, Reason } from "../api";
import { formatTime } from "../format";
import { Panel } from "./Feedback";

/** A rule's machine name as a person reads it. */
const RULE_LABELS: Record<string, string> = {
  "immediate-severity": "critical event",
  threshold: "threshold",
  departure: "departure from baseline",
  locked: "continues a locked incident",
  "same-identity": "same alert",
  "same-fingerprint": "same kind of line",
  "same-error-type": "same error type",
  "similar-words": "similar words",
  "names-service": "message names a service",
  dependency: "dependency",
  "recovery-of-service": "recovery",
  "different-failure": "a different failure",
  "outside-cascade-window": "too far apart in time",
  "below-dependency-severity": "below the dependency severity",
  unrelated: "no known relation",
};

export function ruleLabel(rule: string): string {
  return RULE_LABELS[rule] ?? rule;
}

function RuleBadge({ rule }: { rule: string }) {
  return (
    <span className="whitespace-nowrap rounded bg-slate-800 px-1.5 py-0.5 text-xs text-slate-200" data-rule={rule}>
      {ruleLabel(rule)}
    </span>
  );
}

function Because({ reason }: { reason: Reason }) {
  return (
    <div className="flex min-w-0 flex-col gap-1">
      <p className="text-slate-200">{reason.detail}</p>
      {reason.evidence.length > 0 && (
        <p className="flex flex-wrap gap-1" aria-label="Evidence">
          {reason.evidence.map((w) => (
            <span key={w} className="rounded border border-slate-700 px-1 font-mono text-xs text-slate-300">
              {w}
            </span>
          ))}
        </p>
      )}
    </div>
  );
}

function Section({ title, children, testId }: { title: string; children: React.ReactNode; testId: string }) {
  return (
    <section className="flex flex-col gap-1" data-testid={testId}>
      <h3 className="text-xs font-semibold uppercase tracking-wide text-slate-400">{title}</h3>
      {children}
    </section>
  );
}

function IncidentLink({ id }: { id: string }) {
  return (
    <Link className="font-mono text-xs text-sky-400 underline" to={`/incidents/${encodeURIComponent(id)}`}>
      {id}
    </Link>
  );
}

/** Decisions about other incidents (or services): each a link, its rule and the reason. */
function ReasonList({ items }: { items: (Reason & { incidentId: string | null; service: string | null })[] }) {
  return (
    <ul className="flex flex-col gap-2">
      {items.map((n, i) => (
        <li key={`${n.incidentId ?? n.service ?? ""}-${i}`} className="flex items-start gap-2">
          {n.incidentId ? <IncidentLink id={n.incidentId} /> : <span className="font-mono text-xs">{n.service}</span>}
          <RuleBadge rule={n.rule} />
          <Because reason={n} />
        </li>
      ))}
    </ul>
  );
}

function Body({ explanation }: { explanation: Explanation }) {
  const { opened, joined, merged, notMerged, history } = explanation;
  return (
    <div className="flex flex-col gap-4 text-sm">
      {opened && (
        <Section title="Why it opened" testId="why-opened">
          <div className="flex items-start gap-2">
            <RuleBadge rule={opened.rule} />
            <Because reason={opened} />
          </div>
        </Section>
      )}
      {joined.length > 0 && (
        <Section title={`Why each template is part of it (${joined.length})`} testId="why-joined">
          <ul className="flex flex-col divide-y divide-slate-800">
            {joined.map((j) => (
              <li key={j.fingerprint} className="flex flex-col gap-1 py-1.5">
                <p className="flex flex-wrap items-center gap-2">
                  <span className="font-mono text-xs text-slate-300">{j.service}</span>
                  <span className="break-all font-mono text-xs text-slate-100">{j.template}</span>
                </p>
                <div className="flex items-start gap-2">
                  <RuleBadge rule={j.rule} />
                  <Because reason={j} />
                </div>
              </li>
            ))}
          </ul>
        </Section>
      )}
      {merged.length > 0 && (
        <Section title={`Why other incidents were merged into it (${merged.length})`} testId="why-merged">
          <ReasonList items={merged.map((m) => ({ ...m, service: null }))} />
        </Section>
      )}
      {notMerged.length > 0 && (
        <Section title="Why it is not part of these" testId="why-not-merged">
          <ReasonList items={notMerged} />
        </Section>
      )}
      {history.length > 0 && (
        <Section title="What happened since" testId="why-history">
          <ol className="flex flex-col gap-1">
            {history.map((h, i) => (
              <li key={`${h.at}-${i}`} className="flex items-start gap-2">
                <span className="shrink-0 tabular-nums text-xs text-slate-400">{formatTime(h.at)}</span>
                <span className="shrink-0 rounded bg-slate-800 px-1.5 text-xs text-slate-200">{h.what}</span>
                <span className="text-slate-200">{h.detail}</span>
              </li>
            ))}
          </ol>
        </Section>
      )}
    </div>
  );
}

/** Why the engine grouped what it grouped: how it opened, why each template and merged incident
 * is part of it, why it is not part of others a person might expect, and what happened since. */
export function ExplanationPanel({ incident }: { incident: Incident }) {
  return (
    <Panel id="explanation" title="Why these events are one incident">
      {incident.explanation ? (
        <Body explanation={incident.explanation} />
      ) : (
        <p className="text-sm text-slate-500">No explanation was recorded for this incident.</p>
      )}
    </Panel>
  );
}
