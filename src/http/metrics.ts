// The gateway's Prometheus metrics, in a registry of its own (never prom-client's global one, so two gateways in
// one process, or a test beside the demo, do not mix their numbers).
//
// Owns: request counters by route and status, a latency histogram by route, cache hits and misses, and Raft and
// supervisor gauges refreshed from the cluster status at scrape time; beside them, the dashboard's per-second
// LiveSampler. Promises: the per-request path allocates no label objects and calls no prom-client counter —
// counts accumulate in plain numbers per (route, status) and per cache outcome, and are added to prom-client's
// counters when a scrape (or any read of them) collects, so every read sees every request answered before it.
// prom-client hashes the labels of a child on each inc(), which a lookup hit cannot afford. The latency histogram
// is a metric of this module's own (LatencyHistogram) for the same reason, in prom-client's exact output.

import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { CacheOutcome, ClusterStatus } from './backend.js';
import { LiveSampler, type RouteCounter } from './dashboard/sampler.js';
import type { RouteKind } from './routes.js';

type CounterChild = ReturnType<Counter<string>['labels']>;

/** The request-duration buckets, in seconds. */
export const latencyBucketsSeconds: readonly number[] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/** One route's latencies: counts per bucket (the last holds everything above the largest bound), sum and count. */
export class LatencySeries {
  readonly counts = new Float64Array(latencyBucketsSeconds.length + 1);
  sum = 0;
  count = 0;

  constructor(readonly route: string) {}

  /** A bucket search and three additions: what a lookup hit can afford. */
  observe(seconds: number): void {
    let bucket = 0;
    while (bucket < latencyBucketsSeconds.length && seconds > latencyBucketsSeconds[bucket]!) bucket += 1;
    this.counts[bucket]! += 1;
    this.sum += seconds;
    this.count += 1;
  }

  reset(): void {
    this.counts.fill(0);
    this.sum = 0;
    this.count = 0;
  }
}

/** One printed line, as prom-client's own Histogram describes it (no exemplars: null on buckets, absent on the rest). */
interface ExportedValue {
  readonly labels: Record<string, string | number>;
  readonly sharedLabels: Record<string, string>;
  readonly value: number;
  readonly metricName: string;
  readonly exemplar: null | undefined;
}

/**
 * The request-duration histogram by route, registered with prom-client as a metric of its own. Why: prom-client's
 * Histogram builds a label object, validates and hashes the labels and updates a keyed object on every observe,
 * about 2% of the gateway thread under lookup-hit load; here an observation is LatencySeries.observe. Promises:
 * the registry prints it exactly as a prom-client Histogram with the same name, help, buckets and observations
 * (a test compares the two), and reset() zeroes it as prom-client's does.
 */
export class LatencyHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  readonly labelNames = ['route'];
  private readonly byRoute = new Map<string, LatencySeries>();

  constructor(
    readonly name: string,
    readonly help: string,
  ) {}

  /** The series of one route, made once; the caller keeps it so that an observation needs no lookup. */
  series(route: string): LatencySeries {
    let series = this.byRoute.get(route);
    if (series === undefined) {
      series = new LatencySeries(route);
      this.byRoute.set(route, series);
    }
    return series;
  }

  /** What prom-client's registry prints: the labels of each line, as its own Histogram gives them. */
  getForPromString(): { name: string; help: string; type: 'histogram'; aggregator: 'sum'; values: ExportedValue[] } {
    const values: ExportedValue[] = [];
    for (const series of this.byRoute.values()) {
      if (series.count === 0) continue;
      const sharedLabels = { route: series.route };
      let cumulative = 0;
      latencyBucketsSeconds.forEach((bound, bucket) => {
        cumulative += series.counts[bucket]!;
        values.push({ labels: { le: bound }, sharedLabels, value: cumulative, metricName: `${this.name}_bucket`, exemplar: null });
      });
      values.push(
        { labels: { le: '+Inf' }, sharedLabels, value: series.count, metricName: `${this.name}_bucket`, exemplar: null },
        { labels: {}, sharedLabels, value: series.sum, metricName: `${this.name}_sum`, exemplar: undefined },
        { labels: {}, sharedLabels, value: series.count, metricName: `${this.name}_count`, exemplar: undefined },
      );
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  /** The same values with the route among the labels, as prom-client's get() gives them (for JSON). */
  get(): Promise<{ name: string; help: string; type: 'histogram'; aggregator: 'sum'; values: Array<Omit<ExportedValue, 'sharedLabels'>> }> {
    const data = this.getForPromString();
    const values = data.values.map(({ labels, sharedLabels, value, metricName, exemplar }) => ({ value, metricName, exemplar, labels: { ...labels, ...sharedLabels } }));
    return Promise.resolve({ ...data, values });
  }

  reset(): void {
    for (const series of this.byRoute.values()) series.reset();
  }
}

/** Requests of one (route, status) answered since the last collection, and the child they are added to. */
class PendingCount {
  count = 0;
  constructor(readonly child: CounterChild) {}
}

/** The metric children of one route, made on its first request. */
export class RouteMetrics {
  private readonly requestsByStatus = new Map<number, PendingCount>();
  private readonly liveCounter: RouteCounter;

  constructor(
    private readonly route: RouteKind,
    private readonly requests: Counter<'route' | 'status'>,
    readonly duration: LatencySeries,
    private readonly live: LiveSampler,
  ) {
    this.liveCounter = live.forRoute(route);
  }

  record(status: number, seconds: number): void {
    let pending = this.requestsByStatus.get(status);
    if (pending === undefined) {
      pending = new PendingCount(this.requests.labels(this.route, String(status)));
      this.requestsByStatus.set(status, pending);
    }
    pending.count += 1;
    this.duration.observe(seconds);
    this.live.record(this.liveCounter, status, seconds);
  }

  /** Adds the requests counted since the last collection to the prom-client counter. */
  collect(): void {
    for (const pending of this.requestsByStatus.values()) {
      if (pending.count === 0) continue;
      pending.child.inc(pending.count);
      pending.count = 0;
    }
  }
}

export class GatewayMetrics {
  readonly registry: Registry;
  /** Per-second numbers over the last minute, for the dashboard. */
  readonly live: LiveSampler;
  private readonly requests: Counter<'route' | 'status'>;
  private readonly duration: LatencyHistogram;
  private readonly cacheHits: CounterChild;
  private readonly cacheMisses: CounterChild;
  private readonly raftTerm: Gauge<'actor' | 'group'>;
  private readonly raftCommitIndex: Gauge<'actor' | 'group'>;
  private readonly raftLastApplied: Gauge<'actor' | 'group'>;
  private readonly actorRestarts: Gauge<'actor' | 'group'>;
  private readonly actorAlive: Gauge<'actor' | 'group'>;
  private readonly byRoute = new Map<RouteKind, RouteMetrics>();
  private cacheHitsPending = 0;
  private cacheMissesPending = 0;

  constructor(registry: Registry = new Registry(), nowMs: number = Date.now()) {
    this.registry = registry;
    this.live = new LiveSampler(nowMs);
    const registers = [registry];
    const collectRequests = () => {
      for (const route of this.byRoute.values()) route.collect();
    };
    this.requests = new Counter({
      name: 'pygmy_http_requests_total',
      help: 'HTTP requests answered by the gateway, by route and status',
      labelNames: ['route', 'status'],
      registers,
      collect: collectRequests,
    });
    this.duration = new LatencyHistogram('pygmy_http_request_duration_seconds', 'Time from request to answer, by route');
    registry.registerMetric(this.duration as unknown as Histogram<'route'>);
    const cache = new Counter({
      name: 'pygmy_cache_requests_total',
      help: 'Cacheable reads by outcome (hit or miss), as reported in x-cache',
      labelNames: ['outcome'],
      registers,
      collect: () => this.collectCache(),
    });
    this.cacheHits = cache.labels('hit');
    this.cacheMisses = cache.labels('miss');
    const gauge = (name: string, help: string) =>
      new Gauge({ name, help, labelNames: ['actor', 'group'] as const, registers });
    this.raftTerm = gauge('pygmy_raft_term', 'Current Raft term of each replica');
    this.raftCommitIndex = gauge('pygmy_raft_commit_index', 'Highest log index known committed, per replica');
    this.raftLastApplied = gauge('pygmy_raft_last_applied', 'Highest log index applied to the state machine');
    this.actorRestarts = gauge('pygmy_actor_restarts', 'Restarts of each actor by its supervisor');
    this.actorAlive = gauge('pygmy_actor_alive', '1 while the actor runs, 0 while it is down');
  }

  forRoute(route: RouteKind): RouteMetrics {
    let metrics = this.byRoute.get(route);
    if (metrics === undefined) {
      metrics = new RouteMetrics(route, this.requests, this.duration.series(route), this.live);
      this.byRoute.set(route, metrics);
    }
    return metrics;
  }

  recordCache(outcome: CacheOutcome): void {
    if (outcome === 'HIT') this.cacheHitsPending += 1;
    else this.cacheMissesPending += 1;
    this.live.recordCache(outcome === 'HIT');
  }

  private collectCache(): void {
    if (this.cacheHitsPending > 0) this.cacheHits.inc(this.cacheHitsPending);
    if (this.cacheMissesPending > 0) this.cacheMisses.inc(this.cacheMissesPending);
    this.cacheHitsPending = 0;
    this.cacheMissesPending = 0;
  }

  /** Replaces the cluster gauges with this status: actors gone from it disappear from the scrape. */
  updateCluster(status: ClusterStatus | null): void {
    const gauges = [this.raftTerm, this.raftCommitIndex, this.raftLastApplied, this.actorRestarts, this.actorAlive];
    for (const gauge of gauges) gauge.reset();
    if (status === null) return;
    for (const actor of status.actors) {
      const labels = { actor: actor.name, group: actor.group };
      if (actor.term !== null) this.raftTerm.set(labels, actor.term);
      if (actor.commitIndex !== null) this.raftCommitIndex.set(labels, actor.commitIndex);
      if (actor.lastApplied !== null) this.raftLastApplied.set(labels, actor.lastApplied);
      this.actorRestarts.set(labels, actor.restarts);
      this.actorAlive.set(labels, actor.alive ? 1 : 0);
    }
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
