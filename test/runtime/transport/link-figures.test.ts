// The figures of a peer link as the metrics read them (NodeTransport.linkFigures), on two real transports on
// loopback: once connected, both sides count frames and bytes each way (heartbeats flow); the peer stopped and
// started again on its port makes one reconnect, and the totals keep the first connection's traffic; the round
// trip is measured on the heartbeats, both sides.
import pino from 'pino';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { NodeTransport, type NodeAddress } from '../../../src/runtime/transport/node-transport.js';
import { freePort } from '../../support/multihost.js';

const secret = Buffer.from('link-figures-test-secret-32-bytes');
const log = pino({ level: 'silent' });

async function until(what: string, condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const startedAt = Date.now();
  while (!condition()) {
    if (Date.now() - startedAt > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

test('frames and bytes both ways, reconnects, totals across connections', async () => {
  const nodes: NodeAddress[] = [
    { name: 'a', host: '127.0.0.1', port: await freePort(), actors: [] },
    { name: 'b', host: '127.0.0.1', port: await freePort(), actors: [] },
  ];
  const a = new NodeTransport({ self: 'a', nodes, secret, log, reconnectInitialMs: 20, reconnectMaxMs: 100 });
  let b = new NodeTransport({ self: 'b', nodes, secret, log });
  try {
    await b.listen();
    await a.listen();
    const linkOfA = () => a.linkFigures().find((link) => link.peer === 'b')!;
    const linkOfB = () => b.linkFigures().find((link) => link.peer === 'a')!;
    await until('a connected to b', () => linkOfA().connected && linkOfB().connected);
    await until('frames both ways', () => linkOfA().framesReceived > 1 && linkOfB().framesReceived > 1);
    assert.is(linkOfA().reconnects, 0);
    assert.ok(linkOfA().bytesSent > 0 && linkOfA().bytesReceived > 0);
    assert.equal(a.linkFigures().map((link) => link.peer), ['b'], 'one link per other node');
    // Heartbeats every 250 ms: a's ping, b's echo on its next heartbeat; a few within the timeout.
    await until('a round trip measured', () => linkOfA().roundTripMs !== null && linkOfB().roundTripMs !== null, 5_000);
    for (const link of [linkOfA(), linkOfB()]) {
      // Loopback plus both event loops' delay: within the failure timeout, or the link would have been closed.
      assert.ok(link.roundTripMs! >= 0 && link.roundTripMs! < 1_000, `round trip ${link.roundTripMs} ms`);
    }
    await b.close();
    await until('a saw the link drop', () => !linkOfA().connected);
    const first = linkOfA();
    b = new NodeTransport({ self: 'b', nodes, secret, log });
    await b.listen();
    await until('a reconnected', () => linkOfA().connected && linkOfA().reconnects === 1);
    assert.ok(linkOfA().bytesSent >= first.bytesSent, 'the totals keep the first connection\'s bytes');
    assert.ok(linkOfA().framesSent >= first.framesSent);
    assert.ok(linkOfA().sendQueueBytes >= 0);
  } finally {
    await a.close();
    await b.close();
  }
});

test.run();
