// CPU per request at a fixed offered load (not a test): what a change costs, independent of how fast the machine
// happens to be at the moment. At full load, req/s and CPU per request both move with the machine's other work;
// at a fixed rate below saturation the work per request is what changes.
//
//   npm run build && node dist/bench/fixed-rate.js --kind hit|miss|order|baseline [--rate 10000] [--seconds 6]
//   node dist/bench/fixed-rate.js --kind idle [--seconds 8]
//
// Starts `pygmy start` on a fresh temp dir with the benchmark's catalog (--no-cache for `miss`), offers the
// load with autocannon's `overallRate` over 32 connections after a 2 s warm-up, and prints the server's CPU per
// request: the whole process from /proc/PID/stat (every thread, ended ones included; 10 ms ticks) and its main
// thread alone (the gateway's) from /proc/PID/task/PID/schedstat (nanoseconds). Linux only. `baseline` offers the
// hit load to the bare node:http server of `baseline-http` instead: the floor that `hit` is compared with. `idle`
// offers nothing and prints CPU per second. Run each build alternately several times and compare medians.
import { readFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import autocannon, { type RequestSpec, type Result } from 'autocannon';
import { benchCatalog, processCpuMs as processCpuMsOrNull } from './run.js';
import { startBaseline, startPygmy, type RunningServer } from './servers.js';

type Kind = 'hit' | 'miss' | 'order' | 'idle' | 'baseline';
const kinds: readonly Kind[] = ['hit', 'miss', 'order', 'idle', 'baseline'];
const warmSeconds = 2;
const connections = 32;

/** CPU time (ms) a thread has run, from its schedstat; 0 once the thread is gone. */
function threadCpuMs(pid: number, tid: string): number {
  try {
    return Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]) / 1e6;
  } catch {
    return 0;
  }
}

function mainThreadCpuMs(pid: number): number {
  return threadCpuMs(pid, String(pid));
}

/** The whole process's CPU time (ms), threads that ended included (a snapshot builder ends after its work). */
function processCpuMs(pid: number): number {
  const used = processCpuMsOrNull(pid);
  if (used === null) throw new Error(`the server (pid ${pid}) is gone`);
  return used;
}

function requestsFor(kind: Kind): RequestSpec[] {
  if (kind === 'order') return [1, 2, 3, 4].map((id) => ({ method: 'POST', path: `/order/${id}?amount=1` }));
  return [1, 2, 3, 4, 5, 6, 7, 8].map((id) => ({ method: 'GET', path: `/lookup/${id}` }));
}

function offer(url: string, kind: Kind, rate: number, seconds: number): Promise<Result> {
  return new Promise((resolve, reject) => {
    autocannon({ url, connections, duration: seconds, overallRate: rate, requests: requestsFor(kind) }, (error, result) =>
      error === null ? resolve(result) : reject(error),
    );
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { kind: { type: 'string' }, rate: { type: 'string' }, seconds: { type: 'string' } } });
  const kind = values.kind as Kind;
  if (!kinds.includes(kind)) throw new Error(`--kind must be one of ${kinds.join(', ')}`);
  const rate = Number(values.rate ?? (kind === 'order' ? 1_500 : 10_000));
  const seconds = Number(values.seconds ?? (kind === 'idle' ? 8 : 6));
  const root = mkdtempSync(join(tmpdir(), 'pygmy-fixed-rate-'));
  const catalogPath = join(root, 'catalog.json');
  writeFileSync(catalogPath, JSON.stringify(benchCatalog()));
  const server: RunningServer =
    kind === 'baseline'
      ? await startBaseline()
      : await startPygmy({ dataDir: join(root, 'data'), catalogPath, cacheEnabled: kind !== 'miss' });
  try {
    const url = server.url;
    if (kind === 'idle') {
      await new Promise((resolve) => setTimeout(resolve, warmSeconds * 1_000));
      const before = processCpuMs(server.pid);
      const mainBefore = mainThreadCpuMs(server.pid);
      await new Promise((resolve) => setTimeout(resolve, seconds * 1_000));
      const perSecond = (ms: number) => (ms / seconds).toFixed(1);
      console.log(
        `idle: ${perSecond(processCpuMs(server.pid) - before)} ms of CPU per second (the whole process), ` +
          `main thread ${perSecond(mainThreadCpuMs(server.pid) - mainBefore)} ms`,
      );
      return;
    }
    await offer(url, kind, rate, warmSeconds);
    const processBefore = processCpuMs(server.pid);
    const mainBefore = mainThreadCpuMs(server.pid);
    const result = await offer(url, kind, rate, seconds);
    const served = result.requests.total;
    const perRequest = (ms: number) => ((ms * 1_000) / Math.max(1, served)).toFixed(2);
    console.log(
      `${kind} at ${rate}/s: ${served} requests (${Math.round(served / seconds)}/s, non-2xx ${result.non2xx}), ` +
        `process ${perRequest(processCpuMs(server.pid) - processBefore)} us/request, ` +
        `main thread ${perRequest(mainThreadCpuMs(server.pid) - mainBefore)} us/request, p99 ${result.latency.p99} ms`,
    );
  } finally {
    await server.stop();
    rmSync(root, { recursive: true, force: true });
  }
}

await main();
