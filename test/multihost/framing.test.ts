// Pure pieces of the TCP transport: frame reassembly from arbitrary chunks, bounds checked before buffering,
// the batch codec's round trip, and the handshake proof (a replay against a new nonce fails).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { askRemainingMsMax, decodeBatch, encodeBatch } from '../../src/runtime/transport/codec.js';
import { encodeFrameBytes, FrameReader, payloadKindControl, payloadKindData } from '../../src/runtime/transport/framing.js';
import { freshNonce, proofMac, proofMatches } from '../../src/runtime/transport/handshake.js';
import type { Envelope } from '../../src/runtime/wire.js';

const test = suite('transport framing, codec and handshake');

test('frames split at every byte boundary are reassembled in order', () => {
  // Checks reassembly: two frames fed one byte at a time come out whole, once each, in order.
  const bytes = Buffer.concat([encodeFrameBytes(payloadKindControl, Buffer.from('{"type":"ping"}'), 1024), encodeFrameBytes(payloadKindData, Buffer.from('[]'), 1024)]);
  const reader = new FrameReader(1024);
  const bodies: string[] = [];
  for (let index = 0; index < bytes.length; index += 1) {
    const result = reader.push(bytes.subarray(index, index + 1));
    assert.ok(result.ok);
    if (result.ok) bodies.push(...result.frames.map((frame) => frame.body.toString()));
  }
  assert.equal(bodies, ['{"type":"ping"}', '[]']);
  assert.is(reader.pendingBytes, 0);
});

test('an oversize or zero length is refused from the header alone, and the reader stays failed', () => {
  // Checks the bound is applied to the announced length (4 GiB - 1) before any payload arrives.
  const reader = new FrameReader(1024);
  const result = reader.push(Buffer.from([0xff, 0xff, 0xff, 0xff]));
  assert.is(result.ok, false);
  assert.is(reader.pendingBytes, 0);
  assert.is(reader.push(encodeFrameBytes(payloadKindData, Buffer.from('[]'), 1024)).ok, false);
  assert.is(new FrameReader(1024).push(Buffer.from([0, 0, 0, 0])).ok, false);
  assert.is(new FrameReader(1024).push(Buffer.from([0, 0, 0, 1, 0x7a])).ok, false, 'unknown payload kind');
});

test('the bound can rise between two frames of one chunk (a proof followed by the first data frame)', () => {
  // Checks next(): under a 16-byte bound the small frame comes out; the large one right behind it in the same
  // chunk is read under the bound set after the first, not refused by the pre-auth bound.
  const small = encodeFrameBytes(payloadKindControl, Buffer.from('{"a":1}'), 1024);
  const large = encodeFrameBytes(payloadKindData, Buffer.alloc(500, 0x20), 1024);
  const reader = new FrameReader(16);
  reader.append(Buffer.concat([small, large]));
  const first = reader.next();
  assert.ok(first.ok && first.frame?.body.toString() === '{"a":1}');
  reader.setFrameBytesMax(1024);
  const second = reader.next();
  assert.ok(second.ok && second.frame?.body.length === 500);
  // And without raising the bound, the same bytes are refused at the second frame's header.
  const strict = new FrameReader(16);
  assert.is(strict.push(Buffer.concat([small, large])).ok, false);
});

test('compact keeps only the pending bytes of a large chunk', () => {
  const reader = new FrameReader(4096);
  const chunk = Buffer.alloc(64 * 1024);
  chunk.writeUInt32BE(4000, 0);
  chunk[4] = payloadKindData;
  reader.append(chunk.subarray(0, 100));
  assert.ok(reader.next().ok);
  reader.compact();
  assert.is(reader.pendingBytes, 100);
  chunk.fill(0); // the reader no longer shares the chunk's memory
  const rest = Buffer.alloc(3904, 0x63);
  reader.append(rest);
  const frame = reader.next();
  assert.ok(frame.ok && frame.frame !== null, 'the frame completes from the reader\'s own copy');
});

test('a batch round-trips, and a malformed batch is reported, not thrown', () => {
  // Checks encodeBatch/decodeBatch as a pair, with runs between different pairs, and garbage inputs.
  const envelopes: Envelope[] = [
    { kind: 'tell', from: 'a', to: 'b', body: { type: 'x' } },
    { kind: 'ask', from: 'a', to: 'b', id: 'id1', deadlineAtMs: 1_005, body: { type: 'y' } },
    { kind: 'reply', from: 'c', to: 'a', id: 'id2', body: 3, error: null },
  ];
  const decoded = decodeBatch(encodeBatch(envelopes, 1_000), 1_000);
  assert.ok(decoded.ok);
  if (decoded.ok) assert.equal(decoded.envelopes, envelopes);
  assert.is(decodeBatch(Buffer.from('not json'), 0).ok, false);
  assert.is(decodeBatch(Buffer.from('[1,2]'), 0).ok, false);
  assert.is(decodeBatch(Buffer.from('[1,"b",[0,1]]'), 0).ok, false, 'a sender must be a name');
});

test('an ask carries its time remaining, which the receiver puts on its own clock', () => {
  // Checks the deadline on the wire: whole ms remaining from the sender's clock (rounded up, never below 0),
  // made a deadline on a receiver's clock that shares no zero with the sender's; a remaining time that is not a
  // whole number of ms within the bound is a malformed envelope.
  const ask = (deadlineAtMs: number): Envelope => ({ kind: 'ask', from: 'a', to: 'b', id: 'id1', deadlineAtMs, body: null });
  const deadlineAt = (sentAtMs: number, deadlineAtMs: number, receivedAtMs: number): number | undefined => {
    const decoded = decodeBatch(encodeBatch([ask(deadlineAtMs)], sentAtMs), receivedAtMs);
    return decoded.ok && decoded.envelopes[0]?.kind === 'ask' ? decoded.envelopes[0].deadlineAtMs : undefined;
  };
  assert.is(deadlineAt(1_000, 3_000, 900_000), 902_000, 'two seconds remaining, on a clock 15 minutes ahead');
  assert.is(deadlineAt(900_000, 902_000, 1_000), 3_000, 'and on a clock 15 minutes behind');
  assert.is(deadlineAt(1_000, 1_000.25, 50), 51, 'a part of a ms is rounded up');
  assert.is(deadlineAt(5_000, 3_000, 70), 70, 'past its deadline when sent: no time remaining');
  assert.is(deadlineAt(0, askRemainingMsMax * 2, 10), 10 + askRemainingMsMax, 'bounded');
  for (const field of [-1, 1.5, askRemainingMsMax + 1, '5', null]) {
    const decoded = decodeBatch(Buffer.from(JSON.stringify(['a', 'b', [1, 'id1', field, null]])), 0);
    assert.ok(decoded.ok && decoded.envelopes.length === 0 && decoded.invalidCount === 1, `remaining ${JSON.stringify(field)} is malformed`);
  }
});

test('a proof is bound to the verifier nonce, the direction and the secret', () => {
  // Checks replay and reflection resistance: the same proof fails against a fresh nonce, the reverse direction or another secret.
  const secret = Buffer.from('a-secret-of-sufficient-length!!');
  const [listenerNonce, dialerNonce] = [freshNonce(), freshNonce()];
  const proof = proofMac(secret, 'a', 'b', listenerNonce, dialerNonce);
  assert.ok(proofMatches(proofMac(secret, 'a', 'b', listenerNonce, dialerNonce), proof));
  assert.not.ok(proofMatches(proofMac(secret, 'a', 'b', freshNonce(), dialerNonce), proof), 'replayed against a new nonce');
  assert.not.ok(proofMatches(proofMac(secret, 'b', 'a', listenerNonce, dialerNonce), proof), 'reflected');
  assert.not.ok(proofMatches(proofMac(Buffer.from('another-secret-of-sufficient-len'), 'a', 'b', listenerNonce, dialerNonce), proof));
  assert.not.ok(proofMatches(proof, 'abcd'), 'wrong length');
});

test.run();
