/**
 * Collects live items between two animation frames and hands them to the store in one call, so
 * that 1000+ events/s cost one store update (and one render) per frame instead of one per event.
 */
import type { LiveItem } from "../live/messages";

export interface Scheduler {
  /** Runs `fn` soon (the next animation frame in a browser); returns a cancel function. */
  schedule(fn: () => void): () => void;
}

/**
 * A frame when the page is visible; a timer otherwise, because browsers pause animation frames in
 * background tabs and the pending queue would only grow.
 */
export const browserScheduler: Scheduler = {
  schedule(fn) {
    if (typeof requestAnimationFrame === "function" && typeof document !== "undefined" && !document.hidden) {
      const frame = requestAnimationFrame(fn);
      const timer = setTimeout(fn, 250);
      return () => {
        cancelAnimationFrame(frame);
        clearTimeout(timer);
      };
    }
    const timer = setTimeout(fn, 100);
    return () => clearTimeout(timer);
  },
};

export class FrameBatcher {
  private pending: LiveItem[] = [];
  private pendingEvents = 0;
  private skipped = 0;
  private cancel: (() => void) | null = null;

  /**
   * @param flush receives the items of one frame, in arrival order, and how many events were
   *   skipped because more arrived in one frame than the buffer can show.
   * @param maxEventsPerFrame events beyond this in one frame are skipped (oldest first): they
   *   would fall off the bounded buffer anyway. Incident changes are never skipped.
   */
  constructor(
    private readonly flush: (items: LiveItem[], skippedEvents: number) => void,
    private readonly maxEventsPerFrame: number,
    private readonly scheduler: Scheduler = browserScheduler,
  ) {}

  push(items: readonly LiveItem[]): void {
    for (const item of items) {
      if (item.kind === "event") this.pendingEvents++;
      this.pending.push(item);
    }
    if (this.pendingEvents > this.maxEventsPerFrame * 2) this.compact();
    if (!this.cancel) {
      this.cancel = this.scheduler.schedule(() => this.run());
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
