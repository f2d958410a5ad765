/**
 * Where the dashboard finds the platform. Vite inlines `VITE_*` variables at build time; the
 * defaults are the local runtime's single origin (the gateway forwards `/ws` to the broadcaster).
 */
export interface DashboardConfig {
  apiUrl: string;
  wsUrl: string;
}

function trimSlash(url: string): string {
  return url.replace(/\/+$/, "");
}

export const config: DashboardConfig = {
  apiUrl: trimSlash(import.meta.env.VITE_API_URL || "http://localhost:5000"),
  wsUrl: import.meta.env.VITE_WS_URL || "ws://localhost:5000/ws",
};
