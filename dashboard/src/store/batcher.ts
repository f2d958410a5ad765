/**
 * Collects live items and hands them to the store in one call on an animation frame, at most
 * every `minIntervalMs`, so that 1000+ events/s cost a few store updates (and renders) a second
 * instead of one per event. A person cannot read a list that changes 60 times a second anyway;
 * ten updates a second look live and leave the main thread free.
 */
import type { LiveItem } from "../live/messages";

export interface Scheduler {
  /** Runs `fn` after `delayMs`, on an animation frame in a browser; returns a cancel function. */
  schedule(fn: () => void, delayMs: number): () => void;
  now(): number;
}

/**
 * A frame when the page is visible; a timer otherwise, because browsers pause animation frames in
 * background tabs and the pending queue would only grow.
 */
export const browserScheduler: Scheduler = {
  schedule(fn, delayMs) {
    let frame: number | null = null;
    let fallback: ReturnType<typeof setTimeout> | null = null;
    const timer = setTimeout(() => {
      if (typeof requestAnimationFrame === "function" && typeof document !== "undefined" && !document.hidden) {
        frame = requestAnimationFrame(fn);
        fallback = setTimeout(fn, 250);
      } else {
        fn();
      }
    }, delayMs);
    return () => {
      clearTimeout(timer);
      if (frame !== null) cancelAnimationFrame(frame);
      if (fallback !== null) clearTimeout(fallback);
    };
  },
  now: () => (typeof performance !== "undefined" ? performance.now() : Date.now()),
};

export class FrameBatcher {
  private pending: LiveItem[] = [];
  private pendingEvents = 0;
  private skipped = 0;
  private cancel: (() => void) | null = null;
  private lastFlushAt = Number.NEGATIVE_INFINITY;

  /**
   * @param flush receives the items of one frame, in arrival order, and how many events were
   *   skipped because more arrived in one frame than the buffer can show.
   * @param maxEventsPerFrame events beyond this in one frame are skipped (oldest first): they
   *   would fall off the bounded buffer anyway. Incident changes are never skipped.
   * @param minIntervalMs the least time between two deliveries.
   */
  constructor(
    private readonly flush: (items: LiveItem[], skippedEvents: number) => void,
    private readonly maxEventsPerFrame: number,
    private readonly scheduler: Scheduler = browserScheduler,
    private readonly minIntervalMs = 100,
  ) {}

  push(items: readonly LiveItem[]): void {
    for (const item of items) {
      if (item.kind === "event") this.pendingEvents++;
      this.pending.push(item);
    }
    if (this.pendingEvents > this.maxEventsPerFrame * 2) this.compact();
    if (!this.cancel) {
      const wait = Math.max(0, this.lastFlushAt + this.minIntervalMs - this.scheduler.now());
      this.cancel = this.scheduler.schedule(() => this.run(), wait);
    }
  }

  /** Delivers what is pending now (used by tests and on teardown). */
  run(): void {
    this.cancel?.();
    this.cancel = null;
    if (this.pending.length === 0) return;
    if (this.pendingEvents > this.maxEventsPerFrame) this.compact();
    const items = this.pending;
    const skipped = this.skipped;
    this.pending = [];
    this.pendingEvents = 0;
    this.skipped = 0;
    this.lastFlushAt = this.scheduler.now();
    this.flush(items, skipped);
  }

  dispose(): void {
    this.cancel?.();
    this.cancel = null;
    this.pending = [];
    this.pendingEvents = 0;
  }

  /** Drops the oldest events beyond the per-frame limit, keeping every other item in order. */
  private compact(): void {
    let toDrop = this.pendingEvents - this.maxEventsPerFrame;
    if (toDrop <= 0) return;
    const kept: LiveItem[] = [];
    for (const item of this.pending) {
      if (toDrop > 0 && item.kind === "event") {
        toDrop--;
        this.skipped++;
        continue;
      }
      kept.push(item);
    }
    this.pending = kept;
    this.pendingEvents = this.maxEventsPerFrame;
  }
}
