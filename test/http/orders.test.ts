// The gateway's order contract against an in-memory backend on port 0: every answer to POST /order names its order
// (x-order-id), a 503 included, and says how to learn an unknown outcome.

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createGateway, type Gateway } from '../../src/http/gateway.js';
import { FakeBackend } from './fake-backend.js';
import { call, capturingLogger, gatewayEach, rawExchange } from './helpers.js';

interface Context {
  gateway: Gateway;
  backend: FakeBackend;
  port: number;
}

async function start(): Promise<Context> {
  const backend = new FakeBackend();
  const { logger } = capturingLogger();
  const gateway = createGateway({ backend, logger, host: '127.0.0.1', port: 0, requestDeadlineMs: 200 });
  const { port } = await gateway.listen();
  return { gateway, backend, port };
}

const unknown = suite<Context>('orders of unknown outcome', {} as Context);
gatewayEach(unknown, start);

unknown('a 503 to an order carries x-order-id, Retry-After and a body that says how to learn the outcome', async ({ port, backend }) => {
  // The fake is unavailable, then broken, then hangs past the deadline: each 503 names the order it was given.
  backend.mode = 'unavailable';
  const refused = await call(port, 'POST', '/order/1?amount=2');
  assert.is(refused.status, 503);
  assert.is(refused.headers['retry-after'], '1');
  const orderId = refused.headers['x-order-id'] as string;
  assert.ok(orderId.length > 0, 'x-order-id missing');
  const body = JSON.parse(refused.body);
  assert.is(body.ok, false);
  assert.is(body.outcome, 'unknown');
  assert.is(body.orderId, orderId);
  assert.is(body.poll, `/orders/${orderId}`);
  assert.match(body.error, `GET /orders/${orderId}`);
  assert.match(body.error, `Idempotency-Key: ${orderId}`);
  backend.mode = 'broken';
  const broken = await call(port, 'POST', '/order/1', { headers: { 'Idempotency-Key': 'broken-key-1' } });
  assert.is(broken.status, 503);
  assert.is(broken.headers['x-order-id'], 'broken-key-1', 'an unexpected failure leaves the outcome unknown too');
  backend.mode = 'hang';
  const late = await call(port, 'POST', '/order/1', { headers: { 'Idempotency-Key': 'late-key-1' } });
  assert.is(late.status, 503);
  assert.is(late.headers['x-order-id'], 'late-key-1');
  assert.is(JSON.parse(late.body).poll, '/orders/late-key-1');
});

unknown('the retry a client should write: repeat with the key it was given, and it buys once', async ({ port, backend }) => {
  // A 503 whose order reached the backend, then the repeat with Idempotency-Key: the id the 503 named.
  backend.mode = 'unavailable';
  const first = await call(port, 'POST', '/order/3?amount=4');
  const orderId = first.headers['x-order-id'] as string;
  backend.mode = 'normal';
  const second = await call(port, 'POST', '/order/3?amount=4', { headers: { 'Idempotency-Key': orderId } });
  const third = await call(port, 'POST', '/order/3?amount=4', { headers: { 'Idempotency-Key': orderId } });
  assert.is(second.body, 'true');
  assert.is(third.body, 'true');
  assert.is(third.headers['x-order-id'], orderId);
  assert.is(backend.items.find((item) => item.id === 3)?.stock, 21);
});

const keys = suite<Context>('idempotency keys', {} as Context);
gatewayEach(keys, start);

keys('the same key with another item or amount is 422 naming the first request, and buys nothing', async ({ port, backend }) => {
  // reuse-1 buys one of item 1; then the key on item 3 ×5 and on item 1 ×2 is 422; the same request is true again.
  const headers = { 'Idempotency-Key': 'reuse-1' };
  assert.is((await call(port, 'POST', '/order/1?amount=1', { headers })).body, 'true');
  for (const path of ['/order/3?amount=5', '/order/1?amount=2']) {
    const reused = await call(port, 'POST', path, { headers });
    assert.is(reused.status, 422, path);
    assert.is(reused.headers['x-order-id'], 'reuse-1');
    const body = JSON.parse(reused.body);
    assert.is(body.ok, false);
    assert.equal(body.firstRequest, { item: 1, amount: 1 });
    assert.match(body.error, 'belongs to POST /order/1?amount=1');
  }
  assert.is(backend.items.find((item) => item.id === 3)?.stock, 25);
  assert.is(backend.items.find((item) => item.id === 1)?.stock, 9);
  const same = await call(port, 'POST', '/order/1?amount=1', { headers });
  assert.is(same.status, 200);
  assert.is(same.body, 'true');
  assert.is(same.headers['x-order-reason'], undefined);
  const refused = await call(port, 'POST', '/order/1?amount=100', { headers: { 'Idempotency-Key': 'too-many-1' } });
  assert.is(refused.body, 'false');
  assert.is(refused.headers['x-order-reason'], 'insufficient', 'a false names its reason');
});

keys('GET /orders?item=N does not show the key of a pending order; GET /orders/ID says pending with total null', async ({ port, backend }) => {
  // One committed and one pending order of item 2 (planted in the fake): the list shows the first id, null for the other.
  await call(port, 'POST', '/order/2?amount=1', { headers: { 'Idempotency-Key': 'settled-1' } });
  backend.orders.set('live-secret-1', { id: 'live-secret-1', item: 2, amount: 4, total: null, status: 'pending', reason: null, createdAt: 1_700_000_000_001 });
  const listed = await call(port, 'GET', '/orders?item=2');
  assert.not.match(listed.body, 'live-secret-1');
  const result = JSON.parse(listed.body).result as Array<{ id: string | null; status: string }>;
  assert.equal(result.map((order) => [order.id, order.status]), [['settled-1', 'committed'], [null, 'pending']]);
  const one = await call(port, 'GET', '/orders/live-secret-1');
  assert.is(one.body, '{"ok":true,"result":{"id":"live-secret-1","item":2,"amount":4,"total":null,"status":"pending","reason":null,"createdAt":1700000000001}}');
  backend.orders.set('gone-1', { id: 'gone-1', item: 2, amount: 4, total: 0, status: 'rejected', reason: 'timeout', createdAt: 1_700_000_000_002 });
  assert.is(JSON.parse((await call(port, 'GET', '/orders/gone-1')).body).result.reason, 'timeout');
});

const refusals = suite<Context>('refusals that name what is wrong', {} as Context);
gatewayEach(refusals, start);

refusals('a misspelt parameter or a JSON body on an order is 400 naming it, and buys nothing', async ({ port, backend }) => {
  // ?Amount=5 and {"amount":5} were both read as "one copy" before; now neither reaches the backend.
  const misspelt = await call(port, 'POST', '/order/1?Amount=5');
  assert.is(misspelt.status, 400);
  assert.match(JSON.parse(misspelt.body).error, '"Amount"');
  const withBody = await call(port, 'POST', '/order/1', { headers: { 'content-type': 'application/json' }, body: '{"amount":5}' });
  assert.is(withBody.status, 400);
  assert.match(JSON.parse(withBody.body).error, 'POST /order/1 takes no request body (the amount goes in the query');
  const chunked = await rawExchange(port, 'POST /order/1 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n', 1_000);
  assert.match(chunked.received, /^HTTP\/1.1 400 /);
  assert.match(chunked.received, 'takes no request body');
  assert.is(backend.orderCalls.length, 0);
  const emptyChunked = await rawExchange(port, 'POST /order/1 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n0\r\n\r\n', 1_000);
  assert.match(emptyChunked.received, /^HTTP\/1.1 200 /, 'an empty chunked body is no body');
  assert.is(backend.orderCalls.length, 1);
});

refusals('a body on a read or an operations route is 400; the item update still takes its body', async ({ port }) => {
  for (const [method, path] of [['GET', '/lookup/1'], ['GET', '/lookup'], ['GET', '/orders/x'], ['POST', '/invalidate/item/1'], ['GET', '/health']] as const) {
    const answer = await call(port, method, path, { headers: { 'content-length': '1' }, body: 'x' });
    assert.is(answer.status, 400, `${method} ${path}`);
    assert.match(JSON.parse(answer.body).error, 'takes no request body', `${method} ${path}`);
  }
  assert.is((await call(port, 'POST', '/admin/items/1', { body: '{"restock":1}' })).status, 200);
});

refusals('admin item refusals say why: 400 for the value, 409 for a conflict, 404 only for an unknown item', async ({ port, backend }) => {
  // {"price":0.001} said "unknown item 3" before; a restock past the stock bound said "unknown item" too.
  const precise = await call(port, 'POST', '/admin/items/3', { body: '{"price":0.001}' });
  assert.is(precise.status, 400);
  assert.match(JSON.parse(precise.body).error, 'whole cents');
  backend.items = backend.items.map((item) => (item.id === 3 ? { ...item, stock: 999_999_999 } : item));
  const conflict = await call(port, 'POST', '/admin/items/3', { body: '{"restock":5}' });
  assert.is(conflict.status, 409);
  assert.match(JSON.parse(conflict.body).error, 'item 3: restock would pass');
  assert.is((await call(port, 'POST', '/admin/items/99', { body: '{"price":1.5}' })).status, 404);
});

refusals('malformed HTTP that node:http refuses gets the JSON 400 and the connection closes', async ({ port }) => {
  // Duplicate Content-Length, Content-Length with Transfer-Encoding, a bare LF: each on a raw socket.
  const cases = [
    ['duplicate Content-Length', 'POST /order/1 HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab'],
    ['CL with TE', 'POST /order/1 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'],
    ['bare LF', 'GET /lookup/1 HTTP/1.1\nHost: x\n\n'],
    ['garbage', 'HELLO\r\n\r\n'],
  ] as const;
  for (const [what, text] of cases) {
    const { received, closed } = await rawExchange(port, text, 2_000);
    assert.ok(closed, `${what}: the connection stays open`);
    assert.match(received, /^HTTP\/1.1 400 Bad Request\r\n/, `${what}: ${JSON.stringify(received)}`);
    assert.match(received.toLowerCase(), 'connection: close', what);
    const body = received.slice(received.indexOf('\r\n\r\n') + 4);
    const parsed = JSON.parse(body);
    assert.is(parsed.ok, false, what);
    assert.match(parsed.error, 'malformed HTTP request', what);
  }
});

unknown.run();
keys.run();
refusals.run();
