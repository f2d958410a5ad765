#!/usr/bin/env node
/**
 * A stand-in for the platform's API and WebSocket, in memory, for working on the dashboard
 * without Kafka, MongoDB and the Python services (and for checking the browser test itself).
 * It speaks the same contract (REST under /api, WebSocket at /ws) with a deliberately naive
 * correlation: every event of severity >= 4 within 5 minutes joins one open incident.
 *
 *   node dev/fake-api.mjs [--port 5000] [--firehose EVENTS_PER_SECOND [--single-frames]]
 *
 * `--firehose` streams synthetic low-severity events to every WebSocket client (as coalesced
 * `events` frames every 50 ms, or one `event` frame each with `--single-frames`), to measure how
 * the dashboard holds up; they are not stored.
 *
 * It is not the product: the real grouping, scoring and summaries live in the services.
 */
import { createServer } from "node:http";
import { randomUUID } from "node:crypto";
import { WebSocketServer } from "ws";

const arg = (name) => (process.argv.includes(name) ? process.argv[process.argv.indexOf(name) + 1] : undefined);
const port = Number(arg("--port") || process.env.PORT || 5000);
const firehose = Number(arg("--firehose") || 0);
const singleFrames = process.argv.includes("--single-frames");
const events = [];
const incidents = new Map();
let open = null;

const now = () => new Date().toISOString();
const minute = (iso) => new Date(Math.floor(Date.parse(iso) / 60000) * 60000).toISOString();

const wss = new WebSocketServer({ noServer: true });
function broadcast(message) {
  const text = JSON.stringify({ ...message, timestamp: now() });
  for (const client of wss.clients) if (client.readyState === 1) client.send(text);
}

function publish(incident, action) {
  incident.version += 1;
  incident.updatedAt = now();
  broadcast({ type: "incident", action, data: incident });
}

function ingest(raw) {
  const event = {
    eventId: raw.eventId ? (raw.eventId.startsWith("evt_") ? raw.eventId : `evt_${raw.eventId}`) : `evt_${randomUUID().replaceAll("-", "")}`,
    service: raw.service,
    severity: raw.severity,
    timestamp: raw.timestamp ?? now(),
    message: raw.message ?? "",
    errorType: raw.errorType ?? null,
    metadata: raw.metadata ?? {},
    tags: raw.tags ?? [],
    resolved: raw.resolved ?? false,
    source: "http",
    receivedAt: now(),
  };
  events.push(event);
  if (events.length > 20000) events.splice(0, 5000);
  broadcast({ type: "event", data: event });
  if (event.severity < 4) return event;
  if (!open || open.status === "resolved" || Date.parse(event.timestamp) - Date.parse(open.lastSeen) > 300000) {
    open = {
      incidentId: `inc_${randomUUID().replaceAll("-", "").slice(0, 20)}`,
      version: 0,
      status: "active",
      title: `${event.service}: ${event.message.slice(0, 60)}`,
      severityScore: event.severity,
      severityFactors: [],
      affectedServices: [],
      probableOrigin: event.service,
      eventCount: 0,
      firstSeen: event.timestamp,
      lastSeen: event.timestamp,
      flapping: false,
      flapCount: 0,
      templates: [],
      timeline: [],
      sampleEvents: [],
      suggestedActions: [],
      notes: [],
      assignee: null,
      createdAt: now(),
    };
    incidents.set(open.incidentId, open);
    setTimeout(() => summarize(open), 3000);
  }
  const inc = open;
  inc.eventCount += 1;
  inc.lastSeen = event.timestamp;
  inc.severityScore = Math.max(inc.severityScore, event.severity);
  if (!inc.affectedServices.includes(event.service)) inc.affectedServices.push(event.service);
  const m = minute(event.timestamp);
  const point = inc.timeline.find((p) => p.minute === m && p.service === event.service);
  if (point) {
    point.count += 1;
    point.maxSeverity = Math.max(point.maxSeverity, event.severity);
  } else inc.timeline.push({ minute: m, service: event.service, count: 1, maxSeverity: event.severity });
  const template = event.message.replace(/\d+/g, "<NUM>");
  const t = inc.templates.find((x) => x.template === template && x.service === event.service);
  if (t) {
    t.count += 1;
    t.lastSeen = event.timestamp;
  } else inc.templates.push({ fingerprint: randomUUID().slice(0, 8), template, service: event.service, errorType: event.errorType, count: 1, firstSeen: event.timestamp, lastSeen: event.timestamp });
  if (inc.sampleEvents.length < 5) inc.sampleEvents.push(event);
  inc.severityFactors = [
    { name: "peakSeverity", value: inc.severityScore, contribution: inc.severityScore * 0.6, detail: `highest event severity ${inc.severityScore}` },
    { name: "breadth", value: inc.affectedServices.length, contribution: 0.3 * inc.affectedServices.length, detail: `${inc.affectedServices.length} services affected` },
  ];
  publish(inc, inc.version === 0 ? "created" : "updated");
  return event;
}

function summarize(inc) {
  inc.aiGeneratedSummary = `${inc.probableOrigin} started failing and ${inc.affectedServices.length - 1} dependent services followed.`;
  inc.rootCause = `${inc.probableOrigin} is unavailable.`;
  inc.suggestedActions = [`Check ${inc.probableOrigin}'s health and connections`, "Fail over or restart it", "Watch the callers recover"];
  inc.summaryKind = "rule-based";
  inc.summaryProvider = "rule-based";
  inc.summaryModel = null;
  inc.summaryConfidence = 0.5;
  inc.summarizedAt = now();
  publish(inc, "summary_updated");
}

function send(res, status, body) {
  res.writeHead(status, {
    "Content-Type": "application/json",
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, POST, PATCH, OPTIONS",
    "Access-Control-Allow-Headers": "Content-Type, Authorization",
  });
  res.end(JSON.stringify(body));
}

const fail = (res, status, code, message) => send(res, status, { success: false, error: { code, message } });

async function body(req) {
  let text = "";
  for await (const chunk of req) text += chunk;
  return text ? JSON.parse(text) : {};
}

function stats() {
  const byStatus = { active: 0, acknowledged: 0, resolved: 0 };
  const bySeverity = { 1: 0, 2: 0, 3: 0, 4: 0, 5: 0 };
  const tta = [];
  const ttr = [];
  for (const i of incidents.values()) {
    byStatus[i.status] += 1;
    if (i.status !== "resolved") bySeverity[i.severityScore] += 1;
    if (i.acknowledgedAt) tta.push((Date.parse(i.acknowledgedAt) - Date.parse(i.firstSeen)) / 1000);
    if (i.resolvedAt) ttr.push((Date.parse(i.resolvedAt) - Date.parse(i.firstSeen)) / 1000);
  }
  const mean = (xs) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null);
  return { byStatus, bySeverity, mttaSeconds: mean(tta), mttrSeconds: mean(ttr) };
}

function eventStats(minutes) {
  const since = Date.now() - minutes * 60000;
  const per = new Map();
  for (const e of events) {
    if (Date.parse(e.timestamp) < since) continue;
    const m = minute(e.timestamp);
    const row = per.get(m) ?? { minute: m, total: 0, bySeverity: {}, byService: {} };
    row.total += 1;
    row.bySeverity[e.severity] = (row.bySeverity[e.severity] ?? 0) + 1;
    row.byService[e.service] = (row.byService[e.service] ?? 0) + 1;
    per.set(m, row);
  }
  const perMinute = [...per.values()].sort((a, b) => a.minute.localeCompare(b.minute));
  const recent = events.filter((e) => Date.parse(e.timestamp) > Date.now() - 300000).length;
  return { perMinute, eventsPerMinute: recent / 5 };
}

const server = createServer(async (req, res) => {
  const url = new URL(req.url, `http://${req.headers.host}`);
  const path = url.pathname;
  try {
    if (req.method === "OPTIONS") return send(res, 204, {});
    if (path === "/health/ready") return send(res, 200, { status: "ready" });
    // FAKE_API_AGGREGATOR_DOWN=1 shows the connection area's "Incidents not updating".
    if (path === "/health") {
      const problems = process.env.FAKE_API_AGGREGATOR_DOWN
        ? { aggregator: "RuntimeError: incidents are not being updated: no aggregator is running (fake API)" }
        : {};
      return send(res, 200, { status: Object.keys(problems).length ? "degraded" : "ok", ready: true, problems });
    }
    if (req.method === "POST" && path === "/api/events") {
      const raw = await body(req);
      if (!raw.service || !raw.severity) return fail(res, 400, "validation_error", "service and severity are required");
      return send(res, 201, { success: true, message: "Event created successfully", data: ingest(raw) });
    }
    if (req.method === "POST" && path === "/api/events/batch") {
      const raw = await body(req);
      const list = Array.isArray(raw) ? raw : raw.events;
      return send(res, 201, { success: true, data: list.map((e) => ({ success: true, eventId: ingest(e).eventId })) });
    }
    if (req.method === "GET" && path === "/api/events/stats") return send(res, 200, { success: true, data: eventStats(Number(url.searchParams.get("minutes") ?? 60)) });
    if (req.method === "GET" && path === "/api/events") return send(res, 200, { success: true, data: events.slice(-50).reverse(), nextCursor: null });
    if (req.method === "GET" && path === "/api/incidents/stats") return send(res, 200, { success: true, data: stats() });
    if (req.method === "GET" && path === "/api/incidents/active")
      return send(res, 200, { success: true, data: [...incidents.values()].filter((i) => i.status !== "resolved") });
    if (req.method === "GET" && path === "/api/incidents") {
      const status = url.searchParams.get("status");
      const list = [...incidents.values()].filter((i) => !status || i.status === status).sort((a, b) => b.lastSeen.localeCompare(a.lastSeen));
      return send(res, 200, { success: true, data: list, nextCursor: null });
    }
    const match = path.match(/^\/api\/(incidents|ai\/summarize)\/([^/]+)$/);
    if (match) {
      const inc = incidents.get(decodeURIComponent(match[2]));
      if (!inc) return fail(res, 404, "not_found", `no incident '${match[2]}'`);
      if (match[1] === "ai/summarize" && req.method === "POST") {
        setTimeout(() => summarize(inc), 500);
        return send(res, 202, { success: true, message: "summary requested" });
      }
      if (req.method === "GET") return send(res, 200, { success: true, data: inc });
      if (req.method === "PATCH") {
        const cmd = await body(req);
        const actor = cmd.actor ?? "anonymous";
        if (cmd.action === "acknowledge") Object.assign(inc, { status: "acknowledged", acknowledgedAt: now(), acknowledgedBy: actor });
        else if (cmd.action === "resolve") Object.assign(inc, { status: "resolved", resolvedAt: now(), resolvedBy: actor, resolution: "manual" });
        else if (cmd.action === "reopen") Object.assign(inc, { status: "active", resolvedAt: null, resolvedBy: null });
        else if (cmd.action === "assign") inc.assignee = cmd.assignee || null;
        else if (cmd.action === "note") inc.notes.push({ author: actor, text: cmd.note, at: now() });
        else return fail(res, 400, "validation_error", `unknown action ${cmd.action}`);
        publish(inc, cmd.action === "resolve" ? "resolved" : "updated");
        return send(res, 200, { success: true, data: inc });
      }
    }
    return fail(res, 404, "not_found", `no route ${req.method} ${path}`);
  } catch (err) {
    return fail(res, 500, "internal", String(err));
  }
});

server.on("upgrade", (req, socket, head) => {
  wss.handleUpgrade(req, socket, head, (ws) => {
    ws.send(JSON.stringify({ type: "snapshot", data: [...incidents.values()].filter((i) => i.status !== "resolved"), complete: true, timestamp: now() }));
    ws.on("message", () => ws.send(JSON.stringify({ type: "subscribed", channels: ["all"], timestamp: now() })));
  });
});

setInterval(() => broadcast({ type: "heartbeat" }), 15000).unref();

if (firehose > 0) {
  const services = Array.from({ length: 40 }, (_, i) => `svc-${String(i).padStart(2, "0")}`);
  let seq = 0;
  let carry = 0;
  setInterval(() => {
    carry += firehose / 20;
    const n = Math.floor(carry);
    carry -= n;
    const ts = now();
    const batch = [];
    for (let i = 0; i < n; i++) {
      seq += 1;
      batch.push({
        eventId: `evt_fh_${seq}`,
        service: services[seq % services.length],
        severity: 1 + (seq % 7 === 0 ? 3 : seq % 3),
        timestamp: ts,
        message: `GET /api/items/${seq} 200 in ${seq % 97}ms`,
        receivedAt: ts,
      });
    }
    if (singleFrames) for (const e of batch) broadcast({ type: "event", data: e });
    else if (batch.length) broadcast({ type: "events", data: batch });
  }, 50);
}
server.listen(port, "127.0.0.1", () => console.log(`fake API on http://127.0.0.1:${port} (WebSocket /ws)`));
