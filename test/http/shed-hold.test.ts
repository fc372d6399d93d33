// ShedHold, stepped by hand, then through a gateway: a request on a connection shed less than holdMs ago waits
// until holdMs after the shed and is then considered afresh; other connections, and the same one once the time
// has passed, go on at once; a held request whose connection closed is dropped, not resumed.
import { connect, type Socket } from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { OrderOutcome } from '../../src/http/backend.js';
import { createGateway } from '../../src/http/gateway.js';
import { ShedHold } from '../../src/http/shed-hold.js';
import { FakeBackend } from './fake-backend.js';
import { capturingLogger } from './helpers.js';

const fakeSocket = () => ({ destroyed: false }) as unknown as Socket;

test('held until holdMs after the shed, then resumed once; other connections are not held', () => {
  let nowMs = 0;
  const hold = new ShedHold(1_000, 0, () => nowMs);
  const shed = fakeSocket();
  const other = fakeSocket();
  let resumed = 0;
  assert.is(hold.holdIfShedRecently(shed, () => (resumed += 1)), false, 'nothing shed yet');
  hold.noteShed(shed);
  nowMs = 500;
  assert.is(hold.holdIfShedRecently(other, () => (resumed += 100)), false);
  assert.is(hold.holdIfShedRecently(shed, () => (resumed += 1)), true);
  nowMs = 999;
  assert.is(hold.sweep(), 0);
  nowMs = 1_000;
  assert.is(hold.sweep(), 1);
  assert.is(resumed, 1);
  assert.is(hold.holdIfShedRecently(shed, () => (resumed += 1)), false, 'a resumed connection is considered afresh');
  assert.is(hold.size, 0);
});

test('a held request whose connection closed is dropped', () => {
  let nowMs = 0;
  const hold = new ShedHold(1_000, 0, () => nowMs);
  const socket = fakeSocket();
  hold.noteShed(socket);
  let resumed = false;
  assert.ok(hold.holdIfShedRecently(socket, () => (resumed = true)));
  (socket as { destroyed: boolean }).destroyed = true;
  nowMs = 2_000;
  assert.is(hold.sweep(), 0);
  assert.is(resumed, false);
  assert.throws(() => new ShedHold(0, 0, () => 0), /holdMs must be a positive integer/);
});

class HeldOrders extends FakeBackend {
  readonly held: Array<() => void> = [];
  override async order(item: number, amount: number, orderId: string, signal: AbortSignal): Promise<OrderOutcome> {
    await new Promise<void>((resolve) => this.held.push(resolve));
    return super.order(item, amount, orderId, signal);
  }
}

test('through the gateway: an order sent again at once on a shed connection waits for Retry-After', async () => {
  const backend = new HeldOrders();
  let clockMs = 0;
  const gateway = createGateway({
    backend, logger: capturingLogger('warn').logger, port: 0, requestDeadlineMs: 5_000, admissionClock: () => clockMs,
    admission: { order: { targetDelayMs: 10_000, intervalMs: 10_000, inFlightInitial: 1, inFlightMin: 1, inFlightMax: 1 } },
  });
  const { port } = await gateway.listen();
  const socket = connect(port, '127.0.0.1');
  try {
    const holder = fetch(`http://127.0.0.1:${port}/order/1`, { method: 'POST' });
    while (backend.held.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    let received = '';
    socket.on('data', (chunk) => (received += chunk.toString()));
    const order = 'POST /order/2 HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n';
    socket.write(order);
    while (!received.includes('\r\n\r\n')) await new Promise((resolve) => setTimeout(resolve, 5));
    assert.match(received, /^HTTP\/1\.1 503/);
    assert.match(received, /x-order-outcome: not-taken/i);
    received = '';
    socket.write(order);
    // The admission clock stands still: the second order is held, however long the wall clock runs.
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.is(received, '', 'no answer while held');
    assert.is(gateway.admission.classes.order.shedCount, 1, 'not even shed: held');
    for (const release of backend.held.splice(0)) release();
    await holder;
    clockMs = 1_000;
    // Once Retry-After has passed, the held order is considered again, and admitted (the slot is free).
    while (backend.held.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    for (const release of backend.held.splice(0)) release();
    while (!received.includes('\r\n\r\n')) await new Promise((resolve) => setTimeout(resolve, 5));
    assert.match(received, /^HTTP\/1\.1 200/);
    assert.is(gateway.admission.classes.order.admittedCount, 2);
  } finally {
    socket.destroy();
    await gateway.close();
  }
});

test.run();
