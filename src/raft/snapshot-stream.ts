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
// - a stream that makes no progress for `stallTicks` ticks is reported once (`stalled`), and counted; the leader
//   keeps re-sending while the core still wants the image.
// Does not: hold the image in fewer than one string on either side (the core's image is one string; see
// README.md, "Snapshots"), or decide which follower needs an image (the core does).
import { crc32 } from 'node:zlib';
import type { Message, NodeId, Snapshot } from './types.js';

/** UTF-16 code units of image text per chunk. */
export const snapshotChunkUnitsMax = 128 * 1024;
/** UTF-16 code units of a whole image: V8's longest string (the image is one string on both sides). */
export const snapshotImageUnitsMax = 0x1fff_ffe8;

interface ChunkIdentity {
  /** The image's index and term, and its length in UTF-16 code units. */
  readonly index: number;
  readonly snapshotTerm: number;
  readonly length: number;
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
  readonly windowChunks: number;
  readonly retransmitTicks: number;
  readonly stallTicks: number;
}

export const defaultSnapshotStreamOptions = { chunkUnits: snapshotChunkUnitsMax, imageUnitsMax: snapshotImageUnitsMax, windowChunks: 4, retransmitTicks: 6, stallTicks: 200 } as const;

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
  | { readonly kind: 'stalled'; readonly peer: NodeId; readonly index: number; readonly acked: number; readonly length: number; readonly ticks: number }
  | { readonly kind: 'refusedSize'; readonly peer: NodeId; readonly index: number; readonly units: number; readonly declaredLength: number; readonly refusals: number }
  | { readonly kind: 'imageTooLarge'; readonly peer: NodeId; readonly index: number; readonly length: number };

interface Outgoing {
  readonly peer: NodeId;
  readonly term: number;
  readonly snapshot: Snapshot;
  acked: number;
  next: number;
  ticksSinceProgress: number;
  stallReported: boolean;
}

interface Incoming {
  readonly from: NodeId;
  readonly identity: ChunkIdentity;
  readonly peers: readonly NodeId[];
  readonly parts: string[];
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
  readonly counters: SnapshotStreamCounters = {
    streamsStarted: 0, streamsCompleted: 0, streamsStalled: 0, streamsResumed: 0, chunksSent: 0, chunksResent: 0,
    chunksReceived: 0, chunksRefusedChecksum: 0, chunksRefusedGap: 0, chunksRefusedSize: 0, imagesTooLarge: 0, imagesInstalled: 0,
  };

  constructor(private readonly options: SnapshotStreamOptions) {
    if (!Number.isSafeInteger(options.chunkUnits) || options.chunkUnits < 2 || options.chunkUnits > snapshotChunkUnitsMax) {
      throw new RangeError(`chunkUnits must be an integer in [2, ${snapshotChunkUnitsMax}], not ${options.chunkUnits}`);
    }
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
    return stream === undefined ? null : { index: stream.snapshot.meta.index, acked: stream.acked, length: stream.snapshot.data.length };
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
    if (current !== undefined && current.term === message.term && current.snapshot.meta.index === meta.index
      && current.snapshot.meta.term === meta.term && current.snapshot.data.length === message.snapshot.data.length) {
      return nothing;
    }
    if (message.snapshot.data.length > this.options.imageUnitsMax) {
      this.counters.imagesTooLarge += 1;
      return { messages: [], events: [{ kind: 'imageTooLarge', peer: message.to, index: meta.index, length: message.snapshot.data.length }] };
    }
    const stream: Outgoing = {
      peer: message.to, term: message.term, snapshot: message.snapshot, acked: 0, next: 0, ticksSinceProgress: 0, stallReported: false,
    };
    this.outgoing.set(message.to, stream);
    this.counters.streamsStarted += 1;
    const started: StreamEvent = { kind: 'started', peer: message.to, index: meta.index, length: message.snapshot.data.length };
    return { messages: this.fillWindow(stream, false), events: [started] };
  }

  /** This replica is no longer the leader of that term: its streams end. */
  dropOutgoing(): void {
    this.outgoing.clear();
  }

  /** `count` ticks passed: streams without an acknowledgement for retransmitTicks re-send from the acknowledged offset. */
  tick(count: number): StreamOutput {
    if (this.outgoing.size === 0) return nothing;
    const messages: SnapshotStreamMessage[] = [];
    const events: StreamEvent[] = [];
    for (const stream of this.outgoing.values()) {
      const before = stream.ticksSinceProgress;
      stream.ticksSinceProgress += count;
      if (!stream.stallReported && stream.ticksSinceProgress >= this.options.stallTicks) {
        stream.stallReported = true;
        this.counters.streamsStalled += 1;
        const meta = stream.snapshot.meta;
        events.push({ kind: 'stalled', peer: stream.peer, index: meta.index, acked: stream.acked, length: stream.snapshot.data.length, ticks: stream.ticksSinceProgress });
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
    if (stream === undefined || !sameImage(stream, ack) || ack.term !== stream.term) return nothing;
    const length = stream.snapshot.data.length;
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
    if (chunk.data.length > this.options.chunkUnits || chunk.length > this.options.imageUnitsMax) {
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
    if (incoming === null || incoming.from !== chunk.from || !sameIdentity(incoming.identity, chunk)) {
      if (chunk.offset !== 0) {
        this.counters.chunksRefusedGap += 1;
        return { reply: this.ack(chunk, 0, 'gap'), install: null, events: [] };
      }
      incoming = { from: chunk.from, identity: { index: chunk.index, snapshotTerm: chunk.snapshotTerm, length: chunk.length }, peers: chunk.peers, parts: [], received: 0 };
      this.incoming = incoming;
    }
    if (chunk.offset !== incoming.received) {
      // A duplicate (behind) is answered without a refusal: the leader learns where this side is and moves on.
      if (chunk.offset > incoming.received) this.counters.chunksRefusedGap += 1;
      return { reply: this.ack(chunk, incoming.received, chunk.offset > incoming.received ? 'gap' : null), install: null, events: [] };
    }
    if (crc32(chunk.data) !== chunk.checksum || chunk.offset + chunk.data.length > chunk.length || (chunk.data.length === 0 && chunk.length > 0)) {
      this.counters.chunksRefusedChecksum += 1;
      return { reply: this.ack(chunk, incoming.received, 'checksum'), install: null, events: [] };
    }
    incoming.parts.push(chunk.data);
    incoming.received += chunk.data.length;
    if (incoming.received < chunk.length) return { reply: this.ack(chunk, incoming.received, null), install: null, events: [] };
    this.incoming = null;
    this.completed = { from: chunk.from, ...incoming.identity };
    this.counters.imagesInstalled += 1;
    const snapshot: Snapshot = { meta: { index: chunk.index, term: chunk.snapshotTerm, peers: [...incoming.peers] }, data: incoming.parts.join('') };
    const install = { type: 'installSnapshot' as const, from: chunk.from, to: chunk.to, term: chunk.term, snapshot };
    return { reply: this.ack(chunk, chunk.length, null), install, events: [] };
  }

  private ack(chunk: SnapshotChunk, offset: number, refused: SnapshotChunkAck['refused']): SnapshotChunkAck {
    return {
      type: 'snapshotChunkAck', from: this.options.self, to: chunk.from, term: chunk.term,
      index: chunk.index, snapshotTerm: chunk.snapshotTerm, length: chunk.length, offset, refused,
    };
  }

  /** Chunks from `next` until the window past the acknowledged offset is full. */
  private fillWindow(stream: Outgoing, resend: boolean): SnapshotChunk[] {
    const data = stream.snapshot.data;
    const limit = stream.acked + this.options.windowChunks * this.options.chunkUnits;
    const chunks: SnapshotChunk[] = [];
    // An empty image is one empty chunk, so that the follower still receives it.
    if (data.length === 0 && stream.next === 0 && chunks.length === 0) {
      chunks.push(this.chunk(stream, 0, ''));
      stream.next = 0;
    }
    while (stream.next < data.length && stream.next < limit) {
      let end = Math.min(data.length, stream.next + this.options.chunkUnits);
      if (end < data.length && isHighSurrogate(data.charCodeAt(end - 1))) end -= 1; // never split a surrogate pair
      chunks.push(this.chunk(stream, stream.next, data.slice(stream.next, end)));
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
      length: stream.snapshot.data.length, peers: meta.peers, offset, data, checksum: crc32(data),
    };
  }
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}

function sameIdentity(left: ChunkIdentity, right: ChunkIdentity): boolean {
  return left.index === right.index && left.snapshotTerm === right.snapshotTerm && left.length === right.length;
}

function sameImage(stream: Outgoing, ack: ChunkIdentity): boolean {
  return sameIdentity({ index: stream.snapshot.meta.index, snapshotTerm: stream.snapshot.meta.term, length: stream.snapshot.data.length }, ack);
}
