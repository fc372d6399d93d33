// GatewayMetrics counts requests and cache outcomes in plain numbers and hands them to prom-client when a scrape
// collects: these tests check that every scrape shows the running totals, exactly once each.

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Histogram, Registry } from 'prom-client';
import { GatewayMetrics, LatencyHistogram, latencyBucketsSeconds } from '../../src/http/metrics.js';

const metrics = suite('gateway metrics');

function counterLine(text: string, series: string): number | null {
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${series} `));
  return line === undefined ? null : Number(line.slice(series.length + 1));
}

metrics('scrapes show running totals: counts between scrapes are added once, never lost or repeated', async () => {
  // Records 2 hits, scrapes, records 3 more and a miss, scrapes twice: a flush that forgot to reset would show
  // 7 then 12, one that dropped pending counts would show 2; the right totals are 2, then 5 and 5.
  const gateway = new GatewayMetrics(undefined, 0);
  const lookup = gateway.forRoute('lookup');
  const series = 'pygmy_http_requests_total{route="lookup",status="200"}';
  const hits = 'pygmy_cache_requests_total{outcome="hit"}';
  for (let count = 0; count < 2; count += 1) {
    gateway.recordCache('HIT');
    lookup.record(200, 0.001);
  }
  const first = await gateway.text();
  assert.is(counterLine(first, series), 2);
  assert.is(counterLine(first, hits), 2);
  assert.is(counterLine(first, 'pygmy_cache_requests_total{outcome="miss"}'), null);
  for (let count = 0; count < 3; count += 1) {
    gateway.recordCache('HIT');
    lookup.record(200, 0.001);
  }
  gateway.recordCache('MISS');
  lookup.record(404, 0.002);
  for (const text of [await gateway.text(), await gateway.text()]) {
    assert.is(counterLine(text, series), 5);
    assert.is(counterLine(text, 'pygmy_http_requests_total{route="lookup",status="404"}'), 1);
    assert.is(counterLine(text, hits), 5);
    assert.is(counterLine(text, 'pygmy_cache_requests_total{outcome="miss"}'), 1);
    assert.is(counterLine(text, 'pygmy_http_request_duration_seconds_count{route="lookup"}'), 6);
  }
});

metrics('the checker reads a missing series as null and a present one as its number', () => {
  // Proves counterLine can fail: a prefix of another series or an absent one must not read as a count.
  const text = 'a_total{x="1"} 3\na_total{x="10"} 4\n';
  assert.is(counterLine(text, 'a_total{x="1"}'), 3);
  assert.is(counterLine(text, 'a_total{x="2"}'), null);
});

/** The text and JSON a registry gives for one histogram fed `observations` ([route, seconds] pairs). */
async function exported(histogram: 'pygmy' | 'prom-client', observations: ReadonlyArray<readonly [string, number]>, resetAfter = -1) {
  const registry = new Registry();
  const name = 'pygmy_http_request_duration_seconds';
  const help = 'Time from request to answer, by route';
  let observe: (route: string, seconds: number) => void;
  let reset: () => void;
  if (histogram === 'pygmy') {
    const ours = new LatencyHistogram(name, help);
    registry.registerMetric(ours as unknown as Histogram<'route'>);
    observe = (route, seconds) => ours.series(route).observe(seconds);
    reset = () => ours.reset();
  } else {
    const theirs = new Histogram({ name, help, labelNames: ['route'], buckets: [...latencyBucketsSeconds], registers: [registry] });
    observe = (route, seconds) => theirs.labels(route).observe(seconds);
    reset = () => theirs.reset();
  }
  observations.forEach(([route, seconds], position) => {
    observe(route, seconds);
    if (position === resetAfter) reset();
  });
  return { text: await registry.metrics(), json: await registry.getMetricsAsJSON() };
}

metrics('the latency histogram prints exactly what a prom-client Histogram prints for the same observations', async () => {
  // Bounds themselves (a value equal to a bound belongs to it), values between, above the largest bound, zero, two
  // routes in a stable order, and a reset part way: text and JSON must be identical.
  const observations: Array<readonly [string, number]> = [];
  for (const bound of latencyBucketsSeconds) observations.push(['lookup', bound], ['order', bound * 1.5]);
  observations.push(['lookup', 0], ['lookup', 7.5], ['order', 0.00042], ['search', 0.3]);
  for (const resetAfter of [-1, 5]) {
    const ours = await exported('pygmy', observations, resetAfter);
    const theirs = await exported('prom-client', observations, resetAfter);
    assert.fixture(ours.text, theirs.text);
    assert.equal(ours.json, theirs.json);
  }
  // And the comparison can fail: one observation more on one side shows.
  const more = await exported('pygmy', [...observations, ['lookup', 0.002]]);
  assert.not.equal(more.text, (await exported('prom-client', observations)).text);
});

metrics.run();
