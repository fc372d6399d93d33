// Figures of one thread (an actor's worker, or the main thread): heap, event-loop delay and utilization.
//
// Owns: a monitorEventLoopDelay histogram and an event-loop-utilization baseline for the thread it runs in.
// Promises: `figures()` costs a few microseconds and nothing runs between calls but libuv's own delay sampling
// (one timer per `resolutionMs`); delay and utilization cover the last finished window of `windowMs` (or the
// current one, before the first has finished), so several readers (a scrape, the dashboard) see the same figures
// instead of resetting each other's. Collected on demand — the control plane's `status` — never per message.
// Needs: node:perf_hooks and node:v8, in the thread being measured.

import { monitorEventLoopDelay, performance, type EventLoopUtilization, type IntervalHistogram } from 'node:perf_hooks';
import { getHeapStatistics } from 'node:v8';

export interface ThreadFigures {
  readonly heapUsedBytes: number;
  readonly heapTotalBytes: number;
  /** Event-loop delay over the window, in milliseconds: median, 99th percentile and maximum. */
  readonly eventLoopDelayP50Ms: number;
  readonly eventLoopDelayP99Ms: number;
  readonly eventLoopDelayMaxMs: number;
  /** Share of the window the event loop was busy, 0..1. */
  readonly eventLoopUtilization: number;
}

/** Delay is sampled every 10 ms (libuv timer); figures cover windows of 10 s. */
export const threadResolutionMs = 10;
export const threadWindowMs = 10_000;

const nanosecondsPerMillisecond = 1e6;

function isFiniteFigure(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0;
}

/** Validates figures that crossed a thread or a socket: a malformed record is dropped, not exported. */
export function isThreadFigures(value: unknown): value is ThreadFigures {
  if (typeof value !== 'object' || value === null) return false;
  const figures = value as Record<string, unknown>;
  return (
    isFiniteFigure(figures.heapUsedBytes) &&
    isFiniteFigure(figures.heapTotalBytes) &&
    isFiniteFigure(figures.eventLoopDelayP50Ms) &&
    isFiniteFigure(figures.eventLoopDelayP99Ms) &&
    isFiniteFigure(figures.eventLoopDelayMaxMs) &&
    isFiniteFigure(figures.eventLoopUtilization) &&
    figures.eventLoopUtilization <= 1
  );
}

export class ThreadSampler {
  private readonly delay: IntervalHistogram;
  /** The histogram records the time between its timer's wake-ups, resolution included; the delay is the excess. */
  private readonly resolutionMs: number;
  private windowStartedAtMs: number;
  private utilizationAtWindowStart: EventLoopUtilization;
  private last: Omit<ThreadFigures, 'heapUsedBytes' | 'heapTotalBytes'> | null = null;

  constructor(
    private readonly windowMs = threadWindowMs,
    resolutionMs = threadResolutionMs,
  ) {
    this.resolutionMs = resolutionMs;
    this.delay = monitorEventLoopDelay({ resolution: resolutionMs });
    this.delay.enable();
    this.windowStartedAtMs = performance.now();
    this.utilizationAtWindowStart = performance.eventLoopUtilization();
  }

  figures(): ThreadFigures {
    const heap = getHeapStatistics();
    const nowMs = performance.now();
    const current = this.windowFigures();
    if (nowMs - this.windowStartedAtMs >= this.windowMs) {
      this.last = current;
      this.delay.reset();
      this.windowStartedAtMs = nowMs;
      this.utilizationAtWindowStart = performance.eventLoopUtilization();
    }
    return { heapUsedBytes: heap.used_heap_size, heapTotalBytes: heap.total_heap_size, ...(this.last ?? current) };
  }

  close(): void {
    this.delay.disable();
  }

  private excessMs(nanoseconds: number): number {
    return Math.max(0, nanoseconds / nanosecondsPerMillisecond - this.resolutionMs);
  }

  private windowFigures(): Omit<ThreadFigures, 'heapUsedBytes' | 'heapTotalBytes'> {
    const sampled = this.delay.count > 0;
    const utilization = performance.eventLoopUtilization(this.utilizationAtWindowStart).utilization;
    return {
      eventLoopDelayP50Ms: sampled ? this.excessMs(this.delay.percentile(50)) : 0,
      eventLoopDelayP99Ms: sampled ? this.excessMs(this.delay.percentile(99)) : 0,
      eventLoopDelayMaxMs: sampled ? this.excessMs(this.delay.max) : 0,
      eventLoopUtilization: Number.isFinite(utilization) ? Math.min(1, Math.max(0, utilization)) : 0,
    };
  }
}
