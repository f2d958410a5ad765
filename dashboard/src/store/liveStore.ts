/**
 * The live state of the dashboard (Zustand): the bounded event buffer, the incidents merged by
 * version, the stream's pause and filters, per-minute counts and the connection's state.
 *
 * `createLiveStore` makes an independent store (the tests make their own); the app uses the one
 * `liveStore` below through `useLive`.
 */
import { useStore } from "zustand";
import { createStore, type StoreApi } from "zustand/vanilla";
import type { Incident, PlatformEvent } from "../api";
import type { LiveItem } from "../live/messages";
import {
  addServices,
  applyActiveSnapshot,
  countByMinute,
  DEFAULT_FILTER,
  EVENT_BUFFER_SIZE,
  mergeIncidents,
  prependBounded,
  type EventFilter,
  type SeverityCounts,
} from "./logic";

export type ConnectionStatus = "connecting" | "open" | "reconnecting" | "offline";

export interface ConnectionState {
  status: ConnectionStatus;
  /** Consecutive failed attempts since the last successful connection. */
  attempt: number;
  lastMessageAt: number | null;
  /** When the next reconnect attempt is due (epoch ms), while reconnecting. */
  nextRetryAt: number | null;
  error: string | null;
}

export interface Notice {
  id: number;
  message: string;
  at: number;
}

export interface LiveState {
  /** Newest first, at most `bufferSize`. */
  events: PlatformEvent[];
  bufferSize: number;
  /** Events received since the page opened. */
  received: number;
  /** Events not shown because more arrived in one frame than the buffer holds, or the server dropped. */
  skipped: number;
  serverDropped: number;
  paused: boolean;
  /** The buffer as it was when the stream was paused; what the stream shows while paused. */
  frozen: PlatformEvent[] | null;
  receivedAtPause: number;
  filter: EventFilter;
  services: readonly string[];
  incidents: Record<string, Incident>;
  /** Epoch-ms minute -> counts by severity ("1".."5") of the events seen live. */
  liveMinutes: Record<number, SeverityCounts>;
  connection: ConnectionState;
  notices: Notice[];

  applyItems(items: readonly LiveItem[], skippedEvents?: number): void;
  upsertIncidents(incidents: readonly Incident[]): void;
  setPaused(paused: boolean): void;
  setFilter(filter: Partial<EventFilter>): void;
  resetFilter(): void;
  setConnection(patch: Partial<ConnectionState>): void;
  pushNotice(message: string): void;
  dismissNotice(id: number): void;
  clearEvents(): void;
}

let noticeIds = 0;

export function createLiveStore(bufferSize = EVENT_BUFFER_SIZE): StoreApi<LiveState> {
  return createStore<LiveState>()((set, get) => ({
    events: [],
    bufferSize,
    received: 0,
    skipped: 0,
    serverDropped: 0,
    paused: false,
    frozen: null,
    receivedAtPause: 0,
    filter: DEFAULT_FILTER,
    services: [],
    incidents: {},
    liveMinutes: {},
    connection: { status: "connecting", attempt: 0, lastMessageAt: null, nextRetryAt: null, error: null },
    notices: [],

    applyItems(items, skippedEvents = 0) {
      const events: PlatformEvent[] = [];
      const changes: Incident[] = [];
      let snapshot: { incidents: Incident[]; complete: boolean } | null = null;
      let dropped = 0;
      const errors: string[] = [];
      for (const item of items) {
        switch (item.kind) {
          case "event":
            events.push(item.event);
            break;
          case "incident":
            changes.push(item.incident);
            break;
          case "snapshot":
            // Changes before a snapshot are older than it; the snapshot restarts the list.
            snapshot = item;
            changes.length = 0;
            break;
          case "dropped":
            dropped += item.count;
            break;
          case "error":
            errors.push(item.message);
            break;
        }
      }
      const state = get();
      let incidents = state.incidents;
      if (snapshot) {
        incidents = snapshot.complete ? applyActiveSnapshot(incidents, snapshot.incidents) : mergeIncidents(incidents, snapshot.incidents);
      }
      incidents = mergeIncidents(incidents, changes);
      const serviceNames: string[] = [];
      for (const e of events) serviceNames.push(e.service);
      for (const i of changes) serviceNames.push(...i.affectedServices);
      set({
        events: prependBounded(state.events, events, state.bufferSize),
        received: state.received + events.length + skippedEvents,
        skipped: state.skipped + skippedEvents,
        serverDropped: state.serverDropped + dropped,
        incidents,
        services: addServices(state.services, serviceNames),
        liveMinutes: countByMinute(state.liveMinutes, events),
      });
      for (const message of errors) get().pushNotice(`Live feed: ${message}`);
    },

    upsertIncidents(list) {
      const state = get();
      const incidents = mergeIncidents(state.incidents, list);
      if (incidents !== state.incidents) {
        set({ incidents, services: addServices(state.services, list.flatMap((i) => i.affectedServices)) });
      }
    },

    setPaused(paused) {
      const state = get();
      if (paused === state.paused) return;
      set(paused ? { paused, frozen: state.events, receivedAtPause: state.received } : { paused, frozen: null });
    },

    setFilter(filter) {
      set({ filter: { ...get().filter, ...filter } });
    },

    resetFilter() {
      set({ filter: DEFAULT_FILTER });
    },

    setConnection(patch) {
      set({ connection: { ...get().connection, ...patch } });
    },

    pushNotice(message) {
      const notices = get().notices;
      // The same error repeating (a retry loop) shows once, with its latest time.
      const rest = notices.filter((n) => n.message !== message).slice(-4);
      set({ notices: [...rest, { id: ++noticeIds, message, at: Date.now() }] });
    },

    dismissNotice(id) {
      set({ notices: get().notices.filter((n) => n.id !== id) });
    },

    clearEvents() {
      set({ events: [], frozen: get().paused ? [] : null });
    },
  }));
}

export const liveStore = createLiveStore();

export function useLive<T>(selector: (state: LiveState) => T): T {
  return useStore(liveStore, selector);
}
