// SQLite's structural check of a replica's file (PRAGMA quick_check), split by cost, and the record of damage it found.
//
// Owns: the two halves of the check and the damage record `<db>.damaged` beside the database.
// Why split: quick_check reads every page, so its time grows with the file (≈ 2 s of CPU per GiB; 2,000,000
// orders are 2 GiB per order replica), and on the start-up path it made a large replica miss its init timeout.
// A file up to wholeFileCheckAtOpenBytesMax still gets the full check at open (`checkWholeFileOn`); a larger one:
//   - `checkRaftTables` runs at open, on the replica's thread: quick_check of the Raft tables (raft_*) only, which
//     the log's compaction keeps small. With the checksums of every record (disk-image.ts) it means a replica never
//     votes or acknowledges from Raft data it has not verified.
//   - `checkWholeFile` is the full quick_check (every table, the free list, pages used twice or never), in a process
//     of its own (integrity-process.ts) from a read-only connection (WAL: a fixed view while the replica writes).
//     The replica starts it after open (replica.ts); damage found is recorded here and stops the replica with
//     StorageCorruptionError.
//   - the record makes that refusal stick: `refuseRecordedDamage`, at open, throws StorageCorruptionError while
//     the record names this very file (its inode), so the restarted replica fails its start instead of serving
//     again until the next check. A file replaced by a repair has another inode: the record is stale and removed.
// Promises: none of these writes to the database; a record is written whole (rename) and fsynced.
// Needs: better-sqlite3.
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { StorageCorruptionError } from './errors.js';

/**
 * Files up to this size (database and WAL) get the full check at open, on the replica's thread: ~0.15 s of CPU at
 * most, and then a damaged file is refused before the replica serves at all. Larger ones get it after open.
 */
export const wholeFileCheckAtOpenBytesMax = 64 * 1024 * 1024;

/** The first problems quick_check names; it stops at 100 on its own. */
const problemsKept = 8;

const raftTables = "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'raft\\_%' ESCAPE '\\' ORDER BY name";

function problemsOf(rows: ReadonlyArray<Record<string, unknown>>): string[] {
  return rows.map((row) => String(Object.values(row)[0])).filter((line) => line !== 'ok').slice(0, problemsKept);
}

function refuse(path: string, problems: readonly string[], scope: string): never {
  throw new StorageCorruptionError('database disk image is malformed', { path, quickCheck: problems, scope });
}

/** The bytes of the database file and its WAL (0 for a file not there yet). */
export function fileBytes(path: string): number {
  let bytes = 0;
  for (const file of [path, `${path}-wal`]) {
    try {
      bytes += statSync(file).size;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
  return bytes;
}

/** The full quick_check on the caller's connection; throws StorageCorruptionError. */
export function checkWholeFileOn(database: Database.Database, path: string): void {
  const problems = problemsOf(database.pragma('quick_check') as Array<Record<string, unknown>>);
  if (problems.length > 0) refuse(path, problems, 'whole file');
}

/** quick_check of each Raft table and its indexes, on the caller's connection; throws StorageCorruptionError. */
export function checkRaftTables(database: Database.Database, path: string): void {
  const tables = database.prepare(raftTables).pluck().all() as string[];
  for (const table of tables) {
    const problems = problemsOf(database.pragma(`quick_check("${table.replaceAll('"', '""')}")`) as Array<Record<string, unknown>>);
    if (problems.length > 0) refuse(path, problems, table);
  }
}

/** The full quick_check of the file at `path`, from a read-only connection of its own: the problems, [] if none. */
export function checkWholeFile(path: string): string[] {
  const database = new Database(path, { readonly: true, fileMustExist: true });
  try {
    return problemsOf(database.pragma('quick_check') as Array<Record<string, unknown>>);
  } finally {
    database.close();
  }
}

interface DamageRecord {
  readonly inode: number;
  readonly problems: readonly string[];
  readonly foundAt: string;
}

export function damageRecordPath(path: string): string {
  return `${path}.damaged`;
}

/** Records, durably, that the file at `path` failed the full check (and with what). */
export function recordDamage(path: string, problems: readonly string[], foundAt: string): void {
  const record: DamageRecord = { inode: statSync(path).ino, problems: problems.slice(0, problemsKept), foundAt };
  const target = damageRecordPath(path);
  const temporary = `${target}.tmp`;
  const descriptor = openSync(temporary, 'w');
  try {
    writeSync(descriptor, `${JSON.stringify(record)}\n`);
    fsyncSync(descriptor);
  } finally {
    closeSync(descriptor);
  }
  renameSync(temporary, target);
  const directory = openSync(dirname(target), 'r');
  try {
    fsyncSync(directory);
  } finally {
    closeSync(directory);
  }
}

/**
 * Throws StorageCorruptionError when a full check recorded damage in this very file. A record of another file (the
 * database was replaced, or is gone) is removed. An unreadable record refuses too: it was written for a reason.
 */
export function refuseRecordedDamage(path: string): void {
  const target = damageRecordPath(path);
  let text: string;
  try {
    text = readFileSync(target, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  let inode: number | null = null;
  try {
    inode = statSync(path).ino;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  let record: Partial<DamageRecord> | null = null;
  try {
    record = JSON.parse(text) as Partial<DamageRecord>;
  } catch {
    record = null;
  }
  if (inode === null || (record !== null && typeof record.inode === 'number' && record.inode !== inode)) {
    rmSync(target, { force: true });
    return;
  }
  const found = typeof record?.foundAt === 'string' ? ` at ${record.foundAt}` : '';
  // A repair that writes a good copy over this file keeps its inode: then the record is removed by hand.
  refuse(path, Array.isArray(record?.problems) ? record.problems.map(String) : ['unreadable damage record'], `recorded in ${target}${found}; replace the file, or remove the record once it is repaired in place`);
}
