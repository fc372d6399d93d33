// The probes and the scrape under a client flood (DESIGN.md §1 "Overload": never starved by client traffic),
// against an in-memory backend on port 0. The flood is sized from the gateway's own bounds, not the machine's
// speed: twice the order admission limit in keep-alive connections each sending an order (the admitted half held
// by the test, the other half shed), then idle connections up to connectionsMax + connectionsRefusedMax, where
// node:http drops every new client connection.
// - On the client port a new connection then gets no answer at all (shown, so that the test can fail: probes
//   served only there would be starved);
// - the operations listener answers /health, /ready and /metrics meanwhile (the scrape shows the flood: orders
//   in flight at the limit, sheds, connections open), and /cluster under the loopback rule; a bookstore route
//   there is 404 naming the client port; its own token rule is judged by its own address;
// - on the client port, a probe on a connection past connectionsMax is answered, a client request is refused 503.
import { connect, type Socket } from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { OrderOutcome, RequestDeadline } from '../../src/http/backend.js';
import { createGateway } from '../../src/http/gateway.js';
import { FakeBackend } from './fake-backend.js';
import { call, capturingLogger, rawExchange } from './helpers.js';

/** A backend whose orders wait until the test releases them. */
class HeldOrders extends FakeBackend {
  private readonly held: Array<() => void> = [];

  get heldCount(): number {
    return this.held.length;
  }

  override async order(item: number, amount: number, orderId: string, deadline: RequestDeadline): Promise<OrderOutcome> {
    await new Promise<void>((resolve) => this.held.push(resolve));
    return super.order(item, amount, orderId, deadline);
  }

  releaseAll(): void {
    for (const release of this.held.splice(0)) release();
  }
}

async function until(what: string, condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const startedAt = Date.now();
  while (!condition()) {
    if (Date.now() - startedAt > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

async function untilAsync(what: string, condition: () => Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const startedAt = Date.now();
  while (!(await condition())) {
    if (Date.now() - startedAt > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** A keep-alive connection that sends `request` (or nothing) and counts the answers' status lines. */
function openConnection(port: number, request: string | null, sockets: Socket[]): { statuses: string[] } {
  const seen = { statuses: [] as string[] };
  const socket = connect(port, '127.0.0.1');
  sockets.push(socket);
  socket.on('error', () => undefined);
  socket.on('data', (chunk) => {
    for (const match of chunk.toString().matchAll(/HTTP\/1\.1 (\d{3})/g)) seen.statuses.push(match[1]!);
  });
  if (request !== null) socket.write(request);
  return seen;
}

const orderLimit = 4;
const limits = { connectionsMax: 2 * orderLimit, connectionsRefusedMax: 4, keepAliveTimeoutMs: 30_000, socketIdleTimeoutMs: 30_000 };

test('a flood that fills admission and every connection slot does not starve the operations listener', async () => {
  const backend = new HeldOrders();
  const gateway = createGateway({
    backend,
    logger: capturingLogger('info').logger,
    port: 0,
    limits,
    operations: { port: 0 },
    admission: { order: { targetDelayMs: 60_000, intervalMs: 60_000, inFlightInitial: orderLimit, inFlightMin: 1, inFlightMax: orderLimit } },
  });
  const { port, operations } = await gateway.listen();
  assert.ok(operations !== null && operations.port !== port, 'the operations listener has a port of its own');
  const sockets: Socket[] = [];
  try {
    const order = 'POST /order/3?amount=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n';
    const flood = Array.from({ length: limits.connectionsMax }, () => openConnection(port, order, sockets));
    await until('the admission limit held and the rest shed', () => backend.heldCount === orderLimit && flood.filter((seen) => seen.statuses.includes('503')).length === limits.connectionsMax - orderLimit);
    for (let index = 0; index < limits.connectionsRefusedMax; index += 1) openConnection(port, null, sockets);
    const slots = limits.connectionsMax + limits.connectionsRefusedMax;
    await untilAsync('every connection slot taken', async () => (await call(operations.port, 'GET', '/metrics')).body.includes(`pygmy_gateway_connections_open ${slots}\n`));
    // The client port now drops new connections: a probe there gets no answer.
    const starved = await rawExchange(port, 'GET /health HTTP/1.1\r\nHost: x\r\n\r\n', 500);
    assert.is(starved.received, '', 'the client port is full: no answer there');
    // The operations listener answers meanwhile.
    assert.is((await call(operations.port, 'GET', '/health')).status, 200);
    assert.is((await call(operations.port, 'GET', '/ready')).status, 200);
    const scrape = await call(operations.port, 'GET', '/metrics');
    assert.is(scrape.status, 200);
    assert.match(scrape.body, `pygmy_gateway_in_flight{class="order"} ${orderLimit}`);
    assert.match(scrape.body, `pygmy_gateway_shed_total{class="order"} ${limits.connectionsMax - orderLimit}`);
    assert.match(scrape.body, `pygmy_gateway_connections_open ${slots}`);
    assert.is((await call(operations.port, 'GET', '/cluster')).status, 200, 'loopback operations listener, no token: admin routes open');
    const bookstore = await call(operations.port, 'GET', '/lookup/1');
    assert.is(bookstore.status, 404);
    assert.match(bookstore.body, /client port/);
    assert.is(backend.orderCalls.length + backend.heldCount, orderLimit, 'only admitted orders reached the backend');
  } finally {
    for (const socket of sockets) socket.destroy();
    backend.releaseAll();
    await gateway.close();
  }
});

test('the operations listener judges the token rule by its own address, and closes with the gateway', async () => {
  const gateway = createGateway({ backend: new FakeBackend(), logger: capturingLogger('info').logger, port: 0, operations: { port: 0 }, treatAsNonLoopback: true, adminToken: 'secret-token' });
  const { operations } = await gateway.listen();
  assert.ok(operations !== null);
  assert.is((await call(operations.port, 'GET', '/health')).status, 200, 'probes are open');
  assert.is((await call(operations.port, 'GET', '/metrics')).status, 401, 'the scrape needs the token');
  assert.is((await call(operations.port, 'GET', '/metrics', { headers: { authorization: 'Bearer secret-token' } })).status, 200);
  await gateway.close();
  const after = await rawExchange(operations.port, 'GET /health HTTP/1.1\r\nHost: x\r\n\r\n', 500);
  assert.is(after.received, '', 'closed with the gateway');
});

test('on the client port, a probe past connectionsMax is answered; client work there is refused', async () => {
  const backend = new HeldOrders();
  const gateway = createGateway({ backend, logger: capturingLogger('info').logger, port: 0, limits: { connectionsMax: 1, connectionsRefusedMax: 4 } });
  const { port, operations } = await gateway.listen();
  assert.is(operations, null, 'no operations listener unless asked for');
  const sockets: Socket[] = [];
  try {
    openConnection(port, 'POST /order/3?amount=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n', sockets);
    await until('the one connection held', () => backend.heldCount === 1);
    const probe = await rawExchange(port, 'GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', 2_000);
    assert.match(probe.received, /^HTTP\/1\.1 200/, 'the probe is answered past the limit');
    const client = await rawExchange(port, 'GET /lookup/1 HTTP/1.1\r\nHost: x\r\n\r\n', 2_000);
    assert.match(client.received, /^HTTP\/1\.1 503/);
    assert.match(client.received, /\r\nconnection: close\r\n/i);
  } finally {
    for (const socket of sockets) socket.destroy();
    backend.releaseAll();
    await gateway.close();
  }
});

test.run();
