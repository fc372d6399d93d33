// Membership-change figures of the single-process cluster (not a test: figures for people).
//
//   node dist/bench/membership.js [--orders 100000] [--fill gateway|direct] [--writers 8] [--fill-writers 64] [--baseline-s 5]
//
// 1. Fill: --orders orders in the order group, so its log and tables hold that many (its log is compacted every
//    10,000 entries, so a new member catches up by image). `gateway` places them through the gateway
//    (--fill-writers at a time): whole sagas, the catalog deducts too. `direct` proposes the two records a saga
//    leaves in the order group (pending, then committed) straight to the order leader, 256 in flight: the same
//    rows in the order group at many times the rate, but without the catalog's deducts (stock is not conserved
//    for those orders; the figures are about the order group's size).
// 2. Steady writes: --writers clients order in a loop for the rest of the run; every acknowledgement is timed.
//    After --baseline-s seconds without a change, the changes run one after another: add order-4 (a learner,
//    promoted once caught up), add catalog-4, remove order-4, remove catalog-4. For each: the time the admin
//    call took (for an add: from `member add` to promoted), and the longest time with no write acknowledged
//    while it ran, beside the longest such gap of the baseline (what the machine does without a change).
// The machine may be shared: the baseline gap, measured in the same run, says how much of a gap is its own noise.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { encodeOrderCommand, type OrderCommand } from '../src/actors/order/state.js';
import { startCluster, type RunningCluster } from '../src/cluster/cluster.js';
import { createLogger } from '../src/cli/logger.js';

const { values } = parseArgs({
  options: { orders: { type: 'string' }, fill: { type: 'string' }, writers: { type: 'string' }, 'fill-writers': { type: 'string' }, 'baseline-s': { type: 'string' } },
});
const ordersWanted = Number(values.orders ?? 100_000);
const writers = Number(values.writers ?? 8);
const fillWriters = Number(values['fill-writers'] ?? 64);
const baselineMs = Number(values['baseline-s'] ?? 5) * 1_000;
for (const [name, value] of [['--orders', ordersWanted], ['--writers', writers], ['--fill-writers', fillWriters], ['--baseline-s', baselineMs]] as const) {
  if (!Number.isSafeInteger(value) || value < 1) throw new Error(`${name} must be a positive integer`);
}
const fillMode = values.fill ?? 'gateway';
if (fillMode !== 'gateway' && fillMode !== 'direct') throw new Error(`--fill must be gateway or direct, not ${fillMode}`);
const runTimeMsMax = 30 * 60_000;
const directInFlight = 256;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

async function order(url: string, key: string): Promise<boolean> {
  try {
    const answer = await fetch(`${url}/order/2?amount=1`, { method: 'POST', headers: { 'idempotency-key': key }, signal: AbortSignal.timeout(10_000) });
    return answer.status === 200 && (await answer.text()) === 'true';
  } catch {
    return false;
  }
}

async function fill(url: string, deadlineMs: number): Promise<number> {
  let next = 0;
  let placed = 0;
  const startedMs = performance.now();
  const worker = async () => {
    while (next < ordersWanted && Date.now() < deadlineMs) {
      const number = next++;
      if (await order(url, `fill-${number}`)) placed += 1;
      if (number % 10_000 === 0 && number > 0) console.log(`fill: ${number} orders sent in ${((performance.now() - startedMs) / 1000).toFixed(0)} s`);
    }
  };
  await Promise.all(Array.from({ length: fillWriters }, worker));
  console.log(`fill: ${placed} of ${ordersWanted} orders acknowledged in ${((performance.now() - startedMs) / 1000).toFixed(1)} s`);
  return placed;
}

/** The records of `ordersWanted` committed orders, proposed to the order leader (see the top of this file). */
async function fillDirect(cluster: RunningCluster, deadlineMs: number): Promise<void> {
  const startedMs = performance.now();
  let next = 0;
  let leader = await orderLeader(cluster);
  const propose = async (command: OrderCommand) => {
    for (;;) {
      const answer = await cluster.system.ask<{ ok: boolean }>(leader, { type: 'propose', data: encodeOrderCommand(command) }, { timeoutMs: 30_000 }).catch(() => ({ ok: false }));
      if (answer.ok) return;
      if (Date.now() > deadlineMs) throw new Error('fill: out of time');
      await sleep(100);
      leader = await orderLeader(cluster);
    }
  };
  const worker = async () => {
    while (next < ordersWanted) {
      const number = next++;
      const orderId = `direct-${number}`;
      const nowMs = Date.now();
      await propose({ type: 'pending', orderId, item: 2, amount: 1, createdAt: nowMs, deadlineAt: nowMs + 600_000 });
      await propose({ type: 'committed', orderId, total: 1 });
      if (number % 20_000 === 0 && number > 0) console.log(`fill: ${number} orders in ${((performance.now() - startedMs) / 1000).toFixed(0)} s`);
    }
  };
  await Promise.all(Array.from({ length: directInFlight }, worker));
  console.log(`fill: ${ordersWanted} orders (${2 * ordersWanted} entries) proposed to the order leader in ${((performance.now() - startedMs) / 1000).toFixed(1)} s`);
}

async function orderLeader(cluster: RunningCluster): Promise<string> {
  for (;;) {
    const leader = (await cluster.backend.cluster()).leaders.order;
    if (leader) return leader;
    await sleep(50);
  }
}

/** Acknowledgement times of the steady writers, and the longest gap between two of them inside a window. */
class Acknowledgements {
  readonly atMs: number[] = [];

  longestGapMs(fromMs: number, toMs: number): number {
    let previous = fromMs;
    let longest = 0;
    for (const at of this.atMs) {
      if (at < fromMs) continue;
      if (at > toMs) break;
      longest = Math.max(longest, at - previous);
      previous = at;
    }
    return Math.max(longest, toMs - previous);
  }
}

async function change(url: string, method: 'POST' | 'DELETE', path: string, body?: string): Promise<void> {
  let last = '';
  for (let attempt = 0; attempt < 50; attempt += 1) {
    const answer = await fetch(`${url}${path}`, { method, ...(body === undefined ? {} : { body, headers: { 'content-type': 'application/json' } }), signal: AbortSignal.timeout(120_000) });
    if (answer.status === 200) return;
    const text = await answer.text();
    if (answer.status !== 503) throw new Error(`${method} ${path}: ${answer.status} ${text}`);
    if (text !== last) console.log(`${method} ${path}: 503 ${text} (tried again)`);
    last = text;
    await sleep(200);
  }
  throw new Error(`${method} ${path}: 503 fifty times, last ${last}`);
}

async function main(): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'pygmy-membership-'));
  const logger = createLogger({ level: 'warn', pretty: false, destination: { write: () => true } });
  const cluster = await startCluster({ host: '127.0.0.1', port: 0, dataDir, fresh: true, logger, requestDeadlineMs: 120_000 });
  const deadlineMs = Date.now() + runTimeMsMax;
  let writing = true;
  try {
    const url = cluster.url;
    // Enough stock for every order of the run (a restock is at most 1,000,000).
    await change(url, 'POST', '/admin/items/2', JSON.stringify({ restock: Math.min(1_000_000, ordersWanted + 200_000) }));
    if (fillMode === 'gateway') await fill(url, deadlineMs);
    else await fillDirect(cluster, deadlineMs);
    const acknowledgements = new Acknowledgements();
    let sequence = 0;
    const steady = Promise.all(Array.from({ length: writers }, async () => {
      while (writing && Date.now() < deadlineMs) {
        if (await order(url, `steady-${sequence++}`)) acknowledgements.atMs.push(performance.now());
      }
    }));
    const baselineStartMs = performance.now();
    await sleep(baselineMs);
    const baselineGapMs = acknowledgements.longestGapMs(baselineStartMs, performance.now());
    const rows: string[] = [];
    const steps = [
      ['add order-4 (learner, caught up, promoted)', 'POST', '/admin/groups/order/members', '{"name":"order-4"}'],
      ['add catalog-4 (learner, caught up, promoted)', 'POST', '/admin/groups/catalog/members', '{"name":"catalog-4"}'],
      ['remove order-4', 'DELETE', '/admin/groups/order/members/order-4', undefined],
      ['remove catalog-4', 'DELETE', '/admin/groups/catalog/members/catalog-4', undefined],
    ] as const;
    for (const [what, method, path, body] of steps) {
      const startedMs = performance.now();
      const before = acknowledgements.atMs.length;
      await change(url, method, path, body);
      const endedMs = performance.now();
      const gapMs = acknowledgements.longestGapMs(startedMs, endedMs);
      rows.push(`${what}: ${(endedMs - startedMs).toFixed(0)} ms; longest write gap ${gapMs.toFixed(0)} ms; ${acknowledgements.atMs.length - before} orders acknowledged meanwhile`);
      await sleep(1_000);
    }
    writing = false;
    await steady;
    console.log(`baseline (${baselineMs / 1000} s, no change, ${writers} writers): longest write gap ${baselineGapMs.toFixed(0)} ms`);
    for (const row of rows) console.log(row);
  } finally {
    writing = false;
    await cluster.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
