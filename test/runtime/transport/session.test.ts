// The session of session.ts, pure: both ends derive matching keys per direction; a sealed frame opens once, in
// order, under the right key only; any change to kind, body or tag, a replay, a skipped frame, another
// connection's keys or another secret fail, and after one failure the opener stays failed.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { FrameReader, payloadKindControl, payloadKindData, type Frame } from '../../../src/runtime/transport/framing.js';
import { freshNonce } from '../../../src/runtime/transport/handshake.js';
import { deriveSessionKeys, FrameOpener, FrameSealer } from '../../../src/runtime/transport/session.js';

const secret = Buffer.from('session-test-secret-32-bytes-long!');
const frameBytesMax = 1 << 20;

function frameOf(bytes: Buffer): Frame {
  const result = new FrameReader(frameBytesMax).push(bytes);
  if (!result.ok || result.frames.length !== 1) throw new Error('not one frame');
  return result.frames[0]!;
}

function pair(nonces = [freshNonce(), freshNonce()] as const, key = secret) {
  const a = deriveSessionKeys(key, 'node-a', 'node-b', nonces[0], nonces[1]);
  const b = deriveSessionKeys(key, 'node-b', 'node-a', nonces[1], nonces[0]);
  return { a, b };
}

const test = suite('transport session');

test('both ends derive the same key for each direction, and the two directions differ', () => {
  const { a, b } = pair();
  assert.ok(a.sendKey.equals(b.receiveKey));
  assert.ok(b.sendKey.equals(a.receiveKey));
  assert.not.ok(a.sendKey.equals(a.receiveKey));
});

test('frames open in order, once each; replayed, skipped and altered frames fail and the opener stays failed', () => {
  const { a, b } = pair();
  const sealer = new FrameSealer(a.sendKey);
  const frames = [0, 1, 2, 3].map((n) => sealer.seal(payloadKindData, Buffer.from(`[${n}]`), frameBytesMax));
  const opener = new FrameOpener(b.receiveKey);
  assert.is(opener.open(frameOf(frames[0]!))?.toString(), '[0]');
  assert.is(opener.open(frameOf(frames[1]!))?.toString(), '[1]');
  assert.is(opener.open(frameOf(frames[1]!)), null, 'replayed');
  assert.is(opener.open(frameOf(frames[2]!)), null, 'a failed opener stays failed');
  const skipping = new FrameOpener(b.receiveKey);
  assert.is(skipping.open(frameOf(frames[1]!)), null, 'skipped frame 0');
  for (const offset of [5, 7, frames[3]!.length - 1]) {
    const changed = Buffer.from(frames[0]!);
    changed[offset]! ^= 0x01; // the body, the tag
    assert.is(new FrameOpener(b.receiveKey).open(frameOf(changed)), null, `bit flipped at ${offset}`);
  }
  const asControl = Buffer.from(frames[0]!);
  asControl[4] = payloadKindControl;
  assert.is(new FrameOpener(b.receiveKey).open(frameOf(asControl)), null, 'kind changed');
});

test('keys of another connection or another secret do not open the frames', () => {
  const { a } = pair();
  const sealed = frameOf(new FrameSealer(a.sendKey).seal(payloadKindData, Buffer.from('[1]'), frameBytesMax));
  assert.is(new FrameOpener(pair().b.receiveKey).open(sealed), null, 'fresh nonces');
  assert.is(new FrameOpener(a.receiveKey).open(sealed), null, 'the other direction');
  const other = pair(undefined, Buffer.from('another-secret-of-sufficient-length'));
  assert.is(new FrameOpener(other.b.receiveKey).open(sealed), null, 'another secret');
});

test.run();
