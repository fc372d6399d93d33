// The admin rule of DESIGN.md §1 as a table: every operations route × {loopback listener, non-loopback listener}
// × {token set, not set} × {token sent, wrong, missing} × {--admin on, off}, over real HTTP against a gateway on
// a fake backend. Each row checks the status and that a refused request reached nothing behind the gateway (no
// actor action, no update, no invalidation, no cluster read); /health, /ready and the dashboard's files are
// checked in the same table.
//
// The non-loopback listener is honest: the test builds its own test network (src/check/hosts.ts: a bridge and a
// network namespace host, 10.77.S.0/24), the gateway binds the bridge's address, a real non-loopback address, and
// the client connects to it, so no test switch pretends and no traffic leaves the test's own network. Without root
// or `ip netns` those rows cannot run: the test prints so and runs the loopback rows (with CI=true it fails
// instead).

import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createTestHosts, namespaceUnavailableReason, type TestHosts } from '../../src/check/hosts.js';
import { accessOf, accessPolicy, authorizeRoute, bearerToken, type AdminMode } from '../../src/http/authorization.js';
import { createGateway, type Gateway } from '../../src/http/gateway.js';
import { matchRoute } from '../../src/http/routes.js';
import { FakeBackend } from './fake-backend.js';
import { capturingLogger } from './helpers.js';

const token = 'table-token-7f3a';

interface RouteRow {
  readonly method: string;
  readonly path: string;
  readonly body?: string;
  /** Calls the backend recorded for this route; a refused request must leave it unchanged. */
  readonly effects: (backend: FakeBackend) => number;
}

const clusterReads = new WeakMap<FakeBackend, number>();
const operationsRoutes: readonly RouteRow[] = [
  { method: 'GET', path: '/cluster', effects: (backend) => clusterReads.get(backend) ?? 0 },
  { method: 'GET', path: '/metrics', effects: (backend) => clusterReads.get(backend) ?? 0 },
  { method: 'GET', path: '/events', effects: () => 0 },
  ...['kill', 'stop', 'start', 'isolate', 'heal'].map((action) => ({
    method: 'POST',
    path: `/admin/actors/catalog-1/${action}`,
    effects: (backend: FakeBackend) => backend.actorCalls.length,
  })),
  { method: 'POST', path: '/admin/items/1', body: '{"price":12.5}', effects: (backend) => backend.updates.length },
  { method: 'POST', path: '/invalidate/item/1', effects: (backend) => backend.invalidations.length },
  { method: 'POST', path: '/admin/backup', effects: (backend) => backend.backups.length },
];

type Listener = 'loopback' | 'non-loopback';
type Sent = 'right' | 'wrong' | 'missing';

/** A non-loopback address of a test network this file builds (removed at the end), or null without root/netns. */
let testHosts: TestHosts | null = null;
function nonLoopbackAddress(): string | null {
  if (testHosts !== null) return testHosts.bridgeAddress;
  if (namespaceUnavailableReason() !== null) return null;
  testHosts = createTestHosts(1);
  return testHosts.bridgeAddress;
}

function headersFor(sent: Sent): Record<string, string> {
  switch (sent) {
    case 'right':
      return { authorization: `Bearer ${token}` };
    case 'wrong':
      return { authorization: `Bearer ${token}x` };
    case 'missing':
      return {};
  }
}

/** Status and body of one request; a streaming answer (/events) is cut after its head. */
function exchange(host: string, port: number, row: { method: string; path: string; body?: string }, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const outgoing = request({ host, port, method: row.method, path: row.path, headers, agent: false }, (incoming) => {
      const status = incoming.statusCode ?? 0;
      if (incoming.headers['content-type']?.startsWith('text/event-stream')) {
        incoming.destroy();
        resolve({ status, body: '' });
        return;
      }
      const chunks: Buffer[] = [];
      incoming.on('data', (chunk: Buffer) => chunks.push(chunk));
      incoming.on('end', () => resolve({ status, body: Buffer.concat(chunks).toString() }));
      incoming.on('error', reject);
    });
    outgoing.on('error', reject);
    outgoing.end(row.body);
  });
}

/** What DESIGN.md §1 says the answer is: 'allowed', or the refusal's status. */
function expected(mode: AdminMode, listener: Listener, tokenSet: boolean, sent: Sent): 'allowed' | 401 | 403 {
  if (mode === 'off') return 403;
  if (tokenSet) return sent === 'right' ? 'allowed' : 401;
  return listener === 'loopback' ? 'allowed' : 403;
}

async function startGateway(host: string, mode: AdminMode, tokenSet: boolean): Promise<{ gateway: Gateway; backend: FakeBackend; port: number }> {
  const backend = new FakeBackend();
  const cluster = backend.cluster.bind(backend);
  backend.cluster = () => {
    clusterReads.set(backend, (clusterReads.get(backend) ?? 0) + 1);
    return cluster();
  };
  const gateway = createGateway({ backend, logger: capturingLogger('silent').logger, host, port: 0, admin: mode, adminToken: tokenSet ? token : null, requestDeadlineMs: 1_000 });
  const { port } = await gateway.listen();
  return { gateway, backend, port };
}

const table = suite('admin rule table');
table.after(() => {
  testHosts?.cleanup();
  testHosts = null;
});

table('every operations route × listener × token set × token sent × admin mode answers as DESIGN.md §1 says', async () => {
  const external = nonLoopbackAddress();
  if (external === null) {
    const reason = `no test network (${namespaceUnavailableReason()}): the non-loopback rows of the table cannot run`;
    if (process.env.CI === 'true') throw new Error(reason);
    console.log(`skipped: ${reason}`);
  }
  const listeners: ReadonlyArray<[Listener, string]> = external === null ? [['loopback', '127.0.0.1']] : [['loopback', '127.0.0.1'], ['non-loopback', external]];
  let rows = 0;
  for (const mode of ['on', 'off'] as const) {
    for (const [listener, host] of listeners) {
      for (const tokenSet of [true, false]) {
        const { gateway, backend, port } = await startGateway(host, mode, tokenSet);
        try {
          for (const route of operationsRoutes) {
            for (const sent of ['right', 'wrong', 'missing'] as const) {
              const label = `${route.method} ${route.path} | admin ${mode} | ${listener} ${host} | token ${tokenSet ? 'set' : 'not set'} | ${sent}`;
              const before = route.effects(backend);
              const answer = await exchange(host, port, route, headersFor(sent));
              const want = expected(mode, listener, tokenSet, sent);
              if (want === 'allowed') {
                assert.ok(answer.status >= 200 && answer.status < 300, `${label}: ${answer.status} ${answer.body}`);
                if (route.path !== '/events') assert.ok(route.effects(backend) > before, `${label}: the backend was not reached`);
              } else {
                assert.is(answer.status, want, `${label}: ${answer.body}`);
                assert.is(route.effects(backend), before, `${label}: a refused request reached the backend`);
              }
              rows += 1;
            }
          }
          // The probes and the dashboard's files, in the same combinations.
          for (const sent of ['right', 'wrong', 'missing'] as const) {
            const label = `admin ${mode} | ${listener} | token ${tokenSet ? 'set' : 'not set'} | ${sent}`;
            for (const path of ['/health', '/ready']) {
              const answer = await exchange(host, port, { method: 'GET', path }, headersFor(sent));
              assert.is(answer.status, 200, `${path} ${label}`);
              assert.is(answer.body, '{"ok":true}', `${path} ${label}: a probe reveals nothing but its status`);
            }
            const page = await exchange(host, port, { method: 'GET', path: '/' }, headersFor(sent));
            assert.is(page.status, mode === 'off' ? 403 : 200, `dashboard page ${label}`);
          }
        } finally {
          await gateway.close();
        }
      }
    }
  }
  assert.is(rows, 2 * listeners.length * 2 * operationsRoutes.length * 3);
});

table('a not-ready probe says 503 and nothing more, without a token, off loopback where the host allows', async () => {
  const host = nonLoopbackAddress() ?? '127.0.0.1';
  const { gateway, backend, port } = await startGateway(host, 'on', true);
  try {
    backend.readyAnswer = false;
    const answer = await exchange(host, port, { method: 'GET', path: '/ready' }, {});
    assert.is(answer.status, 503);
    assert.not.match(answer.body, /catalog|order-|leader [a-z]+-\d/);
  } finally {
    await gateway.close();
  }
});

const pure = suite('admin rule, pure');

pure('every route kind has an access class; bookstore routes are public', () => {
  for (const target of ['/lookup/1', '/lookup', '/search/sys', '/orders/abc', '/orders?item=1', '/nowhere']) {
    assert.is(accessOf(matchRoute('GET', target).kind), 'public', target);
  }
  assert.is(accessOf(matchRoute('POST', '/order/1').kind), 'public');
  for (const target of ['/cluster', '/metrics', '/events']) assert.is(accessOf(matchRoute('GET', target).kind), 'operations', target);
  for (const target of ['/admin/actors/order-2/kill', '/admin/items/1', '/invalidate/item/1', '/admin/backup']) {
    assert.is(accessOf(matchRoute('POST', target).kind), 'operations', target);
  }
  assert.is(accessOf(matchRoute('GET', '/health').kind), 'probe');
  assert.is(accessOf(matchRoute('GET', '/ready').kind), 'probe');
});

pure('the token must match exactly: prefix, extension, case and an empty token are refused', () => {
  const policy = accessPolicy({ mode: 'on', adminToken: 's3cret', loopbackListener: true });
  const status = (header: string | undefined) => {
    const decision = authorizeRoute(policy, 'cluster', header);
    return decision.kind === 'allowed' ? 200 : decision.status;
  };
  assert.is(status('Bearer s3cret'), 200);
  assert.is(status('bearer s3cret'), 200);
  for (const header of ['Bearer s3cre', 'Bearer s3crett', 'Bearer S3CRET', 'Bearer ', 'Basic s3cret', 's3cret', undefined]) {
    assert.is(status(header), 401, String(header));
  }
  assert.is(bearerToken('Bearer  padded '), 'padded');
  // An empty PYGMY_ADMIN_TOKEN is no token: it does not make "Bearer " a valid credential.
  const empty = accessPolicy({ mode: 'on', adminToken: '', loopbackListener: false });
  assert.is(authorizeRoute(empty, 'cluster', 'Bearer ').kind, 'refused');
});

pure('the dashboard keeps the token in sessionStorage only: never localStorage, a cookie or the URL', () => {
  // A static check of the page's script (no browser here): where the token is written and read.
  const source = readFileSync(new URL('../../../src/http/dashboard/assets/app.js', import.meta.url), 'utf8');
  const script = source.split('\n').filter((line) => !line.trimStart().startsWith('//')).join('\n');
  assert.match(script, /sessionStorage\.setItem\(tokenKey/);
  assert.match(script, /sessionStorage\.getItem\(tokenKey\)/);
  assert.not.match(script, /localStorage|document\.cookie|indexedDB/);
  assert.not.match(script, /[?&]token=/);
});

table.run();
pure.run();
