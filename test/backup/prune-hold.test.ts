// Backups while the catalog prunes deduct records (dedupe pruning is on by default): an in-process cluster takes
// orders from eight clients, each order held pending a moment after its deduct, and its order leader publishes the
// watermark every sweep; five backups are taken through the gateway's backend meanwhile. Each must pass `pygmy
// backup verify`'s checks, among them the one that fails when a prune landed between the order copy and the catalog
// copy (a pending order of the order copy whose deduct record the catalog copy no longer holds). Without the
// backup's hold on pruning (holdPrunes) at least one of the five fails it: sweeps run every 250 ms and each backup
// spends more than that between its two copies. After the backups pruning goes on (the hold was released), and the
// check itself refuses a catalog copy pruned past the order copy's watermark.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CatalogStateMachine } from '../../src/actors/catalog/state.js';
import initialCatalog from '../../src/actors/catalog/initial.js';
import { encodeCatalogCommand } from '../../src/actors/catalog/commands.js';
import { dedupeCoverageProblem, verifyBackupDirectory } from '../../src/cli/backup-files.js';
import { catalogMembers, startCluster, type RunningCluster } from '../../src/cluster/cluster.js';
import { createLogger } from '../../src/cli/logger.js';
import { makeManifest, manifestFileName } from '../../src/raft/storage/backup-manifest.js';
import { eventually, http, makeDataDir, removeDataDir } from '../support/pygmy-process.js';

const backups = 5;
const loadMsMax = 120_000;

async function catalogWatermark(cluster: RunningCluster): Promise<number | undefined> {
  for (const member of catalogMembers) {
    const answer = await cluster.system.ask<{ ok: boolean; result?: unknown }>(member, { type: 'read', query: { type: 'deductWatermark' } }, { timeoutMs: 2_000 }).catch(() => null);
    if (answer?.ok === true && typeof answer.result === 'number') return answer.result;
  }
  return undefined;
}

async function orderClient(url: string, worker: number, until: () => boolean): Promise<void> {
  for (let position = 0; !until(); position += 1) {
    await http('POST', `${url}/order/${1 + ((worker + position) % 4)}?amount=1`, { headers: { 'idempotency-key': `w${worker}-${position}` }, timeoutMs: 5_000 }).catch(() => null);
  }
}

test('backups during an order stream with pruning on: every one verifies, pruning goes on after; the check can fail', async () => {
  const work = makeDataDir();
  const logger = createLogger({ level: 'warn', pretty: false, destination: { write: () => undefined } });
  const cluster = await startCluster({ host: '127.0.0.1', port: 0, dataDir: join(work, 'data'), fresh: true, logger, orderDeadlineMs: 1_000, holdAfterDeductMs: 30 });
  const loadEndsAt = Date.now() + loadMsMax;
  let stopped = false;
  const until = () => stopped || Date.now() > loadEndsAt;
  const clients = Array.from({ length: 8 }, (_, worker) => orderClient(cluster.url, worker, until));
  try {
    const first = await eventually('the catalog prunes', async () => {
      const watermark = await catalogWatermark(cluster);
      return watermark !== undefined && watermark > 1 ? watermark : undefined;
    }, 30_000, 100);
    let last = first;
    for (let round = 1; round <= backups; round += 1) {
      const directory = join(work, `backup-${round}`);
      mkdirSync(directory);
      const groups = await cluster.backend.backup(directory);
      writeFileSync(join(directory, manifestFileName), JSON.stringify(makeManifest(groups, new Date())));
      await verifyBackupDirectory(directory); // throws BackupVerifyError naming the prune between the copies
      last = (await catalogWatermark(cluster)) ?? last;
    }
    assert.ok(!until(), 'the load ran through every backup');
    // Pruning goes on after the backups: the hold was released.
    await eventually('pruning goes on after the backups', async () => {
      const watermark = await catalogWatermark(cluster);
      return watermark !== undefined && watermark > last ? watermark : undefined;
    }, 30_000, 100);
    // The check refuses a catalog copy pruned past the order copy's watermark (what a prune between the copies does);
    // the copy holds the backup's hold, so the planted prune comes after its lease.
    const directory = join(work, `backup-${backups}`);
    assert.is(await dedupeCoverageProblem(join(directory, 'order.db'), join(directory, 'catalog.db')), null);
    const database = new Database(join(directory, 'catalog.db'));
    try {
      const machine = new CatalogStateMachine(initialCatalog);
      machine.open(database);
      database.transaction(() => machine.apply(encodeCatalogCommand({ type: 'prune', watermark: Number.MAX_SAFE_INTEGER, nowMs: Number.MAX_SAFE_INTEGER }), 1))();
    } finally {
      database.close();
    }
    const problem = await dedupeCoverageProblem(join(directory, 'order.db'), join(directory, 'catalog.db'));
    assert.ok(problem !== null && problem.includes('a prune landed between the two copies'), String(problem));
  } finally {
    stopped = true;
    await Promise.all(clients);
    await cluster.close();
    removeDataDir(work);
  }
});

test.run();
