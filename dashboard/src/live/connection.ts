/**
 * The WebSocket to the broadcaster: subscribes to every channel, feeds what arrives to the store
 * once per animation frame, and reconnects by itself with capped, jittered backoff.
 */
import type { StoreApi } from "zustand/vanilla";
import { api, errorText } from "../api";
import { getToken, withToken } from "../auth";
import { FrameBatcher } from "../store/batcher";
import type { LiveState } from "../store/liveStore";
import { parseFrame } from "./messages";

export interface LiveConnectionOptions {
  url: string;
  store: StoreApi<LiveState>;
  /** Channels to subscribe to; `["all"]` by default. */
  channels?: string[];
  /** Called after each successful (re)connection, e.g. to reload what may have been missed. */
  onOpen?: () => void;
}

const MAX_BACKOFF_MS = 15_000;

/** The delay before reconnect attempt `attempt` (1-based): 0.5 s, 1 s, 2 s ... capped, with jitter. */
export function backoffMs(attempt: number, random: () => number = Math.random): number {
  const base = Math.min(MAX_BACKOFF_MS, 500 * 2 ** Math.max(0, attempt - 1));
  return Math.round(base * (0.75 + random() * 0.5));
}

export class LiveConnection {
  private socket: WebSocket | null = null;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private stopped = false;
  /** When the last frame (of any type, heartbeats included) arrived; read by the indicator. */
  lastMessageAt: number | null = null;
  private readonly batcher: FrameBatcher;

  constructor(private readonly options: LiveConnectionOptions) {
    const store = options.store;
    this.batcher = new FrameBatcher((items, skipped) => store.getState().applyItems(items, skipped), store.getState().bufferSize);
  }

  start(): void {
    this.stopped = false;
    this.connect();
  }

  stop(): void {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.socket?.close(1000, "page closed");
    this.socket = null;
    this.batcher.dispose();
  }

  /** Drops the current socket and connects again now (the indicator's "reconnect" button). */
  reconnectNow(): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    const old = this.socket;
    this.socket = null;
    old?.close(1000, "reconnect");
    this.options.store.getState().setConnection({ attempt: 0 });
    this.connect();
  }

  private setConnection(patch: Partial<LiveState["connection"]>): void {
    this.options.store.getState().setConnection(patch);
  }

  private connect(): void {
    if (this.stopped) return;
    const { attempt } = this.options.store.getState().connection;
    this.setConnection({ status: attempt === 0 ? "connecting" : "reconnecting", nextRetryAt: null });
    let socket: WebSocket;
    try {
      socket = new WebSocket(withToken(this.options.url, getToken()));
    } catch (err) {
      this.scheduleRetry(`cannot open ${this.options.url}: ${err instanceof Error ? err.message : String(err)}`);
      return;
    }
    this.socket = socket;
    socket.onopen = () => {
      if (this.socket !== socket) return;
      // `batch`: the broadcaster may coalesce a burst of events into one `events` frame.
      socket.send(JSON.stringify({ type: "subscribe", channels: this.options.channels ?? ["all"], batch: true }));
      this.lastMessageAt = Date.now();
      this.setConnection({ status: "open", attempt: 0, error: null, lastMessageAt: this.lastMessageAt });
      this.options.onOpen?.();
    };
    socket.onmessage = (message: MessageEvent) => {
      if (this.socket !== socket) return;
      if (typeof message.data !== "string") return;
      this.lastMessageAt = Date.now();
      this.batcher.push(parseFrame(message.data));
    };
    socket.onclose = (close: CloseEvent) => {
      if (this.socket !== socket) return;
      this.socket = null;
      this.batcher.run();
      const reason = close.reason ? `: ${close.reason}` : "";
      this.scheduleRetry(`live feed closed (code ${close.code}${reason})`);
    };
    // An error is always followed by a close, which schedules the retry.
    socket.onerror = () => undefined;
  }

  private scheduleRetry(error: string): void {
    if (this.stopped) return;
    const attempt = this.options.store.getState().connection.attempt + 1;
    const delay = backoffMs(attempt);
    this.setConnection({
      status: attempt >= 3 ? "offline" : "reconnecting",
      attempt,
      error,
      nextRetryAt: Date.now() + delay,
    });
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.connect();
    }, delay);
  }
}

/**
 * Loads the open incidents over REST (on start and after each reconnect, for what the socket
 * missed) and merges them by version; failures become a notice, not a silent gap.
 */
export async function loadActiveIncidents(store: StoreApi<LiveState>): Promise<void> {
  try {
    store.getState().upsertIncidents(await api.activeIncidents());
  } catch (err) {
    store.getState().pushNotice(`Loading active incidents failed: ${errorText(err)}`);
  }
}
