// Benchmark actor for bench/runtime.ts: the same work as raw-worker.ts, through the actor runtime.

import { performance } from 'node:perf_hooks';
import { defineActor, type ActorContext } from '../../src/runtime/actor.js';
import { startChunkedTells, tellChunk, type ChunkMessage } from './chunked-tells.js';

type BenchMessage =
  | { type: 'expect'; count: number }
  | { type: 'blast'; target: string; count: number }
  | ChunkMessage
  | { type: 'item'; sequence: number }
  | { type: 'ping' }
  | { type: 'ask-loop'; target: string; count: number };

interface BenchState {
  expected: number;
  received: number;
}

/** Tells per handler run: big enough to amortise the self-tell, small enough to keep the watchdog answered. */
const chunkSize = 20_000;

async function askLoop(target: string, count: number, context: ActorContext): Promise<number[]> {
  const latenciesMs: number[] = [];
  for (let sequence = 0; sequence < count; sequence += 1) {
    const startedMs = performance.now();
    await context.ask(target, { type: 'ping' });
    latenciesMs.push(performance.now() - startedMs);
  }
  return latenciesMs;
}

export default defineActor<BenchState, BenchMessage, unknown>({
  init() {
    return { expected: 0, received: 0 };
  },
  // Synchronous on purpose: an async receive() costs a promise and a microtask per message.
  receive(state, message, context) {
    switch (message.type) {
      case 'expect':
        state.expected = message.count;
        state.received = 0;
        return 'ready';
      case 'blast':
        startChunkedTells(context, message.target, message.count);
        return 'started';
      case 'chunk':
        tellChunk(context, message, chunkSize);
        return undefined;
      case 'item':
        state.received += 1;
        if (state.received === state.expected) context.tell('$system', { type: 'done' });
        return undefined;
      case 'ping':
        return 1;
      case 'ask-loop':
        return askLoop(message.target, message.count, context);
    }
  },
});
