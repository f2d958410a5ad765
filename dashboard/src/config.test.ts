import { describe, expect, it } from "vitest";
import { resolveWsUrl } from "./config";

describe("resolveWsUrl", () => {
  it("keeps an absolute URL and resolves a path against the page's origin", () => {
    expect(resolveWsUrl("ws://localhost:5000/ws", { protocol: "http:", host: "x" })).toBe("ws://localhost:5000/ws");
    expect(resolveWsUrl("/ws", { protocol: "https:", host: "incidents.example.com" })).toBe("wss://incidents.example.com/ws");
    expect(resolveWsUrl("/ws", { protocol: "http:", host: "127.0.0.1:3000" })).toBe("ws://127.0.0.1:3000/ws");
  });
});
