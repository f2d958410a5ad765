import { useLoader, useNow } from "../hooks";
import { liveFeed } from "../live/feed";
import { fetchHealth } from "../live/health";
import { useLive } from "../store/liveStore";
import { HealthNotice } from "./HealthNotice";

const LABELS = {
  open: { text: "Live", dot: "bg-emerald-400", ring: "ring-emerald-700" },
  connecting: { text: "Connecting…", dot: "bg-amber-400 animate-pulse", ring: "ring-amber-700" },
  reconnecting: { text: "Reconnecting…", dot: "bg-amber-400 animate-pulse", ring: "ring-amber-700" },
  offline: { text: "Offline", dot: "bg-red-500", ring: "ring-red-700" },
} as const;

/** How often the gateway's health is asked whether incidents are still being updated. */
const HEALTH_POLL_MS = 10_000;

/**
 * The live feed's state (it reconnects by itself, and offers "Reconnect now" while it waits), and
 * beside it what the feed cannot show: incidents no longer being updated, or another dependency down.
 */
export function ConnectionIndicator() {
  const connection = useLive((s) => s.connection);
  const health = useLoader(() => fetchHealth(), [], HEALTH_POLL_MS);
  const now = useNow(1000);
  const label = LABELS[connection.status];
  const retryIn = connection.nextRetryAt ? Math.max(0, Math.ceil((connection.nextRetryAt - now) / 1000)) : null;
  const idle = connection.status === "open" && liveFeed.lastMessageAt ? Math.round((now - liveFeed.lastMessageAt) / 1000) : null;
  return (
    <div className="flex items-center gap-2 text-sm" data-testid="connection" data-status={connection.status}>
      <HealthNotice health={health.error ? null : health.data} />
      <span role="status" className={`inline-flex items-center gap-2 rounded-full bg-slate-900 px-2.5 py-1 ring-1 ${label.ring}`} title={connection.error ?? undefined}>
        <span aria-hidden="true" className={`h-2.5 w-2.5 rounded-full ${label.dot}`} />
        <span>{label.text}</span>
        {retryIn !== null && connection.status !== "open" && <span className="text-xs text-slate-400">retry in {retryIn}s</span>}
        {idle !== null && idle > 30 && <span className="text-xs text-slate-400">quiet {idle}s</span>}
      </span>
      {connection.status !== "open" && (
        <button type="button" className="btn btn-secondary" onClick={() => liveFeed.reconnectNow()}>
          Reconnect now
        </button>
      )}
    </div>
  );
}
