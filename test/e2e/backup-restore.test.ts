// Backup and restore end to end (docs/operations.md): a real `pygmy start` process takes orders from eight
// clients while `pygmy backup` runs against it; the whole process is killed and its data dir deleted; `pygmy
// restore` lays out a new cluster, which runs here in-process so the replicas' state hashes can be asked. Then:
// every order acknowledged before the backup began is there with its outcome, no order sent after the backup
// ended is, every pending order settles by its deadline, conservation holds, the three replicas of each group
// agree on their state hash, and the restored cluster is a new one: an envelope carrying the old cluster's id is
// refused (otherCluster), and a database of the old cluster put in a restored data dir is refused when it opens.
// A backup with one flipped byte fails `pygmy backup verify` and `pygmy restore` with an error naming the file.
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { catalogMembers, orderMembers, startCluster } from '../../src/cluster/cluster.js';
import { createLogger } from '../../src/cli/logger.js';
import { clusterIdFor } from '../../src/raft/identity.js';
import type { ReplicaStatus } from '../../src/raft/replica.js';
import { conservationAnomalies } from '../support/conservation.js';
import { convergenceAnomalies, digestsAtOneIndex } from '../support/convergence.js';
import { eventually, http, makeDataDir, removeDataDir, startPygmy } from '../support/pygmy-process.js';
import { allOrdersOfItem } from '../support/orders.js';
import { runPygmy, type ScriptRun } from '../support/run-script.js';

const items = [1, 2, 3, 4];
const initialStock = 1_000_000;
const orderDeadlineMs = 3_000;
const streamMsMax = 30_000;

interface Sent {
  readonly key: string;
  readonly item: number;
  readonly amount: number;
  readonly sentAt: number;
  ackedAt: number | null;
  answer: string | null;
}

/** `pygmy ...args` with `env` laid over this process's environment; two minutes means it hung. */
function run(args: readonly string[], env: Record<string, string> = {}): Promise<ScriptRun> {
  return runPygmy(args, { env: { ...process.env, ...env }, timeoutMs: 120_000 });
}

async function orderClient(url: string, worker: number, sent: Sent[], until: () => boolean): Promise<void> {
  for (let position = 0; !until(); position += 1) {
    const order: Sent = { key: `w${worker}-${position}`, item: items[(worker + position) % items.length]!, amount: 1 + (position % 2), sentAt: Date.now(), ackedAt: null, answer: null };
    sent.push(order);
    const answer = await http('POST', `${url}/order/${order.item}?amount=${order.amount}`, { headers: { 'idempotency-key': order.key }, timeoutMs: 5_000 }).catch(() => null);
    if (answer !== null && answer.status === 200) {
      order.ackedAt = Date.now();
      order.answer = answer.text;
    }
  }
}

test('backup during an order stream, the whole cluster lost, restore: what is there, what is not, conservation', async () => {
  const work = makeDataDir();
  try {
    await scenario(work);
  } finally {
    removeDataDir(work);
  }
});

async function scenario(work: string): Promise<void> {
  const catalogFile = join(work, 'catalog.json');
  writeFileSync(catalogFile, JSON.stringify({ topics: [{ id: 1, name: 'all' }], items: items.map((id) => ({ id, name: `Book ${id}`, stock: initialStock, price: 2, topic: 1 })) }));
  const oldDir = join(work, 'old');
  const oldReplica = join(work, 'old-order-2');
  const backupDir = join(work, 'backup');
  const restoredDir = join(work, 'restored');
  const old = await startPygmy({ dataDir: oldDir, args: ['--catalog', catalogFile, '--order-deadline-ms', String(orderDeadlineMs), '--hold-after-deduct-ms', '400'] });
  const sent: Sent[] = [];
  let backupStartedAt = 0;
  let backupEndedAt = 0;
  try {
    const startedAt = Date.now();
    let stopAt = startedAt + streamMsMax;
    const clients = Array.from({ length: 8 }, (_, worker) => orderClient(old.url, worker, sent, () => Date.now() > stopAt));
    // Enough orders acknowledged before the backup, however busy the machine (bounded by the stream's limit).
    await eventually('20 orders acknowledged', async () => (sent.filter((order) => order.ackedAt !== null).length >= 20 ? true : undefined), streamMsMax / 2, 50);
    backupStartedAt = Date.now();
    const backup = await run(['backup', '--gateway', old.url, '--out', backupDir]);
    backupEndedAt = Date.now();
    assert.is(backup.code, 0, backup.output);
    stopAt = Math.min(stopAt, Date.now() + 1_500);
    await Promise.all(clients);
  } finally {
    await old.kill();
  }
  // The old cluster's order-2, as the crash left it, kept aside to show it cannot join the restored cluster.
  mkdirSync(oldReplica);
  for (const suffix of ['.db', '.db-wal', '.db-shm', '.identity']) {
    if (existsSync(join(oldDir, `order-2${suffix}`))) copyFileSync(join(oldDir, `order-2${suffix}`), join(oldReplica, `order-2${suffix}`));
  }
  rmSync(oldDir, { recursive: true, force: true });

  const manifest = JSON.parse(readFileSync(join(backupDir, 'manifest.json'), 'utf8')) as { groups: Array<{ group: string; index: number; clusterId: string; member: string }> };
  assert.equal(manifest.groups.map((group) => group.group), ['order', 'catalog']);
  const verify = await run(['backup', 'verify', backupDir]);
  assert.is(verify.code, 0, verify.output);
  assert.match(verify.output, 'is intact');

  // One flipped byte: verify and restore both refuse, naming the file; restore writes nothing.
  const damaged = join(work, 'damaged');
  mkdirSync(damaged);
  for (const file of ['manifest.json', 'order.db', 'catalog.db']) copyFileSync(join(backupDir, file), join(damaged, file));
  const bytes = readFileSync(join(damaged, 'catalog.db'));
  bytes[Math.floor(bytes.length / 2)] ^= 0x01;
  writeFileSync(join(damaged, 'catalog.db'), bytes);
  const damagedVerify = await run(['backup', 'verify', damaged]);
  assert.is(damagedVerify.code, 1, damagedVerify.output);
  assert.match(damagedVerify.output, /catalog\.db: sha256 [0-9a-f]{64} differs from the manifest/);
  const damagedRestore = await run(['restore', '--from', damaged, '--data-dir', join(work, 'never')]);
  assert.is(damagedRestore.code, 1, damagedRestore.output);
  assert.match(damagedRestore.output, 'refused, the backup');
  assert.match(damagedRestore.output, 'catalog.db: sha256');
  assert.not.ok(existsSync(join(work, 'never')), 'a refused restore writes nothing');

  const restore = await run(['restore', '--from', backupDir, '--data-dir', restoredDir]);
  assert.is(restore.code, 0, restore.output);
  const orderIndex = manifest.groups[0]!.index;
  assert.match(restore.output, `order group   at index ${orderIndex}`);
  const pendingAtBackup = Number(/\((\d+) pending/.exec(restore.output)?.[1]);
  const returned = Number(/(\d+) deducts of orders begun after/.exec(restore.output)?.[1]);

  const logger = createLogger({ level: 'warn', pretty: false, destination: { write: () => undefined } });
  const restored = await startCluster({ host: '127.0.0.1', port: 0, dataDir: restoredDir, fresh: false, logger, orderDeadlineMs, maxRestarts: 100 });
  try {
    const url = restored.url;
    // Every pending order settles by its deadline (they were all past it long ago).
    const orders = await eventually('every restored order to settle', async () => {
      const all = [];
      for (const item of items) {
        const listed = await allOrdersOfItem(url, item).catch(() => null);
        if (listed === null) return undefined;
        all.push(...listed);
      }
      return all.every((order) => order.status !== 'pending') ? all : undefined;
    }, 30_000, 200);
    const byKey = new Map(orders.map((order) => [order.id, order]));
    const acknowledgedBefore = sent.filter((order) => order.ackedAt !== null && order.ackedAt < backupStartedAt);
    const sentAfter = sent.filter((order) => order.sentAt > backupEndedAt);
    assert.ok(acknowledgedBefore.length >= 20, `only ${acknowledgedBefore.length} orders acknowledged before the backup`);
    assert.ok(sentAfter.length > 0, 'no order was sent after the backup');
    for (const order of acknowledgedBefore) {
      const stored = byKey.get(order.key);
      assert.ok(stored !== undefined, `order ${order.key}, acknowledged before the backup, is missing`);
      assert.is(stored.status, order.answer === 'true' ? 'committed' : 'rejected', `order ${order.key} answered ${order.answer}`);
    }
    for (const order of sentAfter) assert.not.ok(byKey.has(order.key), `order ${order.key}, sent after the backup, is in the restored cluster`);
    assert.is((await http('GET', `${url}/orders/${sentAfter[0]!.key}`)).status, 404);

    // Conservation: initial stock − committed amounts = stock, item by item.
    const ledgers = [];
    for (const item of items) {
      const lookup = await http('GET', `${url}/lookup/${item}`);
      const committed = orders.filter((order) => order.item === item && order.status === 'committed').map((order) => order.amount);
      ledgers.push({ item, initialStock, restocked: 0, committedAmounts: committed, stock: lookup.json().result.stock as number });
    }
    assert.equal(conservationAnomalies(ledgers), []);

    // The three replicas of each group agree.
    for (const members of [catalogMembers, orderMembers]) {
      const digests = await digestsAtOneIndex(restored.system, members);
      assert.equal(convergenceAnomalies(digests), []);
    }

    // A new cluster: its ids are not the old ones, and an envelope from the old cluster is refused.
    const oldOrderClusterId = manifest.groups[0]!.clusterId;
    assert.is(oldOrderClusterId, clusterIdFor('pygmy', orderMembers));
    const status = await restored.system.ask<ReplicaStatus>('order-1', { type: 'status' });
    assert.is.not(status.clusterId, oldOrderClusterId);
    const refusedBefore = status.refusedMessages.otherCluster;
    restored.system.tell('order-1', {
      type: 'raft', cluster: oldOrderClusterId, replica: 'a1b2c3d4', toReplica: null, voter: true,
      message: { type: 'heartbeat', from: 'order-2', to: 'order-1', term: status.term + 5, commit: 0, context: null },
    });
    await eventually('the old cluster\'s envelope to be refused', async () => {
      const now = await restored.system.ask<ReplicaStatus>('order-1', { type: 'status' });
      return now.refusedMessages.otherCluster > refusedBefore ? true : undefined;
    });
    const after = await restored.system.ask<ReplicaStatus>('order-1', { type: 'status' });
    assert.is(after.term, status.term, 'the refused message never reached the core');
    console.log(`    backup during the stream: ${acknowledgedBefore.length} orders acknowledged before it, ${sentAfter.length} sent after it, ${pendingAtBackup} pending in it, ${returned} deducts given back`);
  } finally {
    await restored.close();
  }

  // The old cluster's order-2 put where the restored order-2 was: refused when it opens, naming the cluster.
  for (const suffix of ['.db', '.db-wal', '.db-shm', '.identity']) {
    rmSync(join(restoredDir, `order-2${suffix}`), { force: true });
    if (existsSync(join(oldReplica, `order-2${suffix}`))) copyFileSync(join(oldReplica, `order-2${suffix}`), join(restoredDir, `order-2${suffix}`));
  }
  {
    const refused = await startCluster({ host: '127.0.0.1', port: 0, dataDir: restoredDir, fresh: false, logger, orderDeadlineMs }).then(
      async (cluster) => {
        await cluster.close();
        return null;
      },
      (error: unknown) => error as Error,
    );
    assert.ok(refused !== null, 'the restored cluster started with a replica of the old cluster in it');
    assert.match(refused.message, 'could not start order-2');
    assert.match(refused.message, `this database belongs to cluster ${manifest.groups[0]!.clusterId}`);
  }
}

test.run();
