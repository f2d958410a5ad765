import { severityLabel, severityStyle } from "../format";

/** A severity (1–5) as a coloured badge with its number and name, readable without colour. */
export function SeverityBadge({ severity, compact = false }: { severity: number; compact?: boolean }) {
  const style = severityStyle(severity);
  return (
    <span
      className={`inline-flex shrink-0 items-center justify-center rounded px-1.5 text-xs font-semibold tabular-nums ${style.badge} ${compact ? "w-6" : "min-w-20 gap-1"}`}
      title={`severity ${severity} (${severityLabel(severity)})`}
      data-severity={severity}
    >
      {compact ? severity : `${severity} ${severityLabel(severity)}`}
    </span>
  );
}

const STATUS_STYLES: Record<string, string> = {
  active: "bg-red-950 text-red-200 ring-red-700",
  acknowledged: "bg-amber-950 text-amber-200 ring-amber-700",
  resolved: "bg-emerald-950 text-emerald-200 ring-emerald-700",
};

export function StatusBadge({ status }: { status: string }) {
  return (
    <span className={`inline-flex items-center rounded-full px-2 py-0.5 text-xs font-medium ring-1 ${STATUS_STYLES[status] ?? "bg-slate-800 text-slate-200 ring-slate-600"}`} data-status={status}>
      {status}
    </span>
  );
}

export function ServiceChip({ name, origin = false }: { name: string; origin?: boolean }) {
  return (
    <span
      className={`inline-flex items-center rounded px-1.5 py-0.5 font-mono text-xs ${origin ? "bg-fuchsia-900 text-fuchsia-100 ring-1 ring-fuchsia-500" : "bg-slate-800 text-slate-200"}`}
      title={origin ? `${name}: probable origin` : name}
    >
      {origin && <span aria-hidden="true" className="mr-1">◎</span>}
      {name}
    </span>
  );
}
