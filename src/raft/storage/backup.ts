// A backup of one replica's state machine at one applied index, taken while the replica keeps applying, and the
// checks that the file is what its manifest says.
//
// How the copy is consistent: it runs in a worker thread of its own, on a second, read-only connection that opens
// one read transaction (WAL mode gives that transaction a fixed view of the database as of its first read) and
// copies the file page by page with SQLite's backup API inside that same transaction. A backup step that finds a
// read transaction open uses it instead of starting its own, so every page comes from that one view, however many
// transactions the replica commits meanwhile. lastApplied is read in the view, and the replica records it in the
// same transaction as the state it describes, so the copy holds exactly the state at that index — the index the
// manifest names. The caller passes `minimumIndex`, the index of a ReadIndex read the replica served first: the
// copy's index is at least it, so the copy holds every write acknowledged before the backup was asked for.
// Bounded memory: pages are copied in steps of backupPagesPerStep, the state hash and the file's sha256 are
// computed row by row and chunk by chunk; nothing holds the database in memory.
// Paced: the page copy and the file's sha256 move at most `bytesPerSecond` on average (byte-rate.ts; the worker
// sleeps between steps), and the worker's thread runs at the lowest CPU priority, so the replica's own thread and
// its fsyncs come first on a busy machine.
// Promises: posts `{ ok: true, … }` describing the file written at destinationPath (journal mode DELETE: one
// self-contained file), or `{ ok: false, error }` with no file left behind; never writes to the source.
// Needs (workerData): the source database path, the destination path (must not exist), the minimum index and how
// to make the application's state machine (snapshot-builder.ts's StateMachineFactory).

import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readlinkSync, rmSync } from 'node:fs';
import { setPriority } from 'node:os';
import { performance } from 'node:perf_hooks';
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import type { StateMachine } from '../state-machine.js';
import type { StateMachineFactory } from './snapshot-builder.js';
import { prepareStatements } from './statements.js';
import { ByteRate } from './byte-rate.js';

/** Pages copied per backup step (4 KiB pages: 4 MiB); the worker yields to its event loop between steps. */
export const backupPagesPerStep = 1_024;

export interface BackupCaptureRequest {
  readonly kind: 'pygmyBackupCapture';
  readonly sourcePath: string;
  readonly destinationPath: string;
  readonly minimumIndex: number;
  readonly factory: StateMachineFactory;
  /** The pace of the copy and its checksum; null or absent: as fast as the disk goes. */
  readonly bytesPerSecond?: number | null;
}

/** What a backup file holds, read back from it: the same facts verify checks. */
export interface BackupFileFacts {
  readonly clusterId: string;
  readonly index: number;
  readonly term: number;
  readonly stateHash: string;
  /** Rows of catalog_items (the catalog group), else 0. */
  readonly items: number;
  /** Rows of order_orders (the order group), else 0. */
  readonly orders: number;
}

export interface BackupFileRecord extends BackupFileFacts {
  readonly bytes: number;
  readonly sha256: string;
}

export type BackupCaptureResult =
  | ({ readonly ok: true } & BackupFileRecord)
  | { readonly ok: false; readonly error: string };

export class BackupVerifyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BackupVerifyError';
  }
}

/** SHA-256 of a file, read in chunks (at the pace of `rate` when given). */
export async function sha256OfFile(path: string, rate?: ByteRate): Promise<{ readonly sha256: string; readonly bytes: number }> {
  const digest = createHash('sha256');
  let bytes = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) {
    digest.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
    const waitMs = rate?.take((chunk as Buffer).length, performance.now()) ?? 0;
    if (waitMs > 0) await new Promise((resolve) => setTimeout(resolve, waitMs));
  }
  return { sha256: digest.digest('hex'), bytes };
}

async function stateMachineOf(factory: StateMachineFactory): Promise<StateMachine> {
  const module = (await import(factory.moduleUrl)) as Record<string, unknown>;
  const create = module[factory.exportName];
  if (typeof create !== 'function') throw new Error(`${factory.moduleUrl} has no function ${factory.exportName}`);
  return (create as (args: unknown) => StateMachine)(factory.args);
}

function countRows(database: Database.Database, table: string): number {
  const known = database.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(table);
  if (known === undefined) return 0;
  return (database.prepare(`SELECT count(*) AS count FROM ${table}`).get() as { count: number }).count;
}

/** The index, term, cluster id, counts and state hash of a database, in one read transaction of `database`. */
function factsIn(database: Database.Database, machine: StateMachine): BackupFileFacts {
  const statements = prepareStatements(database);
  const index = statements.selectLastApplied.get()?.last_applied ?? 0;
  const entry = statements.selectEntry.get(index);
  const snapshot = statements.selectSnapshot.get();
  const term = index === 0 ? 0 : entry?.term ?? (snapshot?.snapshot_index === index ? snapshot.snapshot_term : undefined);
  if (term === undefined) throw new Error(`no term stored for applied index ${index}`);
  const identity = statements.selectIdentity.get();
  return {
    clusterId: identity?.cluster_id ?? '',
    index,
    term,
    stateHash: machine.hash(),
    items: countRows(database, 'catalog_items'),
    orders: countRows(database, 'order_orders'),
  };
}

/**
 * Opens a backup file read-only and reads what it holds; a file SQLite finds damaged (PRAGMA integrity_check,
 * unless told not to), or that is not a replica's database, throws BackupVerifyError naming the file.
 */
export async function readBackupFile(path: string, factory: StateMachineFactory, options: { readonly integrityCheck?: boolean } = {}): Promise<BackupFileFacts> {
  if (!existsSync(path)) throw new BackupVerifyError(`${path}: missing`);
  const machine = await stateMachineOf(factory);
  let database: Database.Database;
  try {
    database = new Database(path, { readonly: true, fileMustExist: true });
  } catch (error) {
    throw new BackupVerifyError(`${path}: not a readable SQLite file (${(error as Error).message})`);
  }
  try {
    const problems = options.integrityCheck === false ? [] : (database.pragma('integrity_check') as Array<{ integrity_check: string }>)
      .map((row) => row.integrity_check).filter((line) => line !== 'ok');
    if (problems.length > 0) throw new BackupVerifyError(`${path}: SQLite finds it damaged: ${problems.slice(0, 3).join('; ')}`);
    machine.open(database);
    return factsIn(database, machine);
  } catch (error) {
    if (error instanceof BackupVerifyError) throw error;
    throw new BackupVerifyError(`${path}: cannot be read as a replica's database (${(error as Error).message})`);
  } finally {
    database.close();
  }
}

/** Checks one file against its manifest record: size, sha256, then what SQLite reads in it. */
export async function verifyBackupFile(path: string, record: BackupFileRecord, factory: StateMachineFactory): Promise<void> {
  if (!existsSync(path)) throw new BackupVerifyError(`${path}: missing`);
  const { sha256, bytes } = await sha256OfFile(path);
  if (bytes !== record.bytes) throw new BackupVerifyError(`${path}: ${bytes} bytes, the manifest says ${record.bytes} (truncated or altered)`);
  if (sha256 !== record.sha256) throw new BackupVerifyError(`${path}: sha256 ${sha256} differs from the manifest's ${record.sha256} (the file is damaged or altered)`);
  const facts = await readBackupFile(path, factory);
  for (const key of ['clusterId', 'index', 'term', 'stateHash', 'items', 'orders'] as const) {
    if (facts[key] !== record[key]) {
      throw new BackupVerifyError(`${path}: ${key} is ${String(facts[key])} in the file, ${String(record[key])} in the manifest`);
    }
  }
}

async function capture(request: BackupCaptureRequest): Promise<BackupCaptureResult> {
  if (existsSync(request.destinationPath)) return { ok: false, error: `${request.destinationPath} already exists` };
  const machine = await stateMachineOf(request.factory);
  const rate = new ByteRate(request.bytesPerSecond ?? null, performance.now());
  const source = new Database(request.sourcePath, { readonly: true, fileMustExist: true });
  let index: number;
  try {
    machine.open(source); // Its schema statements are no-ops on an existing database; it reads only.
    const statements = prepareStatements(source);
    source.prepare('BEGIN').run();
    try {
      // The first read fixes the transaction's view; the backup steps below read the same view.
      index = statements.selectLastApplied.get()?.last_applied ?? 0;
      if (index < request.minimumIndex) {
        return { ok: false, error: `applied index ${index} is below the linearizable point ${request.minimumIndex}` };
      }
      await source.backup(request.destinationPath, { progress: pacedSteps(rate, source.pragma('page_size', { simple: true }) as number) });
    } finally {
      source.prepare('COMMIT').run();
    }
  } catch (error) {
    rmSync(request.destinationPath, { force: true });
    throw error;
  } finally {
    source.close();
  }
  try {
    const copy = new Database(request.destinationPath);
    try {
      copy.pragma('journal_mode = DELETE');
    } finally {
      copy.close();
    }
    // The page copy of a file SQLite checked at open needs no integrity check here; verify makes one.
    const facts = await readBackupFile(request.destinationPath, request.factory, { integrityCheck: false });
    if (facts.index !== index) return { ok: false, error: `the copy holds index ${facts.index}, the view held ${index}` };
    const file = await sha256OfFile(request.destinationPath, rate);
    return { ok: true, ...facts, ...file };
  } catch (error) {
    rmSync(request.destinationPath, { force: true });
    throw error;
  }
}

/** Blocks this worker's thread (it does nothing else) without using CPU. */
function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * The backup's progress callback: steps of about a tenth of a second's worth of pages at the pace (at most
 * backupPagesPerStep), and a sleep after each step that ran ahead of it. SQLite's backup API runs its steps from
 * the worker's event loop; the callback runs between two steps, so sleeping there holds the copy, nothing else.
 */
function pacedSteps(rate: ByteRate, pageBytes: number): (progress: { totalPages: number; remainingPages: number }) => number {
  const pagesPerStep = Math.max(1, Math.min(backupPagesPerStep, Math.floor(rate.bytesIn(100, backupPagesPerStep * pageBytes) / pageBytes)));
  let remainingBefore: number | null = null;
  return (progress) => {
    const copied = remainingBefore === null ? progress.totalPages - progress.remainingPages : remainingBefore - progress.remainingPages;
    remainingBefore = progress.remainingPages;
    const waitMs = rate.take(Math.max(0, copied) * pageBytes, performance.now());
    if (waitMs > 0) sleepSync(waitMs);
    return pagesPerStep;
  };
}

/** The lowest CPU priority for this thread alone (Linux: a thread's id is a pid to setpriority); best effort. */
function lowerThisThreadsPriority(): void {
  try {
    const threadId = Number(readlinkSync('/proc/thread-self').split('/').pop());
    if (Number.isSafeInteger(threadId) && threadId > 0) setPriority(threadId, 19);
  } catch {
    // Not Linux, or not allowed: the pace alone then keeps the copy in check.
  }
}

if (parentPort !== null && workerData !== null && typeof workerData === 'object' && (workerData as { kind?: unknown }).kind === 'pygmyBackupCapture') {
  const port = parentPort;
  const request = workerData as BackupCaptureRequest;
  lowerThisThreadsPriority();
  capture(request).then(
    (result) => {
      if (!result.ok) rmSync(request.destinationPath, { force: true });
      port.postMessage(result);
    },
    (error: unknown) => port.postMessage({ ok: false, error: error instanceof Error ? error.message : String(error) } satisfies BackupCaptureResult),
  );
}
