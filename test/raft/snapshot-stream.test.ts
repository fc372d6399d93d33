// Image streams between a leader and a follower, with a hand-driven network: chunks bounded, checked and
// acknowledged; a corrupted or lost chunk refused and re-sent; a follower restarted mid-install starting clean; a
// reconnect mid-stream resuming from what the follower holds instead of starting again.

import { crc32 } from 'node:zlib';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  SnapshotStreams, isValidSnapshotStreamMessage, snapshotChunkUnitsMax, snapshotImageUnitsMax,
} from '../../src/raft/snapshot-stream.js';
import type { SnapshotChunk, SnapshotChunkAck, SnapshotStreamMessage, StreamOutput } from '../../src/raft/snapshot-stream.js';
import type { Message } from '../../src/raft/types.js';

const options = { chunkUnits: 1_000, imageUnitsMax: 100_000, imageBytesMax: 1_000_000, incomingImagePath: null, windowChunks: 3, retransmitTicks: 4, stallTicks: 40 };

function image(units: number): string {
  // Surrogate pairs across chunk boundaries: a split pair would come back as two replacement characters.
  let text = '';
  for (let index = 0; text.length < units; index += 1) text += index % 7 === 0 ? '😀' : `k${index},`;
  return text.slice(0, units - 1) + 'x';
}

function install(data: string, term = 3): Extract<Message, { type: 'installSnapshot' }> {
  return { type: 'installSnapshot', from: 'n1', to: 'n2', term, snapshot: { meta: { index: 500, term: 2, peers: ['n1', 'n2', 'n3'] }, data } };
}

interface Pair {
  leader: SnapshotStreams;
  follower: SnapshotStreams;
  installed: string[];
  /** Messages in flight, in order. */
  wire: SnapshotStreamMessage[];
}

function pair(): Pair {
  return { leader: new SnapshotStreams({ ...options, self: 'n1' }), follower: new SnapshotStreams({ ...options, self: 'n2' }), installed: [], wire: [] };
}

function push(net: Pair, output: StreamOutput): void {
  net.wire.push(...output.messages);
}

/** Delivers one message in flight; `tamper` may change or drop it. */
/** A pair whose leader was just offered an image of `units` code units to stream. */
function offered(units: number): { net: Pair; data: string } {
  const net = pair();
  const data = image(units);
  push(net, net.leader.offer(install(data)));
  return { net, data };
}

/** Delivers until the wire is quiet (at most 1,000 messages), each through `tamper` as deliverOne does. */
function deliverAll(net: Pair, tamper: (message: SnapshotStreamMessage) => SnapshotStreamMessage | null): void {
  for (let step = 0; step < 1_000 && net.wire.length > 0; step += 1) deliverOne(net, tamper);
}

function deliverOne(net: Pair, tamper: (message: SnapshotStreamMessage) => SnapshotStreamMessage | null = (message) => message): void {
  const sent = net.wire.shift();
  if (sent === undefined) return;
  const message = tamper(sent);
  if (message === null) return;
  assert.ok(isValidSnapshotStreamMessage(JSON.parse(JSON.stringify(message))), `valid on the wire: ${message.type}`);
  if (message.type === 'snapshotChunk') {
    const { reply, install: done } = net.follower.receiveChunk(message);
    net.wire.push(reply);
    if (done !== null) net.installed.push(done.snapshot.data);
  } else {
    push(net, net.leader.receiveAck(message));
  }
}

function run(net: Pair, steps = 10_000): void {
  for (let step = 0; step < steps && net.wire.length > 0; step += 1) deliverOne(net);
  assert.is(net.wire.length, 0, 'quiet network');
}

test('an image goes in bounded chunks, at most a window unacknowledged, and comes back whole', () => {
  const { net, data } = offered(10_500);
  assert.is(net.wire.length, 3, 'one window');
  let inFlightMax = 0;
  for (let step = 0; step < 1_000 && net.wire.length > 0; step += 1) {
    const chunks = net.wire.filter((message) => message.type === 'snapshotChunk') as SnapshotChunk[];
    inFlightMax = Math.max(inFlightMax, chunks.length);
    for (const chunk of chunks) assert.ok(chunk.data.length <= options.chunkUnits);
    deliverOne(net);
  }
  assert.ok(inFlightMax <= options.windowChunks, `in flight ${inFlightMax}`);
  assert.equal(net.installed, [data]);
  assert.is(net.leader.counters.streamsCompleted, 1);
  assert.is(net.leader.outgoingTo('n2'), null, 'the finished stream is gone');
  assert.is(net.leader.counters.chunksResent, 0);
});

test('the core re-sending the same image does not restart its stream; a newer one replaces it', () => {
  const { net, data } = offered(5_000);
  for (let step = 0; step < 4; step += 1) deliverOne(net); // three chunks, then the first ack
  assert.is(net.leader.offer(install(data)).messages.length, 0);
  assert.is(net.leader.outgoingTo('n2')?.acked, 1_000);
  const newer = net.leader.offer(install(data, 4));
  assert.is((newer.messages[0] as SnapshotChunk).offset, 0, 'a new term: a new stream');
});

test('a corrupted chunk is refused by its checksum and re-sent; the image arrives intact', () => {
  const { net, data } = offered(4_000);
  let corrupted = 0;
  deliverAll(net, (message) => {
    if (message.type !== 'snapshotChunk' || message.offset !== 2_000 || corrupted > 0) return message;
    corrupted += 1;
    return { ...message, data: `X${message.data.slice(1)}` };
  });
  assert.is(corrupted, 1);
  assert.is(net.follower.counters.chunksRefusedChecksum, 1);
  assert.ok(net.leader.counters.chunksResent >= 1);
  assert.equal(net.installed, [data]);
});

test('a lost chunk: the next one is refused as a gap and the leader re-sends from the missing offset', () => {
  const { net, data } = offered(6_000);
  let dropped = false;
  deliverAll(net, (message) => {
    if (message.type === 'snapshotChunk' && message.offset === 1_000 && !dropped) { dropped = true; return null; }
    return message;
  });
  assert.ok(dropped);
  assert.ok(net.follower.counters.chunksRefusedGap >= 1);
  assert.equal(net.installed, [data]);
});

test('everything in flight lost: the leader re-sends from the acknowledged offset after retransmitTicks', () => {
  const { net, data } = offered(3_000);
  net.wire.length = 0; // the connection dropped
  push(net, net.leader.tick(options.retransmitTicks - 1));
  assert.is(net.wire.length, 0, 'not before retransmitTicks');
  push(net, net.leader.tick(1));
  assert.is((net.wire[0] as SnapshotChunk).offset, 0);
  run(net);
  assert.equal(net.installed, [data]);
});

test('a follower restarted mid-install holds nothing, answers offset 0, and the image starts clean', () => {
  const { net, data } = offered(8_000);
  for (let step = 0; step < 6; step += 1) deliverOne(net); // three chunks in, three acks back
  assert.is(net.follower.receiving()?.received, 3_000);
  net.follower = new SnapshotStreams({ ...options, self: 'n2' }); // restarted: the partial image was in memory only
  run(net);
  assert.equal(net.installed, [data], 'installed once, whole');
  assert.ok(net.follower.counters.chunksRefusedGap >= 1, 'the first chunk past 0 was refused');
});

test('a reconnect mid-stream resumes from what the follower holds rather than starting again', () => {
  const { net, data } = offered(20_000);
  // Deliver chunks but lose every ack for a while: the follower holds 6,000 units the leader does not know of.
  for (let step = 0; step < 30 && net.wire.length > 0; step += 1) {
    deliverOne(net, (message) => (message.type === 'snapshotChunkAck' && message.offset > 1_000 ? null : message));
  }
  const held = net.follower.receiving()?.received ?? 0;
  assert.ok(held >= 3_000, `follower holds ${held}`);
  assert.ok((net.leader.outgoingTo('n2')?.acked ?? 0) < held);
  net.wire.length = 0; // the connection drops; after it comes back, the leader's retransmit
  push(net, net.leader.tick(options.retransmitTicks));
  const sentBefore = net.leader.counters.chunksSent + net.leader.counters.chunksResent;
  run(net);
  assert.equal(net.installed, [data]);
  assert.is(net.leader.counters.streamsResumed, 1);
  const sentAfter = net.leader.counters.chunksSent + net.leader.counters.chunksResent - sentBefore;
  assert.ok(sentAfter < 20 + options.windowChunks, `after the reconnect ${sentAfter} chunks, not the whole image again`);
  assert.ok(sentAfter <= 20 - held / 1_000 + options.windowChunks, `resumed past ${held}: ${sentAfter} chunks`);
});

test('a late copy of a chunk of an image already installed is answered as complete, not restarted', () => {
  const { net, data } = offered(2_500);
  const first = net.wire[0] as SnapshotChunk;
  run(net);
  const { reply, install: again } = net.follower.receiveChunk(first);
  assert.is(again, null);
  assert.is((reply as SnapshotChunkAck).offset, data.length);
});

test('a stream that makes no progress is reported once as stalled, and keeps re-sending', () => {
  const net = pair();
  push(net, net.leader.offer(install(image(3_000))));
  net.wire.length = 0;
  let stalled = 0;
  let resent = 0;
  for (let tick = 0; tick < options.stallTicks * 3; tick += 1) {
    const output = net.leader.tick(1);
    stalled += output.events.filter((event) => event.kind === 'stalled').length;
    resent += output.messages.length;
  }
  assert.is(stalled, 1);
  assert.is(net.leader.counters.streamsStalled, 1);
  assert.ok(resent > 0);
});

test('an empty image is one empty chunk', () => {
  const net = pair();
  push(net, net.leader.offer(install('')));
  run(net);
  assert.equal(net.installed, ['']);
});

test('a forged chunk declaring a huge image or carrying an oversize part is refused (size) before anything is kept, counted and reported', () => {
  const follower = new SnapshotStreams({ ...options, self: 'n2' });
  const forged = (length: number, data: string): SnapshotChunk => ({
    type: 'snapshotChunk', from: 'n1', to: 'n2', term: 3, index: 9, snapshotTerm: 3, length, peers: ['n1', 'n2'], offset: 0, data, checksum: 0,
  });
  const cases = [forged(Number.MAX_SAFE_INTEGER, 'abc'), forged(options.imageUnitsMax + 1, 'abc'), forged(5_000, 'x'.repeat(options.chunkUnits + 1))];
  const reported: number[] = [];
  for (const chunk of cases) {
    assert.ok(isValidSnapshotStreamMessage(JSON.parse(JSON.stringify(chunk))), 'well-formed: the sizes are the stream\'s to refuse');
    const { reply, install, events } = follower.receiveChunk({ ...chunk, checksum: crc32(chunk.data) });
    assert.equal([reply.refused, reply.offset, install], ['size', 0, null]);
    for (const event of events) if (event.kind === 'refusedSize') reported.push(event.refusals);
    assert.is(follower.receiving(), null, 'nothing kept for it');
  }
  assert.is(follower.counters.chunksRefusedSize, 3);
  assert.equal(reported, [1, 2], 'reported at the 1st and 2nd refusal (then the 4th, 8th …)');
  // At the bound exactly, the same chunk is taken.
  const atBound = forged(options.imageUnitsMax, 'x'.repeat(options.chunkUnits));
  assert.is(follower.receiveChunk({ ...atBound, checksum: crc32(atBound.data) }).reply.refused, null);
  assert.is(follower.receiving()?.received, options.chunkUnits);
  // A leader does not offer an image over its own bound: counted and reported, nothing sent.
  const leader = new SnapshotStreams({ ...options, self: 'n1' });
  const output = leader.offer(install(image(options.imageUnitsMax + 1)));
  assert.equal([output.messages.length, output.events.map((event) => event.kind), leader.counters.imagesTooLarge], [0, ['imageTooLarge'], 1]);
  assert.throws(() => new SnapshotStreams({ ...options, imageUnitsMax: snapshotImageUnitsMax + 1, self: 'n3' }), /imageUnitsMax/);
});

test('a follower that refuses an image by size is not sent it again and again: the leader stops and backs off, doubling', () => {
  // The follower's bound is under the image: it refuses every chunk as `size`, whatever the leader re-sends.
  const net: Pair = { ...pair(), follower: new SnapshotStreams({ ...options, imageUnitsMax: 2_000, self: 'n2' }) };
  const offerOnce = () => push(net, net.leader.offer(install(image(3_000))));
  const refusedEvents: Array<{ refusals: number; retryInTicks: number }> = [];
  const deliverAndCollect = () => {
    for (let step = 0; step < 100 && net.wire.length > 0; step += 1) {
      const sent = net.wire.shift()!;
      if (sent.type === 'snapshotChunk') net.wire.push(net.follower.receiveChunk(sent).reply);
      else {
        const output = net.leader.receiveAck(sent);
        push(net, output);
        for (const event of output.events) if (event.kind === 'refusedByPeer') refusedEvents.push(event);
      }
    }
  };
  /** Ticks `count` times, offering the image on every tick as the core does while the follower is behind; returns the chunks sent. */
  const tickAndOffer = (count: number) => {
    let sent = 0;
    for (let tick = 0; tick < count; tick += 1) {
      const output = net.leader.tick(1);
      push(net, output);
      sent += output.messages.length;
      const before = net.wire.length;
      offerOnce();
      sent += net.wire.length - before;
      deliverAndCollect();
    }
    return sent;
  };
  offerOnce();
  assert.is(net.wire.length, options.windowChunks);
  deliverAndCollect();
  assert.equal(refusedEvents, [{ kind: 'refusedByPeer', peer: 'n2', index: 500, length: 3_000, refusals: 1, retryInTicks: options.stallTicks }]);
  assert.is(net.leader.counters.imagesRefusedByPeer, 1);
  assert.is(tickAndOffer(options.stallTicks - 1), 0, 'nothing re-sent during the back-off');
  assert.is(tickAndOffer(1), options.windowChunks, 'one window when the back-off ends');
  assert.equal(refusedEvents.at(-1), { kind: 'refusedByPeer', peer: 'n2', index: 500, length: 3_000, refusals: 2, retryInTicks: 2 * options.stallTicks });
  assert.is(tickAndOffer(2 * options.stallTicks - 1), 0, 'the back-off doubled');
  // The follower now takes it (restarted with a larger bound): the image goes through and the back-off ends.
  net.follower = new SnapshotStreams({ ...options, self: 'n2' });
  let installed = 0;
  for (let tick = 0; tick < 10 && installed === 0; tick += 1) {
    push(net, net.leader.tick(1));
    offerOnce();
    for (let step = 0; step < 1_000 && net.wire.length > 0; step += 1) {
      const sent = net.wire.shift()!;
      if (sent.type === 'snapshotChunk') {
        const { reply, install: done } = net.follower.receiveChunk(sent);
        net.wire.push(reply);
        if (done !== null) installed += 1;
      } else push(net, net.leader.receiveAck(sent));
    }
  }
  assert.is(installed, 1);
  assert.is(net.leader.counters.streamsCompleted, 1);
  assert.is(net.leader.counters.imagesRefusedByPeer, 2);
});

test('validation refuses an offset past the length, a bad refusal', () => {
  const chunk = { type: 'snapshotChunk', from: 'n1', to: 'n2', term: 1, index: 1, snapshotTerm: 1, length: 10, peers: ['n1'], offset: 0, data: 'abc', checksum: 1 };
  assert.ok(isValidSnapshotStreamMessage(chunk));
  assert.not.ok(isValidSnapshotStreamMessage({ ...chunk, offset: 11 }));
  assert.not.ok(isValidSnapshotStreamMessage({ ...chunk, checksum: -1 }));
  assert.not.ok(isValidSnapshotStreamMessage({ ...chunk, type: 'snapshotChunkAck', refused: 'maybe' }));
  assert.not.ok(isValidSnapshotStreamMessage(null));
});

test('a wire chunk of the largest size stays under 1 MiB even when every unit is escaped', () => {
  const worst = '\u0001'.repeat(snapshotChunkUnitsMax);
  const streams = new SnapshotStreams({ chunkUnits: snapshotChunkUnitsMax, imageUnitsMax: snapshotImageUnitsMax, imageBytesMax: 1_000_000, incomingImagePath: null, windowChunks: 1, retransmitTicks: 1, stallTicks: 1, self: 'n1' });
  const [chunk] = streams.offer(install(worst + worst)).messages;
  assert.ok(Buffer.byteLength(JSON.stringify(chunk)) <= 1024 * 1024);
});

test.run();
