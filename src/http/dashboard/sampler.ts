// The gateway's live numbers for the dashboard: requests per second by route, p50/p99 latency, cache hit ratio and
// errors, one sample per second over the last minute.
//
// Owns: the counters of the second in progress and a ring of finished seconds. Promises:
// - the per-request work is O(1) and allocates nothing: an increment of the route's counter, one latency bucket
//   (log-scale, four buckets per doubling, so a percentile is within about 19% of the true value) and the error
//   counters — no clock read, no label lookup (each route gets its counter object once);
// - memory is bounded: `samplesMax` finished seconds, a fixed number of buckets, one counter per route kind;
// - time enters only through `roll(nowMs)`, which the owner calls about once a second; the sample divides by the
//   time that really passed, so a late roll does not inflate the rates.
// Needs nothing; the gateway's metrics call `record` and `recordCache`, the dashboard feed calls `roll`.

import { assert } from '../../assert.js';

/** Four buckets per doubling of microseconds, up to 2^28 µs (about 4.5 minutes); slower answers share the last. */
const bucketsPerDoubling = 4;
const latencyBucketCount = bucketsPerDoubling * 28;

/** The counters of one route during the second in progress. */
export class RouteCounter {
  requests = 0;
  /** Answers with a 2xx status. */
  succeeded = 0;
  constructor(readonly route: string) {}
}

export interface Sample {
  /** When the second ended (the clock given to `roll`). */
  readonly atMs: number;
  /** The length of the interval the rates are measured over. */
  readonly intervalMs: number;
  readonly requestsPerSecond: number;
  /** Route kind → requests per second; routes without a request in the interval are absent. */
  readonly requestsPerSecondByRoute: Readonly<Record<string, number>>;
  /** Route kind → count of 2xx answers in the interval (absent when none). */
  readonly succeededByRoute: Readonly<Record<string, number>>;
  /** Null when no request was answered in the interval. */
  readonly latencyP50Ms: number | null;
  readonly latencyP99Ms: number | null;
  /** hits / (hits + misses); null when no cacheable read was answered. */
  readonly cacheHitRatio: number | null;
  /** 5xx answers per second (the service failed). */
  readonly errorsPerSecond: number;
  /** 4xx answers per second (the client asked for something wrong). */
  readonly clientErrorsPerSecond: number;
}

export class LiveSampler {
  readonly samplesMax: number;
  private readonly routes = new Map<string, RouteCounter>();
  private readonly latencyBuckets = new Uint32Array(latencyBucketCount);
  private answered = 0;
  private serverErrors = 0;
  private clientErrors = 0;
  private cacheHits = 0;
  private cacheMisses = 0;
  private lastRollMs: number;
  private readonly ring: Sample[] = [];

  constructor(nowMs: number, samplesMax = 60) {
    assert(Number.isInteger(samplesMax) && samplesMax > 0, `samplesMax must be a positive integer, got ${samplesMax}`);
    assert(Number.isFinite(nowMs), `nowMs must be finite, got ${nowMs}`);
    this.samplesMax = samplesMax;
    this.lastRollMs = nowMs;
  }

  /** The counter of one route, made once; the caller keeps it so that `record` needs no lookup. */
  forRoute(route: string): RouteCounter {
    let counter = this.routes.get(route);
    if (counter === undefined) {
      counter = new RouteCounter(route);
      this.routes.set(route, counter);
    }
    return counter;
  }

  record(counter: RouteCounter, status: number, seconds: number): void {
    counter.requests += 1;
    if (status >= 200 && status < 300) counter.succeeded += 1;
    else if (status >= 500) this.serverErrors += 1;
    else if (status >= 400) this.clientErrors += 1;
    this.answered += 1;
    this.latencyBuckets[latencyBucketOf(seconds)]! += 1;
  }

  recordCache(hit: boolean): void {
    if (hit) this.cacheHits += 1;
    else this.cacheMisses += 1;
  }

  /** Ends the interval in progress: its sample joins the ring (the oldest leaves past `samplesMax`). */
  roll(nowMs: number): Sample {
    // A clock that steps back yields an interval of at least 1 ms rather than a negative or infinite rate.
    const intervalMs = Math.max(1, nowMs - this.lastRollMs);
    const perSecond = (count: number) => round((count * 1000) / intervalMs);
    const requestsPerSecondByRoute: Record<string, number> = {};
    const succeededByRoute: Record<string, number> = {};
    for (const counter of this.routes.values()) {
      if (counter.requests > 0) requestsPerSecondByRoute[counter.route] = perSecond(counter.requests);
      if (counter.succeeded > 0) succeededByRoute[counter.route] = counter.succeeded;
      counter.requests = 0;
      counter.succeeded = 0;
    }
    const cacheReads = this.cacheHits + this.cacheMisses;
    const sample: Sample = {
      atMs: nowMs,
      intervalMs,
      requestsPerSecond: perSecond(this.answered),
      requestsPerSecondByRoute,
      succeededByRoute,
      latencyP50Ms: this.percentileMs(0.5),
      latencyP99Ms: this.percentileMs(0.99),
      cacheHitRatio: cacheReads === 0 ? null : round(this.cacheHits / cacheReads),
      errorsPerSecond: perSecond(this.serverErrors),
      clientErrorsPerSecond: perSecond(this.clientErrors),
    };
    this.reset(nowMs);
    this.ring.push(sample);
    if (this.ring.length > this.samplesMax) this.ring.shift();
    assert(this.ring.length <= this.samplesMax, 'ring grew past its bound');
    return sample;
  }

  /** Finished seconds, oldest first. */
  samples(): readonly Sample[] {
    return this.ring;
  }

  private percentileMs(quantile: number): number | null {
    if (this.answered === 0) return null;
    const rank = Math.ceil(quantile * this.answered);
    let seen = 0;
    for (let bucket = 0; bucket < latencyBucketCount; bucket += 1) {
      seen += this.latencyBuckets[bucket]!;
      if (seen >= rank) return round(bucketUpperMs(bucket));
    }
    throw new Error(`dashboard sampler: percentile ${quantile} not found among ${this.answered} answers`);
  }

  private reset(nowMs: number): void {
    this.latencyBuckets.fill(0);
    this.answered = 0;
    this.serverErrors = 0;
    this.clientErrors = 0;
    this.cacheHits = 0;
    this.cacheMisses = 0;
    this.lastRollMs = nowMs;
  }
}

/** Bucket b holds latencies up to 2^((b+1)/4) µs; everything at or under 1 µs is bucket 0. */
export function latencyBucketOf(seconds: number): number {
  const micros = seconds * 1e6;
  if (!(micros > 1)) return 0;
  const bucket = Math.ceil(Math.log2(micros) * bucketsPerDoubling) - 1;
  return Math.min(latencyBucketCount - 1, Math.max(0, bucket));
}

export function bucketUpperMs(bucket: number): number {
  return 2 ** ((bucket + 1) / bucketsPerDoubling) / 1000;
}

function round(value: number): number {
  return Math.round(value * 1000) / 1000;
}
