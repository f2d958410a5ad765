/**
 * The token the dashboard sends when the platform protects reads (READ_TOKENS) or writes
 * (API_TOKENS): one token per browser, kept in localStorage, sent as `Authorization: Bearer` on REST
 * and as `?token=` on the WebSocket (browsers cannot set headers there).
 *
 * A person gets it in one of two ways: the dashboard asks for it when the API answers 401, or a link
 * carries it once as `?token=...` (taken into storage and removed from the address bar at once).
 */

const STORAGE_KEY = "incident-intelligence.token";

type Listener = () => void;
const listeners = new Set<Listener>();
let required = false;

function storage(): Storage | null {
  try {
    return typeof window === "undefined" ? null : window.localStorage;
  } catch {
    return null;
  }
}

export function getToken(): string | null {
  return storage()?.getItem(STORAGE_KEY) || null;
}

export function setToken(token: string | null): void {
  const trimmed = token?.trim() || "";
  if (trimmed) storage()?.setItem(STORAGE_KEY, trimmed);
  else storage()?.removeItem(STORAGE_KEY);
  required = false;
  listeners.forEach((listener) => listener());
}

/** Whether the API refused a request for want of a (valid) token since the token last changed. */
export function tokenRequired(): boolean {
  return required;
}

export function markTokenRequired(): void {
  if (required) return;
  required = true;
  listeners.forEach((listener) => listener());
}

export function subscribeToken(listener: Listener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** `url` with the token as its `token` query parameter (for the WebSocket), or unchanged without one. */
export function withToken(url: string, token: string | null): string {
  if (!token) return url;
  return `${url}${url.includes("?") ? "&" : "?"}token=${encodeURIComponent(token)}`;
}

/** Takes a `?token=` from the page's address into storage and out of the address bar and history. */
export function adoptTokenFromLocation(location: Location, history: History): void {
  const params = new URLSearchParams(location.search);
  const token = params.get("token");
  if (!token) return;
  setToken(token);
  params.delete("token");
  const query = params.toString();
  history.replaceState(history.state, "", `${location.pathname}${query ? `?${query}` : ""}${location.hash}`);
}
