// The `overload` scenario: a connection storm on a freshly started cluster, then more connections than the
// gateway serves at once, beside bare node:http at the storm's number of connections.
//
// Phases, in order (each on its own autocannon instances, in this process):
//   baseline  bare node:http (the baseline server) at storm connections: the p99 the shed answers are held to;
//   storm     right after `pygmy start` prints ready: 2,000 order connections and 500 lookup connections opened at
//             once, for `stormSeconds`;
//   wide      6,000 order connections (past connectionsMax: some are answered 503 + Connection: close);
//   lower     64 and 500 order connections, for the best goodput at a lower concurrency;
//   after     the server left idle for `afterSeconds`, then its RSS read once more.
// Owns: OverloadFigures. Measures: goodput (orders bought per second), shed answers (503 with
// x-order-outcome: not-taken) with their latency, admitted (200) order latency p50/p99/max, the slowest answer of
// any kind, lookup p99 beside the orders, connection errors (autocannon's errors, timeouts included), the kernel's
// listen-queue overflows during each phase (TcpExtListenOverflows from /proc/net/netstat: machine-wide, so other
// work on the machine counts too), the server's RSS before, at its peak (sampled every 250 ms) and after, and
// during the storm and the wide run the probes an operator's monitoring sends (GET /health on the client port, and
// /health and /metrics on the operations listener, each on a new connection every 250 ms): their p99, max and
// failures (no answer within 10 s, or not 200).
// Needs: file descriptors for every client connection (checked against the soft limit before it starts).
import autocannon, { type Instance, type RequestSpec, type Result } from 'autocannon';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import type { ScenarioFigures } from './load.js';
import { planScenario } from './scenarios.js';
import type { RunningServer } from './servers.js';

export const stormOrderConnections = 2_000;
export const stormLookupConnections = 500;
export const wideConnections = 6_000;
export const lowerConnections: readonly number[] = [64, 500];
/** `pygmy start`'s request deadline (src/cluster/cluster.ts): no answer may come later than this plus 100 ms. */
export const requestDeadlineMs = 5_000;

export interface LatencySummary {
  count: number;
  p50: number;
  p99: number;
  max: number;
}

export interface PhaseFigures {
  connections: number;
  durationSeconds: number;
  /** Orders bought per second. */
  goodputPerSecond: number;
  admitted: LatencySummary;
  shed: LatencySummary;
  /** 503 answers to orders without x-order-outcome: not-taken (outcome unknown: a deadline passed). */
  unknownOutcome: number;
  /** The slowest answer of any status, in ms. */
  answerMsMax: number;
  connectionErrors: number;
  timeouts: number;
  listenOverflows: number | null;
  lookups?: { rps: number; p99: number; max: number; non2xx: number };
  /** The operator's probes during the phase (absent where the server has no operations listener). */
  probes?: { clientHealth: ProbeSummary; operationsHealth: ProbeSummary; operationsMetrics: ProbeSummary };
}

export interface ProbeSummary {
  count: number;
  p99: number;
  max: number;
  /** No answer within probeTimeoutMs, or a status other than 200. */
  failures: number;
}

const probeIntervalMs = 250;
const probeTimeoutMs = 10_000;

/** One GET on a new connection: its latency in ms, or null when it failed (error, timeout, not 200). */
function probeOnce(url: string): Promise<number | null> {
  const startedMs = performance.now();
  return new Promise((resolve) => {
    const outgoing = request(url, { agent: false, timeout: probeTimeoutMs }, (incoming) => {
      incoming.resume();
      incoming.once('end', () => resolve(incoming.statusCode === 200 ? performance.now() - startedMs : null));
      incoming.once('error', () => resolve(null));
    });
    outgoing.once('timeout', () => outgoing.destroy(new Error('probe timed out')));
    outgoing.once('error', () => resolve(null));
    outgoing.end();
  });
}

/** Probes `urls` every probeIntervalMs until stopped; stop() waits for the probes in flight. */
function probeWhile(urls: Record<'clientHealth' | 'operationsHealth' | 'operationsMetrics', string>): { stop(): Promise<NonNullable<PhaseFigures['probes']>> } {
  const latencies = { clientHealth: [] as number[], operationsHealth: [] as number[], operationsMetrics: [] as number[] };
  const failures = { clientHealth: 0, operationsHealth: 0, operationsMetrics: 0 };
  const inFlight = new Set<Promise<void>>();
  const timer = setInterval(() => {
    for (const name of Object.keys(urls) as Array<keyof typeof urls>) {
      const probe = probeOnce(urls[name]).then((latencyMs) => {
        if (latencyMs === null) failures[name] += 1;
        else latencies[name].push(latencyMs);
      });
      inFlight.add(probe);
      void probe.finally(() => inFlight.delete(probe));
    }
  }, probeIntervalMs);
  const summary = (name: keyof typeof urls): ProbeSummary => {
    const latency = summarize(latencies[name]);
    return { count: latency.count + failures[name], p99: latency.p99, max: latency.max, failures: failures[name] };
  };
  return {
    async stop() {
      clearInterval(timer);
      await Promise.all([...inFlight]);
      return { clientHealth: summary('clientHealth'), operationsHealth: summary('operationsHealth'), operationsMetrics: summary('operationsMetrics') };
    },
  };
}

export interface OverloadFigures {
  baseline: { connections: number; rps: number; p99: number };
  storm: PhaseFigures;
  wide: PhaseFigures;
  lower: Array<{ connections: number; goodputPerSecond: number; p99: number }>;
  rssBytes: { before: number | null; peak: number | null; after: number | null; afterSeconds: number };
  fileDescriptorsSoftLimit: number | null;
}

export interface OverloadSettings {
  readonly stormSeconds: number;
  readonly lowerSeconds: number;
  readonly afterSeconds: number;
  readonly progress: (line: string, final: boolean) => void;
}

/** The soft limit on open files of this process (what its client connections count against); null off Linux. */
export function openFilesSoftLimit(): number | null {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8').split('\n').find((candidate) => candidate.startsWith('Max open files'));
    const value = Number(line?.split(/\s{2,}/)[1]);
    return Number.isSafeInteger(value) ? value : null;
  } catch {
    return null;
  }
}

/** TcpExtListenOverflows since boot (connections the kernel dropped because a listen queue was full). */
export function listenOverflows(text?: string): number | null {
  try {
    const lines = (text ?? readFileSync('/proc/net/netstat', 'utf8')).split('\n').filter((line) => line.startsWith('TcpExt:'));
    if (lines.length < 2) return null;
    const names = lines[0]!.split(/\s+/);
    const values = lines[1]!.split(/\s+/);
    const index = names.indexOf('ListenOverflows');
    return index < 0 ? null : Number(values[index]);
  } catch {
    return null;
  }
}

function rssBytesOf(pid: number): number | null {
  try {
    const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((candidate) => candidate.startsWith('VmRSS:'));
    return line === undefined ? null : Number(line.split(/\s+/)[1]) * 1_024;
  } catch {
    return null;
  }
}

export function summarize(latenciesMs: readonly number[]): LatencySummary {
  if (latenciesMs.length === 0) return { count: 0, p50: 0, p99: 0, max: 0 };
  const sorted = [...latenciesMs].sort((left, right) => left - right);
  const round = (ms: number) => Math.round(ms * 10) / 10;
  const at = (share: number) => round(sorted[Math.min(sorted.length - 1, Math.floor(share * sorted.length))]!);
  return { count: sorted.length, p50: at(0.5), p99: at(0.99), max: round(sorted[sorted.length - 1]!) };
}

/** What one order instance saw, answer by answer. */
class OrderTally {
  bought = 0;
  notTaken = 0;
  unknownOutcome = 0;
  readonly admittedMs: number[] = [];
  readonly shedMs: number[] = [];
  answerMsMax = 0;
  /** Statuses in the order onResponse saw them; the 'response' event that follows carries the latency. */
  private readonly pendingShed: boolean[] = [];

  requests(): RequestSpec[] {
    const spec = planScenario('order', [], 3).requests[0]!;
    return [{
      ...spec,
      onResponse: (status, body, _context, headers) => {
        if (status === 200 && body === 'true') this.bought += 1;
        const shed = status === 503 && headers?.['x-order-outcome'] === 'not-taken';
        if (shed) this.notTaken += 1;
        else if (status === 503) this.unknownOutcome += 1;
        this.pendingShed.push(shed);
      },
    }];
  }

  response(status: number, latencyMs: number): void {
    this.answerMsMax = Math.max(this.answerMsMax, latencyMs);
    const shed = this.pendingShed.shift() ?? false;
    if (status === 200) this.admittedMs.push(latencyMs);
    else if (shed) this.shedMs.push(latencyMs);
  }
}

function run(url: string, connections: number, seconds: number, requests: RequestSpec[], onResponse?: (status: number, latencyMs: number) => void): { instance: Instance; done: Promise<Result> } {
  let instance!: Instance;
  const done = new Promise<Result>((resolve, reject) => {
    instance = autocannon({ url, connections, duration: seconds, requests, timeout: 10 }, (error, result) => (error ? reject(error) : resolve(result)));
  });
  if (onResponse !== undefined) instance.on('response', (_client: unknown, status: number, _bytes: number, latencyMs: number) => onResponse(status, latencyMs));
  return { instance, done };
}

async function orderPhase(url: string, connections: number, seconds: number, lookupConnections: number, progress: OverloadSettings['progress'], label: string, operationsUrl?: string): Promise<PhaseFigures> {
  const tally = new OrderTally();
  const probes = operationsUrl === undefined ? null : probeWhile({ clientHealth: `${url}/health`, operationsHealth: `${operationsUrl}/health`, operationsMetrics: `${operationsUrl}/metrics` });
  const overflowsBefore = listenOverflows();
  const startedMs = performance.now();
  const orders = run(url, connections, seconds, tally.requests(), (status, latencyMs) => tally.response(status, latencyMs));
  const lookups = lookupConnections > 0 ? run(url, lookupConnections, seconds, planScenario('lookup-hit', [], 4).requests) : null;
  let second = 0;
  orders.instance.on('tick', () => progress(`overload ${label}: ${++second}/${seconds} s, ${tally.bought.toLocaleString('en-US')} bought, ${tally.notTaken.toLocaleString('en-US')} shed`, false));
  const [result, lookupResult] = await Promise.all([orders.done, lookups?.done ?? Promise.resolve(null)]);
  const elapsedSeconds = (performance.now() - startedMs) / 1_000;
  const probed = probes === null ? null : await probes.stop();
  const overflowsAfter = listenOverflows();
  const figures: PhaseFigures = {
    connections: connections + lookupConnections,
    durationSeconds: seconds,
    goodputPerSecond: Math.round(tally.bought / elapsedSeconds),
    admitted: summarize(tally.admittedMs),
    shed: summarize(tally.shedMs),
    unknownOutcome: tally.unknownOutcome,
    answerMsMax: Math.round(tally.answerMsMax),
    connectionErrors: result.errors + (lookupResult?.errors ?? 0),
    timeouts: result.timeouts + (lookupResult?.timeouts ?? 0),
    listenOverflows: overflowsBefore === null || overflowsAfter === null ? null : overflowsAfter - overflowsBefore,
  };
  if (probed !== null) figures.probes = probed;
  if (lookupResult !== null) figures.lookups = { rps: Math.round(lookupResult.requests.average), p99: lookupResult.latency.p99, max: lookupResult.latency.max, non2xx: lookupResult.non2xx };
  const probeLine = probed === null ? '' : `; probes p99/max/failed: client /health ${describeProbe(probed.clientHealth)}, operations /health ${describeProbe(probed.operationsHealth)}, /metrics ${describeProbe(probed.operationsMetrics)}`;
  progress(`overload ${label}: ${figures.goodputPerSecond} orders/s, ${figures.shed.count} shed, ${figures.connectionErrors} connection errors${probeLine}`, true);
  return figures;
}

function describeProbe(probe: ProbeSummary): string {
  return `${Math.round(probe.p99)}/${Math.round(probe.max)} ms/${probe.failures}`;
}

/** Samples the server's RSS until stopped; the peak is kept. */
function rssWatch(pid: number): { stop(): number | null } {
  let peak: number | null = null;
  const timer = setInterval(() => {
    const rss = rssBytesOf(pid);
    if (rss !== null) peak = Math.max(peak ?? 0, rss);
  }, 250);
  return {
    stop() {
      clearInterval(timer);
      return peak;
    },
  };
}

/**
 * Runs every phase. `startBaseline` and `startFresh` start the two servers (the caller owns and stops them);
 * the fresh cluster is stormed as soon as it is ready.
 */
export async function runOverload(settings: OverloadSettings, startBaseline: () => Promise<RunningServer>, startFresh: () => Promise<RunningServer>): Promise<OverloadFigures> {
  const softLimit = openFilesSoftLimit();
  const needed = wideConnections + 1_000;
  if (softLimit !== null && softLimit < needed) {
    throw new Error(`overload needs ${needed} open files for its client connections, the soft limit is ${softLimit}: run \`ulimit -n ${needed}\` (or higher) first`);
  }
  const stormConnections = stormOrderConnections + stormLookupConnections;
  const baselineServer = await startBaseline();
  let baselineResult: Result;
  try {
    settings.progress(`overload baseline: bare node:http at ${stormConnections} connections for ${settings.lowerSeconds} s`, false);
    baselineResult = await run(baselineServer.url, stormConnections, settings.lowerSeconds, planScenario('baseline-http', [], 1).requests).done;
  } finally {
    await baselineServer.stop();
  }
  const server = await startFresh();
  const before = rssBytesOf(server.pid);
  const watch = rssWatch(server.pid);
  const storm = await orderPhase(server.url, stormOrderConnections, settings.stormSeconds, stormLookupConnections, settings.progress, 'storm', server.operationsUrl);
  const wide = await orderPhase(server.url, wideConnections, settings.stormSeconds, 0, settings.progress, 'wide', server.operationsUrl);
  const lower: OverloadFigures['lower'] = [];
  for (const connections of lowerConnections) {
    const phase = await orderPhase(server.url, connections, settings.lowerSeconds, 0, settings.progress, `${connections} connections`);
    lower.push({ connections, goodputPerSecond: phase.goodputPerSecond, p99: phase.admitted.p99 });
  }
  const peak = watch.stop();
  settings.progress(`overload: idle for ${settings.afterSeconds} s, then RSS once more`, true);
  await new Promise((resolve) => setTimeout(resolve, settings.afterSeconds * 1_000));
  const after = rssBytesOf(server.pid);
  return {
    baseline: { connections: stormConnections, rps: Math.round(baselineResult.requests.average), p99: baselineResult.latency.p99 },
    storm,
    wide,
    lower,
    rssBytes: { before, peak, after, afterSeconds: settings.afterSeconds },
    fileDescriptorsSoftLimit: softLimit,
  };
}

/** The overload run as a row of the results table and chart: the storm's orders, with every figure beside. */
export function overloadRow(figures: OverloadFigures): ScenarioFigures {
  const storm = figures.storm;
  return {
    rps: storm.goodputPerSecond,
    p50: storm.admitted.p50,
    p90: storm.admitted.p99,
    p99: storm.admitted.p99,
    max: storm.admitted.max,
    errors: storm.connectionErrors,
    timeouts: storm.timeouts,
    non2xx: storm.shed.count + storm.unknownOutcome,
    leaderChanges: 0,
    requests: storm.admitted.count + storm.shed.count + storm.unknownOutcome,
    connections: storm.connections,
    durationSeconds: storm.durationSeconds,
    ordersPerSecond: storm.goodputPerSecond,
    overload: figures,
    measuredAt: new Date().toISOString(),
  };
}
