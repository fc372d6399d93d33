// The TCP failure detector of a Connection, at its default limits, on loopback: a peer that goes silent (its
// socket corked after the handshake: nothing it writes leaves, as with a host that died without closing or a cut
// link) is closed with "no heartbeat" within failureTimeoutMs + heartbeatIntervalMs plus a margin of two
// heartbeats; a peer that only idles (heartbeats, no data) is never closed over a window of twice the timeout.
import { randomBytes } from 'node:crypto';
import { createServer, connect, type Socket } from 'node:net';
import pino from 'pino';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Connection, connectionLimitsDefault } from '../../../src/runtime/transport/connection.js';

const secret = randomBytes(32);
const log = pino({ level: 'silent' });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const limits = connectionLimitsDefault;
const detectionMsMax = limits.failureTimeoutMs + 3 * limits.heartbeatIntervalMs;

interface Pair {
  readonly dialerClosed: () => string | null;
  readonly acceptedSocket: () => Socket;
  close(): Promise<void>;
}

async function openPair(): Promise<Pair> {
  let acceptor: Connection | null = null;
  let accepted: Socket | null = null;
  let dialerReason: string | null = null;
  const server = createServer((socket) => {
    accepted = socket;
    acceptor = new Connection({
      socket, selfNode: 'node-b', expectedPeer: null, acceptPeer: (node) => node === 'node-a', secret, limits, log,
      onOpen: () => undefined, onEnvelopes: () => undefined, onInvalid: () => undefined, onDrain: () => undefined, onClose: () => undefined,
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  let opened = false;
  const dialer = new Connection({
    socket: connect({ host: '127.0.0.1', port: (server.address() as { port: number }).port }), selfNode: 'node-a', expectedPeer: 'node-b',
    acceptPeer: () => false, secret, limits, log,
    onOpen: () => (opened = true), onEnvelopes: () => undefined, onInvalid: () => undefined, onDrain: () => undefined,
    onClose: (_connection, reason) => (dialerReason = reason),
  });
  const startedAt = Date.now();
  while (!opened && Date.now() - startedAt < 5_000) await sleep(5);
  assert.ok(opened, 'the handshake succeeded');
  return {
    dialerClosed: () => dialerReason,
    acceptedSocket: () => accepted!,
    async close() {
      dialer.close('test over');
      (acceptor as Connection | null)?.close('test over');
      (accepted as Socket | null)?.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

const test = suite('TCP failure detector');

test('a silent peer is closed with "no heartbeat" within the timeout plus a heartbeat or two', async () => {
  // The promise the defaults are chosen for: a dead host noticed within 1.25 s, so its groups fail over in ~1 s.
  assert.ok(limits.failureTimeoutMs + limits.heartbeatIntervalMs <= 1_250, 'the default detector is slower than 1.25 s');
  const pair = await openPair();
  try {
    const silencedAt = Date.now();
    pair.acceptedSocket().cork();
    while (pair.dialerClosed() === null && Date.now() - silencedAt < 3 * detectionMsMax) await sleep(10);
    const detectedMs = Date.now() - silencedAt;
    assert.match(pair.dialerClosed() ?? 'still open', /no heartbeat/);
    assert.ok(detectedMs <= detectionMsMax, `detected after ${detectedMs} ms, more than ${detectionMsMax}`);
    assert.ok(detectedMs >= limits.failureTimeoutMs - limits.heartbeatIntervalMs, `closed after ${detectedMs} ms: before the timeout`);
  } finally {
    await pair.close();
  }
});

test('an idle peer that heartbeats is never taken for dead', async () => {
  const pair = await openPair();
  try {
    await sleep(2 * limits.failureTimeoutMs);
    assert.is(pair.dialerClosed(), null);
  } finally {
    await pair.close();
  }
});

test.run();
