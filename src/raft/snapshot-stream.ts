// Streams an image of the state from a leader to a follower in bounded chunks, beside the core's messages.
//
// Owns: on the leader, one outgoing stream per follower (the image the core asked to send, the offset the follower
// acknowledged, the chunks in flight); on the follower, the one image being received and the last one completed.
// The core still speaks of one `installSnapshot` message: the driver hands each outgoing one to `offer`, which cuts
// it into chunks, and steps the `installSnapshot` that `receiveChunk` rebuilds once the last chunk has arrived.
//
// Promises:
// - every chunk carries at most `snapshotChunkUnitsMax` UTF-16 code units of the image (≤ 768 KiB on the wire even
//   if every unit were JSON-escaped to six bytes, under the transport's 1 MiB budget per chunk), its offset, the
//   image's identity (index, term, length) and a CRC-32 of its text;
// - the follower appends a chunk only at the offset it expects and only if the checksum matches; every chunk is
//   answered with the offset it expects next, and a refusal (`checksum`, `gap`) makes the leader re-send from there;
// - at most `windowChunks` chunks are unacknowledged at a time (flow control); after `retransmitTicks` ticks without
//   an acknowledgement the leader re-sends the window from the acknowledged offset (a lost chunk or ack);
// - resumable: after a reconnect the leader re-sends from the acknowledged offset, and a follower that holds more
//   answers with its own offset, which moves the leader forward (nothing it already has is sent twice per window);
// - a follower that restarted holds nothing (the partial image is in memory only), answers any chunk past 0 with
//   offset 0, and the image starts clean;
// - sizes are checked before anything is kept: a chunk longer than `chunkUnits`, or one declaring an image longer
//   than `imageUnitsMax`, is refused (`size`), counted (chunksRefusedSize) and reported (`refusedSize`, at the 1st,
//   2nd, 4th, 8th … refusal, so a flood cannot flood the log); an image of ours over the bound is not offered
//   (imagesTooLarge, `imageTooLarge`) rather than sent to a follower that would refuse it;
// - a follower's `size` refusal is final for that image (its bounds are not ours, or it takes no file images): the
//   leader stops that stream, counts it (imagesRefusedByPeer), reports `refusedByPeer`, and sends that follower no
//   image for `stallTicks` ticks, doubling on each refusal in a row up to 64 × stallTicks (one window per try, not a
//   window every retransmit forever); an image the follower takes ends the back-off;
// - a stream that makes no progress for `stallTicks` ticks is reported once (`stalled`), and counted; the leader
//   keeps re-sending while the core still wants the image. Each end reports when a stream begins (`started` on the
//   leader, `receiving` on the follower, at an image's first chunk kept) and `completed` when it ends, so the
//   driver can time it.
// - a file image (storage/image-file.ts: the core's Snapshot.data is then a reference to the file) travels as bytes:
//   offsets and lengths count bytes, each chunk carries at most `fileChunkBytes(chunkUnits)` of them in base64
//   (within chunkUnits characters), read from the file on the leader and written at their offset to a staging file
//   on the follower (`incomingImagePath`), so neither side holds more than a window of it in memory; the
//   installSnapshot handed to the core refers to the staging file.
// Does not: decide which follower needs an image (the core does), or delete the files (the driver does).
import { closeSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import { crc32 } from 'node:zlib';
import { imageFileReference, parseImageFileReference, type ImageFile } from './storage/image-file.js';
import type { Message, NodeId, Snapshot } from './types.js';

/** UTF-16 code units of image text per chunk. */
export const snapshotChunkUnitsMax = 128 * 1024;
/** UTF-16 code units of a whole image: V8's longest string (the image is one string on both sides). */
export const snapshotImageUnitsMax = 0x1fff_ffe8;

interface ChunkIdentity {
  /** The image's index and term, and its length in UTF-16 code units (in bytes for a file image). */
  readonly index: number;
  readonly snapshotTerm: number;
  readonly length: number;
  /** 'file': a file image, in bytes (base64 in `data`); absent: a text image. */
  readonly format?: 'file';
}

export type SnapshotChunk = ChunkIdentity & {
  readonly type: 'snapshotChunk';
  readonly from: NodeId;
  readonly to: NodeId;
  readonly term: number;
  readonly peers: readonly NodeId[];
  readonly offset: number;
  readonly data: string;
  readonly checksum: number;
};

export type SnapshotChunkAck = ChunkIdentity & {
  readonly type: 'snapshotChunkAck';
  readonly from: NodeId;
  readonly to: NodeId;
  readonly term: number;
  /** The offset the follower expects next (the image's length once it holds all of it). */
  readonly offset: number;
  readonly refused: 'checksum' | 'gap' | 'size' | null;
};

export type SnapshotStreamMessage = SnapshotChunk | SnapshotChunkAck;

/** Everything a replica's envelope may carry: the core's messages and the stream's. */
export type WireMessage = Message | SnapshotStreamMessage;

export interface SnapshotStreamOptions {
  readonly self: NodeId;
  readonly chunkUnits: number;
  /** Longest image this replica sends or accepts, in UTF-16 code units (≤ snapshotImageUnitsMax). */
  readonly imageUnitsMax: number;
  /** Longest file image this replica sends or accepts, in bytes. */
  readonly imageBytesMax: number;
  /** Where a file image from a leader is staged while it arrives; null: this replica refuses file images. */
  readonly incomingImagePath: ((identity: { readonly index: number; readonly snapshotTerm: number }) => string) | null;
  readonly windowChunks: number;
  readonly retransmitTicks: number;
  readonly stallTicks: number;
}

/** Bytes of a file image per chunk: their base64 text fits in `chunkUnits` characters. */
export function fileChunkBytes(chunkUnits: number): number {
  return Math.floor(chunkUnits / 4) * 3;
}

/** The default bound on a file image: 64 GiB. */
export const snapshotImageBytesMax = 64 * 1024 ** 3;

/**
 * Chunks in flight per stream by default: 16 of at most 128 Ki units, 2 MiB of text (1.5 MiB of a file image). A
 * window of 4 left the link idle for most of each round trip between two busy threads (a burst of 4 chunks, then
 * ~10 ms waiting for the first ack: ~25 MB/s); a wider one keeps it busy, within the TCP transport's send queue.
 */
export const snapshotWindowChunksDefault = 16;

export const defaultSnapshotStreamOptions = { chunkUnits: snapshotChunkUnitsMax, imageUnitsMax: snapshotImageUnitsMax, imageBytesMax: snapshotImageBytesMax, incomingImagePath: null, windowChunks: snapshotWindowChunksDefault, retransmitTicks: 6, stallTicks: 200 } as const;

export interface SnapshotStreamCounters {
  streamsStarted: number;
  streamsCompleted: number;
  streamsStalled: number;
  streamsResumed: number;
  chunksSent: number;
  chunksResent: number;
  chunksReceived: number;
  chunksRefusedChecksum: number;
  chunksRefusedGap: number;
  /** Chunks refused for their own length or their image's declared length, before anything was kept. */
  chunksRefusedSize: number;
  /** Images of this replica too long to send (over imageUnitsMax). */
  imagesTooLarge: number;
  /** Streams a follower refused by size (its bounds): each ends the stream and backs off further sends to it. */
  imagesRefusedByPeer: number;
  imagesInstalled: number;
}

/** What a call asks the driver to do: messages to send, an event worth a log line. */
export interface StreamOutput {
  readonly messages: readonly SnapshotStreamMessage[];
  readonly events: readonly StreamEvent[];
}

export type StreamEvent =
  | { readonly kind: 'started'; readonly peer: NodeId; readonly index: number; readonly length: number }
  | { readonly kind: 'completed'; readonly peer: NodeId; readonly index: number; readonly length: number }
  /** On the follower: the first chunk of an image (a new one, or one started again from offset 0) was kept. */
  | { readonly kind: 'receiving'; readonly peer: NodeId; readonly index: number; readonly length: number }
  | { readonly kind: 'stalled'; readonly peer: NodeId; readonly index: number; readonly acked: number; readonly length: number; readonly ticks: number }
  | { readonly kind: 'refusedSize'; readonly peer: NodeId; readonly index: number; readonly units: number; readonly declaredLength: number; readonly refusals: number }
  | { readonly kind: 'imageTooLarge'; readonly peer: NodeId; readonly index: number; readonly length: number }
  /** On the leader: the follower refused this image by size; nothing is sent to it for `retryInTicks` ticks. */
  | { readonly kind: 'refusedByPeer'; readonly peer: NodeId; readonly index: number; readonly length: number; readonly refusals: number; readonly retryInTicks: number };

interface Outgoing {
  readonly peer: NodeId;
  readonly term: number;
  readonly snapshot: Snapshot;
  /** The file of a file image (null: a text image), and its length: bytes of the file, or units of the text. */
  readonly file: ImageFile | null;
  readonly length: number;
  acked: number;
  next: number;
  ticksSinceProgress: number;
  stallReported: boolean;
  /** The follower refused it by size: nothing more is sent for it. */
  refusedByPeer: boolean;
}

/** Back-off after a follower's size refusals in a row: no image is sent to it before `retryAtTick`. */
interface SizeRefusals {
  readonly inRow: number;
  readonly retryAtTick: number;
}

/** The longest back-off after size refusals, in multiples of stallTicks. */
const sizeRefusalBackoffMax = 64;

interface Incoming {
  readonly from: NodeId;
  readonly identity: ChunkIdentity;
  readonly peers: readonly NodeId[];
  /** Text received so far (a text image), or the staging file's path (a file image). */
  readonly parts: string[];
  readonly stagingPath: string | null;
  received: number;
}

const nothing: StreamOutput = Object.freeze({ messages: [], events: [] });

export function isSnapshotStreamMessage(message: { readonly type: string }): message is SnapshotStreamMessage {
  return message.type === 'snapshotChunk' || message.type === 'snapshotChunkAck';
}

const isCount = (value: unknown): value is number => typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
const isName = (value: unknown): value is string => typeof value === 'string' && value.length > 0 && value.length <= 128;

/** Validation at the boundary: a malformed chunk or ack from the wire is refused before it reaches a stream. */
export function isValidSnapshotStreamMessage(value: unknown): value is SnapshotStreamMessage {
  if (typeof value !== 'object' || value === null) return false;
  const message = value as Record<string, unknown>;
  if (!isName(message.from) || !isName(message.to) || !isCount(message.term)) return false;
  if (!isCount(message.index) || !isCount(message.snapshotTerm) || !isCount(message.length) || !isCount(message.offset)) return false;
  if (message.offset > message.length) return false;
  if (message.format !== undefined && message.format !== 'file') return false;
  switch (message.type) {
    case 'snapshotChunk':
      // Sizes are the stream's to refuse, counted and reported (SnapshotStreams.receiveChunk).
      return typeof message.data === 'string' && isCount(message.checksum)
        && Array.isArray(message.peers) && message.peers.every(isName);
    case 'snapshotChunkAck':
      return message.refused === null || message.refused === 'checksum' || message.refused === 'gap' || message.refused === 'size';
    default:
      return false;
  }
}

export class SnapshotStreams {
  private readonly outgoing = new Map<NodeId, Outgoing>();
  private incoming: Incoming | null = null;
  private completed: (ChunkIdentity & { readonly from: NodeId }) | null = null;
  /** Ticks since this replica started, for back-offs. */
  private ticks = 0;
  private readonly sizeRefusals = new Map<NodeId, SizeRefusals>();
  readonly counters: SnapshotStreamCounters = {
    streamsStarted: 0, streamsCompleted: 0, streamsStalled: 0, streamsResumed: 0, chunksSent: 0, chunksResent: 0,
    chunksReceived: 0, chunksRefusedChecksum: 0, chunksRefusedGap: 0, chunksRefusedSize: 0, imagesTooLarge: 0, imagesRefusedByPeer: 0, imagesInstalled: 0,
  };

  constructor(private readonly options: SnapshotStreamOptions) {
    if (!Number.isSafeInteger(options.chunkUnits) || options.chunkUnits < 2 || options.chunkUnits > snapshotChunkUnitsMax) {
      throw new RangeError(`chunkUnits must be an integer in [2, ${snapshotChunkUnitsMax}], not ${options.chunkUnits}`);
    }
    if (!Number.isSafeInteger(options.imageBytesMax) || options.imageBytesMax < 1) throw new RangeError(`imageBytesMax must be an integer ≥ 1, not ${options.imageBytesMax}`);
    if (!Number.isSafeInteger(options.imageUnitsMax) || options.imageUnitsMax < 1 || options.imageUnitsMax > snapshotImageUnitsMax) {
      throw new RangeError(`imageUnitsMax must be an integer in [1, ${snapshotImageUnitsMax}], not ${options.imageUnitsMax}`);
    }
    for (const key of ['windowChunks', 'retransmitTicks', 'stallTicks'] as const) {
      if (!Number.isSafeInteger(options[key]) || options[key] < 1) throw new RangeError(`${key} must be an integer ≥ 1, not ${options[key]}`);
    }
  }

  /** Streams in progress from this replica, for status and tests. */
  outgoingTo(peer: NodeId): { readonly index: number; readonly acked: number; readonly length: number } | null {
    const stream = this.outgoing.get(peer);
    return stream === undefined ? null : { index: stream.snapshot.meta.index, acked: stream.acked, length: stream.length };
  }

  /** The offset of the image being received, or null. */
  receiving(): { readonly index: number; readonly received: number; readonly length: number } | null {
    const incoming = this.incoming;
    return incoming === null ? null : { index: incoming.identity.index, received: incoming.received, length: incoming.identity.length };
  }

  /**
   * The core wants `message.snapshot` sent. The same image already streaming to that follower in the same term
   * goes on where it is (the core re-sends while it waits); any other replaces it.
   */
  offer(message: Extract<Message, { type: 'installSnapshot' }>): StreamOutput {
    const current = this.outgoing.get(message.to);
    const meta = message.snapshot.meta;
    const file = parseImageFileReference(message.snapshot.data);
    const length = file === null ? message.snapshot.data.length : file.bytes;
    const refusals = this.sizeRefusals.get(message.to);
    if (refusals !== undefined && this.ticks < refusals.retryAtTick) return nothing; // it refused by size: backing off
    if (current !== undefined && !current.refusedByPeer && current.term === message.term && current.snapshot.meta.index === meta.index
      && current.snapshot.meta.term === meta.term && current.length === length && (current.file === null) === (file === null)) {
      return nothing;
    }
    if (length > (file === null ? this.options.imageUnitsMax : this.options.imageBytesMax)) {
      this.counters.imagesTooLarge += 1;
      return { messages: [], events: [{ kind: 'imageTooLarge', peer: message.to, index: meta.index, length }] };
    }
    const stream: Outgoing = {
      peer: message.to, term: message.term, snapshot: message.snapshot, file, length, acked: 0, next: 0, ticksSinceProgress: 0, stallReported: false,
      refusedByPeer: false,
    };
    this.outgoing.set(message.to, stream);
    this.counters.streamsStarted += 1;
    const started: StreamEvent = { kind: 'started', peer: message.to, index: meta.index, length };
    return { messages: this.fillWindow(stream, false), events: [started] };
  }

  /** This replica is no longer the leader of that term: its streams end. */
  dropOutgoing(): void {
    this.outgoing.clear();
    this.sizeRefusals.clear(); // a later leadership tries again at once
  }

  /** `count` ticks passed: streams without an acknowledgement for retransmitTicks re-send from the acknowledged offset. */
  tick(count: number): StreamOutput {
    this.ticks += count;
    if (this.outgoing.size === 0) return nothing;
    const messages: SnapshotStreamMessage[] = [];
    const events: StreamEvent[] = [];
    for (const stream of this.outgoing.values()) {
      if (stream.refusedByPeer) continue;
      const before = stream.ticksSinceProgress;
      stream.ticksSinceProgress += count;
      if (!stream.stallReported && stream.ticksSinceProgress >= this.options.stallTicks) {
        stream.stallReported = true;
        this.counters.streamsStalled += 1;
        const meta = stream.snapshot.meta;
        events.push({ kind: 'stalled', peer: stream.peer, index: meta.index, acked: stream.acked, length: stream.length, ticks: stream.ticksSinceProgress });
      }
      const period = this.options.retransmitTicks;
      if (Math.floor(stream.ticksSinceProgress / period) > Math.floor(before / period)) {
        stream.next = stream.acked;
        messages.push(...this.fillWindow(stream, true));
      }
    }
    return { messages, events };
  }

  /** A follower's answer to a chunk. */
  receiveAck(ack: SnapshotChunkAck): StreamOutput {
    const stream = this.outgoing.get(ack.from);
    if (stream === undefined || stream.refusedByPeer || !sameImage(stream, ack) || ack.term !== stream.term) return nothing;
    const length = stream.length;
    if (ack.refused === 'size') return this.refusedBySize(stream);
    if (ack.offset > stream.acked) {
      // Past more than one chunk at once: acknowledgements were lost (a reconnect) and it held more than we knew.
      if (ack.offset - stream.acked > this.options.chunkUnits) this.counters.streamsResumed += 1;
      stream.acked = ack.offset;
      stream.next = Math.max(stream.next, ack.offset);
      stream.ticksSinceProgress = 0;
      stream.stallReported = false;
    } else if (ack.offset < stream.acked) {
      // It holds less than it said before: it restarted, or gave up on that image. Start again from its offset.
      stream.acked = ack.offset;
      stream.next = ack.offset;
    } else if (ack.refused !== null) {
      stream.next = stream.acked; // a refused chunk: re-send from the offset it expects
    }
    if (stream.acked === length) {
      this.outgoing.delete(ack.from);
      this.sizeRefusals.delete(ack.from);
      this.counters.streamsCompleted += 1;
      return { messages: [], events: [{ kind: 'completed', peer: ack.from, index: stream.snapshot.meta.index, length }] };
    }
    return { messages: this.fillWindow(stream, ack.refused !== null), events: [] };
  }

  /**
   * A chunk from the leader. Answers with the offset expected next; once the last chunk is in, returns the whole
   * image as the core's installSnapshot message.
   */
  receiveChunk(chunk: SnapshotChunk): { readonly reply: SnapshotChunkAck; readonly install: Extract<Message, { type: 'installSnapshot' }> | null; readonly events: readonly StreamEvent[] } {
    this.counters.chunksReceived += 1;
    const imageMax = chunk.format === 'file' ? this.options.imageBytesMax : this.options.imageUnitsMax;
    if (chunk.data.length > this.options.chunkUnits || chunk.length > imageMax) {
      // Before any state is looked at or kept: a forged or broken peer's declared sizes allocate nothing here.
      this.counters.chunksRefusedSize += 1;
      const refusals = this.counters.chunksRefusedSize;
      const events: StreamEvent[] = (refusals & (refusals - 1)) === 0
        ? [{ kind: 'refusedSize', peer: chunk.from, index: chunk.index, units: chunk.data.length, declaredLength: chunk.length, refusals }] : [];
      return { reply: this.ack(chunk, 0, 'size'), install: null, events };
    }
    const completed = this.completed;
    if (completed !== null && completed.from === chunk.from && sameIdentity(completed, chunk)) {
      return { reply: this.ack(chunk, chunk.length, null), install: null, events: [] }; // a late copy of an image already handed over
    }
    let incoming = this.incoming;
    const receiving: StreamEvent[] = [];
    if (incoming === null || incoming.from !== chunk.from || !sameIdentity(incoming.identity, chunk)) {
      if (chunk.offset !== 0) {
        this.counters.chunksRefusedGap += 1;
        return { reply: this.ack(chunk, 0, 'gap'), install: null, events: [] };
      }
      const identity: ChunkIdentity = { index: chunk.index, snapshotTerm: chunk.snapshotTerm, length: chunk.length, ...(chunk.format === 'file' ? { format: 'file' as const } : {}) };
      const staging = chunk.format === 'file' ? this.options.incomingImagePath?.(identity) ?? null : null;
      if (chunk.format === 'file' && staging === null) {
        this.counters.chunksRefusedSize += 1; // this replica takes no file images: as if the image were too large
        return { reply: this.ack(chunk, 0, 'size'), install: null, events: [] };
      }
      if (incoming?.stagingPath != null && incoming.stagingPath !== staging) rmSync(incoming.stagingPath, { force: true }); // abandoned
      if (staging !== null) closeSync(openSync(staging, 'w')); // a new image starts clean, whatever a crash left
      incoming = { from: chunk.from, identity, peers: chunk.peers, parts: [], stagingPath: staging, received: 0 };
      this.incoming = incoming;
      receiving.push({ kind: 'receiving', peer: chunk.from, index: chunk.index, length: chunk.length });
    }
    if (chunk.offset !== incoming.received) {
      // A duplicate (behind) is answered without a refusal: the leader learns where this side is and moves on.
      if (chunk.offset > incoming.received) this.counters.chunksRefusedGap += 1;
      return { reply: this.ack(chunk, incoming.received, chunk.offset > incoming.received ? 'gap' : null), install: null, events: [] };
    }
    const bytes = incoming.stagingPath === null ? null : Buffer.from(chunk.data, 'base64');
    const units = bytes === null ? chunk.data.length : bytes.length;
    if (crc32(chunk.data) !== chunk.checksum || chunk.offset + units > chunk.length || (units === 0 && chunk.length > 0)) {
      this.counters.chunksRefusedChecksum += 1;
      return { reply: this.ack(chunk, incoming.received, 'checksum'), install: null, events: receiving };
    }
    if (bytes === null) incoming.parts.push(chunk.data);
    else writeAt(incoming.stagingPath!, chunk.offset, bytes);
    incoming.received += units;
    if (incoming.received < chunk.length) return { reply: this.ack(chunk, incoming.received, null), install: null, events: receiving };
    this.incoming = null;
    this.completed = { from: chunk.from, ...incoming.identity };
    this.counters.imagesInstalled += 1;
    const data = incoming.stagingPath === null ? incoming.parts.join('') : imageFileReference({ path: incoming.stagingPath, bytes: chunk.length });
    const snapshot: Snapshot = { meta: { index: chunk.index, term: chunk.snapshotTerm, peers: [...incoming.peers] }, data };
    const install = { type: 'installSnapshot' as const, from: chunk.from, to: chunk.to, term: chunk.term, snapshot };
    return { reply: this.ack(chunk, chunk.length, null), install, events: receiving };
  }

  private ack(chunk: SnapshotChunk, offset: number, refused: SnapshotChunkAck['refused']): SnapshotChunkAck {
    return {
      type: 'snapshotChunkAck', from: this.options.self, to: chunk.from, term: chunk.term,
      index: chunk.index, snapshotTerm: chunk.snapshotTerm, length: chunk.length, offset, refused, ...(chunk.format === 'file' ? { format: 'file' as const } : {}),
    };
  }

  /** Chunks from `next` until the window past the acknowledged offset is full. */
  /** The follower will not take this image: stop it and back off (module header). */
  private refusedBySize(stream: Outgoing): StreamOutput {
    stream.refusedByPeer = true;
    this.counters.imagesRefusedByPeer += 1;
    const inRow = (this.sizeRefusals.get(stream.peer)?.inRow ?? 0) + 1;
    const retryInTicks = this.options.stallTicks * Math.min(sizeRefusalBackoffMax, 2 ** (inRow - 1));
    this.sizeRefusals.set(stream.peer, { inRow, retryAtTick: this.ticks + retryInTicks });
    return { messages: [], events: [{ kind: 'refusedByPeer', peer: stream.peer, index: stream.snapshot.meta.index, length: stream.length, refusals: inRow, retryInTicks }] };
  }

  private fillWindow(stream: Outgoing, resend: boolean): SnapshotChunk[] {
    const step = stream.file === null ? this.options.chunkUnits : fileChunkBytes(this.options.chunkUnits);
    const limit = stream.acked + this.options.windowChunks * step;
    const chunks: SnapshotChunk[] = [];
    // An empty image is one empty chunk, so that the follower still receives it.
    if (stream.length === 0 && stream.next === 0) chunks.push(this.chunk(stream, 0, ''));
    while (stream.next < stream.length && stream.next < limit) {
      let end = Math.min(stream.length, stream.next + step);
      let data: string;
      if (stream.file === null) {
        const text = stream.snapshot.data;
        if (end < text.length && isHighSurrogate(text.charCodeAt(end - 1))) end -= 1; // never split a surrogate pair
        data = text.slice(stream.next, end);
      } else {
        const bytes = readOrNull(stream.file.path, stream.next, end - stream.next);
        if (bytes === null) {
          // The file went (a newer image replaced it): the stream ends; the core offers its image again.
          this.outgoing.delete(stream.peer);
          break;
        }
        data = bytes.toString('base64');
      }
      chunks.push(this.chunk(stream, stream.next, data));
      stream.next = end;
    }
    if (resend) this.counters.chunksResent += chunks.length;
    else this.counters.chunksSent += chunks.length;
    return chunks;
  }

  private chunk(stream: Outgoing, offset: number, data: string): SnapshotChunk {
    const meta = stream.snapshot.meta;
    return {
      type: 'snapshotChunk', from: this.options.self, to: stream.peer, term: stream.term, index: meta.index, snapshotTerm: meta.term,
      length: stream.length, peers: meta.peers, offset, data, checksum: crc32(data), ...(stream.file === null ? {} : { format: 'file' as const }),
    };
  }
}

/** `length` bytes of the file at `offset` (a file image shorter than that is broken: it throws). */
function readAt(path: string, offset: number, length: number): Buffer {
  const buffer = Buffer.alloc(length);
  const descriptor = openSync(path, 'r');
  try {
    let done = 0;
    while (done < length) {
      const read = readSync(descriptor, buffer, done, length - done, offset + done);
      if (read === 0) throw new Error(`image file ${path} ends before byte ${offset + length}`);
      done += read;
    }
    return buffer;
  } finally {
    closeSync(descriptor);
  }
}

function readOrNull(path: string, offset: number, length: number): Buffer | null {
  try {
    return readAt(path, offset, length);
  } catch {
    return null;
  }
}

function writeAt(path: string, offset: number, bytes: Buffer): void {
  const descriptor = openSync(path, 'r+');
  try {
    let done = 0;
    while (done < bytes.length) done += writeSync(descriptor, bytes, done, bytes.length - done, offset + done);
  } finally {
    closeSync(descriptor);
  }
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}

function sameIdentity(left: ChunkIdentity, right: ChunkIdentity): boolean {
  return left.index === right.index && left.snapshotTerm === right.snapshotTerm && left.length === right.length && left.format === right.format;
}

function sameImage(stream: Outgoing, ack: ChunkIdentity): boolean {
  const format = stream.file === null ? {} : { format: 'file' as const };
  return sameIdentity({ index: stream.snapshot.meta.index, snapshotTerm: stream.snapshot.meta.term, length: stream.length, ...format }, ack);
}
