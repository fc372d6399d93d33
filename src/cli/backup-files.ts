// What `pygmy backup verify` and `pygmy restore` share: reading a backup directory and checking every file in it.
//
// Promises: verifyBackupDirectory throws BackupVerifyError (or ManifestError) naming the file and what is wrong —
// a missing file, a size or sha256 that differs from the manifest, a file SQLite finds damaged, an index, term,
// cluster id, count or state hash that differs from the manifest — and returns the manifest only when all hold.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { GroupBackup } from '../http/backend.js';
import { verifyBackupFile } from '../raft/storage/backup.js';
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
  return manifest;
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
