// An on-path attacker between two nodes, on loopback: a TCP relay (test/support/on-path-relay.ts) between a
// dialing and an accepting Connection forwards a genuine handshake untouched, then, on the data frames that
// follow, injects a frame, replays one, swaps two, flips one bit, or drops one. Checks, for each case: the accepting side closes the connection with
// the authentication reason, and delivers exactly the envelopes of the frames before the attacked one — nothing
// of the attacked frame or after. A relay that forwards everything untouched must deliver everything (so the
// relay itself is not what breaks the cases). Loopback rather than namespaces: the attack is on the bytes of the
// stream, which a relay in this process sees exactly as a router on the path would.
import { randomBytes } from 'node:crypto';
import { createServer, connect } from 'node:net';
import pino from 'pino';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Connection, connectionLimitsDefault } from '../../../src/runtime/transport/connection.js';
import type { Envelope } from '../../../src/runtime/wire.js';
import { startRelay, type Attack } from '../../support/on-path-relay.js';

const secret = randomBytes(32);
const log = pino({ level: 'silent' });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const limits = { ...connectionLimitsDefault, heartbeatIntervalMs: 60_000, failureTimeoutMs: 120_000 };
const framesSent = 6;
const attackedFrame = 3; // 0-based, among the data frames after the handshake

interface Outcome {
  delivered: number[];
  closeReason: string | null;
}

async function runCase(attack: Attack | 'none'): Promise<Outcome> {
  const outcome: Outcome = { delivered: [], closeReason: null };
  let acceptor: Connection | null = null;
  const target = createServer((socket) => {
    acceptor = new Connection({
      socket, selfNode: 'node-b', expectedPeer: null, acceptPeer: (node) => node === 'node-a', secret, limits, log,
      onOpen: () => undefined,
      onEnvelopes: (_connection, envelopes: Envelope[]) => {
        for (const envelope of envelopes) outcome.delivered.push((envelope as { body: { n: number } }).body.n);
      },
      onInvalid: () => undefined,
      onDrain: () => undefined,
      onClose: (_connection, reason) => (outcome.closeReason = reason),
    });
  });
  await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', resolve));
  const relay = await startRelay({ host: '127.0.0.1', port: (target.address() as { port: number }).port });
  if (attack !== 'none') relay.arm(attack, attackedFrame, { kind: 'tell', from: 'node-a', to: 'target', body: { n: 'forged' } });
  let opened = false;
  const dialer = new Connection({
    socket: connect({ host: '127.0.0.1', port: relay.port }), selfNode: 'node-a', expectedPeer: 'node-b', acceptPeer: () => false, secret, limits, log,
    onOpen: () => (opened = true),
    onEnvelopes: () => undefined,
    onInvalid: () => undefined,
    onDrain: () => undefined,
    onClose: () => undefined,
  });
  try {
    const startedAt = Date.now();
    while (!opened && Date.now() - startedAt < 3_000) await sleep(5);
    assert.ok(opened, `${attack}: the handshake through the relay succeeded`);
    for (let n = 0; n < framesSent; n += 1) {
      dialer.send({ kind: 'tell', from: 'node-a', to: 'target', body: { n } });
      await sleep(30); // one envelope per frame
    }
    const waitedAt = Date.now();
    while (outcome.closeReason === null && outcome.delivered.length < framesSent && Date.now() - waitedAt < 2_000) await sleep(10);
    await sleep(50);
    return { delivered: [...outcome.delivered], closeReason: outcome.closeReason }; // before the cleanup closes it
  } finally {
    dialer.close('test over');
    (acceptor as Connection | null)?.close('test over');
    await relay.close();
    await new Promise((resolve) => target.close(resolve));
  }
}

const test = suite('on-path attacker after a valid handshake');

test('an untouched relay delivers every frame', async () => {
  const outcome = await runCase('none');
  assert.equal(outcome.delivered, [0, 1, 2, 3, 4, 5]);
  assert.is(outcome.closeReason, null);
});

for (const attack of ['inject', 'replay', 'reorder', 'flip', 'drop'] as const) {
  test(`${attack}: the connection closes and nothing from the attacked frame on is applied`, async () => {
    const outcome = await runCase(attack);
    assert.equal(outcome.delivered, [0, 1, 2], `${attack}: delivered ${JSON.stringify(outcome.delivered)}`);
    assert.match(outcome.closeReason ?? 'still open', /failed authentication/, attack);
  });
}

test.run();
