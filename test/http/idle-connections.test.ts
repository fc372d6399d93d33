// The idle-connection sweep over real loopback sockets, with a hand-stepped clock and sweeps called by hand.

import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { IdleConnections } from '../../src/http/idle-connections.js';

const idleMs = 1_000;
const chunk = Buffer.alloc(64 * 1024, 'x');
/** What the server writes to one connection at most: well past what loopback's socket buffers hold. */
const writeBytesMax = 64 * 1024 * 1024;

interface Harness {
  readonly server: Server;
  readonly watch: IdleConnections;
  readonly clock: { nowMs: number };
  /** Server-side sockets, in the order they connected. */
  readonly accepted: Socket[];
  readonly port: number;
  close(): Promise<void>;
}

async function harness(onConnection: (socket: Socket) => void = () => undefined): Promise<Harness> {
  const clock = { nowMs: 0 };
  const watch = new IdleConnections(idleMs, 0, () => clock.nowMs);
  const accepted: Socket[] = [];
  const server = createServer((socket) => {
    socket.on('error', () => undefined);
    accepted.push(socket);
    watch.add(socket);
    onConnection(socket);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  const close = async () => {
    watch.close();
    for (const socket of accepted) socket.destroy();
    server.close();
    await once(server, 'close');
  };
  return { server, watch, clock, accepted, port, close };
}

async function dial(port: number): Promise<Socket> {
  const socket = connect(port, '127.0.0.1');
  socket.on('error', () => undefined);
  await once(socket, 'connect');
  return socket;
}

async function until(condition: () => boolean, what: string, timeoutMs = 2_000): Promise<void> {
  const started = Date.now();
  while (!condition()) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Completed writes of a socket, as the sweep counts them. */
const sent = (socket: Socket) => socket.bytesWritten - socket.writableLength;

/** Waits until a socket has writes queued and none of them completes for 50 ms. */
async function untilStuck(socket: Socket): Promise<void> {
  const started = Date.now();
  for (;;) {
    const before = sent(socket);
    await new Promise((resolve) => setTimeout(resolve, 50));
    if (socket.writableLength > 0 && sent(socket) === before) return;
    if (Date.now() - started > 2_000) throw new Error('timed out waiting for the socket to be stuck');
  }
}

/** Writes 64 KB chunks for as long as the socket takes them, up to writeBytesMax in all. */
function flood(socket: Socket): void {
  let written = 0;
  const more = () => {
    while (written < writeBytesMax && !socket.destroyed) {
      written += chunk.length;
      if (!socket.write(chunk)) return;
    }
  };
  socket.on('drain', more);
  more();
}

test('a connection that never sends a byte is closed once idle for idleMs, not before', async () => {
  // Connects and stays silent; sweeps just before and at the limit.
  const h = await harness();
  try {
    const client = await dial(h.port);
    await until(() => h.watch.size === 1, 'the server to see the connection');
    h.clock.nowMs = idleMs - 1;
    assert.is(h.watch.sweep(), 0);
    h.clock.nowMs = idleMs;
    assert.is(h.watch.sweep(), 1);
    await once(client, 'close');
    assert.is(h.watch.size, 0);
    assert.is(h.watch.closedCount, 1);
  } finally {
    await h.close();
  }
});

test('a client that sends now and then is kept; the clock restarts at each byte', async () => {
  // Sends a byte every 600 ms of the clock for 3 s of it: never idle for 1,000 ms, so never closed.
  const h = await harness((socket) => socket.resume());
  try {
    const client = await dial(h.port);
    await until(() => h.watch.size === 1, 'the server to see the connection');
    for (let step = 1; step <= 5; step += 1) {
      client.write('x');
      await until(() => h.accepted[0]!.bytesRead === step, 'the byte to arrive');
      h.clock.nowMs += 600;
      assert.is(h.watch.sweep(), 0, `closed at step ${step}`);
    }
    // The last byte was seen by the sweep at 3,000 ms: still open at 3,600, closed at 4,200.
    h.clock.nowMs += 600;
    assert.is(h.watch.sweep(), 0, 'closed 600 ms after the last byte was seen');
    h.clock.nowMs += 600;
    assert.is(h.watch.sweep(), 1, 'silent for 1,200 ms, so closed');
    await once(client, 'close');
  } finally {
    await h.close();
  }
});

test('a client that stopped reading is closed; one that reads slowly is kept', async () => {
  // The server floods both. The stuck one never reads, so its writes stop completing once the socket buffers are
  // full; the slow one reads a little between sweeps, so some of its writes complete each time.
  const h = await harness(flood);
  const clients: Socket[] = [];
  try {
    const stuck = await dial(h.port);
    stuck.pause();
    const slow = await dial(h.port);
    slow.pause();
    clients.push(stuck, slow);
    await until(() => h.accepted.length === 2 && h.accepted.every((socket) => socket.writableLength > 0), 'both to back up');
    const [stuckServerSide, slowServerSide] = h.accepted as [Socket, Socket];
    await untilStuck(stuckServerSide);
    // The first sweep sees the flood's writes; from then on nothing of the stuck one's completes, though more is
    // queued for it at every step (as a stream that ignores backpressure would): closed at the fourth sweep.
    for (let step = 1; step <= 5; step += 1) {
      if (!stuckServerSide.destroyed) stuckServerSide.write('y');
      const before = sent(slowServerSide);
      slow.resume();
      await until(() => sent(slowServerSide) > before, 'a slow write to complete');
      slow.pause();
      h.clock.nowMs += 400;
      h.watch.sweep();
      assert.is(stuckServerSide.destroyed, step >= 4, `the stuck one at step ${step}`);
      assert.not.ok(slowServerSide.destroyed, `the slow one at step ${step}`);
    }
    assert.is(h.watch.closedCount, 1);
    assert.is(h.watch.size, 1);
  } finally {
    for (const client of clients) client.destroy();
    await h.close();
  }
});

test('bad settings are refused at construction', () => {
  assert.throws(() => new IdleConnections(0, 10, () => 0), /idleMs/);
  assert.throws(() => new IdleConnections(10, -1, () => 0), /sweepMs/);
});

test.run();
