// The gateway's Prometheus metrics, in a registry of its own (never prom-client's global one, so two gateways in
// one process, or a test beside the demo, do not mix their numbers).
//
// Owns: request counters by route and status, a latency histogram by route, cache hits and misses, and Raft and
// supervisor gauges refreshed from the cluster status at scrape time; beside them, the dashboard's per-second
// LiveSampler. Promises: the per-request path allocates no label objects — label children (and the sampler's
// route counter) are made once per (route, status) and reused.

import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { CacheOutcome, ClusterStatus } from './backend.js';
import { LiveSampler, type RouteCounter } from './dashboard/sampler.js';
import type { RouteKind } from './routes.js';

type CounterChild = ReturnType<Counter<string>['labels']>;
type HistogramChild = ReturnType<Histogram<string>['labels']>;

/** The metric children of one route, made on its first request. */
export class RouteMetrics {
  private readonly requestsByStatus = new Map<number, CounterChild>();
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
    let child = this.requestsByStatus.get(status);
    if (child === undefined) {
      child = this.requests.labels(this.route, String(status));
      this.requestsByStatus.set(status, child);
    }
    child.inc();
    this.duration.observe(seconds);
    this.live.record(this.liveCounter, status, seconds);
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

  constructor(registry: Registry = new Registry(), nowMs: number = Date.now()) {
    this.registry = registry;
    this.live = new LiveSampler(nowMs);
    const registers = [registry];
    this.requests = new Counter({
      name: 'pygmy_http_requests_total',
      help: 'HTTP requests answered by the gateway, by route and status',
      labelNames: ['route', 'status'],
      registers,
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
    if (outcome === 'HIT') this.cacheHits.inc();
    else this.cacheMisses.inc();
    this.live.recordCache(outcome === 'HIT');
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
