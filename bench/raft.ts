// Raft benchmark (not a test): how fast a 3-replica group of actors on one machine commits durably.
//
//   npm run build && node dist/bench/raft.js [--seconds 3] [--outstanding 1,16,128]
//
// Starts three catalog replicas (workers, SQLite with synchronous=FULL) on a fresh temp dir, waits for a leader,
// then for each level of concurrency keeps exactly that many proposals outstanding at the leader for a fixed
// time, each a small restock command sent by ask from the main thread (one MessagePort hop, as the gateway does).
// Reports committed proposals per second, commit latency p50/p99 (ask sent → answer received: durable on a
// majority and applied on the leader), and fsyncs per committed entry on the leader and over the group (group
// commit brings it below 1 when several proposals share one event-loop turn). No cache subscribes, so no
// invalidation traffic is measured with it.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { CatalogReplicaArgs } from '../src/actors/catalog/actor.js';
import { encodeCatalogCommand } from '../src/actors/catalog/commands.js';
import { generateCatalog } from '../src/actors/catalog/generate.js';
import { catalogMembers, clusterSpecs } from '../src/cluster/cluster.js';
import type { ProposeAnswer, ReplicaStatus } from '../src/raft/replica.js';
import type { Logger } from '../src/runtime/actor.js';
import { ActorSystem } from '../src/runtime/system.js';

const quietLogger: Logger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: (object, message) => console.error(message ?? object) };
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

interface LevelFigures {
  outstanding: number;
  committed: number;
  proposalsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  leaderFsyncsPerEntry: number;
  groupFsyncsPerEntry: number;
  refused: number;
}

function percentile(sorted: number[], fraction: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * fraction))] ?? Number.NaN;
}

async function replicaStatuses(system: ActorSystem): Promise<ReplicaStatus[]> {
  const statuses = await system.status();
  return statuses.filter((status) => status.alive && status.custom !== undefined).map((status) => status.custom as ReplicaStatus);
}

async function findLeader(system: ActorSystem): Promise<string> {
  for (let attempt = 0; attempt < 400; attempt += 1) {
    const leader = (await replicaStatuses(system)).find((status) => status.role === 'leader');
    if (leader) return leader.name;
    await sleep(25);
  }
  throw new Error('no catalog leader within 10 s');
}

const fsyncsOf = (statuses: ReplicaStatus[], name?: string) =>
  statuses.filter((status) => name === undefined || status.name === name).reduce((sum, status) => sum + status.fsyncs, 0);

async function measureLevel(system: ActorSystem, leader: string, outstanding: number, seconds: number): Promise<LevelFigures> {
  const before = await replicaStatuses(system);
  const latencies: number[] = [];
  let refused = 0;
  let sequence = 0;
  const endAt = performance.now() + seconds * 1_000;
  const loop = async () => {
    while (performance.now() < endAt) {
      sequence += 1;
      const data = encodeCatalogCommand({ type: 'restock', requestId: `bench-${outstanding}-${sequence}`, item: 1 + (sequence % 100), amount: 1 });
      const sent = performance.now();
      const answer = await system.ask<ProposeAnswer>(leader, { type: 'propose', data }, { timeoutMs: 10_000 });
      if (answer.ok) latencies.push(performance.now() - sent);
      else refused += 1;
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: outstanding }, loop));
  const elapsedSeconds = (performance.now() - started) / 1_000;
  const after = await replicaStatuses(system);
  const sorted = latencies.sort((left, right) => left - right);
  const committed = latencies.length;
  const round = (value: number, digits = 2) => Math.round(value * 10 ** digits) / 10 ** digits;
  return {
    outstanding,
    committed,
    proposalsPerSecond: Math.round(committed / elapsedSeconds),
    p50Ms: round(percentile(sorted, 0.5)),
    p99Ms: round(percentile(sorted, 0.99)),
    maxMs: round(sorted.at(-1) ?? Number.NaN),
    leaderFsyncsPerEntry: round((fsyncsOf(after, leader) - fsyncsOf(before, leader)) / Math.max(1, committed), 3),
    groupFsyncsPerEntry: round((fsyncsOf(after) - fsyncsOf(before)) / Math.max(1, committed) / 3, 3),
    refused,
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { seconds: { type: 'string' }, outstanding: { type: 'string' } } });
  const seconds = Number(values.seconds ?? 3);
  const levels = (values.outstanding ?? '1,16,128').split(',').map(Number);
  const dataDir = mkdtempSync(join(tmpdir(), 'pygmy-raft-bench-'));
  const catalog = generateCatalog({ items: 100, topics: 5, seed: 1 });
  const specs = clusterSpecs({ host: '127.0.0.1', port: 0, dataDir, fresh: true, catalog, logger: undefined as never })
    .filter((spec) => (catalogMembers as readonly string[]).includes(spec.name))
    .map((spec) => ({ ...spec, args: { ...(spec.args as CatalogReplicaArgs), subscribers: [] } }));
  const system = new ActorSystem({ logger: quietLogger });
  try {
    await system.start(specs);
    const leader = await findLeader(system);
    await measureLevel(system, leader, 16, 1); // warm-up: JIT, SQLite page cache
    const results: LevelFigures[] = [];
    for (const outstanding of levels) results.push(await measureLevel(system, leader, outstanding, seconds));
    const terms = new Set((await replicaStatuses(system)).map((status) => status.term));
    console.log(`3-replica catalog group, leader ${leader}, ${seconds} s per level, SQLite synchronous=FULL, one machine (${terms.size === 1 ? 'no' : 'a'} term change)`);
    console.log('outstanding  proposals/s   p50 ms   p99 ms   max ms   fsyncs/entry (leader, group mean)  refused');
    for (const figures of results) {
      console.log(
        `${String(figures.outstanding).padStart(11)}  ${String(figures.proposalsPerSecond).padStart(11)}  ${String(figures.p50Ms).padStart(7)}  ${String(figures.p99Ms).padStart(7)}  ${String(figures.maxMs).padStart(7)}  ${String(figures.leaderFsyncsPerEntry).padStart(14)}, ${String(figures.groupFsyncsPerEntry).padEnd(19)} ${figures.refused}`,
      );
    }
    console.log(JSON.stringify({ raft: results }));
  } finally {
    await system.shutdown();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
