/**
 * Decodes what the WebSocket broadcaster sends into a flat list of items the store understands.
 *
 * The contract's messages are `{"type":"event","data":{...}}` and
 * `{"type":"incident","action":...,"data":{...}}`. The broadcaster may also coalesce a burst into
 * one frame, send the active incidents on connect, heartbeats and a count of events it dropped for
 * a slow client; several spellings of those are accepted, and anything unknown is ignored.
 */
import { normalizeEvent, normalizeIncident, type Incident, type PlatformEvent } from "../api";

export type LiveItem =
  | { kind: "event"; event: PlatformEvent }
  | { kind: "incident"; action: string; incident: Incident }
  /** `complete`: the list is every open incident the client may see (so absent ones are closed). */
  | { kind: "snapshot"; incidents: Incident[]; complete: boolean }
  | { kind: "dropped"; count: number }
  | { kind: "error"; message: string };

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function firstArray(msg: Record<string, unknown>, ...keys: string[]): unknown[] | null {
  for (const key of keys) {
    const value = msg[key];
    if (Array.isArray(value)) return value;
    if (isObject(value)) {
      for (const inner of keys) if (Array.isArray(value[inner])) return value[inner] as unknown[];
    }
  }
  return null;
}

function firstNumber(msg: Record<string, unknown>, ...keys: string[]): number {
  for (const key of keys) {
    const value = msg[key];
    if (typeof value === "number") return value;
    if (isObject(value)) {
      for (const inner of keys) if (typeof value[inner] === "number") return value[inner] as number;
    }
  }
  return 0;
}

/** Items from one decoded message (recursing into coalesced frames), in order. */
export function decodeMessage(msg: unknown, out: LiveItem[] = [], depth = 0): LiveItem[] {
  if (depth > 3) return out;
  if (Array.isArray(msg)) {
    for (const inner of msg) decodeMessage(inner, out, depth + 1);
    return out;
  }
  if (!isObject(msg)) return out;
  const type = typeof msg.type === "string" ? msg.type : "";
  switch (type) {
    case "event": {
      const items = Array.isArray(msg.data) ? msg.data : [msg.data];
      for (const raw of items) {
        const event = normalizeEvent(raw);
        if (event) out.push({ kind: "event", event });
      }
      break;
    }
    case "events": {
      for (const raw of firstArray(msg, "data", "events") ?? []) {
        const event = normalizeEvent(raw);
        if (event) out.push({ kind: "event", event });
      }
      break;
    }
    case "incident": {
      const action = typeof msg.action === "string" ? msg.action : "updated";
      const items = Array.isArray(msg.data) ? msg.data : [msg.data];
      for (const raw of items) {
        const incident = normalizeIncident(raw);
        if (incident) out.push({ kind: "incident", action, incident });
      }
      break;
    }
    case "incidents": {
      for (const raw of firstArray(msg, "data", "incidents") ?? []) {
        const incident = normalizeIncident(raw);
        if (incident) out.push({ kind: "incident", action: "updated", incident });
      }
      break;
    }
    case "snapshot":
    case "active_incidents":
    case "activeIncidents": {
      const list = firstArray(msg, "data", "incidents", "active") ?? [];
      const incidents = list.map(normalizeIncident).filter((i): i is Incident => i !== null);
      out.push({ kind: "snapshot", incidents, complete: msg.complete !== false });
      break;
    }
    case "batch":
    case "frame":
    case "coalesced":
    case "messages": {
      for (const inner of firstArray(msg, "messages", "data", "items", "events") ?? []) {
        // Items of a coalesced frame are whole messages; a bare event (no type) counts as one.
        if (isObject(inner) && typeof inner.type !== "string") {
          const event = normalizeEvent(inner);
          if (event) out.push({ kind: "event", event });
        } else {
          decodeMessage(inner, out, depth + 1);
        }
      }
      const dropped = firstNumber(msg, "dropped", "droppedEvents");
      if (dropped > 0) out.push({ kind: "dropped", count: dropped });
      break;
    }
    case "dropped":
    case "lagging":
    case "overflow":
    case "notice": {
      const count = firstNumber(msg, "count", "dropped", "droppedEvents", "data");
      if (count > 0) out.push({ kind: "dropped", count });
      break;
    }
    case "error": {
      const error = isObject(msg.error) ? msg.error : msg;
      const message =
        typeof msg.error === "string" ? msg.error : typeof error.message === "string" ? error.message : "the live feed reported an error";
      out.push({ kind: "error", message });
      break;
    }
    default:
      // heartbeat, ping, pong, subscribed, welcome ... and anything newer: nothing to do.
      break;
  }
  return out;
}

/** Parses one WebSocket text frame (which may hold several newline-separated JSON messages). */
export function parseFrame(text: string): LiveItem[] {
  const out: LiveItem[] = [];
  try {
    decodeMessage(JSON.parse(text), out);
    return out;
  } catch {
    // Not one JSON document: try JSON lines, skipping lines that do not parse.
  }
  for (const line of text.split("\n")) {
    if (!line.trim()) continue;
    try {
      decodeMessage(JSON.parse(line), out);
    } catch {
      // A malformed line is skipped; the rest of the frame still counts.
    }
  }
  return out;
}
