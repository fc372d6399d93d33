// Runtime benchmark (not a test): one-way tell throughput and ask round-trip latency between two actors in
// separate workers, printed beside bare postMessage between two workers measured in the same run.
// Run: npm run build && node dist/bench/runtime.js [tellCount] [roundTrips]

import { once } from 'node:events';
import { performance } from 'node:perf_hooks';
import { MessageChannel, Worker } from 'node:worker_threads';
import { ActorSystem } from '../src/runtime/system.js';
import { drive, quietLogger, roundTripPercentiles, type Figures } from './runtime/drive.js';

const tellCount = Number(process.argv[2] ?? 1_000_000);
const roundTripCount = Number(process.argv[3] ?? 20_000);
const warmupRoundTrips = 2_000;

async function nextMessage(worker: Worker, type: string): Promise<Record<string, unknown>> {
  for (;;) {
    const [message] = (await once(worker, 'message')) as [Record<string, unknown>];
    if (message.type === type) return message;
  }
}

async function measureRaw(): Promise<Figures> {
  const channel = new MessageChannel();
  const url = new URL('./runtime/raw-worker.js', import.meta.url);
  const sender = new Worker(url, { workerData: { role: 'sender', port: channel.port1 }, transferList: [channel.port1] });
  const receiver = new Worker(url, { workerData: { role: 'receiver', port: channel.port2 }, transferList: [channel.port2] });
  try {
    receiver.postMessage({ type: 'expect', count: tellCount });
    await nextMessage(receiver, 'ready');
    const startedMs = performance.now();
    const done = nextMessage(receiver, 'done');
    sender.postMessage({ type: 'blast', count: tellCount });
    await done;
    const tellsPerSecond = tellCount / ((performance.now() - startedMs) / 1000);
    sender.postMessage({ type: 'round-trips', count: roundTripCount + warmupRoundTrips });
    const { latenciesMs } = (await nextMessage(sender, 'latencies')) as { latenciesMs: number[] };
    const { p50, p99 } = roundTripPercentiles(latenciesMs, warmupRoundTrips);
    return { tellsPerSecond, roundTripP50Ms: p50, roundTripP99Ms: p99 };
  } finally {
    await Promise.all([sender.terminate(), receiver.terminate()]);
  }
}

async function measureRuntime(): Promise<Figures> {
  const system = new ActorSystem({ logger: quietLogger, watchdogTimeoutMs: 30_000 });
  const module = new URL('./runtime/bench-actor.js', import.meta.url);
  try {
    await system.start([
      { name: 'sink', module, mailboxCapacity: tellCount + 1_000 },
      { name: 'source', module },
    ]);
    return await drive(system, system, { tellCount, roundTripCount, warmupRoundTrips, askLoopTimeoutMs: 120_000 });
  } finally {
    await system.shutdown();
  }
}

function row(label: string, figures: Figures): string {
  const rate = `${Math.round(figures.tellsPerSecond).toLocaleString('en-US')} msg/s`.padStart(16);
  return `${label.padEnd(22)} ${rate}   p50 ${figures.roundTripP50Ms.toFixed(3)} ms   p99 ${figures.roundTripP99Ms.toFixed(3)} ms`;
}

const raw = await measureRaw();
const runtime = await measureRuntime();
console.log(`tells: ${tellCount.toLocaleString('en-US')}, round trips: ${roundTripCount.toLocaleString('en-US')} (after ${warmupRoundTrips} warm-up)`);
console.log(row('raw postMessage', raw));
console.log(row('runtime tell / ask', runtime));
console.log(`tell throughput ratio ${(runtime.tellsPerSecond / raw.tellsPerSecond).toFixed(2)}x (target >= 0.7x); ask p50 ratio ${(runtime.roundTripP50Ms / raw.roundTripP50Ms).toFixed(2)}x (target <= 2x)`);
