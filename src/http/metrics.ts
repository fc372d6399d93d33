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
// Everything else is collected on scrape, never per request: prom-client's default process and Node metrics, the
// gateway's admission and connection figures (read from their owners), and per actor, per thread and per replica
// figures from the cluster status the scrape asks for (the control plane: a status call per worker). The families
// are listed in docs/metrics.md; a test checks that every one listed there is exported.

import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { ThreadSampler, type ThreadFigures } from '../runtime/thread-metrics.js';
import type { PeerLinkFigures } from '../runtime/transport/node-transport.js';
import { bucketOf, durationBucketsSeconds, type HistogramFigures, type ReplicaActivity } from '../raft/activity.js';
import { admittedClasses, type Admission } from './admission.js';
import type { ActorStatus, CacheOutcome, ClusterStatus } from './backend.js';
import type { ConnectionLimit, ListenBacklog } from './connections.js';
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
    this.counts[bucketOf(latencyBucketsSeconds, seconds)]! += 1;
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
  private readonly cluster: ClusterMetrics;
  /** The gateway's own thread (the main thread): the actors' threads report theirs in the cluster status. */
  private readonly mainThread: ThreadSampler;

  constructor(registry: Registry = new Registry(), nowMs: number = Date.now(), options: { defaultMetrics?: boolean } = {}) {
    this.registry = registry;
    if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry });
    this.mainThread = new ThreadSampler();
    this.cluster = new ClusterMetrics(registry);
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
    watchPeerLinks(registry, () => this.peerLinksOf?.() ?? []);
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

  /** Where a replica's database size is read at scrape time (set by the process that knows its data dir). */
  databaseBytesOf: ((actor: string) => number | null) | null = null;

  /** This node's TCP links to the other nodes, read at scrape time (set by `pygmy node`; none in one process). */
  peerLinksOf: (() => readonly PeerLinkFigures[]) | null = null;

  /** Replaces the cluster gauges with this status: actors gone from it disappear from the scrape. */
  updateCluster(status: ClusterStatus | null): void {
    const gauges = [this.raftTerm, this.raftCommitIndex, this.raftLastApplied, this.actorRestarts, this.actorAlive];
    for (const gauge of gauges) gauge.reset();
    this.cluster.update(status, this.mainThread.figures(), this.databaseBytesOf);
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

  /** The gateway's admission, connection and backlog figures, read at each scrape. */
  watchGateway(source: { readonly admission: Admission; readonly connections: ConnectionLimit; readonly backlog: ListenBacklog }): void {
    watchGateway(this.registry, source);
  }

  close(): void {
    this.mainThread.close();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}

type ActorLabels = 'actor' | 'group';

/**
 * A histogram per actor whose observations a replica keeps in its own thread (src/raft/activity.ts) and reports
 * whole in its status: each scrape replaces the series with the reported ones. Printed as prom-client prints a
 * Histogram (cumulative buckets, +Inf, sum, count), labelled actor and group.
 */
class ReportedHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  readonly labelNames = ['actor', 'group'];
  private readonly series = new Map<string, { readonly labels: Record<ActorLabels, string>; readonly figures: HistogramFigures }>();

  constructor(
    readonly name: string,
    readonly help: string,
  ) {}

  set(labels: Record<ActorLabels, string>, figures: HistogramFigures): void {
    this.series.set(`${labels.actor}\u0000${labels.group}`, { labels, figures });
  }

  reset(): void {
    this.series.clear();
  }

  getForPromString(): { name: string; help: string; type: 'histogram'; aggregator: 'sum'; values: ExportedValue[] } {
    const values: ExportedValue[] = [];
    for (const { labels, figures } of this.series.values()) {
      let cumulative = 0;
      durationBucketsSeconds.forEach((bound, bucket) => {
        cumulative += figures.counts[bucket]!;
        values.push({ labels: { le: bound }, sharedLabels: labels, value: cumulative, metricName: `${this.name}_bucket`, exemplar: null });
      });
      values.push(
        { labels: { le: '+Inf' }, sharedLabels: labels, value: figures.count, metricName: `${this.name}_bucket`, exemplar: null },
        { labels: {}, sharedLabels: labels, value: figures.sum, metricName: `${this.name}_sum`, exemplar: undefined },
        { labels: {}, sharedLabels: labels, value: figures.count, metricName: `${this.name}_count`, exemplar: undefined },
      );
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  get(): Promise<{ name: string; help: string; type: 'histogram'; aggregator: 'sum'; values: Array<Omit<ExportedValue, 'sharedLabels'>> }> {
    const data = this.getForPromString();
    const values = data.values.map(({ labels, sharedLabels, value, metricName, exemplar }) => ({ value, metricName, exemplar, labels: { ...labels, ...sharedLabels } }));
    return Promise.resolve({ ...data, values });
  }
}

/** Sets a counter to a total kept elsewhere (a worker's own count); called after reset(), once per label set. */
function setTotal(counter: Counter<ActorLabels>, labels: Record<ActorLabels, string>, total: number): void {
  counter.inc(labels, total);
}

/**
 * Per actor, per thread, per replica and per group figures from one cluster status (one scrape). Every family is
 * reset first, so an actor gone from the status (removed by membership) leaves the scrape with it.
 */
class ClusterMetrics {
  private readonly gauges: Record<string, Gauge<ActorLabels>> = {};
  private readonly counters: Record<string, Counter<ActorLabels>> = {};
  private readonly threadGauges: Record<keyof ThreadFigures, Gauge<'thread'>>;
  private readonly groupHasLeader: Gauge<'group'>;
  private readonly histograms: Record<'fsync' | 'apply' | 'imageBuild' | 'imageSend' | 'imageReceive' | 'imageInstall', ReportedHistogram>;

  constructor(registry: Registry) {
    const registers = [registry];
    const gauge = (name: string, help: string) => (this.gauges[name] = new Gauge({ name, help, labelNames: ['actor', 'group'] as const, registers }));
    const counter = (name: string, help: string) => (this.counters[name] = new Counter({ name, help, labelNames: ['actor', 'group'] as const, registers }));
    gauge('pygmy_actor_mailbox_depth', 'Messages waiting in the actor\'s mailbox');
    counter('pygmy_actor_mailbox_refusals_total', 'Messages refused because the actor\'s mailbox was full (since its last start)');
    counter('pygmy_actor_dead_letters_total', 'Messages the actor could not deliver: unknown, stopped or restarting target (since its last start)');
    counter('pygmy_actor_dropped_total', 'Messages the actor dropped on purpose: full mailbox, isolation, ask past its deadline (since its last start)');
    counter('pygmy_actor_messages_processed_total', 'Messages the actor handled (since its last start)');
    gauge('pygmy_raft_is_leader', '1 while the replica is its group\'s leader');
    gauge('pygmy_raft_has_leader', '1 while the replica knows a leader of its group');
    gauge('pygmy_raft_log_last_index', 'Index of the last entry in the replica\'s log');
    gauge('pygmy_raft_snapshot_index', 'Index the replica\'s log was last compacted to (its snapshot)');
    gauge('pygmy_raft_log_entries', 'Entries in the replica\'s log after its snapshot (last index − snapshot index)');
    gauge('pygmy_raft_apply_lag_entries', 'Committed entries the replica has not applied yet (commit index − last applied)');
    counter('pygmy_raft_fsyncs_total', 'fsyncs of the replica\'s database (since its last start)');
    counter('pygmy_raft_image_streams_stalled_total', 'Images to a follower that made no progress for 200 ticks (since the replica started; logged as imageStreamStalled)');
    counter('pygmy_raft_image_chunks_refused_total', 'Chunks of an image this replica refused: checksum or offset gap, then re-sent (since it started)');
    counter('pygmy_raft_images_installed_total', 'Images this replica received whole from its leader (since it started)');
    gauge('pygmy_raft_database_bytes', 'Size on disk of the replica\'s database (SQLite file, WAL and shared memory), for replicas on this node');
    counter('pygmy_raft_leader_changes_total', 'Times the replica saw its group\'s leader change to another known replica (since it started)');
    counter('pygmy_raft_proposals_proposed_total', 'Proposals the replica took as leader (since it started)');
    counter('pygmy_raft_proposals_committed_total', 'Proposals answered committed (since the replica started)');
    counter('pygmy_raft_proposals_failed_total', 'Proposals refused or answered with a failure: not leader, dropped, busy (since the replica started)');
    gauge('pygmy_raft_proposals_pending', 'Proposals taken and not answered yet');
    counter('pygmy_raft_snapshot_built_bytes_total', 'Size of the images of its state the replica built for followers behind its log (JSON code units, ~bytes)');
    counter('pygmy_raft_snapshot_sent_bytes_total', 'Size of the images the replica delivered whole to followers (JSON code units, ~bytes)');
    counter('pygmy_raft_snapshot_received_bytes_total', 'Size of the images the replica received whole from its leader (JSON code units, ~bytes)');
    const histogram = (name: string, help: string) => {
      const reported = new ReportedHistogram(name, help);
      registry.registerMetric(reported as unknown as Histogram<ActorLabels>);
      return reported;
    };
    this.histograms = {
      fsync: histogram('pygmy_raft_fsync_duration_seconds', 'Time of each synced write of the replica\'s database: the transaction and its fsync (since it started)'),
      apply: histogram('pygmy_raft_apply_duration_seconds', 'Time of applying each batch of committed entries to the state machine (since the replica started)'),
      imageBuild: histogram('pygmy_raft_snapshot_build_duration_seconds', 'Time of building each image of the state for a follower behind the log (since the replica started)'),
      imageSend: histogram('pygmy_raft_snapshot_send_duration_seconds', 'On a leader: time of streaming each image to a follower, its first chunk sent to its last acknowledged'),
      imageReceive: histogram('pygmy_raft_snapshot_receive_duration_seconds', 'On a follower: time of receiving each image from its leader, its first chunk to its last'),
      imageInstall: histogram('pygmy_raft_snapshot_install_duration_seconds', 'On a follower: time of installing each received image into its tables (the synced write)'),
    };
    const threadGauge = (name: string, help: string) => new Gauge({ name, help, labelNames: ['thread'] as const, registers });
    this.threadGauges = {
      heapUsedBytes: threadGauge('pygmy_thread_heap_used_bytes', 'V8 heap used by the thread (an actor\'s worker, or "gateway", the main thread)'),
      heapTotalBytes: threadGauge('pygmy_thread_heap_total_bytes', 'V8 heap the thread has reserved'),
      eventLoopDelayP50Ms: threadGauge('pygmy_thread_event_loop_delay_p50_seconds', 'Median event-loop delay of the thread over the last 10 s window'),
      eventLoopDelayP99Ms: threadGauge('pygmy_thread_event_loop_delay_p99_seconds', '99th percentile event-loop delay of the thread over the last 10 s window'),
      eventLoopDelayMaxMs: threadGauge('pygmy_thread_event_loop_delay_max_seconds', 'Largest event-loop delay of the thread over the last 10 s window'),
      eventLoopUtilization: threadGauge('pygmy_thread_event_loop_utilization_ratio', 'Share of the last 10 s window the thread\'s event loop was busy'),
    };
    this.groupHasLeader = new Gauge({ name: 'pygmy_group_has_leader', help: '1 while the group has a live leader', labelNames: ['group'] as const, registers });
  }

  update(status: ClusterStatus | null, mainThread: ThreadFigures, databaseBytesOf: ((actor: string) => number | null) | null): void {
    for (const gauge of Object.values(this.gauges)) gauge.reset();
    for (const counter of Object.values(this.counters)) counter.reset();
    for (const gauge of Object.values(this.threadGauges)) gauge.reset();
    for (const histogram of Object.values(this.histograms)) histogram.reset();
    this.groupHasLeader.reset();
    this.setThread('gateway', mainThread);
    if (status === null) return;
    for (const actor of status.actors) this.updateActor(actor, databaseBytesOf);
    for (const [group, leader] of Object.entries(status.leaders)) this.groupHasLeader.set({ group }, leader === null ? 0 : 1);
  }

  private updateActor(actor: ActorStatus, databaseBytesOf: ((actor: string) => number | null) | null): void {
    const figures = actor.figures;
    if (figures === undefined) return;
    const labels = { actor: actor.name, group: actor.group };
    this.gauges.pygmy_actor_mailbox_depth!.set(labels, figures.mailboxDepth);
    setTotal(this.counters.pygmy_actor_mailbox_refusals_total!, labels, figures.refused);
    setTotal(this.counters.pygmy_actor_dead_letters_total!, labels, figures.deadLetters);
    setTotal(this.counters.pygmy_actor_dropped_total!, labels, figures.dropped);
    setTotal(this.counters.pygmy_actor_messages_processed_total!, labels, figures.processed);
    if (figures.thread !== null) this.setThread(actor.name, figures.thread);
    const replica = figures.replica;
    if (replica === null || !actor.alive) return;
    this.gauges.pygmy_raft_is_leader!.set(labels, actor.role === 'leader' ? 1 : 0);
    this.gauges.pygmy_raft_has_leader!.set(labels, replica.leader === null ? 0 : 1);
    this.gauges.pygmy_raft_log_last_index!.set(labels, replica.lastIndex);
    this.gauges.pygmy_raft_snapshot_index!.set(labels, replica.snapshotIndex);
    this.gauges.pygmy_raft_log_entries!.set(labels, Math.max(0, replica.lastIndex - replica.snapshotIndex));
    if (actor.commitIndex !== null && actor.lastApplied !== null) {
      this.gauges.pygmy_raft_apply_lag_entries!.set(labels, Math.max(0, actor.commitIndex - actor.lastApplied));
    }
    setTotal(this.counters.pygmy_raft_fsyncs_total!, labels, replica.fsyncs);
    setTotal(this.counters.pygmy_raft_image_streams_stalled_total!, labels, replica.imageStreamsStalled);
    setTotal(this.counters.pygmy_raft_image_chunks_refused_total!, labels, replica.imageChunksRefused);
    setTotal(this.counters.pygmy_raft_images_installed_total!, labels, replica.imagesInstalled);
    if (replica.activity !== null) this.updateActivity(labels, replica.activity);
    const databaseBytes = databaseBytesOf?.(actor.name) ?? null;
    if (databaseBytes !== null) this.gauges.pygmy_raft_database_bytes!.set(labels, databaseBytes);
  }

  private updateActivity(labels: Record<ActorLabels, string>, activity: ReplicaActivity): void {
    setTotal(this.counters.pygmy_raft_leader_changes_total!, labels, activity.leaderChanges);
    setTotal(this.counters.pygmy_raft_proposals_proposed_total!, labels, activity.proposalsProposed);
    setTotal(this.counters.pygmy_raft_proposals_committed_total!, labels, activity.proposalsCommitted);
    setTotal(this.counters.pygmy_raft_proposals_failed_total!, labels, activity.proposalsFailed);
    this.gauges.pygmy_raft_proposals_pending!.set(labels, activity.proposalsPending);
    setTotal(this.counters.pygmy_raft_snapshot_built_bytes_total!, labels, activity.imageUnitsBuilt);
    setTotal(this.counters.pygmy_raft_snapshot_sent_bytes_total!, labels, activity.imageUnitsSent);
    setTotal(this.counters.pygmy_raft_snapshot_received_bytes_total!, labels, activity.imageUnitsReceived);
    this.histograms.fsync.set(labels, activity.fsyncSeconds);
    this.histograms.apply.set(labels, activity.applySeconds);
    this.histograms.imageBuild.set(labels, activity.imageBuildSeconds);
    // Absent from a node that does not time the phases (an earlier version, across a socket): no series for it.
    if (activity.imageSendSeconds !== undefined) this.histograms.imageSend.set(labels, activity.imageSendSeconds);
    if (activity.imageReceiveSeconds !== undefined) this.histograms.imageReceive.set(labels, activity.imageReceiveSeconds);
    if (activity.imageInstallSeconds !== undefined) this.histograms.imageInstall.set(labels, activity.imageInstallSeconds);
  }

  private setThread(thread: string, figures: ThreadFigures): void {
    const labels = { thread };
    this.threadGauges.heapUsedBytes.set(labels, figures.heapUsedBytes);
    this.threadGauges.heapTotalBytes.set(labels, figures.heapTotalBytes);
    this.threadGauges.eventLoopDelayP50Ms.set(labels, figures.eventLoopDelayP50Ms / 1000);
    this.threadGauges.eventLoopDelayP99Ms.set(labels, figures.eventLoopDelayP99Ms / 1000);
    this.threadGauges.eventLoopDelayMaxMs.set(labels, figures.eventLoopDelayMaxMs / 1000);
    this.threadGauges.eventLoopUtilization.set(labels, figures.eventLoopUtilization);
  }
}

/** The gateway's admission and connection figures, as gauges and counters whose values are read when collected. */
function watchGateway(
  registry: Registry,
  source: { readonly admission: Admission; readonly connections: ConnectionLimit; readonly backlog: ListenBacklog },
): void {
  const registers = [registry];
  const perClass = (name: string, help: string, read: (workClass: (typeof admittedClasses)[number]) => number, type: 'gauge' | 'counter') => {
    const collect = function (this: Gauge<'class'> | Counter<'class'>) {
      this.reset();
      for (const workClass of admittedClasses) {
        if (type === 'gauge') (this as Gauge<'class'>).set({ class: workClass }, read(workClass));
        else (this as Counter<'class'>).inc({ class: workClass }, read(workClass));
      }
    };
    if (type === 'gauge') new Gauge({ name, help, labelNames: ['class'] as const, registers, collect });
    else new Counter({ name, help, labelNames: ['class'] as const, registers, collect });
  };
  const classes = source.admission.classes;
  perClass('pygmy_gateway_in_flight', 'Requests of the class being worked on now (order, read)', (workClass) => classes[workClass].inFlight, 'gauge');
  perClass('pygmy_gateway_admission_limit', 'Requests of the class allowed in flight at once, as admission control has set it', (workClass) => classes[workClass].limit, 'gauge');
  perClass('pygmy_gateway_admitted_total', 'Requests of the class admitted', (workClass) => classes[workClass].admittedCount, 'counter');
  perClass('pygmy_gateway_shed_total', 'Requests of the class answered 503 at once because the class was at its limit', (workClass) => classes[workClass].shedCount, 'counter');
  const connections = source.connections;
  new Gauge({ name: 'pygmy_gateway_connections_open', help: 'Client connections open now', registers, collect() { this.set(connections.open); } });
  new Counter({
    name: 'pygmy_gateway_connections_refused_total',
    help: 'Connections that arrived past connectionsMax and were answered 503 + Connection: close',
    registers,
    collect() {
      this.reset();
      this.inc(connections.refusedCount);
    },
  });
  new Gauge({ name: 'pygmy_gateway_listen_backlog', help: 'The listen backlog granted (the smaller of the one asked for and net.core.somaxconn)', registers, collect() { this.set(source.backlog.effective); } });
}

/** Per peer link of the TCP transport, read when collected: one series per peer node, none in one process. */
function watchPeerLinks(registry: Registry, links: () => readonly PeerLinkFigures[]): void {
  const registers = [registry];
  const family = (name: string, help: string, read: (link: PeerLinkFigures) => number | null, type: 'gauge' | 'counter') => {
    const collect = function (this: Gauge<'peer'> | Counter<'peer'>) {
      this.reset();
      for (const link of links()) {
        const value = read(link);
        if (value === null) continue;
        if (type === 'gauge') (this as Gauge<'peer'>).set({ peer: link.peer }, value);
        else (this as Counter<'peer'>).inc({ peer: link.peer }, value);
      }
    };
    if (type === 'gauge') new Gauge({ name, help, labelNames: ['peer'] as const, registers, collect });
    else new Counter({ name, help, labelNames: ['peer'] as const, registers, collect });
  };
  family('pygmy_transport_connected', '1 while this node has an authenticated connection to the peer node', (link) => (link.connected ? 1 : 0), 'gauge');
  family('pygmy_transport_bytes_sent_total', 'Bytes this node wrote to the peer node (frames, seals and handshakes; since it started)', (link) => link.bytesSent, 'counter');
  family('pygmy_transport_bytes_received_total', 'Bytes this node read from the peer node (since it started)', (link) => link.bytesReceived, 'counter');
  family('pygmy_transport_frames_sent_total', 'Frames this node sent to the peer node (since it started)', (link) => link.framesSent, 'counter');
  family('pygmy_transport_frames_received_total', 'Frames this node received from the peer node (since it started)', (link) => link.framesReceived, 'counter');
  family('pygmy_transport_reconnects_total', 'Connections to the peer node opened after the first: each follows a drop', (link) => link.reconnects, 'counter');
  family('pygmy_transport_round_trip_seconds', 'Smoothed round trip to the peer node, measured on the heartbeats (absent until known)', (link) => (link.roundTripMs === null ? null : link.roundTripMs / 1000), 'gauge');
  family('pygmy_transport_send_queue_bytes', 'Bytes queued for the peer node and not yet handed to the kernel', (link) => link.sendQueueBytes, 'gauge');
}
