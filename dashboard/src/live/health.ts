/**
 * Whether what stands behind the live feed works: the gateway's `/health` names each dependency
 * that is down, with the reason (`problems`). The one that matters most on this page is
 * `aggregator`: without it, events keep streaming in (the feed looks alive) while no incident is
 * opened, updated or resolved any more.
 */
import { config } from "../config";

export interface PlatformHealth {
  /** Why incidents are not being updated, or null while they are. */
  incidentsStalled: string | null;
  /** The other dependencies that are down, each with its reason. */
  otherProblems: Record<string, string>;
}

const HEALTHY: PlatformHealth = { incidentsStalled: null, otherProblems: {} };

/** Reads the body of `GET /health`; anything unexpected counts as no news (healthy). */
export function readHealth(json: unknown): PlatformHealth {
  if (typeof json !== "object" || json === null) return HEALTHY;
  const problems = (json as { problems?: unknown }).problems;
  if (typeof problems !== "object" || problems === null || Array.isArray(problems)) return HEALTHY;
  let incidentsStalled: string | null = null;
  const otherProblems: Record<string, string> = {};
  for (const [name, reason] of Object.entries(problems as Record<string, unknown>)) {
    const text = typeof reason === "string" ? reason.replace(/^\w+Error: /, "") : "down";
    if (name === "aggregator") incidentsStalled = text;
    else otherProblems[name] = text;
  }
  return { incidentsStalled, otherProblems };
}

/** Asks the gateway; `/health` always answers 200, whatever is down. */
export async function fetchHealth(
  baseUrl: string = config.apiUrl,
  fetchImpl: typeof fetch = (input, init) => fetch(input, init),
  timeoutMs = 5000,
): Promise<PlatformHealth> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  try {
    const response = await fetchImpl(`${baseUrl.replace(/\/+$/, "")}/health`, {
      headers: { Accept: "application/json" },
      signal: controller.signal,
    });
    if (!response.ok) throw new Error(`GET /health answered ${response.status}`);
    return readHealth(await response.json());
  } finally {
    clearTimeout(timer);
  }
}
