// Compaction and images: three catalog replicas (workers, SQLite) with a small compaction interval take
// restocks. Every replica must compact its log, keep answering and agree on the state hash at the same applied
// index; a replica killed afterwards must come back with the same state from its tables and log tail; and a
// follower stopped while the leader compacts past it must be brought back by an image the leader builds in a
// thread of its own (InstallSnapshot) to the leader's state. Nobody builds an image before that. The leader keeps
// no log for a follower behind (logRetainBytesMax 0): with the default it would keep the log and need no image.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { encodeCatalogCommand } from '../../src/actors/catalog/commands.js';
import { generateCatalog } from '../../src/actors/catalog/generate.js';
import { catalogMembers } from '../../src/cluster/cluster.js';
import type { ReplicaStatus } from '../../src/raft/replica.js';
import { ActorSystem } from '../../src/runtime/system.js';
import { capturingLogger, eventually, type LogLine } from '../runtime/helpers.js';
import { catalogReplicaSpecs, replicaStatuses, waitForLeader } from './fixtures/catalog-replicas.js';

/** `count` restocks through `leader`, 20 outstanding at a time. */
async function propose(system: ActorSystem, leader: string, count: number, tag: string): Promise<void> {
  for (let start = 0; start < count; start += 20) {
    await Promise.all(Array.from({ length: Math.min(20, count - start) }, (_, offset) => {
      const requestId = `${tag}-${start + offset}`;
      const data = encodeCatalogCommand({ type: 'restock', requestId, item: 1 + ((start + offset) % 200), amount: 1 });
      return system.ask<{ ok: boolean }>(leader, { type: 'propose', data }, { timeoutMs: 5_000 }).then((answer) => assert.ok(answer.ok, requestId));
    }));
  }
}

test('compaction keeps the replicas identical, and a follower behind the log gets an image built off the leader\'s thread', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'pygmy-bg-snapshot-'));
  const catalog = generateCatalog({ items: 200, topics: 5, seed: 3 });
  const specs = catalogReplicaSpecs({ dataDir, catalog, args: { snapshotEntriesInterval: 40, logRetainBytesMax: 0 } });
  const lines: LogLine[] = [];
  const system = new ActorSystem({ logger: capturingLogger(lines) });
  try {
    await system.start(specs);
    const leader = await waitForLeader(system);
    // 400 restocks in batches of 20 outstanding: several snapshots' worth at an interval of 40 entries.
    await propose(system, leader, 400, 'early');
    await eventually(async () => (await replicaStatuses(system)).every((status) => status.snapshotIndex > 0), 10_000, 'every replica compacted its log');
    const before = await replicaStatuses(system);
    const applied = Math.max(...before.map((status) => status.lastApplied));
    await eventually(async () => (await replicaStatuses(system)).every((status) => status.lastApplied === applied), 5_000, 'replicas caught up');
    const hashes = await Promise.all(catalogMembers.map((name) => system.ask<{ index: number; hash: string }>(name, { type: 'hash' }, { timeoutMs: 2_000 })));
    assert.is(new Set(hashes.map((entry) => `${entry.index}:${entry.hash}`)).size, 1, JSON.stringify(hashes));
    // A replica killed now reloads from its own snapshot and log tail, and still has the same state.
    const victim = catalogMembers.find((name) => name !== leader)!;
    await system.kill(victim);
    await eventually(async () => (await system.ask<ReplicaStatus>(victim, { type: 'status' }, { timeoutMs: 500 })).lastApplied === applied, 10_000, `${victim} back`);
    const again = await system.ask<{ index: number; hash: string }>(victim, { type: 'hash' }, { timeoutMs: 2_000 });
    assert.equal(again, hashes[0]);
    const afterRestart = await system.ask<ReplicaStatus>(victim, { type: 'status' }, { timeoutMs: 2_000 });
    assert.ok(afterRestart.snapshotIndex > 0, 'the restarted replica loaded its compacted log');
    // A follower stopped while the others move past their next snapshot is brought back with the image the leader
    // built in another thread (InstallSnapshot): its state must equal theirs.
    const lagging = catalogMembers.find((name) => name !== leader && name !== victim)!;
    await system.stop(lagging);
    await propose(system, leader, 1_200, 'late');
    await eventually(async () => (await system.ask<ReplicaStatus>(leader, { type: 'status' }, { timeoutMs: 500 })).snapshotIndex > applied + 40, 10_000, 'the leader compacted past the stopped follower');
    await system.startActor(lagging);
    const leaderApplied = (await system.ask<ReplicaStatus>(leader, { type: 'status' }, { timeoutMs: 2_000 })).lastApplied;
    await eventually(async () => (await system.ask<ReplicaStatus>(lagging, { type: 'status' }, { timeoutMs: 500 })).lastApplied >= leaderApplied, 10_000, `${lagging} caught up`);
    const [fromLeader, fromLagging] = await Promise.all([leader, lagging].map((name) => system.ask<{ index: number; hash: string }>(name, { type: 'hash' }, { timeoutMs: 2_000 })));
    assert.equal(fromLagging, fromLeader);
    assert.ok(lines.some((line) => line.message.includes(`${lagging} installed a snapshot`)), 'the follower was sent a snapshot');
    const built = lines.filter((line) => line.message.includes(`${leader} built an image`) && line.message.includes('in another thread'));
    assert.ok(built.length >= 1, 'the image was built in another thread');
    assert.not.ok(lines.some((line) => line.message.includes('built an image') && !line.message.includes(leader)), 'only the leader built one');
    assert.not.ok(lines.some((line) => line.message.includes('building an image in another thread failed')), 'no builder failed');
    assert.not.ok(lines.some((line) => line.level === 'error'), lines.filter((line) => line.level === 'error').map((line) => line.message).join('\n'));
  } finally {
    await system.shutdown();
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test.run();
