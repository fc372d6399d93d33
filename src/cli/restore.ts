// `pygmy restore --from DIR --data-dir D [--config cluster.json]`: a new cluster whose groups start from a backup.
//
// What it does: verifies the backup (as `pygmy backup verify`), makes one image per group — the backup's file with
// its Raft history replaced by a snapshot marker at the backup's index (no log entries, commit = applied = that
// index, term = the backup's term, no vote, no identity) —, and copies that same image to every replica of the
// group, each with a fresh replica id, a member marker, and the cluster ids of a NEW cluster: a random generation
// (raft/storage/generation.ts) goes into every cluster id, so no replica of the old cluster can ever join it.
// The catalog image is reconciled with the order image first (docs/operations.md, "Why two indexes agree"): a
// deduct that took stock for an order the order backup does not hold (an order begun after the order group's
// index) gives its stock back and keeps the outcome "aborted", so stock = initial + restocks − committed orders
// once every pending order settled. Pending orders stay pending; the order leader's deadline sweep settles them.
// Without --config, D is laid out for `pygmy start --data-dir D` (all six replicas); with --config, D/NODE for each
// node of the file, holding the replicas that node runs (copy D/NODE to that host's data dir, then
// `pygmy node --config cluster.json --node NODE --data-dir THAT_DIR`).
// Refuses a data dir that is not empty. Prints the index and time each group is brought back to.
// Exit codes: 0 done, 1 the backup does not verify (nothing written), 2 a usage mistake.
import { copyFileSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import { pruneHoldKey } from '../actors/catalog/state.js';
import type { GroupBackup } from '../http/backend.js';
import { clusterIdFor } from '../raft/identity.js';
import { BackupVerifyError } from '../raft/storage/backup.js';
import { ManifestError, type BackupManifest } from '../raft/storage/backup-manifest.js';
import { hardStateChecksum, snapshotChecksum } from '../raft/storage/checksum.js';
import { generationFileName, type ClusterGeneration } from '../raft/storage/generation.js';
import { FileMemberMarker } from '../raft/storage/marker.js';
import { catalogMembers, orderMembers } from '../cluster/cluster.js';
import { describeManifest, verifyBackupDirectory } from './backup-files.js';
import { readLayout } from './multihost.js';
import { UsageError } from './usage-error.js';

/** The outcome a restored catalog keeps for a deduct whose order the order backup does not hold. */
const restoredAbortOutcome = JSON.stringify({ ok: false, reason: 'aborted', changed: [], repeated: false });

interface Target {
  readonly directory: string;
  readonly members: readonly string[];
}

export async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { from: { type: 'string' }, 'data-dir': { type: 'string' }, config: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    strict: true,
  });
  if (values.help) {
    console.log('usage: pygmy restore --from BACKUP_DIR --data-dir D [--config cluster.json]');
    return 0;
  }
  if (values.from === undefined || values['data-dir'] === undefined) throw new UsageError('--from BACKUP_DIR and --data-dir D are both needed');
  const dataDir = resolve(values['data-dir']);
  if (existsSync(dataDir) && readdirSync(dataDir).length > 0) throw new UsageError(`--data-dir ${dataDir} is not empty: restore writes a new cluster into an empty directory`);
  const targets = values.config === undefined ? [{ directory: dataDir, members: [...catalogMembers, ...orderMembers] }] : layoutTargets(values.config, dataDir);
  const startedAt = performance.now();
  let manifest: BackupManifest;
  try {
    manifest = await verifyBackupDirectory(values.from);
  } catch (error) {
    if (!(error instanceof BackupVerifyError) && !(error instanceof ManifestError)) throw error;
    console.error(`pygmy restore: refused, the backup ${values.from} does not verify: ${error.message}`);
    return 1;
  }
  console.log(describeManifest(manifest));
  const generation = randomBytes(16).toString('hex');
  const staging = join(dataDir, '.restore-images');
  mkdirSync(staging, { recursive: true });
  try {
    const order = manifest.groups.find((group) => group.group === 'order')!;
    const catalog = manifest.groups.find((group) => group.group === 'catalog')!;
    const orderImage = makeImage(values.from, order, orderMembers, staging);
    const catalogImage = makeImage(values.from, catalog, catalogMembers, staging);
    const returned = reconcileCatalog(catalogImage, orderImage);
    const pending = countPending(orderImage);
    for (const target of targets) {
      mkdirSync(target.directory, { recursive: true });
      for (const member of target.members) {
        const isOrder = (orderMembers as readonly string[]).includes(member);
        installReplica(isOrder ? orderImage : catalogImage, target.directory, member, isOrder ? orderMembers : catalogMembers, generation);
      }
      writeGeneration(target.directory, generation, manifest);
    }
    console.log(`pygmy restore: a new cluster (generation ${generation}) in ${dataDir}, in ${Math.round(performance.now() - startedAt)} ms:`);
    console.log(`  order group   at index ${order.index}, as of ${order.capturedAt}: ${order.orders} orders (${pending} pending; the deadline sweep settles them)`);
    console.log(`  catalog group at index ${catalog.index}, as of ${catalog.capturedAt}: ${catalog.items} items; ${returned} deducts of orders begun after the order backup gave their stock back`);
    console.log('  orders acknowledged after those times are not in it.');
    for (const target of targets) console.log(`  ${target.directory}: ${target.members.join(', ') || '(no replicas)'}`);
    return 0;
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

function layoutTargets(config: string, dataDir: string): Target[] {
  let layout;
  try {
    layout = readLayout(config);
  } catch (error) {
    throw new UsageError(`--config ${config}: ${error instanceof Error ? error.message : String(error)}`);
  }
  const replicas = new Set<string>([...catalogMembers, ...orderMembers]);
  return layout.nodes.map((node) => ({ directory: join(dataDir, node.name), members: node.actors.filter((actor) => replicas.has(actor)) }));
}

/** The group's file with its Raft history replaced by a snapshot marker at the backup's index. */
function makeImage(from: string, group: GroupBackup, members: readonly string[], staging: string): string {
  const image = join(staging, group.file);
  copyFileSync(join(from, group.file), image);
  const database = new Database(image);
  try {
    const meta = { index: group.index, term: group.term, peers: [...members] };
    const hardState = { term: group.term, vote: null, commit: group.index };
    database.transaction(() => {
      database.prepare('DELETE FROM raft_log').run();
      database.prepare('UPDATE raft_hard_state SET term = ?, vote = NULL, commit_index = ?, checksum = ? WHERE id = 1')
        .run(hardState.term, hardState.commit, hardStateChecksum(hardState));
      database.prepare('INSERT OR REPLACE INTO raft_snapshot (id, snapshot_index, snapshot_term, peers, data, checksum) VALUES (1, ?, ?, ?, \'\', ?)')
        .run(meta.index, meta.term, JSON.stringify(meta.peers), snapshotChecksum(meta, ''));
      database.prepare('UPDATE raft_applied SET last_applied = ? WHERE id = 1').run(group.index);
      database.prepare('DELETE FROM raft_identity').run();
      database.prepare('DELETE FROM raft_peer_replicas').run();
    })();
  } finally {
    database.close();
  }
  return image;
}

/**
 * Deducts that took stock for orders the order image does not hold give it back (outcome "aborted"); the rest
 * stay. Returns how many gave stock back. Row by row: bounded memory.
 */
function reconcileCatalog(catalogImage: string, orderImage: string): number {
  const catalog = new Database(catalogImage);
  try {
    catalog.prepare('ATTACH DATABASE ? AS orders').run(orderImage);
    const orphans = catalog.prepare(`SELECT d.order_id AS orderId, d.item AS item, d.amount AS amount FROM catalog_deducts d
      WHERE json_extract(d.outcome, '$.ok') = 1 AND NOT EXISTS (SELECT 1 FROM orders.order_orders o WHERE o.id = d.order_id)`).all() as Array<{ orderId: string; item: number; amount: number }>;
    const giveBack = catalog.prepare('UPDATE catalog_items SET stock = stock + ?, deducted = deducted - ? WHERE id = ?');
    const markAborted = catalog.prepare('UPDATE catalog_deducts SET outcome = ? WHERE order_id = ?');
    catalog.transaction(() => {
      for (const orphan of orphans) {
        giveBack.run(orphan.amount, orphan.amount, orphan.item);
        markAborted.run(restoredAbortOutcome, orphan.orderId);
      }
      // The backup's hold on pruning ended with the backup; the new cluster prunes from the start.
      catalog.prepare('DELETE FROM catalog_meta WHERE key = ?').run(pruneHoldKey);
    })();
    catalog.prepare('DETACH DATABASE orders').run();
    return orphans.length;
  } finally {
    catalog.close();
  }
}

function countPending(orderImage: string): number {
  const database = new Database(orderImage, { readonly: true });
  try {
    return (database.prepare("SELECT count(*) AS count FROM order_orders WHERE status = 'pending'").get() as { count: number }).count;
  } finally {
    database.close();
  }
}

/** One replica: the group's image, a fresh replica id in the new cluster, and its member marker. */
function installReplica(image: string, directory: string, member: string, members: readonly string[], generation: string): void {
  const path = join(directory, `${member}.db`);
  const temporary = `${path}.restoring`;
  copyFileSync(image, temporary);
  const identity = { clusterId: clusterIdFor('pygmy', members, generation), replicaId: randomBytes(8).toString('hex'), voter: true };
  const database = new Database(temporary);
  try {
    database.prepare('INSERT INTO raft_identity (id, cluster_id, replica_id, voter, created_at) VALUES (1, ?, ?, 1, ?)')
      .run(identity.clusterId, identity.replicaId, new Date().toISOString());
  } finally {
    database.close();
  }
  renameSync(temporary, path);
  new FileMemberMarker(join(directory, `${member}.identity`)).write(identity);
}

function writeGeneration(directory: string, generation: string, manifest: BackupManifest): void {
  const restoredFrom = {
    backupCreatedAt: manifest.createdAt,
    groups: manifest.groups.map((group) => ({ group: group.group, index: group.index, capturedAt: group.capturedAt, fromCluster: group.clusterId })),
    restoredAt: new Date().toISOString(),
  };
  const record: ClusterGeneration = { generation, restoredFrom };
  writeFileSync(join(directory, generationFileName), `${JSON.stringify(record, null, 2)}\n`);
}
