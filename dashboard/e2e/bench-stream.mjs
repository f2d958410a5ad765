#!/usr/bin/env node
/**
 * How the dashboard holds up under a firehose of live events, in real chromium.
 *
 * Builds the dashboard against a local stand-in API (dev/fake-api.mjs --firehose), opens the
 * overview, and for each scenario measures over a fixed window: frames per second the page
 * painted, the 95th-percentile and worst frame interval, long tasks (main thread blocked > 50 ms),
 * events the store took in, rows in the DOM (virtualization keeps this flat), and the JS heap.
 * Prints a table; no pass/fail (numbers depend on the machine).
 *
 *   node dashboard/e2e/bench-stream.mjs [--seconds 10]
 */
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const DASH = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const VITE = join(DASH, "node_modules/vite/bin/vite.js");
const CHROMIUM = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
const SECONDS = Number(process.argv[process.argv.indexOf("--seconds") + 1] || 10);
const ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run", "--disable-component-update", "--disable-sync", "--disable-quic"];
const SCENARIOS = [
  { name: "idle (no events)", rate: 0 },
  { name: "1000 ev/s, coalesced frames", rate: 1000 },
  { name: "1000 ev/s, one frame per event", rate: 1000, single: true },
  { name: "3000 ev/s, coalesced frames", rate: 3000 },
  { name: "5000 ev/s, coalesced frames", rate: 5000 },
];

function freePort() {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => res(port));
    });
    srv.on("error", rej);
  });
}

function run(cmd, args, env = {}) {
  return new Promise((res, rej) => {
    const child = spawn(cmd, args, { cwd: DASH, env: { ...process.env, ...env }, stdio: ["ignore", "inherit", "inherit"] });
    child.on("exit", (code) => (code === 0 ? res() : rej(new Error(`${cmd} ${args.join(" ")} exited ${code}`))));
  });
}

function daemon(cmd, args) {
  const child = spawn(cmd, args, { cwd: DASH, stdio: ["ignore", "ignore", "inherit"] });
  return child;
}

async function waitHttp(url, limitMs = 30_000) {
  const deadline = Date.now() + limitMs;
  while (Date.now() < deadline) {
    try {
      const res = await fetch(url);
      if (res.ok) return;
    } catch {
      // not yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${url} did not answer within ${limitMs / 1000}s`);
}

const pct = (xs, p) => {
  if (!xs.length) return 0;
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
};

async function measure(context, url, scenario, apiPort) {
  const fake = daemon(process.execPath, ["dev/fake-api.mjs", "--port", String(apiPort), ...(scenario.rate ? ["--firehose", String(scenario.rate)] : []), ...(scenario.single ? ["--single-frames"] : [])]);
  try {
    await waitHttp(`http://127.0.0.1:${apiPort}/health/ready`);
    const page = await context.newPage();
    await page.goto(url, { waitUntil: "domcontentloaded" });
    await page.locator('[data-testid="connection"][data-status="open"]').waitFor({ timeout: 30_000 });
    await page.waitForTimeout(2000); // warm-up: the buffer fills, the JIT settles
    const receivedBefore = await page.evaluate(() => window.__iiReceived?.() ?? 0);
    await page.evaluate(() => {
      const m = { frames: [], long: [] };
      window.__bench = m;
      let last = performance.now();
      const frame = (t) => {
        m.frames.push(t - last);
        last = t;
        if (!m.stop) requestAnimationFrame(frame);
      };
      requestAnimationFrame(frame);
      new PerformanceObserver((list) => {
        for (const e of list.getEntries()) m.long.push(e.duration);
      }).observe({ type: "longtask" });
    });
    await page.waitForTimeout(SECONDS * 1000);
    const result = await page.evaluate(() => {
      const m = window.__bench;
      m.stop = true;
      return {
        frames: m.frames,
        long: m.long,
        rows: document.querySelectorAll("[data-event-id]").length,
        heapMb: performance.memory ? performance.memory.usedJSHeapSize / 1048576 : null,
        received: window.__iiReceived?.() ?? 0,
      };
    });
    await page.close();
    return {
      scenario: scenario.name,
      fps: result.frames.length / SECONDS,
      p95FrameMs: pct(result.frames, 95),
      worstFrameMs: Math.max(0, ...result.frames),
      longTasks: result.long.length,
      longTaskMs: result.long.reduce((a, b) => a + b, 0),
      eventsPerS: (result.received - receivedBefore) / SECONDS,
      domRows: result.rows,
      heapMb: result.heapMb,
    };
  } finally {
    fake.kill("SIGTERM");
  }
}

async function main() {
  const apiPort = await freePort();
  const webPort = await freePort();
  const out = await mkdtemp(join(tmpdir(), "ii-bench-dash-"));
  const profile = await mkdtemp(join(tmpdir(), "ii-bench-chromium-"));
  console.log(`building the dashboard against the stand-in API on :${apiPort}`);
  await run(process.execPath, [VITE, "build", "--outDir", out, "--emptyOutDir", "--logLevel", "warn"], {
    VITE_API_URL: `http://127.0.0.1:${apiPort}`,
    VITE_WS_URL: `ws://127.0.0.1:${apiPort}/ws`,
    VITE_EXPOSE_STORE: "1",
  });
  const preview = daemon(process.execPath, [VITE, "preview", "--outDir", out, "--port", String(webPort), "--strictPort", "--host", "127.0.0.1"]);
  const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: ARGS, viewport: { width: 1440, height: 1000 } });
  try {
    await waitHttp(`http://127.0.0.1:${webPort}/`);
    const rows = [];
    for (const scenario of SCENARIOS) {
      rows.push(await measure(context, `http://127.0.0.1:${webPort}/`, scenario, apiPort));
    }
    console.log(`\nDashboard under a live firehose (${SECONDS}s per scenario, overview page, 1440x1000, headless chromium)`);
    console.log(["scenario".padEnd(32), "fps".padStart(5), "p95 frame".padStart(10), "worst".padStart(7), "long tasks".padStart(11), "blocked".padStart(8), "ev/s in".padStart(8), "DOM rows".padStart(9), "heap MB".padStart(8)].join(" "));
    for (const r of rows) {
      console.log(
        [
          r.scenario.padEnd(32),
          r.fps.toFixed(1).padStart(5),
          `${r.p95FrameMs.toFixed(1)}ms`.padStart(10),
          `${r.worstFrameMs.toFixed(0)}ms`.padStart(7),
          String(r.longTasks).padStart(11),
          `${r.longTaskMs.toFixed(0)}ms`.padStart(8),
          r.eventsPerS.toFixed(0).padStart(8),
          String(r.domRows).padStart(9),
          (r.heapMb === null ? "n/a" : r.heapMb.toFixed(1)).padStart(8),
        ].join(" "),
      );
    }
  } finally {
    await context.close();
    preview.kill("SIGTERM");
    await rm(out, { recursive: true, force: true });
    await rm(profile, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(`benchmark failed: ${err instanceof Error ? err.stack : String(err)}`);
    process.exit(1);
  },
);
