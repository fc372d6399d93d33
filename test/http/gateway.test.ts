// The gateway against an in-memory backend on port 0: exact bodies, headers, every bad-input row, deadlines,
// operations routes, metrics, and the timeouts that close slow clients.

import { connect } from 'node:net';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createGateway, type Gateway } from '../../src/http/gateway.js';
import { FakeBackend } from './fake-backend.js';
import { call, capturingLogger, gatewayEach, rawExchange, withGateway } from './helpers.js';

const lookupOneBody =
  '{"ok":true,"result":{"id":1,"name":"How to get a good grade in 677 in 20 minutes a day","stock":10,"price":19.9,"topic":1},"topics":[{"id":1,"name":"Distributed systems"}]}';

interface Context {
  gateway: Gateway;
  backend: FakeBackend;
  lines: string[];
  port: number;
}

async function start(options: { adminToken?: string | null; treatAsNonLoopback?: boolean; renderedBodiesCharsMax?: number } = {}): Promise<Context> {
  const backend = new FakeBackend();
  const { logger, lines } = capturingLogger();
  const gateway = createGateway({
    backend,
    logger,
    host: '127.0.0.1',
    port: 0,
    requestDeadlineMs: 200,
    adminToken: options.adminToken ?? null,
    treatAsNonLoopback: options.treatAsNonLoopback ?? false,
    limits: {
      headersTimeoutMs: 300, requestTimeoutMs: 600, keepAliveTimeoutMs: 500, socketIdleTimeoutMs: 1_000,
      ...(options.renderedBodiesCharsMax === undefined ? {} : { renderedBodiesCharsMax: options.renderedBodiesCharsMax }),
    },
  });
  const { port } = await gateway.listen();
  return { gateway, backend, lines, port };
}

const api = suite<Context>('gateway api', {} as Context);
gatewayEach(api, start);

api('lookup 1 answers the exact DESIGN.md bytes, a miss first and a hit second, and logs both', async ({ port, lines }) => {
  // Compares the body string byte for byte (the fake hands over keys in another order), then the cache headers.
  const first = await call(port, 'GET', '/lookup/1');
  assert.is(first.status, 200);
  assert.is(first.body, lookupOneBody);
  assert.is(first.headers['content-type'], 'application/json');
  assert.is(first.headers['x-cache'], 'MISS');
  assert.is(first.headers['x-served-by'], 'catalog-2');
  const second = await call(port, 'GET', '/lookup/1');
  assert.is(second.body, lookupOneBody);
  assert.is(second.headers['x-cache'], 'HIT');
  assert.is(second.headers['x-served-by'], undefined);
  const messages = lines.map((line) => JSON.parse(line).msg as string);
  assert.ok(messages.includes('lookup/1: cache miss, served by catalog-2'), messages.join('\n'));
  assert.ok(messages.includes('lookup/1: cache hit'), messages.join('\n'));
});

api('an unknown id is 404 with the contract body', async ({ port }) => {
  // Item 99 is not in the catalog: the body must be exactly the not-found shape.
  const answer = await call(port, 'GET', '/lookup/99');
  assert.is(answer.status, 404);
  assert.is(answer.body, '{"ok":false,"result":null,"topics":[]}');
});

api('GET /lookup lists every item and topic by id with keys in contract order', async ({ port }) => {
  // Parses the list and checks count, ids and the key order of one item as sent.
  const answer = await call(port, 'GET', '/lookup');
  assert.is(answer.status, 200);
  assert.is(answer.headers['x-cache'], 'MISS');
  const body = JSON.parse(answer.body);
  assert.equal(body.result.map((item: { id: number }) => item.id), [1, 2, 3, 4]);
  assert.equal(body.topics.map((topic: { id: number }) => topic.id), [1, 2]);
  assert.equal(Object.keys(body.result[1]), ['id', 'name', 'stock', 'price', 'topic']);
  assert.ok(answer.body.startsWith('{"ok":true,"result":[{"id":1,'));
});

api('search matches topic names case-insensitively after URL-decoding, and rejects bad encoding', async ({ port }) => {
  // "sys" and "%53YS" (= "SYS") both find Distributed systems; "zzz" finds nothing; "%E0%A4%A" is malformed.
  for (const path of ['/search/sys', '/search/%53YS']) {
    const answer = await call(port, 'GET', path);
    assert.is(answer.status, 200, path);
    const body = JSON.parse(answer.body);
    assert.equal(body.topics, [{ id: 1, name: 'Distributed systems' }], path);
    assert.equal(body.result.map((item: { id: number }) => item.id), [1, 2], path);
  }
  const none = await call(port, 'GET', '/search/zzz');
  assert.is(none.status, 200);
  assert.is(none.body, '{"ok":true,"result":[],"topics":[]}');
  const bad = await call(port, 'GET', '/search/%E0%A4%A');
  assert.is(bad.status, 400);
  assert.is(JSON.parse(bad.body).ok, false);
  assert.type(JSON.parse(bad.body).error, 'string');
});

api('list and search bodies are rendered once per catalog index and rendered again when the index moves', async ({ port, backend }) => {
  // The fake backend's index moves only when its items are replaced (an order). Changing an item in place, without
  // a new index, stands for a reuse check: the body must be the one already rendered at that index. An order then
  // moves the index, and the next body must show it.
  const stockOf = (body: string, id: number) => (JSON.parse(body).result as Array<{ id: number; stock: number }>).find((item) => item.id === id)?.stock;
  const setStockInPlace = (stock: number) => {
    (backend.items.find((item) => item.id === 2) as { stock: number }).stock = stock;
  };
  for (const path of ['/search/sys', '/lookup']) {
    const first = await call(port, 'GET', path);
    assert.is(stockOf(first.body, 2), backend.items.find((item) => item.id === 2)!.stock, path);
    const before = backend.items.find((item) => item.id === 2)!.stock;
    setStockInPlace(999);
    const again = await call(port, 'GET', path);
    assert.is(again.body, first.body, `${path}: same index, same body`);
    setStockInPlace(before);
    assert.is((await call(port, 'POST', '/order/2?amount=1')).body, 'true');
    const after = await call(port, 'GET', path);
    assert.is(stockOf(after.body, 2), before - 1, `${path}: a new index renders the new stock`);
  }
});

api('a list or search names the index of the body it holds, and an unchanged answer reuses that body', async ({ port, backend }) => {
  // The first read names no index; the second names the first's, gets an answer without items, and must still
  // write the whole body. After an order moves the index the named one is old, so the items come again.
  const first = await call(port, 'GET', '/search/sys');
  const second = await call(port, 'GET', '/search/sys');
  assert.is(second.status, 200);
  assert.is(second.body, first.body);
  assert.ok(JSON.parse(second.body).result.length > 0);
  assert.is((await call(port, 'POST', '/order/2?amount=1')).body, 'true');
  const third = await call(port, 'GET', '/search/sys');
  assert.is.not(third.body, first.body);
  const index = backend.knownIndexes[1]!;
  assert.equal(backend.knownIndexes, [undefined, index, index]);
});

api('the rendered bodies kept for reuse are bounded in characters: past the bound the oldest goes', async () => {
  const probe = await start();
  const sys = (await call(probe.port, 'GET', '/search/sys')).body;
  const list = (await call(probe.port, 'GET', '/lookup')).body;
  assert.equal(probe.gateway.renderedBodiesHeld(), { entries: 2, chars: sys.length + list.length });
  await probe.gateway.close();
  // Room for the larger of the two bodies only: reading the other evicts it, so its next read names no index.
  await withGateway(start({ renderedBodiesCharsMax: Math.max(sys.length, list.length) }), async (context) => {
    await call(context.port, 'GET', '/search/sys');
    await call(context.port, 'GET', '/lookup');
    const held = context.gateway.renderedBodiesHeld();
    assert.is(held.entries, 1);
    assert.ok(held.chars <= Math.max(sys.length, list.length));
    const before = context.backend.knownIndexes.length;
    assert.is((await call(context.port, 'GET', '/search/sys')).body, sys);
    assert.is(context.backend.knownIndexes[before], undefined, 'the evicted body is not named');
  });
  // A bound smaller than any body keeps none.
  await withGateway(start({ renderedBodiesCharsMax: 10 }), async (none) => {
    await call(none.port, 'GET', '/search/sys');
    assert.equal(none.gateway.renderedBodiesHeld(), { entries: 0, chars: 0 });
  });
});

api('an answer said to be unchanged at an index the gateway did not name is refused, never served stale', async ({ port, backend }) => {
  // A broken cache answers "unchanged" at index 99 with no items: the gateway holds nothing at 99, so it must
  // answer 503 rather than an empty or stale list.
  assert.is((await call(port, 'GET', '/search/sys')).status, 200);
  backend.unchangedAtIndex = 99;
  const answer = await call(port, 'GET', '/search/sys');
  assert.is(answer.status, 503);
  backend.unchangedAtIndex = null;
  assert.is((await call(port, 'GET', '/search/sys')).status, 200);
});

api('an order answers true or false with x-order-id, and the stock moves only when bought', async ({ port, backend }) => {
  // Buys 6 of item 3 (25 in stock), then asks for 100 (too many): true then false, each with a fresh order id
  // that starts with the time it was made (order-id.ts), so the replicas' tables append.
  const sentMs = Date.now();
  const bought = await call(port, 'POST', '/order/3?amount=6');
  assert.is(bought.status, 200);
  assert.is(bought.body, 'true');
  const firstId = bought.headers['x-order-id'] as string;
  assert.is(firstId.length, 21);
  const madeMs = Number.parseInt(firstId.slice(0, 9), 36);
  assert.ok(madeMs >= sentMs && madeMs <= Date.now(), `the id ${firstId} does not start with the time it was made`);
  assert.is(backend.items.find((item) => item.id === 3)?.stock, 19);
  const refused = await call(port, 'POST', '/order/3?amount=100');
  assert.is(refused.body, 'false');
  assert.is.not(refused.headers['x-order-id'], firstId);
  const unknown = await call(port, 'POST', '/order/77');
  assert.is(unknown.status, 200);
  assert.is(unknown.body, 'false');
  assert.is(backend.orderCalls[2]?.amount, 1);
});

api('the Idempotency-Key is the order id, and a repeat buys once', async ({ port, backend }) => {
  // Sends the same key twice: both answers carry it, the backend saw it, and the stock fell by 2 only once.
  const headers = { 'Idempotency-Key': 'client-key-0001' };
  const first = await call(port, 'POST', '/order/1?amount=2', { headers });
  const second = await call(port, 'POST', '/order/1?amount=2', { headers });
  assert.is(first.headers['x-order-id'], 'client-key-0001');
  assert.is(second.headers['x-order-id'], 'client-key-0001');
  assert.is(first.body, 'true');
  assert.is(second.body, 'true');
  assert.equal(backend.orderCalls.map((entry) => entry.orderId), ['client-key-0001', 'client-key-0001']);
  assert.is(backend.items.find((item) => item.id === 1)?.stock, 8);
});

api('orders can be read by id and by item', async ({ port }) => {
  // Places one order with a known key, then reads it back both ways; an unknown id is 404, no item is 400.
  await call(port, 'POST', '/order/2?amount=3', { headers: { 'Idempotency-Key': 'k-2' } });
  const one = await call(port, 'GET', '/orders/k-2');
  assert.is(one.status, 200);
  assert.is(
    one.body,
    '{"ok":true,"result":{"id":"k-2","item":2,"amount":3,"total":89.7,"status":"committed","reason":null,"createdAt":1700000000000}}',
  );
  const missing = await call(port, 'GET', '/orders/nope');
  assert.is(missing.status, 404);
  assert.is(missing.body, '{"ok":false,"result":null}');
  const ofItem = JSON.parse((await call(port, 'GET', '/orders?item=2')).body);
  assert.equal(ofItem.result.map((order: { id: string }) => order.id), ['k-2']);
  assert.is((await call(port, 'GET', '/orders')).status, 400);
  assert.is((await call(port, 'GET', '/orders?item=x')).status, 400);
  assert.is(ofItem.next, null, 'one page: no next');
});

api('GET /orders?item=N pages with limit and the next cursor; orders added meanwhile are seen once', async ({ port }) => {
  for (let index = 0; index < 5; index += 1) await call(port, 'POST', '/order/3?amount=1', { headers: { 'Idempotency-Key': `p-${index}` } });
  const seen: string[] = [];
  let after: string | null = null;
  for (let pages = 0; pages < 50; pages += 1) {
    const answer = await call(port, 'GET', `/orders?item=3&limit=2${after === null ? '' : `&after=${after}`}`);
    assert.is(answer.status, 200);
    const page = JSON.parse(answer.body) as { result: Array<{ id: string }>; next: string | null };
    assert.ok(page.result.length <= 2);
    seen.push(...page.result.map((order) => order.id));
    after = page.next;
    if (after === null) break;
    if (pages < 2) await call(port, 'POST', '/order/3?amount=1', { headers: { 'Idempotency-Key': `p-late-${pages}` } });
  }
  assert.equal(seen, ['p-0', 'p-1', 'p-2', 'p-3', 'p-4', 'p-late-0', 'p-late-1']);
  assert.is((await call(port, 'GET', '/orders?item=3&limit=0')).status, 400);
  assert.is((await call(port, 'GET', '/orders?item=3&after=nonsense!')).status, 400);
});

api('every bad-input row gets its status and a JSON error, never a 500', async ({ port, backend }) => {
  // Walks a table of malformed requests; none of them may reach the backend's order path.
  const rows: Array<[string, string, number, Record<string, string>?]> = [
    ['GET', '/lookup/0', 400],
    ['GET', '/lookup/-1', 400],
    ['GET', '/lookup/abc', 400],
    ['GET', '/lookup/1.5', 400],
    ['GET', '/lookup/2147483648', 400],
    ['GET', '/lookup/', 400],
    ['POST', '/order/1?amount=0', 400],
    ['POST', '/order/1?amount=abc', 400],
    ['POST', '/order/1?amount=1000001', 400],
    ['POST', '/order/1?amount=1&amount=2', 400],
    ['POST', '/order/x', 400],
    ['POST', '/order/1', 400, { 'Idempotency-Key': 'k'.repeat(129) }],
    ['POST', '/order/1', 400, { 'Idempotency-Key': 'has space' }],
    ['GET', '/nope', 404],
    ['GET', '/nothing', 404], // `/` is the dashboard (test/dashboard/)
    ['GET', '/lookup/1/extra', 404],
    ['POST', '/admin/actors/catalog-1/explode', 404],
  ];
  for (const [method, path, status, headers] of rows) {
    const answer = await call(port, method, path, { headers });
    assert.is(answer.status, status, `${method} ${path}`);
    const body = JSON.parse(answer.body);
    assert.is(body.ok, false, `${method} ${path}`);
    assert.type(body.error, 'string', `${method} ${path}`);
  }
  assert.is(backend.orderCalls.length, 0);
});

api('a wrong method is 405 with Allow', async ({ port }) => {
  // DELETE on a read route and GET on the order route name the methods that would work.
  const deleted = await call(port, 'DELETE', '/lookup/1');
  assert.is(deleted.status, 405);
  assert.is(deleted.headers.allow, 'GET, HEAD');
  const got = await call(port, 'GET', '/order/1');
  assert.is(got.status, 405);
  assert.is(got.headers.allow, 'POST');
});

api('an HTTP/1.1 request without Host is 400 with the JSON error body; HTTP/1.0 needs none', async ({ port }) => {
  const without = await rawExchange(port, 'GET /lookup/1 HTTP/1.1\r\n\r\n', 2_000);
  assert.ok(without.received.startsWith('HTTP/1.1 400'), without.received);
  assert.match(without.received, /\{"ok":false,"error":"an HTTP\/1\.1 request needs a Host header"\}/);
  assert.ok(without.closed);
  const old = await rawExchange(port, 'GET /lookup/1 HTTP/1.0\r\n\r\n', 2_000);
  assert.ok(old.received.startsWith('HTTP/1.1 200'), old.received);
});

api('a body over 64 KiB is 413 and the connection closes, declared or chunked', async ({ port }) => {
  // Declares 70000 bytes but sends few: the answer must come at once, then the server closes the socket.
  const declared = await rawExchange(
    port,
    'POST /order/1 HTTP/1.1\r\nHost: x\r\nContent-Length: 70000\r\n\r\nabc',
    2_000,
  );
  assert.ok(declared.received.startsWith('HTTP/1.1 413'), declared.received);
  assert.ok(declared.closed);
  // A chunked body has no declared length: the gateway counts while reading.
  const chunked = await call(port, 'POST', '/admin/items/1', {
    headers: { 'Transfer-Encoding': 'chunked' },
    body: 'x'.repeat(70_000),
  }).catch((error: Error) => ({ status: -1, body: error.message }));
  assert.is(chunked.status, 413, chunked.body);
});

const failures = suite<Context>('gateway failures', {} as Context);
gatewayEach(failures, start);

failures('an unavailable backend is 503 with Retry-After and a warning', async ({ port, backend, lines }) => {
  // The fake throws UnavailableError on every call.
  backend.mode = 'unavailable';
  const answer = await call(port, 'GET', '/lookup/1');
  assert.is(answer.status, 503);
  assert.is(answer.headers['retry-after'], '1');
  assert.is(JSON.parse(answer.body).ok, false);
  assert.ok(lines.some((line) => JSON.parse(line).level === 40), lines.join('\n'));
});

failures('a backend slower than the deadline is 503 at the deadline, and its signal is aborted', async ({ port, backend }) => {
  // The fake never answers: the gateway must answer near the 200 ms deadline and abort the call's signal.
  backend.mode = 'hang';
  const started = Date.now();
  const answer = await call(port, 'POST', '/order/1');
  const elapsedMs = Date.now() - started;
  assert.is(answer.status, 503);
  assert.is(answer.headers['retry-after'], '1');
  assert.ok(elapsedMs >= 180 && elapsedMs < 1_500, `answered after ${elapsedMs} ms`);
  assert.is(backend.hungSignals.length, 1);
  assert.ok(backend.hungSignals[0]?.aborted);
});

failures('every backend call gets the request deadline as time remaining, never more than the deadline gives', async ({ port, backend }) => {
  // Deadline 200 ms, slot 20 ms: each call must see between 0 and 220 ms remaining (it is the gateway's one deadline,
  // not a fresh timeout per call); a read, an order, an order lookup, an item change and an invalidation each.
  await call(port, 'GET', '/lookup/2');
  await call(port, 'POST', '/order/2');
  await call(port, 'GET', '/orders/unknown-order');
  await call(port, 'POST', '/admin/items/2', { body: '{"price":3}' });
  await call(port, 'POST', '/invalidate/item/2');
  assert.ok(backend.remainingMsSeen.length >= 4, JSON.stringify(backend.remainingMsSeen));
  for (const remainingMs of backend.remainingMsSeen) assert.ok(remainingMs > 0 && remainingMs <= 220, `remaining ${remainingMs} ms`);
});

failures('an unexpected backend error is 503, logged as an error, never 500', async ({ port, backend, lines }) => {
  // The fake throws a TypeError: the client sees 503, the log holds the error.
  backend.mode = 'broken';
  const answer = await call(port, 'GET', '/search/sys');
  assert.is(answer.status, 503);
  assert.ok(lines.some((line) => JSON.parse(line).level === 50), lines.join('\n'));
  backend.mode = 'normal';
  assert.is((await call(port, 'GET', '/search/sys')).status, 200);
});

failures('a client that dribbles its headers is disconnected by the headers timeout', async ({ port }) => {
  // Sends one header line every 100 ms for up to 3 s; with a 300 ms headers timeout the server must close first.
  const socket = connect(port, '127.0.0.1');
  let closed = false;
  let received = '';
  socket.on('data', (chunk) => (received += chunk.toString()));
  socket.on('error', () => undefined);
  socket.on('close', () => (closed = true));
  socket.write('GET /lookup/1 HTTP/1.1\r\nHost: x\r\n');
  const started = Date.now();
  for (let line = 0; line < 30 && !closed; line += 1) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    if (!closed) socket.write(`X-Slow-${line}: y\r\n`);
  }
  const elapsedMs = Date.now() - started;
  socket.destroy();
  assert.ok(closed, 'the server kept the slow connection open for 3 s');
  assert.ok(elapsedMs < 2_000, `closed only after ${elapsedMs} ms`);
  assert.ok(received === '' || received.startsWith('HTTP/1.1 408'), received);
});

failures('a client that stops reading its answer is disconnected once idle; one that keeps asking is not', async ({ port, gateway, backend }) => {
  // The stuck client asks for a search answer of ~16 MB, far more than loopback's socket buffers hold, and never reads:
  // its request is complete and its answer never finishes, so none of node:http's timeouts applies and only the
  // idle sweep can end it. With a 1 s idle limit (swept every 250 ms) the gateway must drop it between 1.0 and
  // ~2 s after the answer stalls; the busy client, asking and reading every 200 ms meanwhile, must stay.
  const name = 'A book with a long title, repeated to make the list long: '.repeat(2);
  backend.items = Array.from({ length: 120_000 }, (_, index) => ({ id: index + 1, name, stock: 1, price: 1, topic: 1 }));
  const stuck = connect(port, '127.0.0.1');
  stuck.on('error', () => undefined);
  const busy = connect(port, '127.0.0.1');
  busy.on('error', () => undefined);
  let busyClosed = false;
  busy.on('close', () => (busyClosed = true));
  busy.resume();
  const connections = () => new Promise<number>((resolve, reject) => gateway.server.getConnections((error, count) => (error ? reject(error) : resolve(count))));
  while ((await connections()) < 2) await new Promise((resolve) => setTimeout(resolve, 5));
  stuck.write('GET /search/distributed HTTP/1.1\r\nHost: x\r\n\r\n');
  const started = Date.now();
  while ((await connections()) > 1 && Date.now() - started < 5_000) {
    busy.write('GET /lookup/1 HTTP/1.1\r\nHost: x\r\n\r\n');
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  const elapsedMs = Date.now() - started;
  stuck.destroy();
  busy.destroy();
  assert.ok(elapsedMs < 5_000, 'the stuck client was never disconnected');
  assert.ok(elapsedMs >= 1_000, `the stuck client was disconnected after ${elapsedMs} ms, before it was idle for 1 s`);
  assert.not.ok(busyClosed, 'the busy client was disconnected');
});

const operations = suite<Context>('gateway operations', {} as Context);
gatewayEach(operations, start);

operations('health, ready and cluster answer on loopback without a token', async ({ port, backend }) => {
  // Reads each route, then makes the backend not ready: /ready turns 503.
  assert.is((await call(port, 'GET', '/health')).body, '{"ok":true}');
  assert.is((await call(port, 'GET', '/ready')).status, 200);
  const cluster = JSON.parse((await call(port, 'GET', '/cluster')).body);
  assert.is(cluster.result.leaders.catalog, 'catalog-1');
  assert.is(cluster.result.actors[0].commitIndex, 42);
  backend.readyAnswer = false;
  const notReady = await call(port, 'GET', '/ready');
  assert.is(notReady.status, 503);
  assert.is(notReady.headers['retry-after'], '1');
});

operations('actor actions reach the backend; an unknown actor is 404', async ({ port, backend }) => {
  // Kills, isolates and heals known actors, then names one that does not exist.
  for (const path of ['/admin/actors/catalog-1/kill', '/admin/actors/order-2/isolate', '/admin/actors/order-2/heal']) {
    const answer = await call(port, 'POST', path);
    assert.is(answer.status, 200, path);
  }
  assert.equal(backend.actorCalls, [
    { name: 'catalog-1', action: 'kill' },
    { name: 'order-2', action: 'isolate' },
    { name: 'order-2', action: 'heal' },
  ]);
  const unknown = await call(port, 'POST', '/admin/actors/catalog-9/stop');
  assert.is(unknown.status, 404);
  assert.match(JSON.parse(unknown.body).error, 'catalog-9');
  assert.is((await call(port, 'GET', '/admin/actors/catalog-1/kill')).status, 405);
});

operations('item updates are validated before they reach the backend', async ({ port, backend }) => {
  // One good change, then bad JSON, bad values and extra fields (400), and an unknown item (404).
  const good = await call(port, 'POST', '/admin/items/3', { body: '{"price":12.5,"restock":5}' });
  assert.is(good.status, 200);
  assert.equal(backend.updates, [{ id: 3, change: { price: 12.5, restock: 5 } }]);
  for (const body of ['{', '[]', '{}', '{"price":0}', '{"price":-1}', '{"price":1e7}', '{"restock":1.5}', '{"restock":0}', '{"stock":3}', '']) {
    const answer = await call(port, 'POST', '/admin/items/3', { body });
    assert.is(answer.status, 400, body);
  }
  assert.is(backend.updates.length, 1);
  assert.is((await call(port, 'POST', '/admin/items/99', { body: '{"restock":1}' })).status, 404);
});

operations('invalidating an item drops it from the cache', async ({ port, backend }) => {
  // Looks item 2 up twice (miss, hit), invalidates it, and the next lookup misses again.
  await call(port, 'GET', '/lookup/2');
  assert.is((await call(port, 'GET', '/lookup/2')).headers['x-cache'], 'HIT');
  assert.is((await call(port, 'POST', '/invalidate/item/2')).status, 200);
  assert.equal(backend.invalidations, [2]);
  assert.is((await call(port, 'GET', '/lookup/2')).headers['x-cache'], 'MISS');
});

operations('/metrics shows request counters, cache outcomes and Raft gauges', async ({ port }) => {
  // Makes a miss, a hit and a 400, then looks for each in the Prometheus text.
  await call(port, 'GET', '/lookup/1');
  await call(port, 'GET', '/lookup/1');
  await call(port, 'GET', '/lookup/zero');
  const answer = await call(port, 'GET', '/metrics');
  assert.is(answer.status, 200);
  assert.match(String(answer.headers['content-type']), 'text/plain');
  const text = answer.body;
  assert.match(text, 'pygmy_http_requests_total{route="lookup",status="200"} 2');
  assert.match(text, 'pygmy_http_requests_total{route="badRequest",status="400"} 1');
  assert.match(text, 'pygmy_cache_requests_total{outcome="hit"} 1');
  assert.match(text, 'pygmy_cache_requests_total{outcome="miss"} 1');
  assert.match(text, 'pygmy_http_request_duration_seconds_count{route="lookup"} 2');
  assert.match(text, 'pygmy_raft_term{actor="catalog-1",group="catalog"} 3');
  assert.match(text, 'pygmy_raft_commit_index{actor="catalog-1",group="catalog"} 42');
  assert.match(text, 'pygmy_raft_last_applied{actor="catalog-1",group="catalog"} 41');
  assert.match(text, 'pygmy_actor_restarts{actor="catalog-1",group="catalog"} 2');
});

const authorization = suite('gateway authorization');

authorization('a non-loopback gateway without a token turns operations off but keeps the shop open', async () => {
  // Simulates a public address: /cluster and kill are 403 and the backend is not called; /lookup still works.
  await withGateway(start({ treatAsNonLoopback: true }), async (context) => {
    assert.is((await call(context.port, 'GET', '/cluster')).status, 403);
    assert.is((await call(context.port, 'POST', '/admin/actors/catalog-1/kill')).status, 403);
    assert.is(context.backend.actorCalls.length, 0);
    assert.is((await call(context.port, 'GET', '/lookup/1')).status, 200);
  });
});

authorization('a non-loopback gateway with a token requires it', async () => {
  // No header and a wrong token are 401 with WWW-Authenticate; the right token is let through.
  await withGateway(start({ treatAsNonLoopback: true, adminToken: 'tok-123' }), async (context) => {
    const none = await call(context.port, 'POST', '/admin/actors/catalog-1/kill');
    assert.is(none.status, 401);
    assert.is(none.headers['www-authenticate'], 'Bearer');
    const wrong = await call(context.port, 'GET', '/metrics', { headers: { Authorization: 'Bearer tok-124' } });
    assert.is(wrong.status, 401);
    const right = await call(context.port, 'POST', '/admin/actors/catalog-1/kill', {
      headers: { Authorization: 'Bearer tok-123' },
    });
    assert.is(right.status, 200);
    assert.equal(context.backend.actorCalls, [{ name: 'catalog-1', action: 'kill' }]);
  });
});

api.run();
failures.run();
operations.run();
authorization.run();
