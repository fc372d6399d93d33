// The dashboard's routes on a gateway with an in-memory backend: the page and its files (no-store, strict CSP, no
// inline script), a clear 4xx for every bad input, the admin-token rule on /events, the subscriber bound, and a
// stream that keeps its cadence (more than two snapshots a second) under an autocannon load.

import autocannon, { type Result } from 'autocannon';
import { request, type IncomingMessage } from 'node:http';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { contentSecurityPolicy } from '../../src/http/dashboard/http.js';
import type { Snapshot } from '../../src/http/dashboard/feed.js';
import { matchRoute } from '../../src/http/routes.js';
import { createGateway, type Gateway } from '../../src/http/gateway.js';
import { FakeBackend } from '../http/fake-backend.js';
import { call, capturingLogger, gatewayEach, withGateway } from '../http/helpers.js';

interface Context {
  gateway: Gateway;
  port: number;
}

async function start(options: { adminToken?: string | null; treatAsNonLoopback?: boolean; subscribersMax?: number } = {}): Promise<Context> {
  const gateway = createGateway({
    backend: new FakeBackend(),
    logger: capturingLogger('warn').logger,
    host: '127.0.0.1',
    port: 0,
    adminToken: options.adminToken ?? null,
    treatAsNonLoopback: options.treatAsNonLoopback ?? false,
    dashboard: { subscribersMax: options.subscribersMax ?? 16 },
  });
  const { port } = await gateway.listen();
  return { gateway, port };
}

interface Stream {
  readonly status: number;
  readonly headers: IncomingMessage['headers'];
  /** Each snapshot with the local time it arrived. */
  readonly received: Array<{ atMs: number; snapshot: Snapshot }>;
  close(): void;
}

/** Opens /events and parses the snapshots as they arrive. */
function openStream(port: number, headers: Record<string, string> = {}): Promise<Stream> {
  return new Promise((resolve, reject) => {
    const outgoing = request({ host: '127.0.0.1', port, path: '/events', headers, agent: false }, (incoming) => {
      const received: Stream['received'] = [];
      let buffered = '';
      incoming.setEncoding('utf8');
      incoming.on('data', (chunk: string) => {
        buffered += chunk;
        let boundary = buffered.indexOf('\n\n');
        while (boundary >= 0) {
          const block = buffered.slice(0, boundary);
          buffered = buffered.slice(boundary + 2);
          const data = /^event: snapshot\ndata: (.*)$/s.exec(block);
          if (data !== null) received.push({ atMs: Date.now(), snapshot: JSON.parse(data[1]!) as Snapshot });
          boundary = buffered.indexOf('\n\n');
        }
      });
      incoming.on('error', () => undefined);
      resolve({ status: incoming.statusCode ?? 0, headers: incoming.headers, received, close: () => outgoing.destroy() });
    });
    outgoing.on('error', reject);
    outgoing.end();
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const routes = suite('dashboard routes (pure)');

routes('the page, its files and the stream are routed; anything else near them is a clear 4xx', () => {
  // Every row is an input and the exact route it must give; a wrong table entry fails here.
  const rows: Array<[string, string, unknown]> = [
    ['GET', '/', { kind: 'dashboard', asset: 'page' }],
    ['HEAD', '/dashboard', { kind: 'dashboard', asset: 'page' }],
    ['GET', '/dashboard/', { kind: 'dashboard', asset: 'page' }],
    ['GET', '/dashboard/app.js', { kind: 'dashboard', asset: 'script' }],
    ['GET', '/dashboard/style.css', { kind: 'dashboard', asset: 'style' }],
    ['GET', '/dashboard/icon.svg', { kind: 'dashboard', asset: 'icon' }],
    ['GET', '/events', { kind: 'events' }],
    ['POST', '/', { kind: 'methodNotAllowed', allow: 'GET, HEAD' }],
    ['DELETE', '/events', { kind: 'methodNotAllowed', allow: 'GET, HEAD' }],
    ['GET', '/dashboard/../app.js', { kind: 'notFound' }],
    ['GET', '/dashboard/app.js/x', { kind: 'notFound' }],
    ['GET', '/dashboard/secret.txt', { kind: 'notFound' }],
    ['GET', '/events/1', { kind: 'notFound' }],
    ['GET', '//', { kind: 'notFound' }],
    ['GET', '/?token=abc', { kind: 'badRequest', error: 'the dashboard and /events take no query parameters' }],
    ['GET', '/events?since=3', { kind: 'badRequest', error: 'the dashboard and /events take no query parameters' }],
  ];
  for (const [method, target, expected] of rows) assert.equal(matchRoute(method, target), expected, `${method} ${target}`);
});

routes.run();

const served = suite<Context>('dashboard served', {} as Context);
gatewayEach(served, start);

served('the page and its files are no-store, under a strict CSP, and the page has no inline script or style', async ({ port }) => {
  // Checks the headers of every file, that the CSP forbids inline script and eval, and that the HTML loads its
  // script and style by URL only (an inline <script> body or a style attribute would be blocked by that CSP).
  assert.not.match(contentSecurityPolicy, /unsafe/);
  assert.match(contentSecurityPolicy, /script-src 'self'/);
  for (const [path, type] of [
    ['/', 'text/html'],
    ['/dashboard/app.js', 'text/javascript'],
    ['/dashboard/style.css', 'text/css'],
    ['/dashboard/icon.svg', 'image/svg+xml'],
  ]) {
    const answer = await call(port, 'GET', path!);
    assert.is(answer.status, 200, path);
    assert.ok(String(answer.headers['content-type']).startsWith(type!), `${path}: ${answer.headers['content-type']}`);
    assert.is(answer.headers['cache-control'], 'no-store', path);
    assert.is(answer.headers['content-security-policy'], contentSecurityPolicy, path);
    assert.is(answer.headers['x-content-type-options'], 'nosniff', path);
  }
  const page = (await call(port, 'GET', '/dashboard')).body;
  assert.match(page, /<script type="module" src="\/dashboard\/app.js"><\/script>/);
  assert.is((page.match(/<script/g) ?? []).length, 1, 'one script tag, by URL');
  assert.not.match(page, /style="/);
  assert.not.match(page, /<style/);
  assert.not.match(page, /https?:\/\//, 'no external (CDN) reference');
});

served('bad input to the dashboard routes is a clear 4xx with a JSON reason', async ({ port }) => {
  const wrongMethod = await call(port, 'POST', '/events');
  assert.is(wrongMethod.status, 405);
  assert.is(wrongMethod.headers['allow'], 'GET, HEAD');
  const withQuery = await call(port, 'GET', '/dashboard?debug=1');
  assert.is(withQuery.status, 400);
  assert.match(JSON.parse(withQuery.body).error, /no query parameters/);
  assert.is((await call(port, 'GET', '/dashboard/nothing.js')).status, 404);
});

served('the stream opens with the whole picture, then a snapshot at least twice a second', async ({ port, gateway }) => {
  // Reads the stream for 1.3 s: the first snapshot carries the series, the next ones the cluster of the fake
  // backend (catalog-1 leading), and at least three arrive (the poll interval is 400 ms).
  const stream = await openStream(port);
  try {
    assert.is(stream.status, 200);
    assert.ok(String(stream.headers['content-type']).startsWith('text/event-stream'));
    assert.is(stream.headers['cache-control'], 'no-store');
    await sleep(1_300);
    assert.ok(stream.received.length >= 4, `only ${stream.received.length} snapshots in 1.3 s`);
    assert.ok(Array.isArray(stream.received[0]!.snapshot.series));
    const last = stream.received.at(-1)!.snapshot;
    assert.is(last.cluster?.leaders.catalog, 'catalog-1');
    const told = stream.received.flatMap((entry) => entry.snapshot.events.map((event) => event.text));
    assert.ok(told.includes('catalog-1 leads catalog in term 3'), told.join('\n'));
    assert.is(gateway.dashboard.subscriberCount, 1);
  } finally {
    stream.close();
  }
  await sleep(50);
  assert.is(gateway.dashboard.subscriberCount, 0, 'a closed stream unsubscribes');
});

served('under an autocannon load the stream keeps its cadence and the charts show the load', async ({ port }) => {
  // 2 s of cached lookups on 16 connections in this process: the largest gap between snapshots stays under a
  // second, and the last minute's samples count the lookups (so the sampler saw them without events per request).
  const stream = await openStream(port);
  try {
    const result = await new Promise<Result>((resolve, reject) => {
      autocannon({ url: `http://127.0.0.1:${port}/lookup/1`, connections: 16, duration: 2 }, (error, outcome) =>
        error ? reject(error) : resolve(outcome),
      );
    });
    const doneAtMs = Date.now();
    // Wait for a series that covers the end of the load: a roll after it, then the next poll's snapshot.
    const deadline = Date.now() + 3_000;
    const newestSeries = () => stream.received.map((entry) => entry.snapshot.series).filter((samples) => samples !== null).at(-1)!;
    while ((newestSeries().at(-1)?.atMs ?? 0) < doneAtMs && Date.now() < deadline) await sleep(50);
    const arrivals = stream.received.map((entry) => entry.atMs);
    const gaps = arrivals.slice(1).map((atMs, index) => atMs - arrivals[index]!);
    const requests = Object.values(result.statusCodeStats).reduce((sum, entry) => sum + entry.count, 0);
    console.log(`dashboard under load: ${requests} lookups in 2 s, ${stream.received.length} snapshots, largest gap ${Math.max(...gaps)} ms`);
    assert.ok(requests > 500, `only ${requests} requests: not a load`);
    assert.ok(Math.max(...gaps) < 1_000, `a gap of ${Math.max(...gaps)} ms between snapshots`);
    const series = newestSeries();
    const counted = series.reduce((sum, sample) => sum + (sample.requestsPerSecondByRoute['lookup'] ?? 0) * (sample.intervalMs / 1000), 0);
    assert.ok(Math.abs(counted - requests) <= requests * 0.02 + 5, `samples count ${counted} lookups, autocannon ${requests}`);
    const events = stream.received.flatMap((entry) => entry.snapshot.events);
    assert.ok(events.length < 10, `${events.length} events: the feed must not grow with requests`);
  } finally {
    stream.close();
  }
});

served.run();

const guarded = suite('dashboard and the operations rule');

guarded('off loopback /events needs the admin token, the page does not; without a token set it is off', async () => {
  // The page is static and shows nothing by itself; /events shows the cluster, so it follows /cluster's rule.
  await withGateway(start({ treatAsNonLoopback: true }), async (noToken) => {
    assert.is((await call(noToken.port, 'GET', '/')).status, 200);
    assert.is((await call(noToken.port, 'GET', '/events')).status, 403);
  });
  await withGateway(start({ treatAsNonLoopback: true, adminToken: 'dashboard-secret' }), async (withToken) => {
    assert.is((await call(withToken.port, 'GET', '/events')).status, 401);
    assert.is((await call(withToken.port, 'GET', '/events', { headers: { authorization: 'Bearer wrong' } })).status, 401);
    const stream = await openStream(withToken.port, { authorization: 'Bearer dashboard-secret' });
    assert.is(stream.status, 200);
    stream.close();
  });
});

guarded('past subscribersMax the stream is refused with 503 and Retry-After', async () => {
  const context = await start({ subscribersMax: 1 });
  const first = await openStream(context.port);
  try {
    const second = await call(context.port, 'GET', '/events');
    assert.is(second.status, 503);
    assert.ok(second.headers['retry-after'] !== undefined);
    assert.match(JSON.parse(second.body).error, /too many dashboards/);
  } finally {
    first.close();
    await context.gateway.close();
  }
});

guarded.run();
