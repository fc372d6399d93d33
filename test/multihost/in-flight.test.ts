// Asks already on the wire when a node's connection drops: two transports on loopback, the holder's node running
// one actor that holds its replies. The asks from the asker's node — from its main endpoint and from one of its
// workers — must fail at once with ActorUnavailableError when the holder's node goes away, not wait out their 20 s
// deadline. Both directions: the node with the lower name dials, so the asker's side of the connection is once the
// one it dialled and once the one it accepted (which knows its peer only from the handshake).
import { randomBytes } from 'node:crypto';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { isRuntimeError } from '../../src/runtime/errors.js';
import type { NodeAddress } from '../../src/runtime/transport/node-transport.js';
import { eventually } from '../runtime/helpers.js';
import { freePort, startCounterNode } from '../support/multihost.js';

const askDeadlineMs = 20_000;

for (const [askerNode, holderNode, side] of [['a', 'b', 'dialled'], ['d', 'c', 'accepted']] as const) {
test(`asks in flight over a connection the asker ${side} fail at once when it drops`, async () => {
  const secret = randomBytes(32);
  const [portA, portB] = await Promise.all([freePort(), freePort()]);
  const nodes: NodeAddress[] = [
    { name: askerNode, host: '127.0.0.1', port: portA, actors: ['asker'] },
    { name: holderNode, host: '127.0.0.1', port: portB, actors: ['holder'] },
  ];
  const b = await startCounterNode(holderNode, nodes, secret);
  const a = await startCounterNode(askerNode, nodes, secret);
  let bStopped = false;
  try {
    await eventually(async () => (await a.system.ask<number>('holder', { type: 'get' }, { timeoutMs: 500 })) === 0, 10_000, `the connection to ${holderNode}`);
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
    const dropped = new RegExp(`connection to ${holderNode} dropped before holder answered`);
    assert.match(String((mainOutcome as Error).message), dropped);
    assert.match(String((workerOutcome as Error).message), dropped);
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
}

test.run();
