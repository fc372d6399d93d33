// Baseline worker for bench/runtime.ts: bare postMessage between two workers, one message per call,
// so the runtime's figures can be read against what the platform gives without any runtime on top.

import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';

interface RawWorkerData {
  role: 'sender' | 'receiver';
  port: MessagePort;
}

type Command = { type: 'blast'; count: number } | { type: 'round-trips'; count: number } | { type: 'expect'; count: number };

const { role, port } = workerData as RawWorkerData;
if (parentPort === null) throw new Error('raw-worker must run in a worker thread');
const parent = parentPort;

let expected = 0;
let received = 0;
let pongWaiter: (() => void) | null = null;

port.on('message', (message: { type: string; sequence: number }) => {
  if (role === 'receiver') {
    if (message.type === 'ping') return port.postMessage({ type: 'pong', sequence: message.sequence });
    received += 1;
    if (received === expected) parent.postMessage({ type: 'done' });
    return;
  }
  if (message.type === 'pong' && pongWaiter !== null) pongWaiter();
});

async function roundTrips(count: number): Promise<number[]> {
  const latenciesMs: number[] = [];
  for (let sequence = 0; sequence < count; sequence += 1) {
    const startedMs = performance.now();
    await new Promise<void>((resolve) => {
      pongWaiter = resolve;
      port.postMessage({ type: 'ping', sequence });
    });
    latenciesMs.push(performance.now() - startedMs);
  }
  return latenciesMs;
}

parent.on('message', async (command: Command) => {
  switch (command.type) {
    case 'expect':
      expected = command.count;
      received = 0;
      return parent.postMessage({ type: 'ready' });
    case 'blast':
      for (let sequence = 0; sequence < command.count; sequence += 1) port.postMessage({ type: 'item', sequence });
      return;
    case 'round-trips':
      return parent.postMessage({ type: 'latencies', latenciesMs: await roundTrips(command.count) });
  }
});
