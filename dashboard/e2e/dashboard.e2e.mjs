#!/usr/bin/env node
/**
 * End to end, in a real browser (Debian's chromium through playwright-core), against a running
 * stack: posts a small storm through the REST API (a database failing, its caller and the web
 * tier after it), sees its events stream in and its one incident appear live on the overview, opens it, sees the summary, acknowledges it (from the keyboard),
 * sees the status change, also in a second page, resolves it and finds it in the history.
 * Writes docs/screenshots/dashboard.png, incident-detail.png and timeline.png.
 *
 *   node dashboard/e2e/dashboard.e2e.mjs
 *
 * Environment: II_E2E_API_URL (default http://localhost:5000), II_E2E_DASHBOARD_URL (default
 * http://localhost:3000), II_E2E_SCREENSHOTS (default docs/screenshots in the repository; "" for
 * none), II_E2E_TIMEOUT_S (how long to wait for the pipeline, default 120), CHROMIUM_PATH
 * (default /usr/bin/chromium). Exits 0 when every step passed; otherwise prints the failed step,
 * saves the page as e2e-failure-*.png in the temp dir, and exits 1.
 */
import { mkdtemp, mkdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { randomBytes } from "node:crypto";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
const API = (process.env.II_E2E_API_URL || "http://localhost:5000").replace(/\/+$/, "");
const DASHBOARD = (process.env.II_E2E_DASHBOARD_URL || "http://localhost:3000").replace(/\/+$/, "");
const SHOTS = process.env.II_E2E_SCREENSHOTS ?? resolve(here, "../../docs/screenshots");
const PIPELINE_MS = Number(process.env.II_E2E_TIMEOUT_S || 120) * 1000;
const CHROMIUM = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
const ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--no-first-run",
  "--disable-component-update",
  "--disable-sync",
  "--disable-quic",
];

const run = randomBytes(3).toString("hex");
const DB = `e2e-${run}-db`;
const API_SVC = `e2e-${run}-api`;
const WEB = `e2e-${run}-web`;

let step = "start";
const started = Date.now();
function log(message) {
  console.log(`[${((Date.now() - started) / 1000).toFixed(1).padStart(6)}s] ${message}`);
}
function begin(name) {
  step = name;
  log(`step: ${name}`);
}

async function api(method, path, body) {
  const res = await fetch(`${API}${path}`, {
    method,
    headers: body ? { "Content-Type": "application/json" } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {
    // reported below with the raw text
  }
  if (!res.ok) throw new Error(`${method} ${path} -> ${res.status}: ${text.slice(0, 300)}`);
  return json;
}

/** A small storm: the database fails hard, its caller times out naming it, the web tier sees 503s. */
function stormEvents(round) {
  const ts = new Date().toISOString();
  const out = [];
  for (let i = 0; i < 3; i++) {
    out.push({ service: DB, severity: 5, errorType: "ConnectionRefused", message: `could not connect to server: Connection refused at 10.0.0.${10 + i}:5432`, timestamp: ts });
  }
  if (round >= 1) {
    for (let i = 0; i < 3; i++) {
      out.push({ service: API_SVC, severity: 4, errorType: "TimeoutError", message: `Timeout after 5000ms calling ${DB} (query ${1000 + round * 10 + i})`, metadata: { dependency: DB }, timestamp: ts });
    }
  }
  if (round >= 2) {
    out.push({ service: WEB, severity: 4, errorType: "UpstreamUnavailable", message: `Upstream ${API_SVC} returned 503 for order ${50000 + round}`, metadata: { dependency: API_SVC }, timestamp: ts });
  }
  out.push({ service: WEB, severity: 1, message: `GET /health 200 in ${3 + round}ms`, timestamp: ts });
  return out;
}

async function postStorm(rounds) {
  let sent = 0;
  for (let round = 0; round < rounds; round++) {
    const batch = stormEvents(round);
    try {
      await api("POST", "/api/events/batch", { events: batch });
    } catch (err) {
      if (!String(err).includes("-> 404")) throw err;
      for (const event of batch) await api("POST", "/api/events", event);
    }
    sent += batch.length;
    await new Promise((r) => setTimeout(r, 400));
  }
  return sent;
}

/** Calls `check` until it returns something truthy (then returns it), or fails after `timeoutMs`. */
async function poll(check, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check().catch(() => undefined);
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`not reached within ${timeoutMs / 1000}s`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

async function shot(page, name, { locator, fullPage = false } = {}) {
  if (!SHOTS) return;
  await mkdir(SHOTS, { recursive: true });
  const path = join(SHOTS, name);
  if (locator) await locator.screenshot({ path });
  else await page.screenshot({ path, fullPage });
  log(`wrote ${path}`);
}

async function main() {
  begin("the API answers");
  await api("GET", "/api/incidents/active");

  const profile = await mkdtemp(join(tmpdir(), "ii-e2e-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ARGS,
    viewport: { width: 1440, height: 1000 },
    colorScheme: "dark",
  });
  const pageErrors = [];
  let page = null;
  try {
    page = context.pages()[0] ?? (await context.newPage());
    page.on("pageerror", (err) => pageErrors.push(String(err)));

    begin("the overview loads and the live feed connects");
    await page.goto(`${DASHBOARD}/`, { waitUntil: "domcontentloaded" });
    await page.locator('[data-testid="connection"][data-status="open"]').waitFor({ timeout: 30_000 });

    begin(`post a storm through the API (services ${DB}, ${API_SVC}, ${WEB})`);
    const sent = await postStorm(8);
    log(`posted ${sent} events`);

    begin("the storm's events stream in live");
    await page.getByTestId("filter-service").selectOption(DB, { timeout: 30_000 });
    await page.locator(`[data-testid="event-stream"] [data-service="${DB}"]`).first().waitFor({ timeout: 30_000 });
    await page.getByTestId("filter-service").selectOption("");

    begin("the cascade (database, its caller, the web tier) becomes one incident, rooted at the database");
    const cascade = await poll(async () => {
      const active = await api("GET", "/api/incidents/active");
      return (active?.data ?? []).find(
        (i) => i.probableOrigin === DB && [DB, API_SVC, WEB].every((s) => i.affectedServices.includes(s)),
      );
    }, PIPELINE_MS);
    const incidentId = cascade.incidentId;
    log(`incident ${incidentId} (${cascade.mergedIncidentIds.length} merged into it)`);

    begin("the incident appears live on the overview, once");
    await page.getByTestId("incident-filter").fill(`e2e-${run}`);
    const row = page.locator(`[data-testid="incident-row"][data-incident-id="${incidentId}"]`);
    await row.waitFor({ timeout: PIPELINE_MS });
    await poll(async () => (await page.locator('[data-testid="incident-row"]').count()) === 1, 30_000);
    await page.getByTestId("incident-filter").fill("");
    await page.waitForTimeout(2500); // let the timeline's two-second redraw include the storm
    await shot(page, "dashboard.png");
    await shot(page, "timeline.png", { locator: page.locator("#timeline") });

    begin("open the incident from the keyboard");
    await page.getByTestId("incident-filter").fill(DB);
    await row.focus();
    await page.keyboard.press("Enter");
    await page.waitForURL(`**/incidents/${incidentId}`);
    const detail = page.getByTestId("incident-detail");
    await detail.waitFor({ timeout: 30_000 });
    await page.locator('[data-testid="affected-services"]').getByText(DB).waitFor({ timeout: 30_000 });

    begin("the summary arrives (AI or rule-based)");
    await page.getByTestId("summary-author").waitFor({ timeout: PIPELINE_MS });
    const author = await page.getByTestId("summary-author").innerText();
    log(`summary by: ${author}`);
    await page.locator('[data-testid="service-timeline"]').waitFor({ timeout: 30_000 });

    begin("the incident says why it opened and why each template is part of it");
    const opened = await page.getByTestId("why-opened").innerText({ timeout: 30_000 });
    log(`why it opened: ${opened.replace(/\s+/g, " ")}`);
    if (!/severity 5|failures/.test(opened)) throw new Error(`no reason for opening shown: ${opened}`);
    await page.getByTestId("why-joined").waitFor({ timeout: 30_000 });
    await shot(page, "incident-detail.png", { fullPage: true });

    begin("a second page shows the same incident");
    const second = await context.newPage();
    second.on("pageerror", (err) => pageErrors.push(String(err)));
    await second.goto(`${DASHBOARD}/incidents/${incidentId}`, { waitUntil: "domcontentloaded" });
    await second.locator('[data-testid="connection"][data-status="open"]').waitFor({ timeout: 30_000 });
    await second.locator('[data-testid="incident-status"] [data-status="active"]').waitFor({ timeout: 30_000 });

    begin("acknowledge it from the keyboard");
    await page.getByTestId("action-acknowledge").focus();
    await page.keyboard.press("Enter");
    await page.locator('[data-testid="incident-status"] [data-status="acknowledged"]').waitFor({ timeout: 60_000 });

    begin("the second page sees the acknowledgement live, without a reload");
    await second.locator('[data-testid="incident-status"] [data-status="acknowledged"]').waitFor({ timeout: 60_000 });

    begin("the API agrees");
    const after = await api("GET", `/api/incidents/${incidentId}`);
    if (after?.data?.status !== "acknowledged") throw new Error(`the API shows status ${after?.data?.status}`);

    begin("resolve it, to leave the stack tidy");
    await page.getByTestId("action-resolve").click();
    await page.locator('[data-testid="incident-status"] [data-status="resolved"]').waitFor({ timeout: 60_000 });

    begin("the history finds it, resolved");
    await page.goto(`${DASHBOARD}/history?status=resolved&service=${encodeURIComponent(DB)}`, { waitUntil: "domcontentloaded" });
    await page.locator(`[data-testid="incident-row"][data-incident-id="${incidentId}"][data-status="resolved"]`).waitFor({ timeout: 30_000 });

    if (pageErrors.length) throw new Error(`the page threw: ${pageErrors.join(" | ")}`);
    log("all steps passed");
  } catch (err) {
    if (page) {
      const path = join(tmpdir(), `e2e-failure-${run}.png`);
      await page.screenshot({ path, fullPage: true }).catch(() => undefined);
      console.error(`page at failure: ${page.url()} (screenshot ${path})`);
    }
    throw err;
  } finally {
    await context.close();
    await rm(profile, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(`FAILED at step "${step}": ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
