import { describe, expect, it } from "vitest";
import type { LiveItem } from "../live/messages";
import { makeEvent, makeIncident } from "../test/factories";
import { FrameBatcher, type Scheduler } from "./batcher";

function manualScheduler(): Scheduler & { fire(): void; scheduled: number; delays: number[]; clock: number } {
  let pending: (() => void) | null = null;
  return {
    scheduled: 0,
    delays: [],
    clock: 1000,
    now() {
      return this.clock;
    },
    schedule(fn, delayMs) {
      this.scheduled++;
      this.delays.push(delayMs);
      pending = fn;
      return () => {
        pending = null;
      };
    },
    fire() {
      const fn = pending;
      pending = null;
      fn?.();
    },
  };
}

describe("FrameBatcher", () => {
  it("delivers everything pushed before a frame in one call", () => {
    const calls: LiveItem[][] = [];
    const scheduler = manualScheduler();
    const batcher = new FrameBatcher((items) => calls.push(items), 1000, scheduler);
    for (let i = 0; i < 300; i++) batcher.push([{ kind: "event", event: makeEvent() }]);
    expect(calls).toHaveLength(0);
    scheduler.fire();
    expect(calls).toHaveLength(1);
    expect(calls[0]).toHaveLength(300);
    expect(scheduler.scheduled).toBe(1);
  });

  it("waits out the minimum interval after a delivery before the next", () => {
    const scheduler = manualScheduler();
    const batcher = new FrameBatcher(() => undefined, 1000, scheduler, 100);
    batcher.push([{ kind: "event", event: makeEvent() }]);
    scheduler.fire();
    scheduler.clock += 30;
    batcher.push([{ kind: "event", event: makeEvent() }]);
    expect(scheduler.delays).toEqual([0, 70]);
  });

  it("skips the oldest events beyond the per-frame limit but never an incident change", () => {
    let delivered: LiveItem[] = [];
    let skipped = 0;
    const scheduler = manualScheduler();
    const batcher = new FrameBatcher(
      (items, s) => {
        delivered = items;
        skipped = s;
      },
      10,
      scheduler,
    );
    batcher.push([{ kind: "incident", action: "created", incident: makeIncident() }]);
    for (let i = 0; i < 100; i++) batcher.push([{ kind: "event", event: makeEvent({ eventId: `evt_${i}` }) }]);
    scheduler.fire();
    expect(delivered.filter((i) => i.kind === "incident")).toHaveLength(1);
    const events = delivered.flatMap((i) => (i.kind === "event" ? [i.event.eventId] : []));
    expect(events).toHaveLength(10);
    expect(events[9]).toBe("evt_99");
    expect(skipped).toBe(90);
  });
});
