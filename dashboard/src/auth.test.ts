// @vitest-environment jsdom
import { beforeEach, describe, expect, it } from "vitest";
import { getToken, markTokenRequired, setToken, subscribeToken, tokenRequired, withToken } from "./auth";

describe("the dashboard's token", () => {
  beforeEach(() => setToken(null));

  it("goes on the WebSocket URL as a query parameter, encoded", () => {
    expect(withToken("ws://localhost:5000/ws", "a b/c")).toBe("ws://localhost:5000/ws?token=a%20b%2Fc");
    expect(withToken("ws://h/ws?batch=1", "t")).toBe("ws://h/ws?batch=1&token=t");
    expect(withToken("ws://h/ws", null)).toBe("ws://h/ws");
  });

  it("is kept, trimmed, and cleared by an empty value", () => {
    setToken("  secret  ");
    expect(getToken()).toBe("secret");
    setToken("");
    expect(getToken()).toBeNull();
  });

  it("tells listeners when the API asked for one, and when one was given", () => {
    const seen: boolean[] = [];
    const stop = subscribeToken(() => seen.push(tokenRequired()));
    markTokenRequired();
    markTokenRequired();
    setToken("secret");
    stop();
    expect(seen).toEqual([true, false]);
  });
});
