// Frame authentication after the handshake: a session key per direction, and a tag on every frame.
//
// Keys: HKDF-SHA256 with the cluster secret as input key material, the two hello nonces as salt (the
// lower-named node's first) and `pygmy-session/2|lower|higher` as info, expanded to 64 bytes: the first 32 key
// the frames the lower-named node sends, the last 32 those the higher-named node sends. Both ends compute the
// same keys and no one else can: the secret never crosses the wire, and fresh nonces make every connection's
// keys new, so nothing recorded on one connection verifies on another.
// Tags: HMAC-SHA256(key of the sender, sequence as 8 bytes big-endian ‖ payload kind ‖ body), its first 16 bytes,
// appended to the payload. The sequence is not sent: each end counts the frames of each direction from 0, so a
// frame replayed, reordered, dropped in the middle, altered or injected fails its tag, and the connection closes.
// What it does not give: secrecy (frames are readable on the path; use TLS for that) and protection against the
// path cutting the connection (the nodes reconnect).
// Needs: node:crypto.

import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import { assert } from '../errors.js';
import { frameHeaderBytes, type Frame, type PayloadKind } from './framing.js';

export const tagBytes = 16;
const keyBytes = 32;
const sessionVersion = 2;

export interface SessionKeys {
  readonly sendKey: Buffer;
  readonly receiveKey: Buffer;
}

export function deriveSessionKeys(secret: Buffer, selfNode: string, peerNode: string, selfNonceHex: string, peerNonceHex: string): SessionKeys {
  assert(selfNode !== peerNode, 'a session needs two nodes', { selfNode });
  const selfIsLower = selfNode < peerNode;
  const [lower, higher] = selfIsLower ? [selfNode, peerNode] : [peerNode, selfNode];
  const [lowerNonce, higherNonce] = selfIsLower ? [selfNonceHex, peerNonceHex] : [peerNonceHex, selfNonceHex];
  const salt = Buffer.concat([Buffer.from(lowerNonce, 'hex'), Buffer.from(higherNonce, 'hex')]);
  const material = Buffer.from(hkdfSync('sha256', secret, salt, `pygmy-session/${sessionVersion}|${lower}|${higher}`, 2 * keyBytes));
  const lowerKey = material.subarray(0, keyBytes);
  const higherKey = material.subarray(keyBytes);
  return selfIsLower ? { sendKey: lowerKey, receiveKey: higherKey } : { sendKey: higherKey, receiveKey: lowerKey };
}

function tagOf(key: Buffer, sequence: number, kind: PayloadKind, body: Buffer): Buffer {
  const prefix = Buffer.allocUnsafe(9);
  prefix.writeUInt32BE(Math.floor(sequence / 0x1_0000_0000), 0);
  prefix.writeUInt32BE(sequence % 0x1_0000_0000, 4);
  prefix[8] = kind;
  return createHmac('sha256', key).update(prefix).update(body).digest().subarray(0, tagBytes);
}

/** Frames one direction of a session: length, kind, body, tag; counts the sequence. */
export class FrameSealer {
  private readonly key: Buffer;
  private sequence = 0;

  constructor(key: Buffer) {
    assert(key.length === keyBytes, 'session key length', { bytes: key.length });
    this.key = key;
  }

  seal(kind: PayloadKind, body: Buffer, frameBytesMax: number): Buffer {
    const payloadBytes = 1 + body.length + tagBytes;
    assert(payloadBytes <= frameBytesMax, 'frame over frameBytesMax', { payloadBytes, frameBytesMax });
    assert(Number.isSafeInteger(this.sequence), 'frame sequence overflow');
    const frame = Buffer.allocUnsafe(frameHeaderBytes + payloadBytes);
    frame.writeUInt32BE(payloadBytes, 0);
    frame[frameHeaderBytes] = kind;
    body.copy(frame, frameHeaderBytes + 1);
    tagOf(this.key, this.sequence, kind, body).copy(frame, frameHeaderBytes + 1 + body.length);
    this.sequence += 1;
    return frame;
  }
}

/** Checks the other direction: the body without its tag when the tag is the next one expected, else null. */
export class FrameOpener {
  private readonly key: Buffer;
  private sequence = 0;
  private failed = false;

  constructor(key: Buffer) {
    assert(key.length === keyBytes, 'session key length', { bytes: key.length });
    this.key = key;
  }

  open(frame: Frame): Buffer | null {
    if (this.failed || frame.body.length < tagBytes) return this.fail();
    const body = frame.body.subarray(0, frame.body.length - tagBytes);
    const tag = frame.body.subarray(frame.body.length - tagBytes);
    if (!timingSafeEqual(tagOf(this.key, this.sequence, frame.kind, body), tag)) return this.fail();
    this.sequence += 1;
    return body;
  }

  private fail(): null {
    this.failed = true;
    return null;
  }
}
