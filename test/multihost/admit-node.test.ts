// A node admitted at run time, on loopback: node "a" starts knowing only itself and "b"; node "c" starts knowing
// all three. Until a admits c, c cannot reach a's actors (a refuses its connection: an unknown node). After
// `admitNode(c)` and `place('late', 'c')` on a, a's main endpoint and a's worker both reach the actor `late`
// that c started after start-up (spawn), and c's replies are accepted. Control requests that are malformed, or
// that place a known actor elsewhere, are refused with an error, not a crash; a spawn on a node without a spawn
// hook is refused.
import { randomBytes } from 'node:crypto';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { controlNameOf, type NodeAddress } from '../../src/runtime/transport/node-transport.js';
import { counterModule, eventually } from '../runtime/helpers.js';
import { freePort, startCounterNode } from '../support/multihost.js';

test('a node admitted at run time is reached, from the main endpoint and from workers, once admitted', async () => {
  const secret = randomBytes(32);
  const [portA, portB, portC] = await Promise.all([freePort(), freePort(), freePort()]);
  const a: NodeAddress = { name: 'a', host: '127.0.0.1', port: portA, actors: ['asker'] };
  const b: NodeAddress = { name: 'b', host: '127.0.0.1', port: portB, actors: ['counter-b'] };
  const c: NodeAddress = { name: 'c', host: '127.0.0.1', port: portC, actors: [] };
  const nodeB = await startCounterNode('b', [a, b], secret);
  const nodeA = await startCounterNode('a', [a, b], secret);
  const nodeC = await startCounterNode('c', [a, b, c], secret, { spawn: (system, name) => system.start([{ name, module: counterModule, args: {} }]) });
  try {
    await eventually(async () => (await nodeA.system.ask<number>('counter-b', { type: 'get' }, { timeoutMs: 500 })) === 0, 10_000, 'the connection to b');
    // Before admission a has no route to c at all, and refuses c's attempts (c is unknown to it).
    await nodeA.system.ask(controlNameOf('c'), { type: 'status' }, { timeoutMs: 300 }).then(
      () => assert.unreachable('a reached c before admitting it'),
      () => undefined,
    );
    await nodeA.transport.admitNode(c);
    await eventually(async () => nodeA.transport.connectedNodes().includes('c'), 10_000, 'the connection to c');
    await nodeA.system.ask(controlNameOf('c'), { type: 'spawn', name: 'late' }, { timeoutMs: 5_000 });
    await nodeA.transport.place('late', 'c');
    assert.is(await nodeA.system.ask<number>('late', { type: 'increment' }, { timeoutMs: 2_000 }), 1);
    const viaWorker = await nodeA.system.ask<number>('asker', { type: 'forward', target: 'late', message: { type: 'increment' }, timeoutMs: 2_000 }, { timeoutMs: 3_000 });
    assert.is(viaWorker, 2, 'a worker started before the admission reaches the new actor');

    // Bad control requests: an error back, the nodes keep going.
    for (const bad of [{ type: 'admitNode', node: { name: 'X Y', host: '', port: 0, actors: [] } }, { type: 'place', name: 'counter-b', node: 'c' }, { type: 'spawn', name: '../x' }]) {
      await nodeC.system.ask(controlNameOf('a'), bad, { timeoutMs: 2_000 }).then(
        () => assert.unreachable(`a accepted ${JSON.stringify(bad)}`),
        (error: unknown) => assert.instance(error, Error),
      );
    }
    await nodeA.system.ask(controlNameOf('b'), { type: 'spawn', name: 'late-b' }, { timeoutMs: 2_000 }).then(
      () => assert.unreachable('b spawned without a spawn hook'),
      (error: unknown) => assert.match(String(error), /starts no actors on request/),
    );
    assert.is(await nodeA.system.ask<number>('late', { type: 'get' }, { timeoutMs: 2_000 }), 2, 'the new actor still answers');
  } finally {
    for (const node of [nodeC, nodeA, nodeB]) {
      await node.system.shutdown();
      await node.transport.close();
    }
  }
});

test.run();
