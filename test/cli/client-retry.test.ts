// `pygmy client` after a 503: it waits as backoff.ts says (Retry-After honoured) and tries again, but only when
// that is safe — a read, an order the gateway shed (not taken), an order repeated under its x-order-id; an order
// whose outcome is unknown and has no id to repeat it by is not sent again. Sleep and randomness are injected: the waits are recorded, not slept.
import { Writable } from 'node:stream';
import { PassThrough } from 'node:stream';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { main, repeatHeaders } from '../../src/cli/client.js';
import { createGateway } from '../../src/http/gateway.js';
import type { OrderOutcome, RequestDeadline } from '../../src/http/backend.js';
import { FakeBackend } from '../http/fake-backend.js';
import { capturingLogger } from '../http/helpers.js';

class Capture extends Writable {
  text = '';
  override _write(chunk: Buffer, _encoding: BufferEncoding, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
}

/** Orders wait for the test until released; the rest is FakeBackend's. */
class HeldOrders extends FakeBackend {
  readonly held: Array<() => void> = [];
  override async order(item: number, amount: number, orderId: string, deadline: RequestDeadline): Promise<OrderOutcome> {
    await new Promise<void>((resolve) => this.held.push(resolve));
    return super.order(item, amount, orderId, deadline);
  }
}

async function withGateway(backend: FakeBackend, run: (url: string) => Promise<void>, admission = {}): Promise<void> {
  const gateway = createGateway({ backend, logger: capturingLogger('warn').logger, port: 0, requestDeadlineMs: 2_000, admission });
  const { port } = await gateway.listen();
  try {
    await run(`http://127.0.0.1:${port}`);
  } finally {
    await gateway.close();
  }
}

function io(sleeps: number[], onSleep: () => void = () => undefined) {
  const output = new Capture();
  const errorOutput = new Capture();
  const sleep = (delayMs: number) => {
    sleeps.push(delayMs);
    onSleep();
    return Promise.resolve();
  };
  return { io: { input: new PassThrough(), output, errorOutput, timeoutMs: 3_000, random: () => 0, sleep }, output, errorOutput };
}

test('a read answered 503 is tried again after Retry-After, and succeeds once the shop is back', async () => {
  const backend = new FakeBackend();
  backend.mode = 'unavailable';
  await withGateway(backend, async (url) => {
    const sleeps: number[] = [];
    const streams = io(sleeps, () => {
      if (sleeps.length === 2) backend.mode = 'normal';
    });
    const code = await main([url, 'lookup', '2'], streams.io);
    assert.is(code, 0, streams.errorOutput.text);
    assert.equal(sleeps, [1_000, 1_000], 'Retry-After: 1 honoured before each new attempt');
    assert.match(streams.errorOutput.text, /busy \(503\); trying again in 1\.0 s \(attempt 2 of 4\)/);
  });
});

test('attempts are bounded: four in all, then the 503 is the answer', async () => {
  const backend = new FakeBackend();
  backend.mode = 'unavailable';
  await withGateway(backend, async (url) => {
    const sleeps: number[] = [];
    const streams = io(sleeps);
    assert.is(await main([url, 'lookup', '2'], streams.io), 1);
    assert.is(sleeps.length, 3);
  });
});

test('a shed order (not taken) is sent again; an unknown one without an id is not', async () => {
  const backend = new HeldOrders();
  await withGateway(
    backend,
    async (url) => {
      // One order holds the only slot of the order class: the client's order is shed, then admitted once released.
      const holder = fetch(`${url}/order/1`, { method: 'POST' });
      while (backend.held.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
      const sleeps: number[] = [];
      const streams = io(sleeps, () => {
        for (const release of backend.held.splice(0)) release();
        // Later orders (the client's retry) go through at once.
        backend.held.push = ((release: () => void) => (release(), 0)) as typeof backend.held.push;
      });
      const code = await main([url, 'buy', '3'], streams.io);
      assert.is(code, 0, streams.errorOutput.text + streams.output.text);
      assert.is(sleeps.length, 1, 'one wait, after the shed answer');
      assert.is(streams.output.text, 'true\n');
      await holder;
      assert.is(backend.orderCalls.length, 2, 'the holder and the client’s second attempt; the shed one never arrived');
    },
    { order: { targetDelayMs: 1_000, intervalMs: 1_000, inFlightInitial: 1, inFlightMin: 1, inFlightMax: 1 } },
  );
});

test('which 503 answers are safe to repeat, and how', () => {
  const answer = (headers: Record<string, string>) => new Response('{}', { status: 503, headers });
  assert.equal(repeatHeaders({ method: 'GET' }, answer({ 'retry-after': '1' })), {});
  assert.equal(repeatHeaders({ method: 'POST' }, answer({ 'x-order-outcome': 'not-taken' })), {});
  assert.equal(repeatHeaders({ method: 'POST' }, answer({ 'x-order-id': 'o-17' })), { 'idempotency-key': 'o-17' }, 'repeated under its own id: it cannot buy twice');
  assert.is(repeatHeaders({ method: 'POST' }, answer({ 'retry-after': '1' })), null, 'unknown outcome and no id: not repeated');
});

test.run();
