// The soak's machinery: windows, the reservoir p99, the verdicts, and a short soak end to end (four windows of one
// second against a real `pygmy start`). Nothing here checks speed: only that each window is measured from the server
// process and that a verdict says no when the figures say no.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { ScenarioFigures } from '../../bench/load.js';
import { checkTargets } from '../../bench/report.js';
import { judgeSoak, percentile99, windowSecondsFor, type SoakWindow } from '../../bench/soak.js';
import { runPygmy } from '../support/run-script.js';

const window = (requestsPerSecond: number, rssMiB: number | null): SoakWindow => ({
  endSecond: 60, requestsPerSecond, ordersPerSecond: 1, latencyMsP99: 1, latencyMsMax: 2, rssMiB, diskBytesPerOrder: 10, healthMsMax: 1, elections: 0,
});

test('windows are a minute from two minutes on, a quarter of the run below', () => {
  assert.is(windowSecondsFor(600), 60);
  assert.is(windowSecondsFor(120), 60);
  assert.is(windowSecondsFor(40), 10);
  assert.is(windowSecondsFor(2), 1);
});

test('p99 by nearest rank', () => {
  assert.is(percentile99([]), 0);
  assert.is(percentile99(Array.from({ length: 100 }, (_value, index) => index + 1)), 99);
  assert.is(percentile99([5, 1, 3]), 5);
});

test('verdicts: last over first, RSS growth after the second window; null without enough windows', () => {
  assert.equal(judgeSoak([window(1_000, 100), window(1_000, 200), window(950, 210)]), { lastOverFirst: 0.95, rssGrowthAfterSecondWindow: 0.05 });
  assert.equal(judgeSoak([window(1_000, 100)]), { lastOverFirst: null, rssGrowthAfterSecondWindow: null });
  assert.equal(judgeSoak([window(1_000, null), window(1_000, null), window(800, null)]).rssGrowthAfterSecondWindow, null);
  const sane = { rps: 1, p50: 1, p90: 1, p99: 1, max: 1, errors: 0, timeouts: 0, non2xx: 0, leaderChanges: 0, requests: 1, connections: 1, durationSeconds: 1, measuredAt: '' };
  const soak = (windows: SoakWindow[], elections = 0): ScenarioFigures => ({ ...sane, soak: { windowSeconds: 60, windows, ...judgeSoak(windows), healthMsMax: 1, elections } });
  const verdict = (figures: ScenarioFigures) => checkTargets({ soak: figures }).find((check) => check.target.startsWith('soak:'))!.met;
  assert.is(verdict(soak([window(1_000, 100), window(1_000, 200), window(950, 210)])), true);
  assert.is(verdict(soak([window(1_000, 100), window(1_000, 200), window(899, 210)])), false, 'throughput fell below 0.9x');
  assert.is(verdict(soak([window(1_000, 100), window(1_000, 200), window(1_000, 221)])), false, 'RSS grew past 10%');
  assert.is(verdict(soak([window(1_000, 100), window(1_000, 200), window(1_000, 200)], 1)), false, 'an election');
});

test('pygmy bench --scenario soak --duration 4: four one-second windows measured from the server', async () => {
  const directory = mkdtempSync(join(tmpdir(), 'pygmy-soak-test-'));
  const out = join(directory, 'results.json');
  try {
    const { code, output } = await runPygmy(['bench', '--scenario', 'soak', '--duration', '4', '--settle', '0', '--connections', '8', '--out', out], { timeoutMs: 90_000 });
    assert.is(code, 0, output);
    const results = JSON.parse(readFileSync(out, 'utf8')) as { scenarios: Record<string, ScenarioFigures> };
    const soak = results.scenarios.soak?.soak;
    assert.ok(soak, output);
    assert.is(soak.windowSeconds, 1);
    assert.is(soak.windows.length, 4, output);
    for (const entry of soak.windows) {
      assert.ok(entry.requestsPerSecond > 0, `a window with no answers: ${JSON.stringify(entry)}`);
      assert.ok(entry.rssMiB !== null && entry.rssMiB > 10, `RSS of the server process: ${entry.rssMiB}`);
    }
    assert.equal(soak.windows.map((entry) => entry.endSecond), [1, 2, 3, 4]);
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
});

test.run();
