/**
 * Where the dashboard finds the platform, first found wins: `window.__II_CONFIG__` (set by
 * `/config.js`, which a deployment may replace without rebuilding), the `VITE_*` variables Vite
 * inlined at build time, then the local runtime's single origin (the gateway forwards `/ws` to
 * the broadcaster).
 *
 * Paths are accepted too, for a deployment that serves the dashboard, the API and the WebSocket
 * under one host (an ingress): `VITE_API_URL=/` and `VITE_WS_URL=/ws` resolve against the page's
 * own origin, with `wss:` on an `https:` page.
 */
export interface DashboardConfig {
  apiUrl: string;
  wsUrl: string;
}

function trimSlash(url: string): string {
  return url.replace(/\/+$/, "");
}

export function resolveWsUrl(value: string, location: { protocol: string; host: string } | undefined): string {
  if (!value.startsWith("/") || !location) return value;
  return `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}${value}`;
}

type RuntimeConfig = Partial<DashboardConfig> | undefined;
const runtime: RuntimeConfig = typeof window === "undefined" ? undefined : (window as unknown as { __II_CONFIG__?: RuntimeConfig }).__II_CONFIG__;

export const config: DashboardConfig = {
  apiUrl: trimSlash(runtime?.apiUrl || import.meta.env.VITE_API_URL || "http://localhost:5000"),
  wsUrl: resolveWsUrl(
    runtime?.wsUrl || import.meta.env.VITE_WS_URL || "ws://localhost:5000/ws",
    typeof window === "undefined" ? undefined : window.location,
  ),
};
