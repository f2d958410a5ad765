/**
 * The store's pure logic: merging incident changes, the bounded event buffer, filters and the
 * per-minute counts behind the timeline. No React, no network: the unit tests drive these directly.
 */
import type { Incident, MinuteStats, PlatformEvent } from "../api";

/** How many events the live buffer keeps (newest first); older ones fall off the end. */
export const EVENT_BUFFER_SIZE = 5000;
/** Resolved incidents kept in memory for the overview; active ones are never pruned. */
export const RESOLVED_INCIDENTS_KEPT = 200;
/** Minutes of live per-minute counts kept for the timeline. */
export const LIVE_MINUTES_KEPT = 60;

export const SEVERITIES = [1, 2, 3, 4, 5] as const;

/**
 * True when `incoming` should replace `current`: incidents only move forward by `version`, so a
 * late, reordered or replayed change never overwrites a newer state. An equal version replaces
 * only when the current copy is a partial one (version 0, from a source without versions).
 */
export function isNewer(current: Incident | undefined, incoming: Incident): boolean {
  if (!current) return true;
  if (incoming.version > current.version) return true;
  return incoming.version === current.version && current.version === 0;
}

/**
 * Merges incident changes into a map by id, keeping for each the highest version seen. Returns
 * the same map object when nothing changed, so subscribers do not re-render.
 */
export function mergeIncidents(map: Record<string, Incident>, incoming: readonly Incident[]): Record<string, Incident> {
  let next: Record<string, Incident> | null = null;
  for (const incident of incoming) {
    const current = (next ?? map)[incident.incidentId];
    if (!isNewer(current, incident)) continue;
    next ??= { ...map };
    next[incident.incidentId] = incident;
  }
  return next ? pruneResolved(next, RESOLVED_INCIDENTS_KEPT) : map;
}

/**
 * Applies an authoritative list of the active incidents (the broadcaster's snapshot on connect):
 * merges it by version, and drops incidents the map still holds as open but the snapshot does not
 * list, since they were resolved while the connection was down.
 */
export function applyActiveSnapshot(map: Record<string, Incident>, active: readonly Incident[]): Record<string, Incident> {
  const listed = new Set(active.map((i) => i.incidentId));
  const kept: Record<string, Incident> = {};
  for (const [id, incident] of Object.entries(map)) {
    if (incident.status === "resolved" || listed.has(id)) kept[id] = incident;
  }
  return mergeIncidents(kept, active);
}

/** Keeps every open incident and only the `keep` most recently updated resolved ones. */
export function pruneResolved(map: Record<string, Incident>, keep: number): Record<string, Incident> {
  const resolved = Object.values(map).filter((i) => i.status === "resolved");
  if (resolved.length <= keep) return map;
  resolved.sort((a, b) => timeOf(b.updatedAt) - timeOf(a.updatedAt));
  const next = { ...map };
  for (const incident of resolved.slice(keep)) delete next[incident.incidentId];
  return next;
}

/**
 * False for an incident merged into another one: its root incident stands for the whole cascade
 * (and counts its services and events), so it is not listed as an incident of its own.
 */
export function isOwnIncident(incident: Incident): boolean {
  return incident.mergedInto === null;
}

/** Open incidents (active or acknowledged) not merged into another, the most severe first, then the most recently active. */
export function openIncidentsSorted(map: Record<string, Incident>): Incident[] {
  return Object.values(map)
    .filter((i) => i.status !== "resolved" && isOwnIncident(i))
    .sort(
      (a, b) =>
        b.severityScore - a.severityScore ||
        (a.status === b.status ? 0 : a.status === "active" ? -1 : 1) ||
        timeOf(b.lastSeen) - timeOf(a.lastSeen) ||
        a.incidentId.localeCompare(b.incidentId),
    );
}

/** Incidents whose id, title or an affected service contains `query` (case-insensitive). */
export function filterIncidents(incidents: readonly Incident[], query: string): readonly Incident[] {
  const q = query.trim().toLowerCase();
  if (!q) return incidents;
  return incidents.filter(
    (i) => i.incidentId.toLowerCase().includes(q) || i.title.toLowerCase().includes(q) || i.affectedServices.some((s) => s.toLowerCase().includes(q)),
  );
}

/**
 * Puts a batch of events (in arrival order) in front of a newest-first buffer, keeping at most
 * `max`. Copies once per batch, never per event.
 */
export function prependBounded(buffer: readonly PlatformEvent[], batch: readonly PlatformEvent[], max = EVENT_BUFFER_SIZE): PlatformEvent[] {
  if (batch.length === 0) return buffer as PlatformEvent[];
  const out: PlatformEvent[] = [];
  for (let i = batch.length - 1; i >= 0 && out.length < max; i--) out.push(batch[i]!);
  for (let i = 0; i < buffer.length && out.length < max; i++) out.push(buffer[i]!);
  return out;
}

export interface EventFilter {
  /** Only this service; empty for every service. */
  service: string;
  /** The severities shown; all five by default. */
  severities: readonly number[];
  /** Case-insensitive text that the message, service or error type must contain. */
  text: string;
}

export const DEFAULT_FILTER: EventFilter = { service: "", severities: [...SEVERITIES], text: "" };

export function isFilterActive(filter: EventFilter): boolean {
  return filter.service !== "" || filter.text.trim() !== "" || filter.severities.length !== SEVERITIES.length;
}

export function matchesFilter(event: PlatformEvent, filter: EventFilter): boolean {
  if (filter.service && event.service !== filter.service) return false;
  if (!filter.severities.includes(event.severity)) return false;
  const text = filter.text.trim().toLowerCase();
  if (text) {
    const haystack = `${event.service} ${event.message} ${event.errorType ?? ""}`.toLowerCase();
    if (!haystack.includes(text)) return false;
  }
  return true;
}

export function filterEvents(events: readonly PlatformEvent[], filter: EventFilter): readonly PlatformEvent[] {
  if (!isFilterActive(filter)) return events;
  return events.filter((e) => matchesFilter(e, filter));
}

/** Flips one severity in the filter, keeping the list sorted. */
export function toggleSeverity(filter: EventFilter, severity: number): EventFilter {
  const has = filter.severities.includes(severity);
  const severities = has ? filter.severities.filter((s) => s !== severity) : [...filter.severities, severity].sort();
  return { ...filter, severities };
}

/** Adds services to a sorted list of known services; returns the same list when none is new. */
export function addServices(known: readonly string[], names: Iterable<string>, max = 500): readonly string[] {
  let next: string[] | null = null;
  const seen = new Set(known);
  for (const name of names) {
    if (!name || seen.has(name)) continue;
    seen.add(name);
    next ??= [...known];
    if (next.length < max) next.push(name);
  }
  return next ? next.sort() : known;
}

export type SeverityCounts = Record<string, number>;

export function timeOf(iso: string | null | undefined): number {
  if (!iso) return 0;
  const t = Date.parse(iso);
  return Number.isNaN(t) ? 0 : t;
}

/** The start of the minute (event time) as epoch milliseconds. */
export function minuteOf(iso: string): number {
  return Math.floor(timeOf(iso) / 60_000) * 60_000;
}

/**
 * Counts a batch of events into per-minute, per-severity buckets keyed by minute (epoch ms),
 * keeping the newest `keep` minutes.
 */
export function countByMinute(
  buckets: Record<number, SeverityCounts>,
  events: readonly PlatformEvent[],
  keep = LIVE_MINUTES_KEPT,
): Record<number, SeverityCounts> {
  if (events.length === 0) return buckets;
  const next: Record<number, SeverityCounts> = { ...buckets };
  for (const event of events) {
    const minute = minuteOf(event.timestamp);
    if (minute === 0) continue;
    const counts = (next[minute] = { ...(next[minute] ?? {}) });
    const key = String(event.severity);
    counts[key] = (counts[key] ?? 0) + 1;
  }
  const minutes = Object.keys(next).map(Number).sort((a, b) => b - a);
  for (const minute of minutes.slice(keep)) delete next[minute];
  return next;
}

export interface TimelineRow {
  minute: number;
  total: number;
  s1: number;
  s2: number;
  s3: number;
  s4: number;
  s5: number;
}

/**
 * The rows of the timeline chart, one per minute over the last `minutes` minutes ending at `now`.
 * The API's rollups and the live counts overlap (the live stream starts when the page opens; the
 * rollups lag by the projection delay), so each severity takes the larger of the two, never the sum.
 */
export function timelineRows(
  rollups: readonly MinuteStats[],
  live: Record<number, SeverityCounts>,
  now: number,
  minutes = 60,
): TimelineRow[] {
  const byMinute = new Map<number, SeverityCounts>();
  for (const row of rollups) {
    const minute = minuteOf(row.minute);
    if (minute) byMinute.set(minute, row.bySeverity);
  }
  const end = Math.floor(now / 60_000) * 60_000;
  const rows: TimelineRow[] = [];
  for (let minute = end - (minutes - 1) * 60_000; minute <= end; minute += 60_000) {
    const fromApi = byMinute.get(minute) ?? {};
    const fromLive = live[minute] ?? {};
    const row: TimelineRow = { minute, total: 0, s1: 0, s2: 0, s3: 0, s4: 0, s5: 0 };
    for (const severity of SEVERITIES) {
      const n = Math.max(fromApi[String(severity)] ?? 0, fromLive[String(severity)] ?? 0);
      row[`s${severity}`] = n;
      row.total += n;
    }
    rows.push(row);
  }
  return rows;
}

/** Events in the last full minute plus the current one, scaled to a per-minute rate. */
export function liveEventsPerMinute(live: Record<number, SeverityCounts>, now: number): number {
  const current = Math.floor(now / 60_000) * 60_000;
  const sum = (counts: SeverityCounts | undefined) => Object.values(counts ?? {}).reduce((a, b) => a + b, 0);
  const elapsed = (now - current) / 60_000;
  const previous = sum(live[current - 60_000]);
  const partial = sum(live[current]);
  // Weight the previous minute by the part of it still inside the trailing 60 s window.
  return Math.round(previous * (1 - elapsed) + partial);
}
