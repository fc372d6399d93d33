// What `pygmy backup verify` and `pygmy restore` share: reading a backup directory and checking every file in it.
//
// Promises: verifyBackupDirectory throws BackupVerifyError (or ManifestError) naming the file and what is wrong —
// a missing file, a size or sha256 that differs from the manifest, a file SQLite finds damaged, an index, term,
// cluster id, count or state hash that differs from the manifest, a catalog file that pruned deduct records the
// order file still needs (dedupeCoverageProblem) — and returns the manifest only when all hold.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { GroupBackup } from '../http/backend.js';
import type { QueryShape, StateMachine } from '../raft/state-machine.js';
import { BackupVerifyError, verifyBackupFile } from '../raft/storage/backup.js';
import { manifestFileName, parseManifest, ManifestError, type BackupManifest } from '../raft/storage/backup-manifest.js';
import type { StateMachineFactory } from '../raft/storage/snapshot-builder.js';

/** How each group's state machine is made to read its file (the replicas' own factories). */
export function factoryOf(group: GroupBackup['group']): StateMachineFactory {
  switch (group) {
    case 'order':
      return { moduleUrl: new URL('../actors/order/actor.js', import.meta.url).href, exportName: 'createStateMachine', args: {} };
    case 'catalog':
      return { moduleUrl: new URL('../actors/catalog/actor.js', import.meta.url).href, exportName: 'createStateMachine', args: {} };
    default: {
      const never: never = group;
      throw new Error(`unknown group ${String(never)}`);
    }
  }
}

export function readManifest(directory: string): BackupManifest {
  const path = join(directory, manifestFileName);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const missing = (error as NodeJS.ErrnoException).code === 'ENOENT';
    throw new ManifestError(missing ? `${path} is missing: ${directory} is not a finished backup` : `${path}: ${(error as Error).message}`);
  }
  try {
    return parseManifest(text);
  } catch (error) {
    throw new ManifestError(`${path}: ${(error as Error).message}`);
  }
}

export async function verifyBackupDirectory(directory: string): Promise<BackupManifest> {
  const manifest = readManifest(directory);
  for (const group of manifest.groups) await verifyBackupFile(join(directory, group.file), group, factoryOf(group.group));
  const order = manifest.groups.find((group) => group.group === 'order');
  const catalog = manifest.groups.find((group) => group.group === 'catalog');
  if (order !== undefined && catalog !== undefined) {
    const problem = await dedupeCoverageProblem(join(directory, order.file), join(directory, catalog.file));
    if (problem !== null) throw new BackupVerifyError(`${join(directory, catalog.file)}: ${problem}`);
  }
  return manifest;
}

/**
 * Why the catalog copy cannot be restored beside the order copy, or null. The catalog holds every deduct record
 * from its watermark on; the order copy's own watermark is its lowest pending order (or one past its last order).
 * A catalog watermark above it means a prune landed between the two copies: the record of an order pending in the
 * order copy, or of an order the order copy does not hold, may be gone, and the restore could neither settle that
 * order nor give its stock back. The backup's hold on pruning (holdPrunes) keeps this from happening.
 */
export async function dedupeCoverageProblem(orderPath: string, catalogPath: string): Promise<string | null> {
  const orderWatermark = await queryFile(orderPath, 'order', { type: 'watermark' });
  const catalogWatermark = await queryFile(catalogPath, 'catalog', { type: 'deductWatermark' });
  if (typeof orderWatermark !== 'number' || typeof catalogWatermark !== 'number') return 'the dedupe watermarks cannot be read';
  if (catalogWatermark <= orderWatermark) return null;
  return `the catalog pruned deduct records below order sequence ${catalogWatermark}, but the order copy needs them from ${orderWatermark} on `
    + '(a prune landed between the two copies: the backup\'s hold on pruning was missing or ran out); take the backup again';
}

async function queryFile(path: string, group: GroupBackup['group'], query: QueryShape): Promise<unknown> {
  const factory = factoryOf(group);
  const module = (await import(factory.moduleUrl)) as Record<string, (args: unknown) => StateMachine>;
  const machine = module[factory.exportName]!(factory.args);
  const database = new Database(path, { readonly: true, fileMustExist: true });
  try {
    machine.open(database);
    return machine.query(query);
  } finally {
    database.close();
  }
}

export function describeManifest(manifest: BackupManifest): string {
  const lines = [`backup made ${manifest.createdAt} by Pygmy ${manifest.pygmyVersion} (${manifest.format})`];
  for (const group of manifest.groups) {
    const counts = group.group === 'order' ? `${group.orders} orders` : `${group.items} items`;
    lines.push(`  ${group.group.padEnd(7)} index ${group.index} term ${group.term} from ${group.member} of cluster ${group.clusterId} at ${group.capturedAt}: ${counts}, ${group.bytes} bytes`);
    lines.push(`          state ${group.stateHash}  sha256 ${group.sha256}`);
  }
  return lines.join('\n');
}
