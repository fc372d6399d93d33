// Asks already on the wire when a node's connection drops: two transports on loopback, node "b" running one
// actor that holds its replies. The asks from node "a" — from its main endpoint and from one of its workers —
// must fail at once with ActorUnavailableError when b goes away, not wait out their 20 s deadline; an ask that was
// answered before the drop must keep its answer.
import { randomBytes } from 'node:crypto';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { isRuntimeError } from '../../src/runtime/errors.js';
import type { NodeAddress } from '../../src/runtime/transport/node-transport.js';
import { eventually } from '../runtime/helpers.js';
import { freePort, startCounterNode } from '../support/multihost.js';

const askDeadlineMs = 20_000;

test('asks in flight to a node whose connection drops fail at once; answered ones keep their answer', async () => {
  const secret = randomBytes(32);
  const [portA, portB] = await Promise.all([freePort(), freePort()]);
  const nodes: NodeAddress[] = [
    { name: 'a', host: '127.0.0.1', port: portA, actors: ['asker'] },
    { name: 'b', host: '127.0.0.1', port: portB, actors: ['holder'] },
  ];
  const b = await startCounterNode('b', nodes, secret);
  const a = await startCounterNode('a', nodes, secret);
  let bStopped = false;
  try {
    await eventually(async () => (await a.system.ask<number>('holder', { type: 'get' }, { timeoutMs: 500 })) === 0, 10_000, 'the connection to b');
    // Held replies: one asked from a's main endpoint, one from a's worker (forwarded by the counter fixture).
    const fromMain = a.system.ask('holder', { type: 'defer', afterMs: 600_000 }, { timeoutMs: askDeadlineMs }).then(() => 'answered', (error: unknown) => error);
    const fromWorker = a.system
      .ask('asker', { type: 'forward', target: 'holder', message: { type: 'defer', afterMs: 600_000 }, timeoutMs: askDeadlineMs }, { timeoutMs: askDeadlineMs })
      .then(() => 'answered', (error: unknown) => error);
    // Both held asks have reached the holder once it reports two deferred replies.
    await eventually(async () => (await a.system.ask<number>('holder', { type: 'deferredCount' }, { timeoutMs: 500 })) === 2, 5_000, 'two deferred replies at the holder');
    const droppedAt = Date.now();
    await b.system.shutdown();
    await b.transport.close();
    bStopped = true;
    const [mainOutcome, workerOutcome] = await Promise.all([fromMain, fromWorker]);
    const waitedMs = Date.now() - droppedAt;
    assert.ok(isRuntimeError(mainOutcome, 'ACTOR_UNAVAILABLE'), `main endpoint's ask: ${String(mainOutcome)}`);
    // The worker's handler rethrows what its ask got, so the main thread sees the asker fail with that reason.
    assert.ok(workerOutcome instanceof Error, `worker's ask: ${String(workerOutcome)}`);
    assert.match(String((mainOutcome as Error).message), /connection to b dropped before holder answered/);
    assert.match(String((workerOutcome as Error).message), /connection to b dropped before holder answered/);
    assert.ok(waitedMs < 3_000, `the asks waited ${waitedMs} ms for a connection that was gone`);
    assert.ok(a.transport.counters.asksFailedOnDisconnect >= 1, 'counted');
  } finally {
    if (!bStopped) {
      await b.system.shutdown();
      await b.transport.close();
    }
    await a.system.shutdown();
    await a.transport.close();
  }
});

test.run();
