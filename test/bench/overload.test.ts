// The overload scenario's judges: the listen-overflow reader, the latency summary and the targets say no when
// they should. Nothing here loads a server (the scenario itself is a benchmark, not a test).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { listenOverflows, summarize, type OverloadFigures, type PhaseFigures } from '../../bench/overload.js';
import { overloadTargets, scrapeTargets } from '../../bench/report.js';

test('ListenOverflows is read from the TcpExt lines of /proc/net/netstat', () => {
  const text = 'TcpExt: SyncookiesSent ListenOverflows ListenDrops\nTcpExt: 0 17 19\nIpExt: InNoRoutes\nIpExt: 0\n';
  assert.is(listenOverflows(text), 17);
  assert.is(listenOverflows('IpExt: a\nIpExt: 1\n'), null);
});

test('latency summary: count, median, 99th percentile, max', () => {
  const values = Array.from({ length: 100 }, (_value, index) => index + 1);
  assert.equal(summarize(values), { count: 100, p50: 51, p99: 100, max: 100 });
  assert.equal(summarize([]), { count: 0, p50: 0, p99: 0, max: 0 });
});

function phase(overrides: Partial<PhaseFigures>): PhaseFigures {
  return {
    connections: 2_500, durationSeconds: 20, goodputPerSecond: 2_000, admitted: { count: 1, p50: 100, p99: 900, max: 1_200 },
    shed: { count: 10, p50: 20, p99: 150, max: 300 }, unknownOutcome: 0, answerMsMax: 1_200, connectionErrors: 0, timeouts: 0,
    listenOverflows: 0, lookups: { rps: 5_000, p99: 160, max: 400, non2xx: 0 }, ...overrides,
  };
}

function figures(storm: Partial<PhaseFigures>, wide: Partial<PhaseFigures> = {}): OverloadFigures {
  return {
    baseline: { connections: 2_500, rps: 30_000, p99: 120 }, storm: phase(storm), wide: phase({ connections: 6_000, ...wide }),
    lower: [{ connections: 64, goodputPerSecond: 1_500, p99: 60 }, { connections: 500, goodputPerSecond: 2_100, p99: 300 }],
    rssBytes: { before: 1, peak: 2, after: 1, afterSeconds: 60 }, fileDescriptorsSoftLimit: 20_000,
  };
}

test('overload targets: each is missed by a figure just past it', () => {
  assert.equal(overloadTargets(figures({})).map((check) => check.met), [true, true, true, true]);
  assert.is(overloadTargets(figures({ answerMsMax: 5_101 }))[0]!.met, false, 'an answer 101 ms past the deadline');
  assert.is(overloadTargets(figures({}, { connectionErrors: 1 }))[1]!.met, false, 'one connection error at 6,000');
  assert.is(overloadTargets(figures({ goodputPerSecond: 1_889 }))[2]!.met, false, '0.9× of 2,100 is 1,890');
  assert.is(overloadTargets(figures({ shed: { count: 1, p50: 1, p99: 181, max: 181 } }))[3]!.met, false, 'shed p99 over 1.5× 120 ms');
  assert.is(overloadTargets(figures({ lookups: { rps: 1, p99: 181, max: 181, non2xx: 0 } }))[3]!.met, false, 'lookup p99 over 1.5× 120 ms');
  assert.equal(overloadTargets(undefined).map((check) => check.met), [null, null, null, null]);
});

test('scrape targets: 50 ms idle, 0.98× under load', () => {
  const base = { idleScrapes: 20, idleScrapeMsMedian: 10, idleScrapeMsMax: 50, scrapeBytes: 1, rpsWithout: [100], rpsWith: [98], ratio: 0.98, loadedScrapes: 10, loadedScrapeMsMax: 30 };
  assert.equal(scrapeTargets(base).map((check) => check.met), [true, true]);
  assert.equal(scrapeTargets({ ...base, idleScrapeMsMax: 51, ratio: 0.979 }).map((check) => check.met), [false, false]);
});

test.run();
