// The measurement shared by the runtime benchmarks (bench/runtime.ts, one process; bench/transport.ts, over TCP):
// a blast of tells from `source` to `sink`, then a loop of asks, with the first round trips left out as warm-up.
import { once } from 'node:events';
import { performance } from 'node:perf_hooks';
import type { Logger } from '../../src/runtime/actor.js';
import type { ActorSystem } from '../../src/runtime/system.js';

export interface Figures {
  tellsPerSecond: number;
  roundTripP50Ms: number;
  roundTripP99Ms: number;
}

export interface DriveCounts {
  readonly tellCount: number;
  readonly roundTripCount: number;
  readonly warmupRoundTrips: number;
  /** Bound on the whole ask loop. */
  readonly askLoopTimeoutMs: number;
}

/** Only warnings and errors, on stderr: the figures go to stdout. */
export const quietLogger: Logger = { debug: () => undefined, info: () => undefined, warn: (object, message) => console.error(message ?? object), error: (object, message) => console.error(message ?? object) };

function percentile(sortedMs: number[], fraction: number): number {
  const index = Math.min(sortedMs.length - 1, Math.floor(sortedMs.length * fraction));
  return sortedMs[index] ?? Number.NaN;
}

/** Median and 99th percentile of the round trips after the warm-up. */
export function roundTripPercentiles(latenciesMs: number[], warmupRoundTrips: number): { p50: number; p99: number } {
  const sorted = latenciesMs.slice(warmupRoundTrips).sort((left, right) => left - right);
  return { p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99) };
}

/** Runs the blast and the ask loop; the actor `sink` lives in `sinkSystem`, `source` in `sourceSystem` (they may be one). */
export async function drive(sourceSystem: ActorSystem, sinkSystem: ActorSystem, counts: DriveCounts): Promise<Figures> {
  await sinkSystem.ask('sink', { type: 'expect', count: counts.tellCount });
  const done = once(sinkSystem, 'message');
  const startedMs = performance.now();
  await sourceSystem.ask('source', { type: 'blast', target: 'sink', count: counts.tellCount });
  await done;
  const tellsPerSecond = counts.tellCount / ((performance.now() - startedMs) / 1000);
  const latenciesMs = await sourceSystem.ask<number[]>('source', { type: 'ask-loop', target: 'sink', count: counts.roundTripCount + counts.warmupRoundTrips }, { timeoutMs: counts.askLoopTimeoutMs });
  const { p50, p99 } = roundTripPercentiles(latenciesMs, counts.warmupRoundTrips);
  return { tellsPerSecond, roundTripP50Ms: p50, roundTripP99Ms: p99 };
}
