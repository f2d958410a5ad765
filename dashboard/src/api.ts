/**
 * The one module that knows the REST API's shapes (see shared/schemas and DESIGN.md).
 *
 * Every response is normalised here so that the views can rely on arrays being arrays and ids
 * being strings even when the server omits an optional field. Errors are thrown as `ApiError`
 * with the server's code and message, so views can show them as they are.
 */
import { getToken, markTokenRequired } from "./auth";
import { config } from "./config";

export type Severity = 1 | 2 | 3 | 4 | 5;
export type IncidentStatus = "active" | "acknowledged" | "resolved";
export type IncidentCommandAction = "acknowledge" | "resolve" | "reopen" | "assign" | "note";

export interface PlatformEvent {
  eventId: string;
  service: string;
  severity: number;
  timestamp: string;
  message: string;
  errorType?: string | null;
  metadata?: Record<string, unknown>;
  tags?: string[];
  resolved?: boolean;
  source?: string;
  receivedAt?: string;
  incidentId?: string | null;
  template?: string | null;
  fingerprint?: string | null;
}

export interface SeverityFactor {
  name: string;
  value: number;
  contribution: number;
  detail: string;
}

export interface TemplateCount {
  fingerprint: string;
  template: string;
  service: string;
  errorType?: string | null;
  count: number;
  firstSeen: string;
  lastSeen: string;
}

export interface TimelinePoint {
  minute: string;
  service: string;
  count: number;
  maxSeverity: number;
}

export interface IncidentNote {
  author: string;
  text: string;
  at: string;
}

/** One decision of the correlation engine and why it was taken (`rule` is a stable name). */
export interface Reason {
  rule: string;
  detail: string;
  /** The number the rule compared, where there is one (a similarity, a probability, a count). */
  score: number | null;
  /** What it saw: shared words, the names a message mentions. */
  evidence: string[];
}

export interface JoinedTemplate extends Reason {
  fingerprint: string;
  service: string;
  template: string;
  at: string;
}

export interface MergedReason extends Reason {
  incidentId: string;
}

export interface NotMergedReason extends Reason {
  incidentId: string | null;
  service: string | null;
}

export interface HistoryEntry {
  what: string;
  at: string;
  detail: string;
}

/** Why the incident is what it is: every grouping decision behind it. */
export interface Explanation {
  opened: Reason | null;
  joined: JoinedTemplate[];
  merged: MergedReason[];
  notMerged: NotMergedReason[];
  history: HistoryEntry[];
}

/** One alert (dedupKey) or failure (fingerprint) the incident reports on, and where it stands. */
export interface IncidentIdentity {
  identity: string;
  kind: "dedupKey" | "fingerprint";
  service: string;
  resolved: boolean;
  at: string;
}

export interface Incident {
  incidentId: string;
  version: number;
  status: IncidentStatus;
  title: string;
  severityScore: number;
  severityFactors: SeverityFactor[];
  affectedServices: string[];
  probableOrigin: string | null;
  eventCount: number;
  firstSeen: string;
  lastSeen: string;
  flapping: boolean;
  /** Cycles: times it stopped failing (quiet or resolved by its source) and failed again. */
  flapCount: number;
  /** Flapping, and every failure it reports on is resolved for now. */
  recovering: boolean;
  previousIncidentId: string | null;
  /**
   * Set when this incident is part of another one's cascade (a failure that spread across
   * correlation keys): that root incident stands for it, so it is not shown as one of its own.
   */
  mergedInto: string | null;
  /** The incidents merged into this one (whose services, events and templates it already counts). */
  mergedIncidentIds: string[];
  templates: TemplateCount[];
  timeline: TimelinePoint[];
  sampleEvents: PlatformEvent[];
  identities: IncidentIdentity[];
  explanation: Explanation | null;
  aiGeneratedSummary: string | null;
  rootCause: string | null;
  suggestedActions: string[];
  summaryKind: "ai" | "rule-based" | null;
  summaryProvider: string | null;
  summaryModel: string | null;
  summaryConfidence: number | null;
  summarizedAt: string | null;
  assignee: string | null;
  notes: IncidentNote[];
  acknowledgedAt: string | null;
  acknowledgedBy: string | null;
  resolvedAt: string | null;
  resolvedBy: string | null;
  resolution: string | null;
  createdAt: string;
  updatedAt: string;
}

export interface Page<T> {
  data: T[];
  nextCursor: string | null;
}

export interface IncidentStats {
  byStatus: Record<string, number>;
  bySeverity: Record<string, number>;
  mttaSeconds: number | null;
  mttrSeconds: number | null;
}

export interface MinuteStats {
  minute: string;
  total: number;
  bySeverity: Record<string, number>;
  byService: Record<string, number>;
}

export interface EventStats {
  perMinute: MinuteStats[];
  eventsPerMinute: number | null;
}

export interface EventQuery {
  service?: string;
  severity?: number;
  limit?: number;
  cursor?: string | null;
}

export interface IncidentQuery {
  status?: IncidentStatus | "";
  service?: string;
  severity?: number | "";
  /** At least this severity score (the gateway's `minSeverity`). */
  minSeverity?: number | "";
  /** Text the title must contain (the gateway's `q`). */
  q?: string;
  /** Also list incidents merged into another one (left out by default). */
  includeMerged?: boolean;
  from?: string;
  to?: string;
  limit?: number;
  cursor?: string | null;
}

export interface IncidentCommand {
  action: IncidentCommandAction;
  assignee?: string;
  note?: string;
  actor?: string;
}

/** An error answer from the API (or the network), with the server's code and message. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly details: unknown;

  constructor(status: number, code: string, message: string, details?: unknown) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.details = details;
  }

  /** One line for a person: "404 not_found: incident inc_x does not exist". */
  describe(): string {
    const prefix = this.status > 0 ? `${this.status} ${this.code}` : this.code;
    return `${prefix}: ${this.message}`;
  }
}

/** One line describing any thrown value, for showing to a person. */
export function errorText(err: unknown): string {
  if (err instanceof ApiError) return err.describe();
  if (err instanceof Error) return err.message;
  return String(err);
}

function asString(value: unknown, fallback = ""): string {
  return typeof value === "string" ? value : fallback;
}

function asNullableString(value: unknown): string | null {
  return typeof value === "string" && value !== "" ? value : null;
}

function asNumber(value: unknown, fallback = 0): number {
  return typeof value === "number" && Number.isFinite(value) ? value : fallback;
}

function asArray<T>(value: unknown, item: (raw: unknown) => T | null = (raw) => raw as T): T[] {
  if (!Array.isArray(value)) return [];
  const out: T[] = [];
  for (const raw of value) {
    const parsed = item(raw);
    if (parsed !== null) out.push(parsed);
  }
  return out;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Accepts an event from the API or the WebSocket, or null when it lacks what the views need. */
export function normalizeEvent(raw: unknown): PlatformEvent | null {
  if (!isObject(raw)) return null;
  const eventId = asString(raw.eventId);
  const service = asString(raw.service);
  if (!eventId || !service) return null;
  return {
    ...(raw as Partial<PlatformEvent>),
    eventId,
    service,
    severity: Math.min(5, Math.max(1, Math.round(asNumber(raw.severity, 1)))),
    timestamp: asString(raw.timestamp, asString(raw.receivedAt, new Date().toISOString())),
    message: asString(raw.message),
  };
}

/** Accepts an incident from the API or the WebSocket, filling every list and optional field. */
export function normalizeIncident(raw: unknown): Incident | null {
  if (!isObject(raw)) return null;
  const incidentId = asString(raw.incidentId);
  if (!incidentId) return null;
  const status = raw.status === "acknowledged" || raw.status === "resolved" ? raw.status : "active";
  const firstSeen = asString(raw.firstSeen, asString(raw.createdAt));
  const lastSeen = asString(raw.lastSeen, firstSeen);
  const summaryKind = raw.summaryKind === "ai" || raw.summaryKind === "rule-based" ? raw.summaryKind : null;
  return {
    incidentId,
    version: asNumber(raw.version, 0),
    status,
    title: asString(raw.title),
    severityScore: Math.min(5, Math.max(1, asNumber(raw.severityScore, 1))),
    severityFactors: asArray<SeverityFactor>(raw.severityFactors, (f) =>
      isObject(f)
        ? {
            name: asString(f.name),
            value: asNumber(f.value),
            contribution: asNumber(f.contribution),
            detail: asString(f.detail),
          }
        : null,
    ),
    affectedServices: asArray<string>(raw.affectedServices, (s) => (typeof s === "string" ? s : null)),
    probableOrigin: asNullableString(raw.probableOrigin),
    eventCount: asNumber(raw.eventCount),
    firstSeen,
    lastSeen,
    flapping: raw.flapping === true,
    flapCount: asNumber(raw.flapCount),
    recovering: raw.recovering === true,
    previousIncidentId: asNullableString(raw.previousIncidentId),
    mergedInto: asNullableString(raw.mergedInto),
    mergedIncidentIds: asArray<string>(raw.mergedIncidentIds, (s) => (typeof s === "string" && s !== "" ? s : null)),
    templates: asArray<TemplateCount>(raw.templates, (t) =>
      isObject(t)
        ? {
            fingerprint: asString(t.fingerprint),
            template: asString(t.template),
            service: asString(t.service),
            errorType: asNullableString(t.errorType),
            count: asNumber(t.count),
            firstSeen: asString(t.firstSeen),
            lastSeen: asString(t.lastSeen),
          }
        : null,
    ),
    timeline: asArray<TimelinePoint>(raw.timeline, (p) =>
      isObject(p)
        ? {
            minute: asString(p.minute),
            service: asString(p.service),
            count: asNumber(p.count),
            maxSeverity: asNumber(p.maxSeverity, 1),
          }
        : null,
    ),
    sampleEvents: asArray<PlatformEvent>(raw.sampleEvents, normalizeEvent),
    identities: asArray<IncidentIdentity>(raw.identities, (i) =>
      isObject(i) && typeof i.identity === "string"
        ? {
            identity: i.identity,
            kind: i.kind === "dedupKey" ? "dedupKey" : "fingerprint",
            service: asString(i.service),
            resolved: i.resolved === true,
            at: asString(i.at),
          }
        : null,
    ),
    explanation: normalizeExplanation(raw.explanation),
    aiGeneratedSummary: asNullableString(raw.aiGeneratedSummary),
    rootCause: asNullableString(raw.rootCause),
    suggestedActions: asArray<string>(raw.suggestedActions, (s) => (typeof s === "string" ? s : null)),
    summaryKind,
    summaryProvider: asNullableString(raw.summaryProvider),
    summaryModel: asNullableString(raw.summaryModel),
    summaryConfidence: typeof raw.summaryConfidence === "number" ? raw.summaryConfidence : null,
    summarizedAt: asNullableString(raw.summarizedAt),
    assignee: asNullableString(raw.assignee),
    notes: asArray<IncidentNote>(raw.notes, (n) =>
      isObject(n) ? { author: asString(n.author, "anonymous"), text: asString(n.text), at: asString(n.at) } : null,
    ),
    acknowledgedAt: asNullableString(raw.acknowledgedAt),
    acknowledgedBy: asNullableString(raw.acknowledgedBy),
    resolvedAt: asNullableString(raw.resolvedAt),
    resolvedBy: asNullableString(raw.resolvedBy),
    resolution: asNullableString(raw.resolution),
    createdAt: asString(raw.createdAt, firstSeen),
    updatedAt: asString(raw.updatedAt, lastSeen),
  };
}

function normalizeReason(raw: Record<string, unknown>): Reason {
  return {
    rule: asString(raw.rule),
    detail: asString(raw.detail),
    score: typeof raw.score === "number" && Number.isFinite(raw.score) ? raw.score : null,
    evidence: asArray<string>(raw.evidence, (w) => (typeof w === "string" ? w : null)),
  };
}

/** The engine's explanation of an incident; null when the server sent none (older incidents). */
export function normalizeExplanation(raw: unknown): Explanation | null {
  if (!isObject(raw)) return null;
  return {
    opened: isObject(raw.opened) ? normalizeReason(raw.opened) : null,
    joined: asArray<JoinedTemplate>(raw.joined, (j) =>
      isObject(j)
        ? { ...normalizeReason(j), fingerprint: asString(j.fingerprint), service: asString(j.service), template: asString(j.template), at: asString(j.at) }
        : null,
    ),
    merged: asArray<MergedReason>(raw.merged, (m) =>
      isObject(m) && typeof m.incidentId === "string" ? { ...normalizeReason(m), incidentId: m.incidentId } : null,
    ),
    notMerged: asArray<NotMergedReason>(raw.notMerged, (n) =>
      isObject(n) ? { ...normalizeReason(n), incidentId: asNullableString(n.incidentId), service: asNullableString(n.service) } : null,
    ),
    history: asArray<HistoryEntry>(raw.history, (h) =>
      isObject(h) ? { what: asString(h.what), at: asString(h.at), detail: asString(h.detail) } : null,
    ),
  };
}

function numberRecord(raw: unknown): Record<string, number> {
  const out: Record<string, number> = {};
  if (isObject(raw)) {
    for (const [key, value] of Object.entries(raw)) {
      if (typeof value === "number") out[key] = value;
    }
  }
  return out;
}

function nullableNumber(raw: unknown): number | null {
  return typeof raw === "number" && Number.isFinite(raw) ? raw : null;
}

export interface ApiClientOptions {
  baseUrl?: string;
  fetchImpl?: typeof fetch;
  timeoutMs?: number;
  /** The bearer token to send, if any (read when each request is made). */
  token?: () => string | null;
}

/** A thin typed client over the REST API. */
export class ApiClient {
  private readonly baseUrl: string;
  private readonly fetchImpl: typeof fetch;
  private readonly timeoutMs: number;
  private readonly token: () => string | null;

  constructor(options: ApiClientOptions = {}) {
    this.baseUrl = (options.baseUrl ?? config.apiUrl).replace(/\/+$/, "");
    this.fetchImpl = options.fetchImpl ?? ((input, init) => fetch(input, init));
    this.timeoutMs = options.timeoutMs ?? 15_000;
    this.token = options.token ?? getToken;
  }

  private url(path: string, query?: Record<string, unknown>): string {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(query ?? {})) {
      if (value === undefined || value === null || value === "") continue;
      params.set(key, String(value));
    }
    const qs = params.toString();
    return `${this.baseUrl}${path}${qs ? `?${qs}` : ""}`;
  }

  /** Sends one request and returns the whole JSON body; throws ApiError on anything but success. */
  private async request(method: string, path: string, query?: Record<string, unknown>, body?: unknown): Promise<Record<string, unknown>> {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), this.timeoutMs);
    let response: Response;
    try {
      const headers: Record<string, string> = { Accept: "application/json" };
      if (body !== undefined) headers["Content-Type"] = "application/json";
      const token = this.token();
      if (token) headers.Authorization = `Bearer ${token}`;
      response = await this.fetchImpl(this.url(path, query), {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: controller.signal,
      });
    } catch (err) {
      const aborted = err instanceof DOMException && err.name === "AbortError";
      throw new ApiError(
        0,
        aborted ? "timeout" : "network_error",
        aborted
          ? `${method} ${path} got no answer within ${this.timeoutMs / 1000}s`
          : `cannot reach the API at ${this.baseUrl} (${err instanceof Error ? err.message : String(err)})`,
      );
    } finally {
      clearTimeout(timer);
    }
    let parsed: unknown = null;
    const text = await response.text();
    if (text) {
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = null;
      }
    }
    const json = isObject(parsed) ? parsed : {};
    // The platform protects reads or writes with tokens: ask the person for one.
    if (response.status === 401) markTokenRequired();
    if (!response.ok || json.success === false) {
      const error = isObject(json.error) ? json.error : {};
      throw new ApiError(
        response.status,
        asString(error.code, response.ok ? "error" : `http_${response.status}`),
        asString(error.message, asString(json.message, response.statusText || `${method} ${path} failed`)),
        error.details,
      );
    }
    return json;
  }

  private page<T>(json: Record<string, unknown>, item: (raw: unknown) => T | null): Page<T> {
    return { data: asArray<T>(json.data, item), nextCursor: asNullableString(json.nextCursor) };
  }

  async listEvents(query: EventQuery = {}): Promise<Page<PlatformEvent>> {
    return this.page(await this.request("GET", "/api/events", { ...query }), normalizeEvent);
  }

  async listIncidents(query: IncidentQuery = {}): Promise<Page<Incident>> {
    return this.page(await this.request("GET", "/api/incidents", { ...query }), normalizeIncident);
  }

  async activeIncidents(): Promise<Incident[]> {
    return this.page(await this.request("GET", "/api/incidents/active"), normalizeIncident).data;
  }

  async getIncident(incidentId: string): Promise<Incident> {
    const json = await this.request("GET", `/api/incidents/${encodeURIComponent(incidentId)}`);
    const incident = normalizeIncident(json.data);
    if (!incident) throw new ApiError(502, "bad_response", `the API returned no incident for ${incidentId}`);
    return incident;
  }

  async updateIncident(incidentId: string, command: IncidentCommand): Promise<Incident | null> {
    const json = await this.request("PATCH", `/api/incidents/${encodeURIComponent(incidentId)}`, undefined, command);
    return normalizeIncident(json.data);
  }

  async incidentStats(): Promise<IncidentStats> {
    const json = await this.request("GET", "/api/incidents/stats");
    const data = isObject(json.data) ? json.data : {};
    return {
      byStatus: numberRecord(data.byStatus),
      bySeverity: numberRecord(data.bySeverity),
      mttaSeconds: nullableNumber(data.mttaSeconds),
      mttrSeconds: nullableNumber(data.mttrSeconds),
    };
  }

  async eventStats(minutes = 60): Promise<EventStats> {
    const json = await this.request("GET", "/api/events/stats", { minutes });
    const data = isObject(json.data) ? json.data : {};
    return {
      perMinute: asArray<MinuteStats>(data.perMinute, (m) =>
        isObject(m) && typeof m.minute === "string"
          ? { minute: m.minute, total: asNumber(m.total), bySeverity: numberRecord(m.bySeverity), byService: numberRecord(m.byService) }
          : null,
      ),
      eventsPerMinute: nullableNumber(data.eventsPerMinute),
    };
  }

  /** Asks the summarizer for a fresh summary; the result arrives as a `summary_updated` change. */
  async requestSummary(incidentId: string): Promise<string> {
    const json = await this.request("POST", `/api/ai/summarize/${encodeURIComponent(incidentId)}`);
    return asString(json.message, "summary requested");
  }
}

export const api = new ApiClient();
