// An ask's deadline across a TCP link between two nodes on loopback, whose clocks disagree: node `a` (no actors,
// in this process, with the clock of its ActorSystem and its transport shifted by minutes, as another host's
// would be) asks the counter that node `b` runs in a worker thread on this process's own clock. Checks: with `a`
// five minutes behind or ahead, the ask is delivered and answered within its timeout (the link carries the
// time remaining, not an instant of `a`'s clock); an ask whose time ran out before its frame left `a` (the thread
// was busy) arrives with none remaining and is dropped by `b`'s transport, counted, and never reaches the actor.
import pino from 'pino';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { AskTimeoutError } from '../../../src/runtime/errors.js';
import { ActorSystem } from '../../../src/runtime/system.js';
import { NodeTransport, type NodeAddress } from '../../../src/runtime/transport/node-transport.js';
import { freePort } from '../../support/multihost.js';
import { counterModule } from '../helpers.js';

const secret = Buffer.from('ask-deadlines-test-secret-32-bytes');
const log = pino({ level: 'silent' });
const minuteMs = 60_000;

interface Node {
  readonly system: ActorSystem;
  readonly transport: NodeTransport;
}

async function until(what: string, condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const startedAt = Date.now();
  while (!condition()) {
    if (Date.now() - startedAt > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Runs `body` with `a` (its clock `skewMs` off this process's wall clock) connected to `b`, which runs `counter`. */
async function withTwoNodes(skewMs: number, body: (a: Node, b: Node) => Promise<void>): Promise<void> {
  const nodes: NodeAddress[] = [
    { name: 'a', host: '127.0.0.1', port: await freePort(), actors: [] },
    { name: 'b', host: '127.0.0.1', port: await freePort(), actors: ['counter'] },
  ];
  const clockOfA = () => Date.now() + skewMs;
  const transportOfA = new NodeTransport({ self: 'a', nodes, secret, log, clock: clockOfA });
  const a: Node = { transport: transportOfA, system: new ActorSystem({ logger: log, remote: transportOfA, clock: clockOfA }) };
  const transportOfB = new NodeTransport({ self: 'b', nodes, secret, log });
  const b: Node = { transport: transportOfB, system: new ActorSystem({ logger: log, remote: transportOfB }) };
  try {
    for (const node of [a, b]) {
      node.transport.attachSystem(node.system);
      await node.transport.listen();
    }
    await b.system.start([{ name: 'counter', module: counterModule }]);
    await until('a and b connected', () => a.transport.connectedNodes().includes('b') && b.transport.connectedNodes().includes('a'));
    await body(a, b);
  } finally {
    for (const node of [a, b]) {
      await node.system.shutdown();
      await node.transport.close();
    }
  }
}

const test = suite('ask deadlines between nodes whose clocks differ');

for (const [skewMs, how] of [[-5 * minuteMs, 'behind'], [5 * minuteMs, 'ahead']] as const) {
  test(`an ask from a node whose clock is five minutes ${how} is answered within its timeout`, async () => {
    await withTwoNodes(skewMs, async (a, b) => {
      assert.is(await a.system.ask('counter', { type: 'increment' }, { timeoutMs: 2_000 }), 1);
      assert.is(await a.system.ask('counter', { type: 'get' }, { timeoutMs: 2_000 }), 1);
      assert.is(b.transport.counters.asksExpired, 0);
    });
  });
}

test('an ask whose time ran out before it left is dropped on arrival, counted, and never handled', async () => {
  await withTwoNodes(-5 * minuteMs, async (a, b) => {
    const late = a.system.ask('counter', { type: 'increment' }, { timeoutMs: 10 }).then(() => null, (error: unknown) => error);
    // The thread stays busy past the ask's deadline before its frame is written (at the end of this turn).
    const busyUntilMs = performance.now() + 40;
    while (performance.now() < busyUntilMs);
    assert.instance(await late, AskTimeoutError, 'the asker gave up on its own');
    await until('b dropped the ask', () => b.transport.counters.asksExpired === 1);
    assert.is(await a.system.ask('counter', { type: 'get' }, { timeoutMs: 2_000 }), 0, 'the counter never saw it');
  });
});

test.run();
