// The dashboard's live stream: samples the cluster status and the gateway's numbers on timers, turns changes into
// events, and pushes one snapshot to every subscriber per poll.
//
// Owns: the poll and roll timers, the event ring, the subscribers. Promises:
// - the stream is sampled, never driven by requests: one cluster poll every `pollIntervalMs` (default 400 ms, so
//   more than two updates a second) and only while someone watches; one sampler roll a second, always (cheap, no
//   I/O), so the charts hold the last minute when a page opens;
// - polls never overlap, and one that takes longer than `statusTimeoutMs` counts as failed;
// - everything is bounded: `subscribersMax` subscribers (the next one is refused), `eventsMax` events, and each
//   subscriber's unsent bytes — a subscriber that cannot keep up past `subscriberBufferBytesMax` is dropped (a
//   browser reconnects and gets a fresh snapshot) rather than buffered without limit;
// - `close` stops both timers and ends every subscriber.
// Needs: a cluster status source (`Backend.cluster`), the LiveSampler the gateway's metrics feed, a clock.

import type { ClusterStatus } from '../backend.js';
import { EventRing, countWrites, emptyMemory, observeCluster, observeStatusFailure, observeWrites, type FeedEvent, type FeedMemory, type NewEvent } from './events.js';
import type { LiveSampler, Sample } from './sampler.js';
import { assert } from '../../assert.js';

export interface FeedOptions {
  readonly clusterStatus: () => Promise<ClusterStatus>;
  readonly sampler: LiveSampler;
  readonly clock?: () => number;
  readonly pollIntervalMs?: number;
  readonly rollIntervalMs?: number;
  readonly statusTimeoutMs?: number;
  readonly subscribersMax?: number;
  readonly subscriberBufferBytesMax?: number;
  readonly eventsMax?: number;
  /** Invalidations are told at most once per this window, summed (default 5000 ms), so writes do not flood the feed. */
  readonly invalidationWindowMs?: number;
}

/** Where snapshots go: an HTTP response in the gateway, an array in tests. */
export interface Subscriber {
  /** Returns false when the text was queued rather than sent (backpressure). */
  write(text: string): boolean;
  /** Bytes written but not yet sent. */
  bufferedBytes(): number;
  close(): void;
}

/** What a subscriber receives, as the `data` of a server-sent event named `snapshot`. */
export interface Snapshot {
  readonly atMs: number;
  /** The last cluster status seen; null before the first one or while it cannot be read. */
  readonly cluster: ClusterStatus | null;
  readonly clusterError: string | null;
  /** Events not sent before: on the first snapshot of a subscriber, the whole ring. */
  readonly events: readonly FeedEvent[];
  /** The last minute of per-second samples; null when unchanged since the previous snapshot. */
  readonly series: readonly Sample[] | null;
}

export class DashboardFeed {
  readonly pollIntervalMs: number;
  readonly subscribersMax: number;
  readonly subscriberBufferBytesMax: number;
  private readonly options: FeedOptions;
  private readonly clock: () => number;
  private readonly statusTimeoutMs: number;
  private readonly ring: EventRing;
  private readonly subscribers = new Set<Subscriber>();
  private memory: FeedMemory = emptyMemory;
  private clusterError: string | null = null;
  private broadcastSequence = 0;
  private seriesChanged = false;
  private polling = false;
  private pollTimer: NodeJS.Timeout | null = null;
  private readonly rollTimer: NodeJS.Timeout | null;
  private closed = false;
  private writesUntold: Record<string, number> = {};
  private invalidationToldMs = Number.NEGATIVE_INFINITY;
  private readonly invalidationWindowMs: number;

  constructor(options: FeedOptions) {
    this.options = options;
    this.clock = options.clock ?? Date.now;
    this.pollIntervalMs = options.pollIntervalMs ?? 400;
    this.statusTimeoutMs = options.statusTimeoutMs ?? 2_000;
    this.subscribersMax = options.subscribersMax ?? 16;
    this.subscriberBufferBytesMax = options.subscriberBufferBytesMax ?? 1024 * 1024;
    this.ring = new EventRing(options.eventsMax ?? 200);
    this.invalidationWindowMs = options.invalidationWindowMs ?? 5_000;
    for (const [name, value] of Object.entries({
      pollIntervalMs: this.pollIntervalMs,
      statusTimeoutMs: this.statusTimeoutMs,
      subscribersMax: this.subscribersMax,
      subscriberBufferBytesMax: this.subscriberBufferBytesMax,
    })) {
      assert(Number.isInteger(value) && value > 0, `${name} must be a positive integer, got ${value}`);
    }
    const rollIntervalMs = options.rollIntervalMs ?? 1_000;
    // A zero roll interval means the owner rolls by hand (tests); the timer never keeps a process alive.
    this.rollTimer = rollIntervalMs === 0 ? null : setInterval(() => this.roll(), rollIntervalMs);
    this.rollTimer?.unref();
  }

  get subscriberCount(): number {
    return this.subscribers.size;
  }

  get eventCount(): number {
    return this.ring.size;
  }

  /** Adds a subscriber and sends it the whole picture at once; false (nothing sent) when the feed is full. */
  subscribe(subscriber: Subscriber): boolean {
    if (this.closed || this.subscribers.size >= this.subscribersMax) return false;
    this.subscribers.add(subscriber);
    subscriber.write(this.encode(this.ring.after(0), this.options.sampler.samples()));
    if (this.pollTimer === null) {
      this.pollTimer = setInterval(() => void this.poll(), this.pollIntervalMs);
      this.pollTimer.unref();
      void this.poll();
    }
    return true;
  }

  unsubscribe(subscriber: Subscriber): void {
    this.subscribers.delete(subscriber);
    if (this.subscribers.size === 0 && this.pollTimer !== null) {
      clearInterval(this.pollTimer);
      this.pollTimer = null;
    }
  }

  /**
   * Ends the current second of the sampler. While someone watches, its invalidating writes are summed and told as
   * one event at most once per `invalidationWindowMs`.
   */
  roll(): Sample {
    const nowMs = this.clock();
    const sample = this.options.sampler.roll(nowMs);
    this.seriesChanged = true;
    if (this.subscribers.size === 0) return sample;
    this.writesUntold = countWrites(this.writesUntold, sample);
    if (nowMs - this.invalidationToldMs < this.invalidationWindowMs) return sample;
    const events = observeWrites(this.writesUntold, nowMs);
    if (events.length > 0) {
      this.record(events);
      this.writesUntold = {};
      this.invalidationToldMs = nowMs;
    }
    return sample;
  }

  /** One poll of the cluster status, then one snapshot to every subscriber; skipped while one is in flight. */
  async poll(): Promise<void> {
    if (this.polling || this.closed) return;
    this.polling = true;
    try {
      const status = await this.statusWithinDeadline();
      const observed = observeCluster(this.memory, status, this.clock());
      this.memory = observed.memory;
      this.clusterError = null;
      this.record(observed.events);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      const observed = observeStatusFailure(this.memory, reason, this.clock());
      this.memory = observed.memory;
      this.clusterError = reason;
      this.record(observed.events);
    } finally {
      this.polling = false;
    }
    if (!this.closed) this.broadcast();
  }

  close(): void {
    this.closed = true;
    if (this.rollTimer !== null) clearInterval(this.rollTimer);
    if (this.pollTimer !== null) clearInterval(this.pollTimer);
    this.pollTimer = null;
    for (const subscriber of this.subscribers) subscriber.close();
    this.subscribers.clear();
  }

  private statusWithinDeadline(): Promise<ClusterStatus> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${this.statusTimeoutMs} ms`)), this.statusTimeoutMs);
    });
    return Promise.race([this.options.clusterStatus(), deadline]).finally(() => clearTimeout(timer));
  }

  private record(events: readonly NewEvent[]): void {
    for (const event of events) this.ring.push(event);
  }

  private broadcast(): void {
    const events = this.ring.after(this.broadcastSequence);
    this.broadcastSequence = this.ring.lastSequence;
    const text = this.encode(events, this.seriesChanged ? this.options.sampler.samples() : null);
    this.seriesChanged = false;
    for (const subscriber of [...this.subscribers]) {
      if (subscriber.bufferedBytes() > this.subscriberBufferBytesMax) {
        this.unsubscribe(subscriber);
        subscriber.close();
        continue;
      }
      subscriber.write(text);
    }
  }

  /** Encodes once per broadcast, whatever the number of subscribers. */
  private encode(events: readonly FeedEvent[], series: readonly Sample[] | null): string {
    const snapshot: Snapshot = {
      atMs: this.clock(),
      cluster: this.memory.status,
      clusterError: this.clusterError,
      events,
      series,
    };
    return `event: snapshot\ndata: ${JSON.stringify(snapshot)}\n\n`;
  }
}
