// The soak of `pygmy bench --scenario soak [--duration 600]`: the mixed load held for the whole run, cut into
// windows (a minute each; a quarter of the run when it is shorter than two minutes), so that what drifts with time
// shows: throughput, latency, memory, bytes written per order, stalls and elections.
//
// Owns: the per-window figures and the soak's verdicts (last window ≥ 0.9× the first; RSS after the second window
// grows ≤ 10%; no leader change). Promises: one autocannon run for the whole duration (no reconnect between
// windows), the samplers are stopped when it ends whatever happens, and every figure names where it comes from —
// RSS and bytes written are the server process's own (/proc/PID/status, /proc/PID/io), the stall is the longest
// answer to a /health probe sent every 100 ms on its own connection (an upper bound on the gateway's event-loop
// stalls, queueing included), leader changes are elections seen in each group's highest term.
import { readFileSync } from 'node:fs';
import autocannon, { type Instance, type Result } from 'autocannon';
import { electionsBetween } from './load.js';
import { rssMiB } from './process-figures.js';
import { seededRandom, type ScenarioPlan } from './scenarios.js';

export interface SoakWindow {
  /** Seconds from the start of the load to the end of this window. */
  readonly endSecond: number;
  readonly requestsPerSecond: number;
  readonly ordersPerSecond: number;
  readonly latencyMsP99: number;
  readonly latencyMsMax: number;
  readonly rssMiB: number | null;
  /** Bytes the server process wrote to disk in this window, over the orders bought in it. */
  readonly diskBytesPerOrder: number | null;
  readonly healthMsMax: number;
  readonly elections: number;
}

export interface SoakFigures {
  readonly windowSeconds: number;
  readonly windows: readonly SoakWindow[];
  /** Last window's requests per second over the first's. */
  readonly lastOverFirst: number | null;
  /** RSS at the end over RSS at the end of the second window, minus one (0.1 is 10% growth). */
  readonly rssGrowthAfterSecondWindow: number | null;
  readonly healthMsMax: number;
  readonly elections: number;
}

const healthProbeIntervalMs = 100;
const healthProbeTimeoutMs = 5_000;
const clusterTimeoutMs = 2_000;
/** Latencies kept per window for its p99: a bounded sample (reservoir), not every response. */
const latencySampleMax = 20_000;

export function windowSecondsFor(durationSeconds: number): number {
  return durationSeconds >= 120 ? 60 : Math.max(1, Math.floor(durationSeconds / 4));
}

function writtenBytes(pid: number): number | null {
  try {
    const line = readFileSync(`/proc/${pid}/io`, 'utf8').split('\n').find((entry) => entry.startsWith('write_bytes:'));
    return line === undefined ? null : Number(line.split(/\s+/)[1]);
  } catch {
    return null;
  }
}

type ClusterView = Parameters<typeof electionsBetween>[0];

async function readCluster(url: string): Promise<ClusterView | null> {
  try {
    const answer = await fetch(`${url}/cluster`, { signal: AbortSignal.timeout(clusterTimeoutMs) });
    if (answer.status !== 200) return null;
    return ((await answer.json()) as { result?: ClusterView }).result ?? null;
  } catch {
    return null;
  }
}

/** The p99 of a sample, nearest rank. */
export function percentile99(sample: readonly number[]): number {
  if (sample.length === 0) return 0;
  const sorted = [...sample].sort((left, right) => left - right);
  return sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * 0.99) - 1)]!;
}

/** The figures of one window as it is being filled. */
class WindowAccumulator {
  responses = 0;
  latencyMsMax = 0;
  healthMsMax = 0;
  private readonly sample: number[] = [];
  private seen = 0;

  constructor(private readonly random: () => number) {}

  record(latencyMs: number): void {
    this.responses += 1;
    this.latencyMsMax = Math.max(this.latencyMsMax, latencyMs);
    this.seen += 1;
    if (this.sample.length < latencySampleMax) this.sample.push(latencyMs);
    else {
      const slot = Math.floor(this.random() * this.seen);
      if (slot < latencySampleMax) this.sample[slot] = latencyMs;
    }
  }

  p99(): number {
    return percentile99(this.sample);
  }
}

export interface SoakOptions {
  readonly url: string;
  readonly pid: number;
  readonly plan: ScenarioPlan;
  readonly connections: number;
  readonly durationSeconds: number;
  readonly progress: (line: string, final: boolean) => void;
}

/** Verdicts of a soak, each null when the figures to judge it are missing. */
export function judgeSoak(windows: readonly SoakWindow[]): Pick<SoakFigures, 'lastOverFirst' | 'rssGrowthAfterSecondWindow'> {
  const first = windows[0];
  const last = windows.at(-1);
  const lastOverFirst = first && last && windows.length >= 2 && first.requestsPerSecond > 0 ? Math.round((last.requestsPerSecond / first.requestsPerSecond) * 1000) / 1000 : null;
  const second = windows[1];
  const rssGrowthAfterSecondWindow =
    second?.rssMiB != null && last?.rssMiB != null && windows.length >= 3 && second.rssMiB > 0 ? Math.round((last.rssMiB / second.rssMiB - 1) * 1000) / 1000 : null;
  return { lastOverFirst, rssGrowthAfterSecondWindow };
}

export async function runSoak(options: SoakOptions): Promise<{ figures: SoakFigures; result: Result }> {
  const windowSeconds = windowSecondsFor(options.durationSeconds);
  const windowsCount = Math.max(1, Math.floor(options.durationSeconds / windowSeconds));
  const random = seededRandom(0x50a4);
  let current = new WindowAccumulator(random);
  const windows: SoakWindow[] = [];
  const ledger = options.plan.ledger;
  let ordersBefore = 0;
  let bytesBefore = writtenBytes(options.pid);
  let viewBefore = await readCluster(options.url);
  const firstView = viewBefore;

  let probing = true;
  const probe = async () => {
    while (probing) {
      const sentMs = performance.now();
      await fetch(`${options.url}/health`, { signal: AbortSignal.timeout(healthProbeTimeoutMs) }).then((answer) => answer.arrayBuffer(), () => null);
      current.healthMsMax = Math.max(current.healthMsMax, performance.now() - sentMs);
      await new Promise((resolve) => setTimeout(resolve, healthProbeIntervalMs));
    }
  };
  const probing$ = probe();

  const closeWindow = async (endSecond: number) => {
    const finished = current;
    current = new WindowAccumulator(random);
    const orders = (ledger?.bought ?? 0) - ordersBefore;
    ordersBefore = ledger?.bought ?? 0;
    const bytes = writtenBytes(options.pid);
    const view = await readCluster(options.url);
    const window: SoakWindow = {
      endSecond,
      requestsPerSecond: Math.round(finished.responses / windowSeconds),
      ordersPerSecond: Math.round(orders / windowSeconds),
      latencyMsP99: Math.round(finished.p99() * 10) / 10,
      latencyMsMax: Math.round(finished.latencyMsMax * 10) / 10,
      rssMiB: rssMiB(options.pid),
      diskBytesPerOrder: bytes !== null && bytesBefore !== null && orders > 0 ? Math.round((bytes - bytesBefore) / orders) : null,
      healthMsMax: Math.round(finished.healthMsMax),
      elections: viewBefore !== null && view !== null ? electionsBetween(viewBefore, view) : 0,
    };
    bytesBefore = bytes;
    if (view !== null) viewBefore = view;
    windows.push(window);
    options.progress(
      `soak: ${endSecond} s, ${window.requestsPerSecond.toLocaleString('en-US')} req/s, ${window.ordersPerSecond} orders/s, p99 ${window.latencyMsP99} ms, RSS ${window.rssMiB} MiB, elections ${window.elections}`,
      true,
    );
  };

  let closing: Promise<void> = Promise.resolve();
  const windowTimer = setInterval(() => {
    const endSecond = windowSeconds * (windows.length + 1);
    if (endSecond <= windowsCount * windowSeconds) closing = closing.then(() => closeWindow(endSecond));
  }, windowSeconds * 1_000);
  let result: Result;
  try {
    result = await new Promise<Result>((resolve, reject) => {
      const instance: Instance = autocannon(
        { url: options.url, connections: options.connections, duration: windowsCount * windowSeconds, requests: options.plan.requests, timeout: 10 },
        (error, finished) => (error ? reject(error) : resolve(finished)),
      );
      instance.on('response', (_client: unknown, _status: number, _bytes: number, responseTimeMs: number) => current.record(responseTimeMs));
    });
  } finally {
    clearInterval(windowTimer);
    probing = false;
    await probing$;
    await closing;
  }
  // The last window may not have been closed by the timer when autocannon ended a moment before it fired.
  if (windows.length < windowsCount) await closeWindow(windowsCount * windowSeconds);
  const lastView = await readCluster(options.url);
  const elections = firstView !== null && lastView !== null ? electionsBetween(firstView, lastView) : windows.reduce((sum, window) => sum + window.elections, 0);
  return {
    result,
    figures: {
      windowSeconds,
      windows,
      ...judgeSoak(windows),
      healthMsMax: Math.max(0, ...windows.map((window) => window.healthMsMax)),
      elections,
    },
  };
}
