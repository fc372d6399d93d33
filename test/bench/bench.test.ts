// The benchmark's smoke: `pygmy bench --quick --scenario lookup-hit` with a one-second run writes a results file
// with sane fields, and the pieces that judge figures (targets, write gap, Zipf draws) say no when they should.
// A benchmark is not a test: nothing here checks speed, only that the machinery measures and reports.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { electionsBetween, type ScenarioFigures } from '../../bench/load.js';
import { bracketBaseline, checkTargets } from '../../bench/report.js';
import { catalogItemCount, hotSetSize, OrderLedger, planScenario, seededRandom, zipfSampler } from '../../bench/scenarios.js';
import { pygmyMain, runPygmy } from '../support/run-script.js';

/** Every problem with one scenario's figures; empty when they are sane. */
function insanities(figures: Partial<ScenarioFigures> | undefined): string[] {
  if (figures === undefined) return ['missing'];
  const problems: string[] = [];
  for (const field of ['rps', 'p50', 'p90', 'p99', 'max', 'errors', 'non2xx', 'leaderChanges'] as const) {
    const value = figures[field];
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) problems.push(`${field} is ${String(value)}`);
  }
  if (problems.length > 0) return problems;
  if (figures.rps! <= 0) problems.push('no request succeeded');
  if (!(figures.p50! <= figures.p90! && figures.p90! <= figures.p99! && figures.p99! <= figures.max!)) problems.push('percentiles out of order');
  if (figures.errors! + figures.non2xx! > 0) problems.push(`${figures.errors} errors, ${figures.non2xx} non-2xx`);
  return problems;
}

const sane: ScenarioFigures = {
  rps: 100, p50: 1, p90: 2, p99: 3, max: 4, errors: 0, timeouts: 0, non2xx: 0, leaderChanges: 0, requests: 100,
  connections: 64, durationSeconds: 1, measuredAt: '2024-01-01T00:00:00.000Z',
};

test('the sanity check of figures accepts sane ones and rejects each kind of broken one', () => {
  assert.equal(insanities(sane), []);
  assert.equal(insanities(undefined), ['missing']);
  assert.ok(insanities({ ...sane, rps: 0 }).length > 0);
  assert.ok(insanities({ ...sane, p99: 0.5 }).length > 0);
  assert.ok(insanities({ ...sane, non2xx: 3 }).length > 0);
  assert.ok(insanities({ ...sane, leaderChanges: Number.NaN }).length > 0);
});

test('targets: met only when the figures reach them, unmeasured when a scenario is absent', () => {
  const base = { ...sane, rps: 10_000, p99: 4 };
  const good = checkTargets({ 'baseline-http': base, 'lookup-hit': { ...sane, rps: 9_000, p99: 8 } });
  assert.is(good[0]!.met, true);
  const slow = checkTargets({ 'baseline-http': base, 'lookup-hit': { ...sane, rps: 9_000, p99: 9 } });
  assert.is(slow[0]!.met, false, 'p99 above twice the baseline misses');
  const few = checkTargets({ 'baseline-http': base, 'lookup-hit': { ...sane, rps: 8_000, p99: 4 } });
  assert.is(few[0]!.met, false, '0.8× misses');
  assert.is(few[1]!.met, null, 'lookup-miss was not measured');
  const failover = checkTargets({ failover: { ...sane, failedRequests: 0, writeGapMsMax: 501 } });
  assert.is(failover[3]!.met, false, 'a 501 ms write gap misses');
  const elections = checkTargets({ order: { ...sane, leaderChanges: 1, ordersPerSecond: 5_000 } });
  assert.is(elections[2]!.met, null, 'orders without etcd in the same run are not judged');
  assert.is(elections[4]!.met, false, 'a leader change under load misses');
});

test('orders are judged against etcd\'s durable puts of the same run: rate and p99 both', () => {
  const etcd = { ...sane, writesPerSecond: 4_000, p99: 30 };
  const order = (ordersPerSecond: number, p99: number) => ({ ...sane, ordersPerSecond, writesPerSecond: ordersPerSecond, p99 });
  assert.is(checkTargets({ etcd, order: order(4_000, 30) })[2]!.met, true, 'equal rate and p99 meet it');
  assert.is(checkTargets({ etcd, order: order(3_999, 20) })[2]!.met, false, 'a lower rate misses');
  assert.is(checkTargets({ etcd, order: order(6_000, 31) })[2]!.met, false, 'a higher p99 misses');
  assert.match(checkTargets({ etcd, order: order(2_000, 30) })[2]!.measured, /0\.5×/);
  assert.is(checkTargets({ etcd: { ...sane, leaderChanges: 3, writesPerSecond: 1 } })[4]!.met, null, 'etcd\'s own figures are no Pygmy leader change');
});

test('the baseline bracketing the run counts its faster run, whichever came first', () => {
  // A slow moment during one baseline run must not make Pygmy's ratios look better: the faster run is kept.
  const early = { ...sane, rps: 48_000, p99: 3 };
  const late = { ...sane, rps: 66_000, p99: 2 };
  assert.equal(bracketBaseline(early, late), { ...late, runsRps: [48_000, 66_000] });
  assert.equal(bracketBaseline(late, early), { ...late, runsRps: [66_000, 48_000] });
  const ratio = checkTargets({ 'baseline-http': bracketBaseline(early, late), 'lookup-miss': { ...sane, rps: 18_000 } })[1]!;
  assert.is(ratio.met, false, '18,000 is 0.375x of the slow run but 0.27x of the fast one');
});

test('the write gap counts the start, the stretches between successes and the end; refusals do not count', () => {
  const ledger = new OrderLedger();
  ledger.record(200, 'true', 100);
  ledger.record(200, 'false', 300);
  ledger.record(503, '{"ok":false}', 350);
  ledger.record(200, 'true', 700);
  assert.is(ledger.longestGapMs(0, 800), 600);
  assert.is(ledger.longestGapMs(0, 2_000), 1_300);
  assert.is(new OrderLedger().longestGapMs(0, 500), 500, 'no success at all is one gap over the whole run');
  assert.equal([ledger.bought, ledger.refused, ledger.failed], [2, 1, 1]);
});

test('elections between two cluster views: how far each group\'s highest term rose, summed', () => {
  const view = (terms: Record<string, Array<number | null>>) => ({
    leaders: {},
    actors: Object.entries(terms).flatMap(([group, list]) => list.map((term, index) => ({ name: `${group}-${index + 1}`, group, term }))),
  });
  const before = view({ catalog: [3, 3, 2], order: [5, 5, 5], cache: [null] });
  assert.is(electionsBetween(before, view({ catalog: [3, 3, 3], order: [5, 4, 5], cache: [null] })), 0, 'followers catching up are no election');
  assert.is(electionsBetween(before, view({ catalog: [4, 3, 3], order: [5, 5, 5], cache: [null] })), 1);
  assert.is(electionsBetween(before, view({ catalog: [5, 5, 5], order: [6, 6, null], cache: [null] })), 3, 'two in one group, one in the other');
  assert.is(electionsBetween(before, view({ catalog: [null, null, null], order: [5, 5, 5], cache: [null] })), 0, 'a group not seen at the end');
});

test('lookup-hit asks for prepared paths: no per-request setup, ids uniform over the hot set, seeded', () => {
  // A plan with a setupRequest (autocannon rebuilds the request each time) or ids outside 1..1000 fails here;
  // so does a list bunched in a corner of the hot set (128 uniform draws hit about 120 distinct ids, with a mean
  // near 500).
  const plan = (seed: number) => planScenario('lookup-hit', ['Topic 1'], seed).requests;
  const requests = plan(2);
  assert.is(requests.length, 128);
  let idSum = 0;
  const ids = new Set<number>();
  for (const request of requests) {
    assert.is(request.setupRequest, undefined);
    assert.is(request.method, 'GET');
    const match = /^\/lookup\/(\d+)$/.exec(request.path ?? '');
    assert.ok(match !== null, `path ${request.path}`);
    const id = Number(match[1]);
    assert.ok(id >= 1 && id <= hotSetSize, `id ${id} outside the hot set`);
    ids.add(id);
    idSum += id;
  }
  assert.ok(ids.size >= 110, `${ids.size} distinct ids in 128 draws`);
  assert.ok(idSum / requests.length > 380 && idSum / requests.length < 620, `mean id ${idSum / requests.length}`);
  assert.equal(plan(2).map((request) => request.path), requests.map((request) => request.path));
  assert.not.equal(plan(3).map((request) => request.path), requests.map((request) => request.path));
});

test('lookup-miss asks for prepared paths too, with ids spread over the whole catalog', () => {
  // The cache is off, so any id is a ReadIndex read; but a plan confined to the hot set, or rebuilt per request,
  // fails here (128 uniform draws over 10,000 ids are almost all distinct, with a mean near 5,000).
  const requests = planScenario('lookup-miss', ['Topic 1'], 2).requests;
  assert.is(requests.length, 128);
  const ids = requests.map((request) => {
    assert.is(request.setupRequest, undefined);
    const match = /^\/lookup\/(\d+)$/.exec(request.path ?? '');
    assert.ok(match !== null, `path ${request.path}`);
    return Number(match[1]);
  });
  assert.ok(ids.every((id) => id >= 1 && id <= catalogItemCount), 'ids inside the catalog');
  assert.ok(new Set(ids).size >= 120, `${new Set(ids).size} distinct ids in 128 draws`);
  assert.ok(ids.filter((id) => id > hotSetSize).length >= 100, 'most ids beyond the hot set');
  const mean = ids.reduce((sum, id) => sum + id, 0) / ids.length;
  assert.ok(mean > 3_800 && mean < 6_200, `mean id ${mean}`);
});

test('Zipf draws stay in range and favour low ranks; plans are deterministic per seed', () => {
  const draw = zipfSampler(10_000, 0.99, seededRandom(7));
  let first = 0;
  for (let index = 0; index < 20_000; index += 1) {
    const rank = draw();
    assert.ok(rank >= 1 && rank <= 10_000, `rank ${rank} out of range`);
    if (rank === 1) first += 1;
  }
  // P(rank 1) ≈ 1/H(10000, 0.99) ≈ 0.1: far above the uniform 0.0001.
  assert.ok(first > 1_000 && first < 3_000, `rank 1 drawn ${first} times of 20,000`);
  const paths = (seed: number) => {
    const spec = planScenario('mixed', ['Topic 1'], seed).requests[0]!;
    return Array.from({ length: 50 }, () => spec.setupRequest!({}, {}).path);
  };
  assert.equal(paths(3), paths(3));
  assert.not.equal(paths(3), paths(4));
});

test('pygmy bench --quick --scenario lookup-hit writes sane figures and a chart to the given path', async () => {
  const directory = mkdtempSync(join(tmpdir(), 'pygmy-bench-smoke-'));
  try {
    const out = join(directory, 'smoke.json');
    const { code, output } = await runPygmy(['bench', '--quick', '--scenario', 'lookup-hit', '--duration', '1', '--connections', '8', '--out', out], { timeoutMs: 50_000 });
    assert.is(code, 0, output);
    const results = JSON.parse(readFileSync(out, 'utf8')) as { machine: { cores?: number }; scenarios: Record<string, ScenarioFigures>; ratios: Record<string, unknown> };
    assert.equal(insanities(results.scenarios['lookup-hit']), [], output);
    assert.is(results.scenarios['lookup-hit']!.leaderChanges, 0);
    assert.equal(Object.keys(results.scenarios), ['lookup-hit']);
    assert.ok(typeof results.machine.cores === 'number' && results.machine.cores > 0);
    assert.is(results.ratios['lookup-hit/baseline-http'], null, 'no baseline was run, so no ratio');
    assert.ok(existsSync(join(directory, 'smoke.svg')), 'the chart is written beside the JSON');
    assert.match(output, /lookup-hit/);
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
});

/** Pids of the processes whose parent is `parentPid`, from /proc (Linux). */
function childrenOf(parentPid: number): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // After "pid (comm) ": state, then the parent's pid.
      const fields = readFileSync(`/proc/${entry}/stat`, 'utf8').split(') ')[1]!.split(' ');
      if (Number(fields[1]) === parentPid) found.push(Number(entry));
    } catch {
      // The process ended while we looked.
    }
  }
  return found;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test('SIGTERM in the middle of a run stops the cluster it started and removes its temp dir', async () => {
  // Starts a 30 s lookup-hit run, waits for its progress line (the cluster is up), finds the cluster's process and
  // data dir, sends SIGTERM to the bench alone (as a job runner would) and checks that nothing is left.
  const child = spawn(process.execPath, [pygmyMain, 'bench', '--scenario', 'lookup-hit', '--duration', '30', '--settle', '0', '--connections', '8', '--out', join(tmpdir(), 'pygmy-bench-signal.json')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let servers: number[] = [];
  let dataDir: string | undefined;
  try {
    const started = Date.now();
    while (!/lookup-hit: \d+\/30 s/.test(output) && Date.now() - started < 40_000) await new Promise((resolve) => setTimeout(resolve, 50));
    assert.match(output, /lookup-hit: \d+\/30 s/, 'the run never started');
    servers = childrenOf(child.pid!);
    assert.is(servers.length, 1, `expected one server process, found ${servers.length}`);
    dataDir = /--data-dir\0([^\0]+)/.exec(readFileSync(`/proc/${servers[0]}/cmdline`, 'utf8'))?.[1];
    assert.ok(dataDir !== undefined && existsSync(dataDir), 'the cluster runs on a data dir of its own');
    child.kill('SIGTERM');
    assert.is(await exited, 143, output);
    assert.not.ok(isAlive(servers[0]!), 'the cluster outlived the bench');
    assert.not.ok(existsSync(join(dataDir!, '..')), 'the temp dir is left behind');
  } finally {
    // Left behind only when the test fails: clean up after the bench.
    if (child.exitCode === null) child.kill('SIGKILL');
    await exited;
    for (const pid of servers) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
    if (dataDir !== undefined) rmSync(join(dataDir, '..'), { recursive: true, force: true });
    rmSync(join(tmpdir(), 'pygmy-bench-signal.json'), { force: true });
    rmSync(join(tmpdir(), 'pygmy-bench-signal.svg'), { force: true });
  }
});

test('an unknown scenario is refused with the list of known ones', async () => {
  const { code, output } = await runPygmy(['bench', '--scenario', 'nope'], { timeoutMs: 10_000 });
  assert.is(code, 1);
  assert.match(output, /baseline-http, lookup-hit/);
});

test.run();
