// Overload at the gateway (DESIGN.md §1 "Overload"), against an in-memory backend on port 0:
// - admission: with a tiny queue-delay target, an order path held by the test and a hand-stepped admission clock,
//   orders over the bound are answered at once with 503 + Retry-After + x-order-outcome: not-taken and no
//   x-order-id, and never reach the backend (nothing bought); admitted ones settle; near-cache hits and reads keep
//   answering meanwhile; the measured delay cuts the limit; no answer comes after the request deadline;
// - connections past connectionsMax get an HTTP 503 with Connection: close, not a reset.
import { connect, type Socket } from 'node:net';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { OrderOutcome, PreparedAnswer, RequestDeadline } from '../../src/http/backend.js';
import { createGateway, type Gateway } from '../../src/http/gateway.js';
import { FakeBackend } from './fake-backend.js';
import { call, capturingLogger, type Answer } from './helpers.js';

/** A backend whose orders wait until the test releases them, and with a near cache holding item 1. */
class HeldOrders extends FakeBackend {
  private readonly held: Array<() => void> = [];
  holding = true;

  get heldCount(): number {
    return this.held.length;
  }

  override async order(item: number, amount: number, orderId: string, deadline: RequestDeadline): Promise<OrderOutcome> {
    if (this.holding) await new Promise<void>((resolve) => this.held.push(resolve));
    return super.order(item, amount, orderId, deadline);
  }

  releaseAll(): void {
    for (const release of this.held.splice(0)) release();
  }

  nearLookup(id: number): PreparedAnswer | undefined {
    if (id !== 1) return undefined;
    const body = '{"ok":true,"near":true}';
    return { status: 200, body, headers: { 'content-type': 'application/json', 'x-cache': 'HIT', 'content-length': body.length } };
  }
}

async function until(what: string, condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const startedAt = Date.now();
  while (!condition()) {
    if (Date.now() - startedAt > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const admission = suite('admission control');

admission('shed orders are not taken, admitted ones settle, hits keep answering, the delay cuts the limit', async () => {
  const backend = new HeldOrders();
  let clockMs = 1_000;
  const deadlineMs = 2_000;
  const gateway = createGateway({
    backend,
    logger: capturingLogger('info').logger,
    port: 0,
    requestDeadlineMs: deadlineMs,
    admissionClock: () => clockMs,
    admission: { order: { targetDelayMs: 10, intervalMs: 100, inFlightInitial: 4, inFlightMin: 2, inFlightMax: 8 } },
  });
  const { port } = await gateway.listen();
  try {
    const orders = Array.from({ length: 10 }, () => call(port, 'POST', '/order/3?amount=1'));
    await until('four orders held and six answered', () => backend.heldCount === 4);
    // The six over the bound are answered while the four admitted ones are still held: at once, not queued.
    const early: Answer[] = [];
    for (const order of orders) {
      const answer = await Promise.race([order, new Promise<null>((resolve) => setTimeout(() => resolve(null), 50))]);
      if (answer !== null) early.push(answer);
    }
    assert.is(early.length, 6, 'six orders over the limit of four were answered before any admitted one');
    for (const answer of early) {
      assert.is(answer.status, 503);
      assert.is(answer.headers['x-order-outcome'], 'not-taken');
      assert.is(answer.headers['x-order-id'], undefined, 'a shed order has no id to poll');
      assert.is(answer.headers['retry-after'], '1');
      assert.match(answer.body, /not taken/);
    }
    // Hits and reads are other classes: they answer while orders are shed.
    for (let index = 0; index < 5; index += 1) {
      const hit = await call(port, 'GET', '/lookup/1');
      assert.is(hit.status, 200);
      assert.is(hit.headers['x-cache'], 'HIT');
    }
    assert.is((await call(port, 'GET', '/lookup/2')).status, 200);
    assert.is((await call(port, 'GET', '/health')).status, 200);
    assert.is(backend.heldCount + backend.orderCalls.length, 4, 'only the admitted orders reached the backend');
    // The admitted ones took 500 ms by the admission clock, over the 10 ms target: a standing queue.
    clockMs += 500;
    backend.releaseAll();
    const answers = await Promise.all(orders);
    const settled = answers.filter((answer) => answer.status === 200);
    assert.is(settled.length, 4, 'every admitted order settled');
    const settledIds = settled.map((answer) => answer.headers['x-order-id'] as string).sort();
    assert.equal(settledIds, [...backend.orders.keys()].sort(), 'the order log holds exactly the admitted orders');
    assert.is(gateway.admission.classes.order.limit, 3, 'the limit was cut by a tenth (4 → 3)');
    assert.is(gateway.admission.classes.order.inFlight, 0);
    assert.is(gateway.admission.classes.order.shedCount, 6);
    // Under the new limit of three, a fourth order in flight is shed; an order held past the deadline gets its
    // 503 at the deadline (outcome unknown: no not-taken header), not later.
    const startedAt = Date.now();
    const next = Array.from({ length: 4 }, () => call(port, 'POST', '/order/3?amount=1'));
    const late = await Promise.all(next);
    const elapsedMs = Date.now() - startedAt;
    assert.is(late.filter((answer) => answer.headers['x-order-outcome'] === 'not-taken').length, 1);
    assert.is(late.filter((answer) => answer.status === 503 && answer.headers['x-order-outcome'] === undefined).length, 3);
    assert.ok(elapsedMs < deadlineMs + 1_000, `answered by the deadline (${elapsedMs} ms)`);
  } finally {
    backend.holding = false;
    backend.releaseAll();
    await gateway.close();
  }
});

admission.run();

const connections = suite('connections past the limit');

/** Opens a raw connection, sends one request, and reports what came back and how the connection ended. */
function exchange(port: number, request: string, keepOpen: Socket[]): Promise<{ received: string; reset: boolean; closed: boolean }> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let received = '';
    let reset = false;
    socket.on('data', (chunk) => {
      received += chunk.toString();
      if (keepOpen.includes(socket) && received.includes('\r\n\r\n')) resolve({ received, reset, closed: false });
    });
    socket.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ECONNRESET' || error.code === 'EPIPE') reset = true;
    });
    socket.on('close', () => resolve({ received, reset, closed: true }));
    socket.write(request);
    if (request.includes('keep-alive')) keepOpen.push(socket);
  });
}

connections('a connection past connectionsMax gets a 503 with Retry-After and Connection: close, not a reset', async () => {
  const gateway = createGateway({
    backend: new FakeBackend(),
    logger: capturingLogger('info').logger,
    port: 0,
    limits: { connectionsMax: 2, connectionsRefusedMax: 4, keepAliveTimeoutMs: 5_000 },
  });
  const { port } = await gateway.listen();
  const open: Socket[] = [];
  try {
    const keepAlive = 'GET /health HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n';
    for (let index = 0; index < 2; index += 1) {
      const answer = await exchange(port, keepAlive, open);
      assert.match(answer.received, /^HTTP\/1\.1 200/);
    }
    const refused = await exchange(port, 'GET /lookup/1 HTTP/1.1\r\nHost: x\r\n\r\n', open);
    assert.is(refused.reset, false, 'no reset');
    assert.match(refused.received, /^HTTP\/1\.1 503/);
    assert.match(refused.received, /\r\nretry-after: 1\r\n/i);
    assert.match(refused.received, /\r\nconnection: close\r\n/i);
    assert.ok(refused.closed, 'the gateway closed the connection after its answer');
    const order = await exchange(port, 'POST /order/1 HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n', open);
    assert.match(order.received, /^HTTP\/1\.1 503/);
    assert.match(order.received, /\r\nx-order-outcome: not-taken\r\n/i, 'an order on a refused connection was not taken');
    // Once the first two close, a new connection is served again.
    for (const socket of open.splice(0)) socket.destroy();
    await until('connections closed', () => gateway.server.listening && true);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const served = await call(port, 'GET', '/lookup/1');
    assert.is(served.status, 200);
  } finally {
    for (const socket of open) socket.destroy();
    await gateway.close();
  }
});

connections.run();
