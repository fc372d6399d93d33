// The member marker: a small file beside a replica's database that says "this name was a member of that cluster,
// as that replica id". It is written at bootstrap (after the database records the identity) and outlives the loss
// of the database file alone, so a replica whose database was deleted knows that it forgot what it promised.
// A damaged marker reads as present with an unknown identity: the replica then treats itself as a former member,
// which is the safe side (it does not vote).
import { closeSync, fsyncSync, openSync, readdirSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import type { MarkerContents, MemberMarker } from '../identity.js';

export class FileMemberMarker implements MemberMarker {
  constructor(readonly path: string) {}

  read(): MarkerContents | null {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
    try {
      const parsed = JSON.parse(text) as Record<string, unknown>;
      if (typeof parsed.clusterId === 'string' && typeof parsed.replicaId === 'string' && typeof parsed.voter === 'boolean') {
        return { clusterId: parsed.clusterId, replicaId: parsed.replicaId, voter: parsed.voter };
      }
    } catch {
      // fall through: damaged
    }
    return { clusterId: '', replicaId: 'unknown', voter: false };
  }

  /** Writes a temporary file, fsyncs it, renames it over the marker and fsyncs the directory. */
  write(contents: MarkerContents): void {
    const temporary = `${this.path}.tmp`;
    const text = `${JSON.stringify({ ...contents, note: 'Pygmy member marker: this replica was a member of this cluster. Do not delete it to "reset" a replica; see docs/multihost.md.' })}\n`;
    const file = openSync(temporary, 'w');
    try {
      writeSync(file, text);
      fsyncSync(file);
    } finally {
      closeSync(file);
    }
    renameSync(temporary, this.path);
    const directory = openSync(dirname(this.path), 'r');
    try {
      fsyncSync(directory);
    } finally {
      closeSync(directory);
    }
  }
}

/**
 * The files in `dataDir` that show it held members of a bootstrapped cluster: member markers and replica
 * databases. Empty when the directory does not exist.
 */
export function memberFilesIn(dataDir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dataDir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  return names.filter((name) => name.endsWith('.identity') || name.endsWith('.db')).sort();
}
