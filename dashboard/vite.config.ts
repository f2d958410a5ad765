/// <reference types="vitest/config" />
import tailwindcss from "@tailwindcss/vite";
import react from "@vitejs/plugin-react";
import { defineConfig, type Plugin } from "vite";

/**
 * `vite preview` (how `make up` serves the build) answers `/config.js` from the environment it was
 * started with: VITE_API_URL / VITE_WS_URL at run time, so one build serves a stack on any port
 * (the end-to-end stack runs shifted by II_PORT_OFFSET). Without them, the build's own config.js.
 */
function runtimeConfig(): Plugin {
  return {
    name: "incident-dashboard-runtime-config",
    configurePreviewServer(server) {
      const apiUrl = process.env.VITE_API_URL;
      const wsUrl = process.env.VITE_WS_URL;
      if (!apiUrl && !wsUrl) return;
      const body = `window.__II_CONFIG__ = ${JSON.stringify({ ...(apiUrl ? { apiUrl } : {}), ...(wsUrl ? { wsUrl } : {}) })};\n`;
      server.middlewares.use("/config.js", (_req, res) => {
        res.setHeader("Content-Type", "text/javascript; charset=utf-8");
        res.setHeader("Cache-Control", "no-store");
        res.end(body);
      });
    },
  };
}

export default defineConfig({
  plugins: [react(), tailwindcss(), runtimeConfig()],
  server: { port: 3000, strictPort: true },
  // `vite preview` serves the static build (with the SPA fallback) for `make up`.
  preview: { port: 3000, strictPort: true, host: "127.0.0.1" },
  build: {
    sourcemap: true,
    chunkSizeWarningLimit: 1024,
  },
  test: {
    include: ["src/**/*.test.ts", "src/**/*.test.tsx"],
    environment: "node",
  },
});
