// The full check of a replica's file runs after its start, off its thread: three catalog replicas (workers,
// SQLite); a follower is stopped, its file given damage that only the full quick_check sees (a page no table
// uses), and started again. The start succeeds (the Raft data is intact); the full check must then find the
// damage, stop the replica with a corruption error in the log, and record it, so that every later start of that
// file fails instead of serving; the other two keep the group going.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { encodeCatalogCommand } from '../../src/actors/catalog/commands.js';
import { generateCatalog } from '../../src/actors/catalog/generate.js';
import { catalogMembers } from '../../src/cluster/cluster.js';
import { damageRecordPath } from '../../src/raft/storage/integrity.js';
import { ActorSystem } from '../../src/runtime/system.js';
import { capturingLogger, eventually, type LogLine } from '../runtime/helpers.js';
import { catalogReplicaSpecs, waitForLeader } from './fixtures/catalog-replicas.js';
import { addNeverUsedPage } from './fixtures/storage-harness.js';

async function restock(system: ActorSystem, leader: string, requestId: string): Promise<boolean> {
  const data = encodeCatalogCommand({ type: 'restock', requestId, item: 1, amount: 1 });
  return (await system.ask<{ ok: boolean }>(leader, { type: 'propose', data }, { timeoutMs: 5_000 })).ok;
}

test('damage only the full check sees: the replica starts, is stopped by the check, and refuses every later start', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'pygmy-full-check-'));
  const catalog = generateCatalog({ items: 50, topics: 5, seed: 5 });
  const lines: LogLine[] = [];
  const system = new ActorSystem({ logger: capturingLogger(lines) });
  try {
    // Every file that holds anything counts as large (a bound of 0 bytes): it is checked after open, as a 2 GiB one is.
    await system.start(catalogReplicaSpecs({ dataDir, catalog, args: { wholeFileCheckAtOpenBytesMax: 0 } }));
    const leader = await waitForLeader(system);
    for (let index = 0; index < 5; index += 1) assert.ok(await restock(system, leader, `before-${index}`));
    const victim = catalogMembers.find((name) => name !== leader)!;
    await system.stop(victim);
    const path = join(dataDir, `${victim}.db`);
    addNeverUsedPage(path);
    await system.startActor(victim);
    await eventually(async () => lines.some((line) => line.level === 'error' && line.message.includes(`${victim}: the full check found its file damaged`)), 10_000, 'the check found the damage');
    assert.ok(existsSync(damageRecordPath(path)), 'the damage is recorded beside the file');
    await eventually(async () => (await system.status()).find((status) => status.name === victim)?.alive === false, 10_000, `${victim} down`);
    let refusal: unknown = null;
    await system.stop(victim).catch(() => undefined);
    await system.startActor(victim).catch((error: unknown) => (refusal = error));
    assert.match(String(refusal), /malformed|StorageCorruption/, 'a later start is refused');
    for (let index = 0; index < 5; index += 1) assert.ok(await restock(system, leader, `after-${index}`), 'the group continues');
  } finally {
    await system.shutdown();
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test.run();
