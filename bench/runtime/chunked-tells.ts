// A long run of numbered tells, sent in chunks: one handler run tells at most `chunkSize` items, then tells its own
// actor to go on from there, so the actor returns to its mailbox (and answers the watchdog) between chunks. Used by
// the runtime benchmark's actor and by the runtime tests' sequence fixture, which checks the order they arrive in.
import type { ActorContext } from '../../src/runtime/actor.js';

/** The message an actor tells itself for the rest of a run: items `next` up to (not including) `end` for `target`. */
export interface ChunkMessage {
  readonly type: 'chunk';
  readonly target: string;
  readonly next: number;
  readonly end: number;
}

/** Tells `target` items 0 to count − 1, one { type: 'item', sequence } each, a chunk at a time. */
export function startChunkedTells(context: ActorContext, target: string, count: number): void {
  const first: ChunkMessage = { type: 'chunk', target, next: 0, end: count };
  context.tell(context.self, first);
}

/** Handles one chunk: tells its items, then, if the run is not over, tells itself where to go on. */
export function tellChunk(context: ActorContext, message: ChunkMessage, chunkSize: number): void {
  const stop = Math.min(message.end, message.next + chunkSize);
  for (let sequence = message.next; sequence < stop; sequence += 1) context.tell(message.target, { type: 'item', sequence });
  if (stop < message.end) context.tell(context.self, { ...message, next: stop });
}
