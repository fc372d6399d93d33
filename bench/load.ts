// Runs one scenario against a server URL: autocannon for the load, a poller of GET /cluster for leader changes,
// and, for failover, the two faults at fixed fractions of the run through the admin routes.
//
// Owns: the measured figures of one scenario (ScenarioFigures). Promises: the poller and the fault timers are
// stopped when the run ends, whatever happens; leader changes are counted only while the load runs; a poll that
// fails (the gateway is busy or a leader is gone) is skipped, never counted as a change.
import autocannon, { type Instance, type Result } from 'autocannon';
import type { OverloadFigures } from './overload.js';
import type { ScenarioName, ScenarioPlan } from './scenarios.js';
import type { ScrapeFigures } from './scrape.js';

export interface ScenarioFigures {
  rps: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  errors: number;
  timeouts: number;
  non2xx: number;
  leaderChanges: number;
  requests: number;
  connections: number;
  durationSeconds: number;
  /** Orders that bought, for scenarios that place orders. */
  ordersBought?: number;
  ordersPerSecond?: number;
  /** Acknowledged durable writes per second: bought orders for Pygmy's scenarios, acknowledged puts for etcd. */
  writesPerSecond?: number;
  /** failover: the longest stretch without a successful order, and every request that did not succeed. */
  writeGapMsMax?: number;
  failedRequests?: number;
  faults?: string[];
  /** CPU time the server process spent per request while the load ran (Linux); robust to a busy machine. */
  serverCpuMsPerRequest?: number;
  /** soak: the figures of each window and the verdicts (see bench/soak.ts). */
  soak?: import('./soak.js').SoakFigures;
  /** baseline-http: req/s of each of its runs (it runs first and last when Pygmy scenarios run between). */
  runsRps?: number[];
  /** overload: every phase's figures (bench/overload.ts); the row itself shows the storm's orders. */
  overload?: OverloadFigures;
  /** scrape: what GET /metrics costs (bench/scrape.ts); the row itself shows lookup-hit with scraping. */
  scrape?: ScrapeFigures;
  measuredAt: string;
}

export interface RunOptions {
  readonly url: string;
  readonly name: ScenarioName;
  readonly plan: ScenarioPlan;
  readonly connections: number;
  readonly durationSeconds: number;
  /** Polls /cluster for leaders; off for the baseline server. */
  readonly watchLeaders: boolean;
  readonly progress: (line: string, final: boolean) => void;
}

// The watch polls once a second: each poll asks every actor for its status and runs a fetch in the load
// generator's thread, work the baseline's run does not have. Elections between polls are not missed: at the
// end, each group's highest term is compared with the one before the load (every election raises it; pre-vote
// keeps a healthy group's term where it is).
const pollIntervalMs = 1_000;
const pollTimeoutMs = 1_000;

interface ClusterView {
  readonly leaders: Record<string, string | null>;
  readonly actors: ReadonlyArray<{ name: string; group: string; term: number | null }>;
}

async function readCluster(url: string): Promise<ClusterView | null> {
  try {
    const response = await fetch(`${url}/cluster`, { signal: AbortSignal.timeout(pollTimeoutMs) });
    if (response.status !== 200) return null;
    const body = (await response.json()) as { result?: ClusterView };
    return body.result ?? null;
  } catch {
    return null;
  }
}

/** Each group's highest term among its members in a view. */
export function groupTerms(view: ClusterView): Map<string, number> {
  const terms = new Map<string, number>();
  for (const actor of view.actors) {
    if (actor.term === null) continue;
    terms.set(actor.group, Math.max(terms.get(actor.group) ?? 0, actor.term));
  }
  return terms;
}

/** Elections between two views: how far each group's highest term rose. */
export function electionsBetween(first: ClusterView, last: ClusterView): number {
  const before = groupTerms(first);
  let elections = 0;
  for (const [group, term] of groupTerms(last)) {
    const earlier = before.get(group);
    if (earlier !== undefined && term > earlier) elections += term - earlier;
  }
  return elections;
}

/**
 * Counts leader changes: each new (leader, term) of a group seen by a poll after the first one, or, if more, the
 * elections the terms tell of between the first view and the last.
 */
class LeaderWatch {
  private seenChanges = 0;
  private readonly seen = new Map<string, string>();
  private timer: NodeJS.Timeout | null = null;
  private polling: Promise<void> | null = null;
  private first: ClusterView | null = null;
  latest: ClusterView | null = null;

  constructor(private readonly url: string) {}

  get changes(): number {
    const elections = this.first === null || this.latest === null ? 0 : electionsBetween(this.first, this.latest);
    return Math.max(this.seenChanges, elections);
  }

  /** Resolves once the first view is read (or could not be), before the load starts. */
  async start(): Promise<void> {
    this.timer = setInterval(() => void this.poll(), pollIntervalMs);
    await this.poll();
  }

  /** Stops polling and reads the last view, after the load ended. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.polling;
    await this.poll();
    this.timer = null;
  }

  private poll(): Promise<void> {
    this.polling ??= this.read().finally(() => {
      this.polling = null;
    });
    return this.polling;
  }

  private async read(): Promise<void> {
    const view = await readCluster(this.url);
    if (view === null) return;
    this.first ??= view;
    this.latest = view;
    for (const [group, leader] of Object.entries(view.leaders)) {
      if (leader === null) continue;
      const term = view.actors.find((actor) => actor.name === leader)?.term ?? 0;
      const key = `${leader}@${term}`;
      const previous = this.seen.get(group);
      if (previous !== undefined && previous !== key) this.seenChanges += 1;
      this.seen.set(group, key);
    }
  }
}

/**
 * failover: stop the catalog leader at a quarter of the run (it hands over first) and start it again at 0.45 (it
 * catches up from its disk and the leader, as `docker start catalog-1` in the reference experiments); kill the
 * order leader at three fifths (its thread ends and the runtime tells its peers; the supervisor restarts it); cut
 * the catalog leader off at four fifths (isolate: nobody is told, so the followers must time out and elect, as
 * when a host dies silently). Each fault leaves a majority of its group up.
 */
function scheduleFaults(url: string, durationSeconds: number, watch: LeaderWatch, faults: string[]): NodeJS.Timeout[] {
  const act = (name: string, action: string, atFraction: number) => async () => {
    const started = performance.now();
    const answer = await fetch(`${url}/admin/actors/${name}/${action}`, { method: 'POST', signal: AbortSignal.timeout(10_000) }).catch((error: unknown) => error);
    const status = answer instanceof Response ? answer.status : String(answer);
    faults.push(`${action} ${name} at ${(atFraction * durationSeconds).toFixed(1)} s → ${status} in ${(performance.now() - started).toFixed(0)} ms`);
  };
  const at = (atFraction: number, run: () => Promise<void>) => setTimeout(() => void run(), atFraction * durationSeconds * 1_000);
  let stopped: string | null = null;
  const leaderFault = (group: 'catalog' | 'order', action: 'stop' | 'kill' | 'isolate', atFraction: number) =>
    at(atFraction, async () => {
      const view = (await readCluster(url)) ?? watch.latest;
      const leader = view?.leaders[group] ?? null;
      if (leader === null) {
        faults.push(`${action} ${group} leader: none found`);
        return;
      }
      if (action === 'stop') stopped = leader;
      await act(leader, action, atFraction)();
    });
  return [
    leaderFault('catalog', 'stop', 0.25),
    at(0.45, async () => {
      if (stopped !== null) await act(stopped, 'start', 0.45)();
    }),
    leaderFault('order', 'kill', 0.6),
    leaderFault('catalog', 'isolate', 0.8),
  ];
}

function runAutocannon(options: RunOptions, durationSeconds: number, onTick: (count: number) => void): Promise<Result> {
  return new Promise((resolve, reject) => {
    const instance: Instance = autocannon(
      { url: options.url, connections: options.connections, duration: durationSeconds, requests: options.plan.requests, timeout: 10 },
      (error, result) => (error ? reject(error) : resolve(result)),
    );
    instance.on('tick', (counter: { counter: number }) => onTick(counter.counter));
  });
}

/** An unmeasured run of the same plan: JIT, caches and connection pools warm up before the figures count. */
export async function warm(options: RunOptions, seconds: number): Promise<void> {
  if (seconds <= 0) return;
  await runAutocannon(options, seconds, () => {});
}

/** The figures every scenario reports, read off one autocannon result. */
export function figuresOf(result: Result, leaderChanges: number, connections: number, durationSeconds: number): ScenarioFigures {
  return {
    rps: Math.round(result.requests.average),
    p50: result.latency.p50,
    p90: result.latency.p90,
    p99: result.latency.p99,
    max: result.latency.max,
    errors: result.errors,
    timeouts: result.timeouts,
    non2xx: result.non2xx,
    leaderChanges,
    requests: result.requests.total,
    connections,
    durationSeconds,
    measuredAt: new Date().toISOString(),
  };
}

export async function runScenario(options: RunOptions): Promise<ScenarioFigures> {
  const watch = new LeaderWatch(options.url);
  const faults: string[] = [];
  const timers: NodeJS.Timeout[] = [];
  if (options.watchLeaders) await watch.start();
  if (options.name === 'failover') timers.push(...scheduleFaults(options.url, options.durationSeconds, watch, faults));
  const startedMs = performance.now();
  let second = 0;
  let result: Result;
  try {
    result = await runAutocannon(options, options.durationSeconds, (count) => {
      second += 1;
      if (second > options.durationSeconds) return;
      options.progress(`${options.name}: ${second}/${options.durationSeconds} s, ${count.toLocaleString('en-US')} req/s, leader changes ${watch.changes}`, false);
    });
  } finally {
    for (const timer of timers) clearTimeout(timer);
    if (options.watchLeaders) await watch.stop();
  }
  const endedMs = performance.now();
  const figures = figuresOf(result, watch.changes, options.connections, options.durationSeconds);
  const ledger = options.plan.ledger;
  if (ledger !== null) {
    const perSecond = Math.round(ledger.bought / ((endedMs - startedMs) / 1_000));
    figures.writesPerSecond = perSecond;
    if (options.name !== 'etcd') {
      figures.ordersBought = ledger.bought;
      figures.ordersPerSecond = perSecond;
    }
  }
  if (options.name === 'failover' && ledger !== null) {
    figures.writeGapMsMax = Math.round(ledger.longestGapMs(startedMs, endedMs));
    // autocannon's errors include its timeouts; every non-2xx is a failed client request too.
    figures.failedRequests = result.errors + result.non2xx;
    figures.faults = faults;
  }
  options.progress(`${options.name}: done, ${figures.rps.toLocaleString('en-US')} req/s, p99 ${figures.p99} ms`, true);
  return figures;
}
