// The TCP link keeps the one transport contract: when the connection to a node has more than
// sendQueueBytesHighWater bytes waiting in its socket, the NodeLink's send() says busy and the main endpoint holds
// what follows (counted in `held`) until the socket drains; then everything arrives, complete. Checked on loopback
// with the high water at 256 KiB: one full frame of 4,096 tells of 2 KiB (8 MiB, more than a loopback socket takes
// at once) makes the link busy, so the tells after it must be held, and the remote counter must reach the total.
import { randomBytes } from 'node:crypto';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { NodeAddress } from '../../src/runtime/transport/node-transport.js';
import { frameEnvelopesMax } from '../../src/runtime/wire.js';
import { eventually, waitFor } from '../runtime/helpers.js';
import { freePort, startCounterNode } from '../support/multihost.js';

test('a busy TCP connection: the main endpoint holds what follows until the drain, then all of it arrives', async () => {
  const secret = randomBytes(32);
  const [portA, portB] = await Promise.all([freePort(), freePort()]);
  const nodes: NodeAddress[] = [
    { name: 'a', host: '127.0.0.1', port: portA, actors: [] },
    { name: 'b', host: '127.0.0.1', port: portB, actors: ['counter'] },
  ];
  const b = await startCounterNode('b', nodes, secret);
  const a = await startCounterNode('a', nodes, secret, { limits: { sendQueueBytesHighWater: 256 * 1024 } });
  try {
    await eventually(async () => (await a.system.ask<number>('counter', { type: 'get' }, { timeoutMs: 500 })) === 0, 10_000, 'the connection');
    const unreachableBefore = a.transport.counters.unreachable; // the asks sent before the connection was up
    const total = frameEnvelopesMax + 1_000;
    const padding = 'x'.repeat(2_048);
    for (let sequence = 0; sequence < total; sequence += 1) a.system.tell('counter', { type: 'increment', sequence, padding });
    const heldAfterLoop = a.system.systemCounters().held;
    assert.ok(heldAfterLoop > 0, `the link said busy after a full 8 MiB frame, so tells must be held (held ${heldAfterLoop})`);
    assert.ok(heldAfterLoop <= total - frameEnvelopesMax, `nothing of the first frame is held (held ${heldAfterLoop})`);
    let count = 0;
    await waitFor(async () => {
      count = await a.system.ask<number>('counter', { type: 'get' }, { timeoutMs: 2_000 }).catch(() => count);
      return count === total;
    }, 60_000, `all ${total} tells at the counter`);
    assert.is(a.system.systemCounters().held, 0);
    assert.is(a.system.systemCounters().dropped, 0);
    assert.is(a.transport.counters.unreachable, unreachableBefore);
    assert.is(a.transport.counters.refusedBusy, 0);
  } finally {
    await a.system.shutdown();
    await b.system.shutdown();
    await a.transport.close();
    await b.transport.close();
  }
});

test.run();
