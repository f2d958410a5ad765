/// <reference types="vitest/config" />
import tailwindcss from "@tailwindcss/vite";
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

export default defineConfig({
  plugins: [react(), tailwindcss()],
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
