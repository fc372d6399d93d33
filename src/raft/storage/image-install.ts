// Installs a file image received from a leader (image-file.ts) into a replica's database from another thread (the
// piscina task of image-worker.ts), on a connection of its own. Why: copying millions of rows and rebuilding their
// indexes takes longer than the runtime's watchdog lets the replica's thread stay silent (5 s), and a replica
// stopped mid-copy for that starts the image over; off its thread, the replica keeps answering meanwhile.
//
// Promises: one transaction (BEGIN IMMEDIATE … COMMIT at synchronous=FULL: on disk when it returns) does what
// RaftStorage's own install of a file image does — the log goes, every application table becomes the image's
// (copyImageTables), the snapshot record and lastApplied become the image's — and writes the Ready's hard state
// with it, through the same record writers (statements.ts); whatever fails rolls all of it back, and the image is
// detached and the connection closed either way. Needs: the caller (RaftStorage.installThen) to have checked the
// invariants, and to write nothing on its own connection until this returns (this one holds the write lock).
import Database from 'better-sqlite3';
import type { HardState, SnapshotMeta } from '../types.js';
import { copyImageTables } from './image-file.js';
import { prepareStatements, writeHardStateRecord, writeSnapshotRecord } from './statements.js';

export interface ImageInstallTask {
  readonly databasePath: string;
  readonly imagePath: string;
  /** The record to write, as RaftStorage writes it (snapshotRecordOf). */
  readonly meta: SnapshotMeta;
  readonly hardState: HardState | null;
}

/** Runs an install in another thread; resolves once it committed, rejects with why it did not. */
export type ImageInstaller = (task: ImageInstallTask) => Promise<void>;

/** How long this connection waits for the replica's own to finish a write it had begun (it begins no more). */
const busyTimeoutMs = 10_000;

export function installImageFile(task: ImageInstallTask): void {
  const database = new Database(task.databasePath, { fileMustExist: true, timeout: busyTimeoutMs });
  try {
    database.pragma('synchronous = FULL');
    database.prepare('ATTACH DATABASE ? AS image').run(task.imagePath);
    try {
      const statements = prepareStatements(database);
      database.transaction(() => {
        statements.deleteEntriesFrom.run(0);
        copyImageTables(database);
        writeSnapshotRecord(statements, task.meta);
        statements.updateLastApplied.run(task.meta.index);
        if (task.hardState !== null) writeHardStateRecord(statements, task.hardState);
      }).immediate();
    } finally {
      database.exec('DETACH DATABASE image');
    }
  } finally {
    database.close();
  }
}
