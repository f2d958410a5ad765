/** How times, durations and severities read on screen. */

export const SEVERITY_LABELS: Record<number, string> = {
  1: "info",
  2: "low",
  3: "warning",
  4: "high",
  5: "critical",
};

/** Tailwind classes per severity: a badge (background + text) and a chart colour. */
export const SEVERITY_STYLES: Record<number, { badge: string; text: string; bar: string; color: string }> = {
  1: { badge: "bg-slate-700 text-slate-100", text: "text-slate-300", bar: "bg-slate-500", color: "#64748b" },
  2: { badge: "bg-sky-800 text-sky-50", text: "text-sky-300", bar: "bg-sky-500", color: "#0ea5e9" },
  3: { badge: "bg-amber-600 text-amber-50", text: "text-amber-300", bar: "bg-amber-500", color: "#f59e0b" },
  4: { badge: "bg-orange-600 text-white", text: "text-orange-300", bar: "bg-orange-500", color: "#f97316" },
  5: { badge: "bg-red-600 text-white", text: "text-red-300", bar: "bg-red-500", color: "#ef4444" },
};

export function severityStyle(severity: number) {
  return SEVERITY_STYLES[Math.min(5, Math.max(1, Math.round(severity)))]!;
}

export function severityLabel(severity: number): string {
  return SEVERITY_LABELS[Math.min(5, Math.max(1, Math.round(severity)))]!;
}

function parse(iso: string | null | undefined): Date | null {
  if (!iso) return null;
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? null : d;
}

/** 14:03:27 (local time). */
export function formatTime(iso: string | null | undefined): string {
  const d = parse(iso);
  return d ? d.toLocaleTimeString([], { hour12: false }) : "—";
}

/** 27 Nov 14:03:27 (local time). */
export function formatDateTime(iso: string | null | undefined): string {
  const d = parse(iso);
  if (!d) return "—";
  return `${d.toLocaleDateString([], { day: "numeric", month: "short" })} ${d.toLocaleTimeString([], { hour12: false })}`;
}

/** 45s, 12m, 3h 05m, 2d 4h. */
export function formatDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return "—";
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, "0")}s`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h ${String(m % 60).padStart(2, "0")}m`;
  return `${Math.floor(h / 24)}d ${h % 24}h`;
}

/** The age of a timestamp relative to `now`, as a duration ("3m 10s"). */
export function formatAge(iso: string | null | undefined, now: number): string {
  const d = parse(iso);
  return d ? formatDuration((now - d.getTime()) / 1000) : "—";
}

export function formatCount(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return "—";
  return n >= 10_000 ? `${(n / 1000).toFixed(1)}k` : Math.round(n).toLocaleString();
}

/** A value for an <input type="datetime-local"> as an ISO instant, or "" when empty. */
export function localInputToIso(value: string): string {
  if (!value) return "";
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? "" : d.toISOString();
}
