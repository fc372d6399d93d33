// Length-prefixed frames on a byte stream (TCP or TLS).
//
// Owns: the frame layout — a 4-byte big-endian payload length, then the payload, whose first byte says what it
// is (control or data). Promises: `FrameReader` checks the announced length against `frameBytesMax` BEFORE it
// keeps or allocates anything for that frame, so a 4 GiB prefix costs nothing; a zero length, an oversize
// length or an unknown payload kind is reported as a problem (the caller closes the connection); bytes of a
// frame are copied once, when the frame is complete. The bound can change between two frames (`next` takes one
// frame at a time): a connection reads its handshake under preAuthFrameBytesMax and raises the bound once the
// peer is authenticated, even when the peer's first data frame arrived in the same chunk as its proof.
// Needs: nothing (pure, no I/O).

import { assert } from '../errors.js';

export const frameHeaderBytes = 4;
/** Bound on one frame's payload until the handshake completes: a hello or a proof is well under 200 bytes. */
export const preAuthFrameBytesMax = 4 * 1024;

/** First payload byte: handshake and heartbeat messages (always JSON), or a batch of envelopes (the codec). */
export const payloadKindControl = 0x63; // 'c'
export const payloadKindData = 0x64; // 'd'
export type PayloadKind = typeof payloadKindControl | typeof payloadKindData;

export interface Frame {
  readonly kind: PayloadKind;
  readonly body: Buffer;
}

export type ReadResult = { ok: true; frames: Frame[] } | { ok: false; problem: string };
export type NextFrame = { ok: true; frame: Frame | null } | { ok: false; problem: string };

export function encodeFrameBytes(kind: PayloadKind, body: Buffer, frameBytesMax: number): Buffer {
  const payloadBytes = body.length + 1;
  assert(payloadBytes <= frameBytesMax, 'frame over frameBytesMax', { payloadBytes, frameBytesMax });
  const frame = Buffer.allocUnsafe(frameHeaderBytes + payloadBytes);
  frame.writeUInt32BE(payloadBytes, 0);
  frame[frameHeaderBytes] = kind;
  body.copy(frame, frameHeaderBytes + 1);
  return frame;
}

/** Reassembles frames from arbitrary chunks. After a problem it stays failed: the stream cannot be re-synchronised. */
export class FrameReader {
  private frameBytesMax: number;
  private chunks: Buffer[] = [];
  private bufferedBytes = 0;
  private failure: string | null = null;

  constructor(frameBytesMax: number) {
    FrameReader.checkBound(frameBytesMax);
    this.frameBytesMax = frameBytesMax;
  }

  private static checkBound(frameBytesMax: number): void {
    assert(Number.isInteger(frameBytesMax) && frameBytesMax >= 2 && frameBytesMax <= 0xffff_ffff, 'frameBytesMax out of range', { frameBytesMax });
  }

  /** The bound for the frames not yet taken (checked when `next` reads their header). */
  setFrameBytesMax(frameBytesMax: number): void {
    FrameReader.checkBound(frameBytesMax);
    this.frameBytesMax = frameBytesMax;
  }

  /**
   * Copies the held bytes into a buffer of their own, so that a few bytes kept from a large chunk do not keep
   * the whole chunk alive: afterwards the reader holds exactly `pendingBytes` bytes of memory.
   */
  compact(): void {
    if (this.chunks.length === 0) return;
    this.chunks = [Buffer.from(Buffer.concat(this.chunks, this.bufferedBytes))];
  }

  /** Bytes of an incomplete frame still held (non-zero at end of stream means a truncated frame). */
  get pendingBytes(): number {
    return this.bufferedBytes;
  }

  /** Appends a chunk and takes every complete frame (all under the current bound). */
  push(chunk: Buffer): ReadResult {
    this.append(chunk);
    const frames: Frame[] = [];
    for (;;) {
      const next = this.next();
      if (!next.ok) return next;
      if (next.frame === null) return { ok: true, frames };
      frames.push(next.frame);
    }
  }

  append(chunk: Buffer): void {
    if (this.failure !== null) return;
    this.chunks.push(chunk);
    this.bufferedBytes += chunk.length;
  }

  /** The next complete frame, null when none is complete yet, or the problem (after which the reader stays failed). */
  next(): NextFrame {
    if (this.failure !== null) return { ok: false, problem: this.failure };
    if (this.bufferedBytes < frameHeaderBytes) return { ok: true, frame: null };
    const payloadBytes = this.peekLength();
    if (payloadBytes === 0 || payloadBytes > this.frameBytesMax) {
      return this.fail(payloadBytes === 0 ? 'empty frame' : `frame of ${payloadBytes} bytes is over the bound of ${this.frameBytesMax}`);
    }
    if (this.bufferedBytes < frameHeaderBytes + payloadBytes) return { ok: true, frame: null };
    const payload = this.take(frameHeaderBytes + payloadBytes).subarray(frameHeaderBytes);
    const kind = payload[0];
    if (kind !== payloadKindControl && kind !== payloadKindData) return this.fail(`unknown payload kind ${kind}`);
    return { ok: true, frame: { kind, body: payload.subarray(1) } };
  }

  private fail(problem: string): { ok: false; problem: string } {
    this.failure = problem;
    this.chunks = [];
    this.bufferedBytes = 0;
    return { ok: false, problem };
  }

  private peekLength(): number {
    const first = this.chunks[0]!;
    if (first.length >= frameHeaderBytes) return first.readUInt32BE(0);
    const header = Buffer.concat(this.chunks, Math.min(this.bufferedBytes, 64)).subarray(0, frameHeaderBytes);
    return header.readUInt32BE(0);
  }

  /** Removes exactly `byteCount` bytes from the front (the caller checked they are there). */
  private take(byteCount: number): Buffer {
    const first = this.chunks[0]!;
    if (first.length >= byteCount) {
      const taken = first.subarray(0, byteCount);
      if (first.length === byteCount) this.chunks.shift();
      else this.chunks[0] = first.subarray(byteCount);
      this.bufferedBytes -= byteCount;
      return taken;
    }
    const joined = Buffer.concat(this.chunks, this.bufferedBytes);
    const taken = joined.subarray(0, byteCount);
    const rest = joined.subarray(byteCount);
    this.chunks = rest.length > 0 ? [rest] : [];
    this.bufferedBytes = rest.length;
    return taken;
  }
}
