// Keeps process.nextTick fast for the life of a thread.
//
// Why: on Node 20 (V8 11.3), every process.nextTick builds its queue entry with an object literal whose keys
// start with two symbols, and V8 keeps that literal's chain of hidden classes (maps) only weakly. A full garbage
// collection that runs while no tick is queued (the usual case) frees the chain, and the next tick builds a new
// one. After a few such collections the inline caches of that literal have seen more maps than they track and
// turn megamorphic, for good: optimized code from then on defines every property of every tick through the
// runtime. A lookup hit makes about ten ticks inside node:http and node:stream, and in the gateway's thread this
// cost about 12% of its CPU under load (perf: Runtime_DefineKeyedOwnPropertyInLiteral). A bare server that
// never needs a full collection never shows it; `node dist/bench/next-tick.js` reproduces both cases.
// Holding two real queue entries (with and without arguments) keeps their maps, and so the chain, alive.
// Promises: keepTickObjectShape() is cheap, idempotent and harmless where it finds nothing to keep (another Node
// version); call it first thing in a thread, before any full collection. Needs: node:async_hooks, enabled for
// the two calls and disabled again.
import { createHook } from 'node:async_hooks';

const kept: object[] = [];

/** Keeps two of this thread's tick queue entries alive; returns how many it holds (0 if none were seen). */
export function keepTickObjectShape(): number {
  if (kept.length > 0) return kept.length;
  const hook = createHook({
    init(_asyncId, type, _triggerAsyncId, resource) {
      if (type === 'TickObject' && kept.length < 2) kept.push(resource);
    },
  });
  hook.enable();
  try {
    process.nextTick(() => {});
    process.nextTick((_value: unknown) => {}, 0);
  } finally {
    hook.disable();
  }
  return kept.length;
}
