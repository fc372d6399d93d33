// The gateway's Prometheus metrics, in a registry of its own (never prom-client's global one, so two gateways in
// one process, or a test beside the demo, do not mix their numbers).
//
// Owns: request counters by route and status, a latency histogram by route, cache hits and misses, and Raft and
// supervisor gauges refreshed from the cluster status at scrape time; beside them, the dashboard's per-second
// LiveSampler. Promises: the per-request path allocates no label objects and calls no prom-client counter —
// counts accumulate in plain numbers per (route, status) and per cache outcome, and are added to prom-client's
// counters when a scrape (or any read of them) collects, so every read sees every request answered before it.
// prom-client hashes the labels of a child on each inc(), which a lookup hit cannot afford.

import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { CacheOutcome, ClusterStatus } from './backend.js';
import { LiveSampler, type RouteCounter } from './dashboard/sampler.js';
import type { RouteKind } from './routes.js';

type CounterChild = ReturnType<Counter<string>['labels']>;
type HistogramChild = ReturnType<Histogram<string>['labels']>;

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
    readonly duration: HistogramChild,
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
  private readonly duration: Histogram<'route'>;
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
    this.duration = new Histogram({
      name: 'pygmy_http_request_duration_seconds',
      help: 'Time from request to answer, by route',
      labelNames: ['route'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
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
      metrics = new RouteMetrics(route, this.requests, this.duration.labels(route), this.live);
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
