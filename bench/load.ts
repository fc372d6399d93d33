// Runs one scenario against a server URL: autocannon for the load, a poller of GET /cluster for leader changes,
// and, for failover, the two faults at fixed fractions of the run through the admin routes.
//
// Owns: the measured figures of one scenario (ScenarioFigures). Promises: the poller and the fault timers are
// stopped when the run ends, whatever happens; leader changes are counted only while the load runs; a poll that
// fails (the gateway is busy or a leader is gone) is skipped, never counted as a change.
import autocannon, { type Instance, type Result } from 'autocannon';
import type { ScenarioName, ScenarioPlan } from './scenarios.js';

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
  /** failover: the longest stretch without a successful order, and every request that did not succeed. */
  writeGapMsMax?: number;
  failedRequests?: number;
  faults?: string[];
  /** CPU time the server process spent per request while the load ran (Linux); robust to a busy machine. */
  serverCpuMsPerRequest?: number;
  /** baseline-http: req/s of each of its runs (it runs first and last when Pygmy scenarios run between). */
  runsRps?: number[];
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

const pollIntervalMs = 250;
const pollTimeoutMs = 1_000;

interface ClusterView {
  readonly leaders: Record<string, string | null>;
  readonly actors: ReadonlyArray<{ name: string; term: number | null }>;
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

/** Counts each new (leader, term) of a group after the first one seen. */
class LeaderWatch {
  changes = 0;
  private readonly seen = new Map<string, string>();
  private timer: NodeJS.Timeout | null = null;
  private polling = false;
  latest: ClusterView | null = null;

  constructor(private readonly url: string) {}

  start(): void {
    this.timer = setInterval(() => void this.poll(), pollIntervalMs);
    void this.poll();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private async poll(): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    const view = await readCluster(this.url);
    this.polling = false;
    if (view === null || this.timer === null) return;
    this.latest = view;
    for (const [group, leader] of Object.entries(view.leaders)) {
      if (leader === null) continue;
      const term = view.actors.find((actor) => actor.name === leader)?.term ?? 0;
      const key = `${leader}@${term}`;
      const previous = this.seen.get(group);
      if (previous !== undefined && previous !== key) this.changes += 1;
      this.seen.set(group, key);
    }
  }
}

/** failover: stop the catalog leader at a quarter of the run, kill the order leader at three fifths. */
function scheduleFaults(url: string, durationSeconds: number, watch: LeaderWatch, faults: string[]): NodeJS.Timeout[] {
  const fault = (group: 'catalog' | 'order', action: 'stop' | 'kill', atFraction: number) =>
    setTimeout(async () => {
      const view = (await readCluster(url)) ?? watch.latest;
      const leader = view?.leaders[group] ?? null;
      if (leader === null) {
        faults.push(`${action} ${group} leader: none found`);
        return;
      }
      const started = performance.now();
      const answer = await fetch(`${url}/admin/actors/${leader}/${action}`, { method: 'POST', signal: AbortSignal.timeout(10_000) }).catch((error: unknown) => error);
      const status = answer instanceof Response ? answer.status : String(answer);
      faults.push(`${action} ${leader} at ${(atFraction * durationSeconds).toFixed(1)} s → ${status} in ${(performance.now() - started).toFixed(0)} ms`);
    }, atFraction * durationSeconds * 1_000);
  return [fault('catalog', 'stop', 0.25), fault('order', 'kill', 0.6)];
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

export async function runScenario(options: RunOptions): Promise<ScenarioFigures> {
  const watch = new LeaderWatch(options.url);
  const faults: string[] = [];
  const timers: NodeJS.Timeout[] = [];
  if (options.watchLeaders) watch.start();
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
    watch.stop();
    for (const timer of timers) clearTimeout(timer);
  }
  const endedMs = performance.now();
  const figures: ScenarioFigures = {
    rps: Math.round(result.requests.average),
    p50: result.latency.p50,
    p90: result.latency.p90,
    p99: result.latency.p99,
    max: result.latency.max,
    errors: result.errors,
    timeouts: result.timeouts,
    non2xx: result.non2xx,
    leaderChanges: watch.changes,
    requests: result.requests.total,
    connections: options.connections,
    durationSeconds: options.durationSeconds,
    measuredAt: new Date().toISOString(),
  };
  const ledger = options.plan.ledger;
  if (ledger !== null) {
    figures.ordersBought = ledger.bought;
    figures.ordersPerSecond = Math.round(ledger.bought / ((endedMs - startedMs) / 1_000));
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
