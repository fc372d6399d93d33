// `pygmy bench`: the load benchmark, side by side with a bare node:http baseline.
//
//   npm run bench [-- --quick] [--scenario NAME] [--connections 64] [--duration SECONDS] [--settle SECONDS]
//                 [--out FILE.json] [--record] [--server-flags "--cpu-prof --cpu-prof-dir=DIR"]
//
// Starts its own servers in child processes on a generated catalog (10,000 items over 50 topics, the first 256
// with deep stock): the baseline; a cached cluster for lookup-hit, search-hit, order and mixed; a cluster with
// the cache off for lookup-miss; a fresh cached cluster for failover (its leaders get stopped and killed). Each
// server is left idle for --settle seconds once ready (12; 0 with --quick), and each scenario is warmed
// (unmeasured) before it is measured; the baseline runs first and again last, and ratios are
// taken against the faster of its two runs. Progress goes to standard error, the table to standard
// output, the figures to --out (bench/results/latest.json) with the chart beside it; --record also writes a dated
// copy. Everything it starts is stopped and its temp dir removed, also on failure and on SIGINT or SIGTERM.
// `scrape` (the cost of GET /metrics, on the cached cluster) and `overload` (a connection storm on a cluster of its
// own, started fresh for it; about 3 minutes) run in a full run and when named, never with --quick by default.
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { generateCatalog } from '../src/actors/catalog/generate.js';
import type { Catalog } from '../src/actors/catalog/catalog.js';
import { figuresOf, runScenario, warm, type RunOptions, type ScenarioFigures } from './load.js';
import { runSoak } from './soak.js';
import { formatScale, formatScaleStart, scale, scaleOrdersDefault, scaleStart } from './scale.js';
import { overloadRow, runOverload } from './overload.js';
import { runScrape } from './scrape.js';
import { bracketBaseline, formatTable, writeResults } from './report.js';
import {
  catalogItemCount, catalogTopicCount, deepStock, deepStockItemsMax, hotSetSize, isScenarioName, onDemandScenarios, planScenario,
  scenarioNames, searchTerms, type ScenarioName,
} from './scenarios.js';
import { etcdInstallHint, findEtcd, startEtcd, type EtcdCluster } from './etcd.js';
import { startBaseline, startPygmy, stopAllServers, type RunningServer } from './servers.js';

export interface BenchSettings {
  readonly scenarios: readonly ScenarioName[];
  readonly connections: number;
  readonly durationSeconds: number;
  readonly failoverSeconds: number;
  /** The soak's length: ten minutes unless --duration says otherwise. */
  readonly soakSeconds: number;
  readonly warmSeconds: number;
  /** How long each server is left idle once it is ready, before its first scenario (see startServer). */
  readonly settleSeconds: number;
  readonly out: string;
  readonly record: boolean;
  readonly serverFlags: readonly string[];
  /** Orders the scale run preloads (--orders). */
  readonly scaleOrders: number;
  /** The scale run only builds its data dir and times starts on it (--start-only). */
  readonly scaleStartOnly: boolean;
}

const defaultOut = new URL('../../bench/results/latest.json', import.meta.url).pathname;
const catalogSeed = 677;
const prefetchConcurrency = 16;
const clockTicksPerSecond = 100;
/**
 * Why servers settle: ~8 s after a Node thread starts, V8's memory reducer shrinks its heap with two or three full
 * collections, unless the thread is busy. In a Pygmy cluster that is every worker at once (seven threads, ~300 ms
 * of CPU within ~1.5 s, marking on V8's helper threads), and without a pause it falls inside the first scenario's
 * measured run. It is a start-up transient, not the steady state the figures compare; every server, the baseline
 * too, waits the same.
 */
const settleSecondsDefault = 12;
const soakSecondsDefault = 600;
/** Left out of --quick unless named. */
const slowScenarios = new Set<ScenarioName>(['scrape', 'overload']);
/** overload's phases: the storm and the wide run, the lower-concurrency runs and the baseline, the idle wait. */
const overloadStormSeconds = 20;
const overloadLowerSeconds = 10;
const overloadAfterSeconds = 60;

function positive(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (!Number.isFinite(parsed) || parsed <= 0 || parsed > 3_600) throw new Error(`${name} must be a number of seconds in (0, 3600], got "${value}"`);
  return parsed;
}

function orderCount(value: string | undefined): number {
  if (value === undefined) return scaleOrdersDefault;
  const parsed = Number(value);
  if (!Number.isSafeInteger(parsed) || parsed < 1 || parsed > 100_000_000) throw new Error(`--orders must be an integer in 1..100000000, got "${value}"`);
  return parsed;
}

function nonNegative(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (!Number.isFinite(parsed) || parsed < 0 || parsed > 600) throw new Error(`${name} must be a number of seconds in [0, 600], got "${value}"`);
  return parsed;
}

export function parseSettings(argv: string[]): BenchSettings {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean' },
      scenario: { type: 'string', multiple: true },
      connections: { type: 'string' },
      duration: { type: 'string' },
      settle: { type: 'string' },
      out: { type: 'string' },
      record: { type: 'boolean' },
      'server-flags': { type: 'string' },
      orders: { type: 'string' },
      'start-only': { type: 'boolean' },
    },
    strict: true,
  });
  const quick = values.quick ?? false;
  // Named scenarios always run; without names, the soak is left out (ten minutes), and --quick leaves out the slow ones too.
  const chosen = values.scenario ?? scenarioNames.filter((name) => !onDemandScenarios.includes(name) && (!quick || !slowScenarios.has(name)));
  for (const name of chosen) if (!isScenarioName(name)) throw new Error(`unknown scenario "${name}"; known: ${scenarioNames.join(', ')}`);
  const connections = Number(values.connections ?? 64);
  if (!Number.isSafeInteger(connections) || connections < 1 || connections > 1_024) throw new Error(`--connections must be an integer in 1..1024, got "${values.connections}"`);
  const durationSeconds = positive(values.duration, '--duration', quick ? 4 : 10);
  return {
    scenarios: scenarioNames.filter((name) => chosen.includes(name)),
    connections,
    durationSeconds,
    // The failover timeline (faults at 5 s, 9 s, 12 s and 16 s of 20 s) is part of the scenario; --duration rescales it.
    failoverSeconds: values.duration === undefined ? 20 : durationSeconds,
    soakSeconds: values.duration === undefined ? soakSecondsDefault : durationSeconds,
    warmSeconds: quick ? 1 : 2,
    settleSeconds: nonNegative(values.settle, '--settle', quick ? 0 : settleSecondsDefault),
    out: values.out ?? defaultOut,
    record: values.record ?? false,
    serverFlags: values['server-flags']?.split(/\s+/).filter((flag) => flag !== '') ?? [],
    scaleOrders: orderCount(values.orders),
    scaleStartOnly: values['start-only'] ?? false,
  };
}

/** The benchmark's catalog: 10,000 generated items over 50 topics, the first 256 with deep stock. */
export function benchCatalog(): Catalog {
  const catalog = generateCatalog({ items: catalogItemCount, topics: catalogTopicCount, seed: catalogSeed });
  const items = catalog.items.map((item) => (item.id <= deepStockItemsMax ? { ...item, stock: deepStock } : item));
  return { topics: catalog.topics, items };
}

function progressPrinter(): (line: string, final: boolean) => void {
  const tty = process.stderr.isTTY === true;
  return (line, final) => {
    if (tty) process.stderr.write(`\r\x1b[2K${line}${final ? '\n' : ''}`);
    else process.stderr.write(`${line}\n`);
  };
}

/** Loads every URL once, a few at a time, so the measured run starts on a warm cache. */
async function prefetch(url: string, paths: readonly string[]): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < paths.length) {
      const path = paths[next++]!;
      await fetch(url + path).then((answer) => answer.arrayBuffer(), () => null);
    }
  };
  await Promise.all(Array.from({ length: prefetchConcurrency }, worker));
}

function prefetchPaths(name: ScenarioName, catalog: Catalog): string[] {
  if (name === 'lookup-hit') return Array.from({ length: hotSetSize }, (_value, index) => `/lookup/${index + 1}`);
  if (name === 'search-hit') return searchTerms(catalog.topics.map((topic) => topic.name)).map((term) => `/search/${term}`);
  return [];
}

type ServerKind = 'baseline' | 'etcd' | 'cached' | 'uncached' | 'failover' | 'soak' | 'overload';

function serverKind(name: ScenarioName): ServerKind {
  if (name === 'baseline-http') return 'baseline';
  if (name === 'etcd') return 'etcd';
  if (name === 'lookup-miss') return 'uncached';
  if (name === 'failover') return 'failover';
  if (name === 'soak') return 'soak';
  if (name === 'overload') return 'overload';
  return 'cached';
}

async function measure(settings: BenchSettings, name: ScenarioName, url: string, serverPids: readonly number[], catalog: Catalog): Promise<ScenarioFigures> {
  const topicNames = catalog.topics.map((topic) => topic.name);
  const progress = progressPrinter();
  const base = { url, name, connections: settings.connections, watchLeaders: name !== 'baseline-http' && name !== 'etcd', progress };
  await prefetch(url, prefetchPaths(name === 'scrape' ? 'lookup-hit' : name, catalog));
  if (name === 'soak') return measureSoak(settings, url, serverPids[0]!, topicNames, progress);
  if (name === 'scrape') {
    const plan = planScenario('lookup-hit', topicNames, 2);
    await warm({ ...base, name: 'lookup-hit', plan, durationSeconds: settings.warmSeconds }, settings.warmSeconds);
    return (await runScrape({ ...base, plan, durationSeconds: settings.durationSeconds })).row;
  }
  if (name !== 'failover') {
    progress(`${name}: warming for ${settings.warmSeconds} s`, false);
    const warmOptions: RunOptions = { ...base, plan: planScenario(name, topicNames, 1), durationSeconds: settings.warmSeconds };
    await warm(warmOptions, settings.warmSeconds);
  }
  const durationSeconds = name === 'failover' ? settings.failoverSeconds : settings.durationSeconds;
  const cpuBefore = processesCpuMs(serverPids);
  const figures = await runScenario({ ...base, plan: planScenario(name, topicNames, 2), durationSeconds });
  const cpuAfter = processesCpuMs(serverPids);
  if (cpuBefore !== null && cpuAfter !== null && figures.requests > 0) {
    figures.serverCpuMsPerRequest = Math.round(((cpuAfter - cpuBefore) / figures.requests) * 1_000) / 1_000;
  }
  return figures;
}

/**
 * CPU time (ms, user + system) the server process has used, threads that have ended included, from /proc (Linux);
 * null elsewhere or once it is gone. CPU per request is the figure that stays comparable when other work shares
 * the machine, unlike req/s.
 */
export function processCpuMs(pid: number): number | null {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    // After "pid (comm) ": state is field 0, utime field 11, stime field 12, in clock ticks (100 per second).
    return ((Number(fields[11]) + Number(fields[12])) * 1_000) / clockTicksPerSecond;
  } catch {
    return null;
  }
}

/** The soak on a fresh cluster: no warm-up (the start is part of what it watches), one run of --duration. */
async function measureSoak(settings: BenchSettings, url: string, pid: number, topicNames: readonly string[], progress: (line: string, final: boolean) => void): Promise<ScenarioFigures> {
  const cpuBefore = processCpuMs(pid);
  const { figures: soak, result } = await runSoak({ url, pid, plan: planScenario('soak', topicNames, 2), connections: settings.connections, durationSeconds: settings.soakSeconds, progress });
  const cpuAfter = processCpuMs(pid);
  return {
    ...figuresOf(result, soak.elections, settings.connections, settings.soakSeconds),
    ...(cpuBefore !== null && cpuAfter !== null && result.requests.total > 0 ? { serverCpuMsPerRequest: Math.round(((cpuAfter - cpuBefore) / result.requests.total) * 1_000) / 1_000 } : {}),
    soak,
  };
}

/** CPU time of several processes together (an etcd cluster is three); null if any cannot be read. */
function processesCpuMs(pids: readonly number[]): number | null {
  let total = 0;
  for (const pid of pids) {
    const used = processCpuMs(pid);
    if (used === null) return null;
    total += used;
  }
  return total;
}

async function overload(root: string, catalogPath: string, settings: BenchSettings): Promise<ScenarioFigures> {
  let fresh: RunningServer | null = null;
  try {
    const result = await runOverload(
      { stormSeconds: overloadStormSeconds, lowerSeconds: overloadLowerSeconds, afterSeconds: overloadAfterSeconds, progress: progressPrinter() },
      async () => {
        const baseline = await startBaseline(settings.serverFlags);
        await settle(settings.settleSeconds);
        return baseline;
      },
      async () => {
        process.stderr.write('starting a fresh cached cluster for the storm…\n');
        fresh = await startPygmy({ dataDir: join(root, 'data-overload'), catalogPath, cacheEnabled: true, nodeFlags: settings.serverFlags, operationsListener: true });
        return fresh;
      },
    );
    return overloadRow(result);
  } finally {
    await (fresh as RunningServer | null)?.stop();
  }
}

async function settle(seconds: number): Promise<void> {
  if (seconds === 0) return;
  process.stderr.write(`letting it settle for ${seconds} s (start-up collections)…\n`);
  await new Promise((resolve) => setTimeout(resolve, seconds * 1_000));
}

async function startServer(kind: ServerKind, root: string, catalogPath: string, settings: BenchSettings): Promise<RunningServer> {
  if (kind === 'baseline') return startBaseline(settings.serverFlags);
  if (kind === 'etcd') return etcdServer(root);
  const dataDir = join(root, `data-${kind}`);
  return startPygmy({ dataDir, catalogPath, cacheEnabled: kind !== 'uncached', nodeFlags: settings.serverFlags });
}

/** etcd registered with the other servers, so that a signal handler's stopAllServers() is not needed for it. */
let runningEtcd: EtcdCluster | null = null;

async function etcdServer(root: string): Promise<RunningServer> {
  const binary = findEtcd();
  if (binary === null) throw new Error(etcdInstallHint);
  const cluster = await startEtcd(binary, join(root, 'etcd'));
  runningEtcd = cluster;
  return {
    url: cluster.url,
    pid: cluster.leaderPid,
    pids: cluster.pids,
    stop: async () => {
      await cluster.stop();
      runningEtcd = null;
    },
  };
}

export async function runBench(settings: BenchSettings): Promise<number> {
  const root = mkdtempSync(join(tmpdir(), 'pygmy-bench-'));
  const catalog = benchCatalog();
  const catalogPath = join(root, 'catalog.json');
  writeFileSync(catalogPath, JSON.stringify(catalog));
  const figures: Record<string, ScenarioFigures> = {};
  let server: RunningServer | null = null;
  let serverOf: ServerKind | null = null;
  // Interrupted (Ctrl-C, or SIGTERM from a job runner, which reaches this process alone): the servers it started
  // and its temp dir go with it.
  const onSignal = (signal: NodeJS.Signals) => {
    process.stderr.write(`\n${signal}: stopping the servers…\n`);
    void Promise.all([stopAllServers(), runningEtcd?.stop()]).finally(() => {
      rmSync(root, { recursive: true, force: true });
      process.exit(signal === 'SIGINT' ? 130 : 143);
    });
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    if (settings.scenarios.includes('scale')) {
      // A composite of its own (bench/scale.ts), with its own figures and table, beside the others' results.
      const say = (line: string) => process.stderr.write(`${line}\n`);
      if (settings.scaleStartOnly) {
        console.log(formatScaleStart(await scaleStart(root, catalogPath, settings.scaleOrders, settings.serverFlags, say)));
      } else {
        const figures = await scale(root, catalogPath, { orders: settings.scaleOrders, phaseSeconds: settings.durationSeconds, connections: Math.min(settings.connections, 32) }, say);
        const out = settings.out.replace(/\.json$/, '-scale.json');
        mkdirSync(dirname(out), { recursive: true });
        writeFileSync(out, `${JSON.stringify(figures, null, 2)}\n`);
        console.log(formatScale(figures));
        console.log(`\nscale results: ${out}`);
      }
      if (settings.scenarios.length === 1) return 0;
    }
    for (const name of settings.scenarios) {
      if (name === 'scale') continue;
      const kind = serverKind(name);
      if (kind === 'etcd' && findEtcd() === null) {
        process.stderr.write(`etcd: skipped. ${etcdInstallHint}\n`);
        continue;
      }
      if (kind === 'overload') {
        // A cluster of its own, stormed the moment it is ready: the point is a fresh start.
        await server?.stop();
        server = null;
        serverOf = null;
        figures[name] = await overload(root, catalogPath, settings);
        continue;
      }
      if (server === null || serverOf !== kind) {
        await server?.stop();
        process.stderr.write(`starting the ${kind === 'baseline' ? 'baseline server' : `${kind} cluster`}…\n`);
        server = await startServer(kind, root, catalogPath, settings);
        serverOf = kind;
        await settle(settings.settleSeconds);
      }
      figures[name] = await measure(settings, name, server.url, server.pids, catalog);
    }
    // The machine's speed drifts while the scenarios run: the baseline runs again at the end and the faster of its
    // two runs is the one every ratio is taken against, so a slow moment cannot flatter Pygmy.
    const first = figures['baseline-http'];
    if (first !== undefined && settings.scenarios.some((name) => name !== 'baseline-http')) {
      await server?.stop();
      process.stderr.write('starting the baseline server again, to bracket the run…\n');
      server = await startServer('baseline', root, catalogPath, settings);
      await settle(settings.settleSeconds);
      const last = await measure(settings, 'baseline-http', server.url, server.pids, catalog);
      figures['baseline-http'] = bracketBaseline(first, last);
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await server?.stop();
    rmSync(root, { recursive: true, force: true });
  }
  const results = writeResults(settings.out, figures, true);
  if (settings.record) {
    const stamp = new Date().toISOString().slice(0, 16).replace(/[:T]/g, '-');
    copyFileSync(settings.out, join(settings.out, '..', `${stamp}.json`));
  }
  console.log(formatTable(results));
  console.log(`\nresults: ${settings.out} (chart: ${settings.out.replace(/\.json$/, '')}.svg)`);
  return 0;
}
