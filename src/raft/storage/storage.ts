// RaftStorage: one replica's durable Raft state and its application state, in one SQLite file.
//
// Owns: the file (WAL, synchronous=FULL, so every committed transaction is fsynced), the Raft log, hard state,
// snapshot and lastApplied, and the transactions around the application's StateMachine.
// Promises: persist() and apply() are each one all-or-nothing transaction. persist() is fsynced before it
// returns, except a hard state that only moves the commit index (durable with the next fsync); persistThen() is
// the same write with its fsync in libuv's thread pool, and says so only once it returned; installThen() is
// persist() of a file image with its transaction in another thread (image-install.ts), every write refused until
// it is done; apply() is not
// fsynced on its own (it becomes durable with the next persist(), WAL order): a crash
// that loses it loses only state the durable log and commit index rebuild, and lastApplied always agrees with the
// application's tables, so the restarted replica re-applies those entries. A failed write
// leaves nothing behind and is reported as StorageWriteError, after which the storage refuses every further
// write (the replica must stop, not acknowledge). Opening verifies every record and the file's structure (the Raft
// tables' only, for a file too large to check whole at open: checkedWholeFile false, and the owner checks it after
// open, integrity.ts), and refuses damaged acknowledged data, or a file a full check found damaged before, with
// StorageCorruptionError; a torn tail above the commit index is dropped and logged. Invariants of the
// log (contiguous, terms non-decreasing, no truncation of committed entries, lastApplied <= commit) are asserted
// on every write and throw StorageInvariantError.
// Needs: one thread (better-sqlite3 is synchronous), and a StateMachine that keeps its state in tables of the
// same database.
import { closeSync, fdatasync, fsyncSync, mkdirSync, openSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { DurationHistogram, type HistogramFigures } from '../activity.js';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { pino } from 'pino';
import type { AnyStateMachine, QueryShape } from '../state-machine.js';
import type { Entry, HardState, NodeId, PersistedState, Snapshot, SnapshotMeta } from '../types.js';
import { entryChecksum, snapshotChecksum, hardStateChecksum } from './checksum.js';
import { readDiskImage } from './disk-image.js';
import { copyImageTables, parseImageFileReference } from './image-file.js';
import { checkRaftTables, checkWholeFileOn, fileBytes, refuseRecordedDamage, wholeFileCheckAtOpenBytesMax } from './integrity.js';
import {
  assertInvariant,
  assertNever,
  StorageCorruptionError,
  StorageWriteError,
  type DiskFaultCode,
} from './errors.js';
import type { StorageFaults } from './faults.js';
import { rowToEntry } from './recovery.js';
import { ensureSchema } from './schema.js';
import { prepareStatements, snapshotRecordOf, writeHardStateRecord, writeSnapshotRecord, type Statements } from './statements.js';
import type { ImageInstaller } from './image-install.js';
import {
  assertBatchContiguous,
  assertDurableState,
  assertHardStateStep,
  type DurableState,
} from './invariants.js';

/** The part of a pino logger the storage uses; pino loggers satisfy it. */
export interface StorageLogger {
  warn(details: Record<string, unknown>, message: string): void;
}

export interface StorageOptions {
  /** File path of the database; the parent directory is created. */
  readonly path: string;
  readonly stateMachine: AnyStateMachine;
  /** Test hook: make chosen write transactions (and fsyncs of persistThen) fail as a failing disk would. */
  readonly faults?: StorageFaults;
  readonly logger?: StorageLogger;
  /** A file larger than this (database and WAL) is checked whole after open, not at open (integrity.ts). */
  readonly wholeFileCheckAtOpenBytesMax?: number;
}

export interface StorageStats {
  readonly fsyncs: number;
  /** Time of each synced write transaction, its fsync included. */
  readonly fsyncSeconds: HistogramFigures;
  readonly transactions: number;
  readonly entriesWritten: number;
  readonly bytesWritten: number;
}

export interface LoadedState {
  readonly persisted: PersistedState;
  readonly lastApplied: number;
}

export interface PersistPart {
  readonly snapshot: Snapshot | null;
  readonly entries: readonly Entry[];
  readonly hardState: HardState | null;
}

export interface StoredIdentity {
  readonly clusterId: string;
  readonly replicaId: string;
  /** False once the replica knows it lost what it promised: it never votes again under this identity. */
  readonly voter: boolean;
  readonly createdAt: string;
}

export interface AppliedResult {
  readonly index: number;
  readonly result: unknown;
}

const sqliteCorruptionCodes = new Set(['SQLITE_CORRUPT', 'SQLITE_NOTADB', 'SQLITE_CORRUPT_INDEX']);

type SqliteError = InstanceType<typeof Database.SqliteError>;

function isSqliteError(error: unknown): error is SqliteError {
  return error instanceof Database.SqliteError;
}

/** SQLite's own detection of a damaged file becomes the same named error as a failed checksum. */
function asCorruption(error: unknown, path: string): unknown {
  if (!isSqliteError(error)) return error;
  if (!sqliteCorruptionCodes.has(error.code) && !error.code.startsWith('SQLITE_CORRUPT')) return error;
  return new StorageCorruptionError('database disk image is malformed', {
    path,
    sqliteCode: error.code,
    sqliteMessage: error.message,
  });
}

function diskFaultCodeOf(error: SqliteError): DiskFaultCode | null {
  if (error.code === 'SQLITE_FULL') return 'ENOSPC';
  if (error.code.startsWith('SQLITE_IOERR')) return 'EIO';
  return null;
}

function configure(database: Database.Database): void {
  database.pragma('journal_mode = WAL');
  // FULL: the WAL is fsynced at every commit, so a committed transaction survives power loss.
  database.pragma('synchronous = FULL');
}

/**
 * synced: fsynced before the call returns (the log, hard state, snapshots — what Raft acknowledges).
 * deferred: atomic, durable with the next synced write (applying committed entries, which the log can rebuild).
 */
const durability = { synced: 'synced', deferred: 'deferred' } as const;

/**
 * File images from this size on are installed from another thread (installThen): ~1 s of copying on a busy
 * machine, well under the runtime's 5 s watchdog; a smaller one is copied on the replica's thread.
 */
export const installElsewhereBytesMin = 16 * 1024 * 1024;
type Durability = (typeof durability)[keyof typeof durability];

export class RaftStorage {
  private readonly statements: Statements;
  private state: DurableState;
  private counters = { fsyncs: 0, transactions: 0, entriesWritten: 0, bytesWritten: 0 };
  private readonly fsyncSeconds = new DurationHistogram();
  private failure: StorageWriteError | null = null;
  private closed = false;
  /** Built once: a transaction wrapper and the two durability switches are on the path of every Ready. */
  private readonly transaction: (body: () => unknown) => unknown;
  private readonly syncNormal: Database.Statement;
  private readonly syncFull: Database.Statement;
  /** persistThen(): the WAL file's descriptor (opened at the first call), the fsync running, and who waits. */
  private walDescriptor: number | null = null;
  private walSyncRunning = false;
  private walSyncWaiters: Array<(error: Error | null) => void> = [];
  /** installThen(): an image is being installed from another thread, which holds the write lock meanwhile. */
  private installing = false;

  private constructor(
    private readonly database: Database.Database,
    private readonly options: StorageOptions,
    private readonly logger: StorageLogger,
    /** Whether open ran the full quick_check; if not, the owner runs it after open (integrity.ts). */
    readonly checkedWholeFile: boolean,
  ) {
    this.statements = prepareStatements(database);
    this.transaction = database.transaction((body: () => unknown) => {
      const result = body();
      const fault = this.options.faults?.takeFault() ?? null;
      if (fault !== null) throw new StorageWriteError(fault, 'injected disk fault');
      return result;
    });
    this.syncNormal = database.prepare('PRAGMA synchronous = NORMAL');
    this.syncFull = database.prepare('PRAGMA synchronous = FULL');
    this.state = this.recover();
  }

  static open(options: StorageOptions): RaftStorage {
    mkdirSync(dirname(options.path), { recursive: true });
    refuseRecordedDamage(options.path);
    const checkedWhole = fileBytes(options.path) <= (options.wholeFileCheckAtOpenBytesMax ?? wholeFileCheckAtOpenBytesMax);
    const database = new Database(options.path);
    try {
      configure(database);
      // A large file: only the Raft tables here, the whole file's check runs after open (integrity.ts).
      if (checkedWhole) checkWholeFileOn(database, options.path);
      else checkRaftTables(database, options.path);
      ensureSchema(database, options.path);
      options.stateMachine.open(database);
      const logger = options.logger ?? pino({ name: 'raft-storage' });
      return new RaftStorage(database, options, logger, checkedWhole);
    } catch (error) {
      database.close();
      throw asCorruption(error, options.path);
    }
  }

  get lastApplied(): number {
    return this.state.lastApplied;
  }

  /** The hard state as stored (durable). */
  get hardState(): HardState {
    return this.state.hardState;
  }

  get path(): string {
    return this.options.path;
  }

  /** Everything a restarting node needs, read back from disk and verified again. */
  load(): LoadedState {
    this.assertOpen();
    const image = readDiskImage(this.statements, this.options.path);
    assertInvariant(image.verdict.kind === 'intact', 'log damaged after open', { kind: image.verdict.kind });
    const entries = image.verdict.entries;
    const loaded: LoadedState = {
      persisted: { hardState: image.hardState, snapshot: image.snapshot, entries },
      lastApplied: image.lastApplied,
    };
    this.assertMatchesMemory(loaded);
    return loaded;
  }

  /** The durable part of one Ready, in one transaction: snapshot, then entries, then hard state. */
  persist(part: PersistPart): void {
    this.assertOpen();
    const { snapshot, entries, hardState } = part;
    if (snapshot === null && entries.length === 0 && hardState === null) return;
    this.writePart(part, this.onlyCommitMoves(part) ? durability.deferred : durability.synced);
  }

  /**
   * persist() with the fsync off this thread: the transaction commits now without one (synchronous=NORMAL), and an
   * fdatasync of the WAL file runs in libuv's thread pool; `durable` is called when one that began after this
   * commit returns. The WAL's frames carry a running checksum, so a crash before then keeps a prefix of the
   * transactions — this one whole or not at all, and everything written after it gone with it. At most one
   * fsync runs at a time; writes made while it runs wait for the next, which covers them all (group commit).
   * False, with `durable` never called, when `part` needs no fsync (see persist()) or holds a snapshot (written
   * by persist(), fsynced before returning). After a failed fsync every waiter gets the error and every later
   * write throws it.
   */
  persistThen(part: PersistPart, durable: (error: Error | null) => void): boolean {
    this.assertOpen();
    const { snapshot, entries, hardState } = part;
    if (snapshot !== null || (entries.length === 0 && hardState === null) || this.onlyCommitMoves(part)) {
      this.persist(part);
      return false;
    }
    const descriptor = this.openWal();
    this.writePart(part, durability.deferred);
    this.walSyncWaiters.push(durable);
    this.syncWal(descriptor);
    return true;
  }

  private writePart(part: PersistPart, mode: Durability): void {
    const { snapshot, entries, hardState } = part;
    // A file image is attached before the transaction (SQLite attaches outside one) and copied inside it.
    const file = snapshot === null ? null : parseImageFileReference(snapshot.data);
    if (file !== null) this.database.prepare('ATTACH DATABASE ? AS image').run(file.path);
    let next: DurableState;
    try {
      next = this.write(mode, () => {
        let state = this.state;
        if (snapshot !== null) state = this.installSnapshot(state, snapshot, file !== null);
        if (entries.length > 0) state = this.appendEntries(state, entries);
        if (hardState !== null) state = this.saveHardState(state, hardState);
        assertDurableState(state);
        return state;
      });
    } finally {
      if (file !== null) this.database.exec('DETACH DATABASE image');
    }
    this.state = next;
    this.counters.entriesWritten += entries.length;
    this.counters.bytesWritten += entries.reduce((sum, entry) => sum + Buffer.byteLength(entry.data), 0);
    this.counters.bytesWritten += snapshot === null ? 0 : file?.bytes ?? Buffer.byteLength(snapshot.data);
  }

  /**
   * persist() of a Ready that installs a file image, with its transaction in another thread (`install`, on a
   * connection of its own: image-install.ts): copying millions of rows would keep this thread silent for longer
   * than the runtime's watchdog allows. The invariants are checked here first; `durable` is called once that
   * transaction committed (fsynced), when this storage's state moves to it and the state machine hears
   * tablesReplaced, or with the error that stopped it (nothing of it written). Nothing else may write until then:
   * write() refuses. False, with `durable` never called, for any other part (no snapshot, a text image, entries
   * with it), for an image under installElsewhereBytesMin (copied here in less time than a thread takes to start,
   * and the replica stays unanswering for less), after a failed write, or with injected faults (they are this
   * connection's): persist() it instead.
   */
  installThen(part: PersistPart, install: ImageInstaller, durable: (error: Error | null) => void): boolean {
    this.assertOpen();
    const { snapshot, entries, hardState } = part;
    const file = snapshot === null ? null : parseImageFileReference(snapshot.data);
    if (snapshot === null || file === null || entries.length > 0 || this.failure !== null || this.options.faults !== undefined) return false;
    if (file.bytes < installElsewhereBytesMin) return false;
    assertInvariant(!this.installing, 'two images installing at once', { index: snapshot.meta.index });
    const meta = snapshotRecordOf(snapshot.meta);
    assertInvariant(meta.index > this.state.lastApplied, 'snapshot does not advance lastApplied', { snapshotIndex: meta.index, lastApplied: this.state.lastApplied });
    let next: DurableState = { ...this.state, snapshotMeta: meta, lastApplied: meta.index, lastIndex: meta.index, lastTerm: meta.term };
    if (hardState !== null) {
      assertHardStateStep(next.hardState, hardState, next.lastIndex);
      next = { ...next, hardState: { term: hardState.term, vote: hardState.vote, commit: hardState.commit } };
    }
    assertDurableState(next);
    this.installing = true;
    install({ databasePath: this.options.path, imagePath: file.path, meta, hardState }).then(() => {
      this.installing = false;
      if (this.closed) return;
      this.state = next;
      this.counters.transactions += 1;
      this.counters.fsyncs += 1;
      this.counters.bytesWritten += file.bytes;
      this.options.stateMachine.tablesReplaced?.();
      durable(null);
    }, (error: unknown) => {
      this.installing = false;
      if (!this.closed) durable(error instanceof Error ? error : new Error(String(error)));
    });
    return true;
  }

  /**
   * The WAL file, opened once. Its directory entry is fsynced too, once: SQLite syncs a new WAL's directory with
   * its first fsync, which on this path is ours, not SQLite's. A synced write first makes sure the file exists.
   */
  private openWal(): number {
    if (this.walDescriptor !== null) return this.walDescriptor;
    this.write(durability.synced, () => this.statements.updateLastApplied.run(this.state.lastApplied));
    this.walDescriptor = openSync(`${this.options.path}-wal`, 'r+');
    const directory = openSync(dirname(this.options.path), 'r');
    try {
      fsyncSync(directory);
    } finally {
      closeSync(directory);
    }
    return this.walDescriptor;
  }

  /** Starts an fdatasync of the WAL for the writes waiting, unless one is running (its end starts the next). */
  private syncWal(descriptor: number): void {
    if (this.walSyncRunning || this.walSyncWaiters.length === 0) return;
    const waiters = this.walSyncWaiters;
    this.walSyncWaiters = [];
    this.walSyncRunning = true;
    const injected = this.options.faults?.takeSyncFault() ?? null;
    fdatasync(descriptor, (error) => {
      this.walSyncRunning = false;
      const failure = injected !== null ? new StorageWriteError(injected, 'injected fsync fault')
        : error === null ? null : new StorageWriteError(error.code === 'ENOSPC' || error.code === 'EDQUOT' ? 'ENOSPC' : 'EIO', `fsync of the WAL failed: ${error.message}`, { cause: error });
      if (failure !== null) {
        this.failure ??= failure;
        for (const waiter of [...waiters, ...this.walSyncWaiters.splice(0)]) waiter(this.failure);
      } else {
        this.counters.fsyncs += 1;
        for (const waiter of waiters) waiter(null);
      }
      if (this.closed) this.closeWal();
      else if (this.failure === null) this.syncWal(descriptor);
    });
  }

  private closeWal(): void {
    if (this.walDescriptor === null || this.walSyncRunning) return;
    closeSync(this.walDescriptor);
    this.walDescriptor = null;
  }

  /**
   * A hard state that only moves the commit index needs no fsync of its own: the commit index is volatile state in
   * Raft (a restarted replica learns it again from the leader), and the WAL's order keeps the stored commit at or
   * above the stored lastApplied. Term and vote always get their fsync before the core may speak.
   */
  private onlyCommitMoves(part: PersistPart): boolean {
    const { snapshot, entries, hardState } = part;
    if (snapshot !== null || entries.length > 0 || hardState === null) return false;
    return hardState.term === this.state.hardState.term && hardState.vote === this.state.hardState.vote;
  }

  /** Applies committed entries in order, and records lastApplied, in one transaction. */
  apply(entries: readonly Entry[]): AppliedResult[] {
    this.assertOpen();
    const last = entries[entries.length - 1];
    if (last === undefined) return [];
    const results = this.write(durability.deferred, () => this.applyEntries(this.state, entries));
    this.state = { ...this.state, lastApplied: last.index };
    return results;
  }

  /**
   * A Ready that only moves the commit index, and the entries it commits: both are deferred writes, so one
   * transaction for the two changes nothing about durability and saves a commit (and a WAL page for the hard
   * state) on every such Ready — on a follower, one per commit the leader tells it. Null, with nothing written,
   * when `part` holds more than a commit move or there is nothing to apply: the caller then persists and applies
   * separately.
   */
  persistCommitAndApply(part: PersistPart, entries: readonly Entry[]): AppliedResult[] | null {
    this.assertOpen();
    const last = entries[entries.length - 1];
    if (last === undefined || !this.onlyCommitMoves(part)) return null;
    const { state, results } = this.write(durability.deferred, () => {
      const committed = this.saveHardState(this.state, part.hardState!);
      assertDurableState(committed);
      return { state: committed, results: this.applyEntries(committed, entries) };
    });
    this.state = { ...state, lastApplied: last.index };
    return results;
  }

  /** Inside a write: applies committed entries in order and records lastApplied. */
  private applyEntries(state: DurableState, entries: readonly Entry[]): AppliedResult[] {
    this.assertApplicable(state, entries);
    const applied = entries.map((entry) => ({ index: entry.index, result: this.applyOne(entry) }));
    this.statements.updateLastApplied.run(entries[entries.length - 1]!.index);
    return applied;
  }

  /**
   * Log compaction: records that the state, which lives in the application's tables at lastApplied, covers the log
   * up to `index` (≤ lastApplied), and drops those entries. No image is built or stored here; one is built only
   * when a follower needs entries that are gone (image(), or image-file.ts off this thread). A deferred
   * write: a crash that loses it leaves the entries and the previous snapshot record, which agree with each other.
   */
  compact(index: number, peers: readonly NodeId[], learners: readonly NodeId[] = [], configIndex = index): SnapshotMeta {
    this.assertOpen();
    const snapshotIndex = this.state.snapshotMeta?.index ?? 0;
    assertInvariant(index > snapshotIndex && index <= this.state.lastApplied, 'compaction index out of range', {
      index,
      snapshotIndex,
      lastApplied: this.state.lastApplied,
    });
    assertInvariant(configIndex >= 0 && configIndex <= index, 'configuration index beyond the compaction index', { index, configIndex });
    const term = this.termAt(this.state, index);
    const meta: SnapshotMeta = { index, term, peers: [...peers], learners: [...learners], configIndex };
    this.write(durability.deferred, () => {
      this.writeSnapshotRow(meta);
      this.statements.deleteEntriesThrough.run(index);
    });
    this.state = { ...this.state, snapshotMeta: meta };
    return meta;
  }

  /** An image of the application's state at lastApplied, built on this thread, for a follower behind the log. */
  image(): { readonly index: number; readonly term: number; readonly data: string } {
    this.assertOpen();
    const index = this.state.lastApplied;
    return { index, term: this.termAt(this.state, index), data: this.options.stateMachine.snapshot() };
  }

  /** Stored entries with fromIndex <= index <= toIndex, for a driver that needs entries it no longer holds. */
  readEntries(fromIndex: number, toIndex: number): Entry[] {
    this.assertOpen();
    return this.statements.selectEntriesBetween.all(fromIndex, toIndex).map(rowToEntry);
  }

  /** Whether this file holds no Raft history at all: term 0, no vote, no entries, no snapshot, nothing applied. */
  isEmpty(): boolean {
    const state = this.state;
    return state.hardState.term === 0 && state.hardState.vote === null && state.lastIndex === 0
      && state.snapshotMeta === null && state.lastApplied === 0;
  }

  /** The identity recorded at bootstrap (see ../identity.ts), or null before one was recorded. */
  identity(): StoredIdentity | null {
    this.assertOpen();
    const row = this.statements.selectIdentity.get();
    if (row === undefined) return null;
    return { clusterId: row.cluster_id, replicaId: row.replica_id, voter: row.voter === 1, createdAt: row.created_at };
  }

  /** Records the identity once (fsynced); a second call is a bug. */
  recordIdentity(identity: StoredIdentity): void {
    this.assertOpen();
    assertInvariant(this.statements.selectIdentity.get() === undefined, 'identity recorded twice', { path: this.options.path });
    this.write(durability.synced, () =>
      this.statements.insertIdentity.run(identity.clusterId, identity.replicaId, identity.voter ? 1 : 0, identity.createdAt));
  }

  /** Records, durably, that this replica may no longer vote. Never undone here (only a new membership can). */
  recordNonVoter(): void {
    this.assertOpen();
    this.write(durability.synced, () => this.statements.updateIdentityVoter.run(0));
  }

  /** The replica id first seen from each peer, by peer name. */
  peerReplicas(): Map<NodeId, string> {
    this.assertOpen();
    return new Map(this.statements.selectPeerReplicas.all().map((row) => [row.name, row.replica_id]));
  }

  /** Pins the replica id of a peer the first time it is seen (fsynced); a pinned one is never replaced. */
  pinPeerReplica(peer: NodeId, replicaId: string): void {
    this.assertOpen();
    this.write(durability.synced, () => this.statements.insertPeerReplica.run(peer, replicaId));
  }

  /** The state machine's answer to a checked query; null reads nothing (a read wanted only for its index). */
  query(query: QueryShape | null): unknown {
    this.assertOpen();
    return query === null ? null : this.options.stateMachine.query(query);
  }

  stateHash(): string {
    this.assertOpen();
    return this.options.stateMachine.hash();
  }

  stats(): StorageStats {
    return { ...this.counters, fsyncSeconds: this.fsyncSeconds.figures() };
  }

  /** Folds the WAL into the main file (unless a write failed, when nothing more is written) and closes. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      if (this.failure === null) this.database.pragma('wal_checkpoint(TRUNCATE)');
    } finally {
      this.database.close();
      // An fsync still running closes the descriptor when it returns.
      this.closeWal();
    }
  }

  private recover(): DurableState {
    const image = readDiskImage(this.statements, this.options.path);
    const verdict = image.verdict;
    switch (verdict.kind) {
      case 'intact':
        break;
      case 'tornTail':
        this.logger.warn(
          { path: this.options.path, firstDroppedIndex: verdict.firstDroppedIndex, droppedCount: verdict.droppedCount },
          `dropping ${verdict.droppedCount} damaged uncommitted entries from index ${verdict.firstDroppedIndex}`,
        );
        this.write(durability.synced, () => this.statements.deleteEntriesFrom.run(verdict.firstDroppedIndex));
        break;
      case 'corrupt':
        // readDiskImage throws for a corrupt log; reaching here would be a bug in it.
        throw new StorageCorruptionError(verdict.reason, { path: this.options.path, index: verdict.index });
      default:
        assertNever(verdict);
    }
    const snapshotMeta = image.snapshot;
    const last = verdict.entries[verdict.entries.length - 1];
    return {
      hardState: image.hardState,
      snapshotMeta,
      lastApplied: image.lastApplied,
      lastIndex: last?.index ?? snapshotMeta?.index ?? 0,
      lastTerm: last?.term ?? snapshotMeta?.term ?? 0,
    };
  }

  /** Runs body in one transaction; a disk fault rolls it back, is named, and stops all later writes. */
  private write<T>(mode: Durability, body: () => T): T {
    assertInvariant(!this.installing, 'a write while an image installs from another thread', { mode });
    if (this.failure !== null) {
      throw new StorageWriteError(this.failure.code, 'storage stopped after an earlier failed write', {
        cause: this.failure,
      });
    }
    let result: T;
    // NORMAL in WAL mode commits without fsync; the WAL keeps commit order, so the next FULL commit's fsync
    // makes this transaction durable too, and a crash before it drops the whole transaction, never half of it.
    if (mode === durability.deferred) this.syncNormal.run();
    const startedMs = performance.now();
    try {
      result = this.transaction(body) as T;
    } catch (error) {
      throw this.classifyWriteFailure(error);
    } finally {
      if (mode === durability.deferred) this.syncFull.run();
    }
    // With WAL and synchronous=FULL each committed write transaction is exactly one fsync of the WAL.
    this.counters.transactions += 1;
    if (mode === durability.synced) {
      this.counters.fsyncs += 1;
      this.fsyncSeconds.observe((performance.now() - startedMs) / 1_000);
    }
    return result;
  }

  private classifyWriteFailure(error: unknown): unknown {
    if (error instanceof StorageWriteError) {
      this.failure = error;
      return error;
    }
    if (!isSqliteError(error)) return error;
    const code = diskFaultCodeOf(error);
    if (code === null) return asCorruption(error, this.options.path);
    this.failure = new StorageWriteError(code, error.message, { cause: error });
    return this.failure;
  }

  /** `fromFile`: the image is a file attached as schema `image` (image-file.ts); else the application's text. */
  private installSnapshot(state: DurableState, snapshot: Snapshot, fromFile: boolean): DurableState {
    const { meta } = snapshot;
    assertInvariant(meta.index > state.lastApplied, 'snapshot does not advance lastApplied', {
      snapshotIndex: meta.index,
      lastApplied: state.lastApplied,
    });
    // The whole log goes, as in the core's own restore: a node is only sent a snapshot when its log does not hold
    // the snapshot's last entry, so nothing stored after it can be trusted to continue it, and keeping entries the
    // core has forgotten would make a restarted node load a log its core never had.
    this.statements.deleteEntriesFrom.run(0);
    if (fromFile) {
      copyImageTables(this.database);
      this.options.stateMachine.tablesReplaced?.();
    } else {
      this.options.stateMachine.restore(snapshot.data);
    }
    const written = this.writeSnapshotRow(meta);
    this.statements.updateLastApplied.run(meta.index);
    return {
      ...state,
      snapshotMeta: written,
      lastApplied: meta.index,
      lastIndex: meta.index,
      lastTerm: meta.term,
    };
  }

  private appendEntries(state: DurableState, entries: readonly Entry[]): DurableState {
    assertBatchContiguous(entries);
    const first = entries[0]!;
    const last = entries[entries.length - 1]!;
    const snapshotIndex = state.snapshotMeta?.index ?? 0;
    assertInvariant(first.index > snapshotIndex, 'entries overlap the snapshot', { first: first.index, snapshotIndex });
    assertInvariant(first.index <= state.lastIndex + 1, 'entries leave a gap', {
      first: first.index,
      lastIndex: state.lastIndex,
    });
    const previousTerm = this.termAt(state, first.index - 1);
    assertInvariant(first.term >= previousTerm, 'entry term below the previous entry', {
      index: first.index,
      term: first.term,
      previousTerm,
    });
    this.assertCommittedKept(state, entries);
    this.statements.deleteEntriesFrom.run(first.index);
    for (const entry of entries) {
      this.statements.insertEntry.run(entry.index, entry.term, entry.type, entry.data, entryChecksum(entry));
    }
    return { ...state, lastIndex: last.index, lastTerm: last.term };
  }

  /** Rewriting committed entries is allowed only with identical ones: a committed entry is never truncated. */
  private assertCommittedKept(state: DurableState, entries: readonly Entry[]): void {
    const commit = state.hardState.commit;
    const first = entries[0]!;
    const last = entries[entries.length - 1]!;
    if (first.index > commit) return;
    assertInvariant(last.index >= commit, 'write would truncate committed entries', {
      first: first.index,
      last: last.index,
      commit,
    });
    for (const entry of entries) {
      if (entry.index > commit) break;
      const stored = this.statements.selectEntry.get(entry.index);
      const same = stored !== undefined && stored.term === entry.term && stored.checksum === entryChecksum(entry);
      assertInvariant(same, 'write would replace a committed entry', {
        index: entry.index,
        term: entry.term,
        storedTerm: stored?.term ?? null,
        commit,
      });
    }
  }

  private saveHardState(state: DurableState, hardState: HardState): DurableState {
    assertHardStateStep(state.hardState, hardState, state.lastIndex);
    writeHardStateRecord(this.statements, hardState);
    return { ...state, hardState: { term: hardState.term, vote: hardState.vote, commit: hardState.commit } };
  }

  private assertApplicable(state: DurableState, entries: readonly Entry[]): void {
    assertBatchContiguous(entries);
    const first = entries[0]!;
    const last = entries[entries.length - 1]!;
    assertInvariant(first.index === state.lastApplied + 1, 'applied entries must follow lastApplied', {
      first: first.index,
      lastApplied: state.lastApplied,
    });
    assertInvariant(last.index <= state.hardState.commit, 'applying beyond the durable commit', {
      last: last.index,
      commit: state.hardState.commit,
    });
  }

  /** Applies one entry after checking it is the entry this replica stored (the same fact on two paths). */
  private applyOne(entry: Entry): unknown {
    const stored = this.statements.selectEntry.get(entry.index);
    assertInvariant(stored !== undefined, 'applying an entry that is not stored', { index: entry.index });
    assertInvariant(stored.term === entry.term && stored.checksum === entryChecksum(entry), 'applied entry differs', {
      index: entry.index,
      term: entry.term,
      storedTerm: stored.term,
    });
    switch (entry.type) {
      case 'noop':
      case 'config': // a configuration is the core's; the application sees nothing
        return null;
      case 'normal':
        return this.options.stateMachine.apply(entry.data, entry.index);
      default:
        return assertNever(entry.type);
    }
  }

  private termAt(state: DurableState, index: number): number {
    if (index === 0) return 0;
    if (state.snapshotMeta !== null && index === state.snapshotMeta.index) return state.snapshotMeta.term;
    const stored = this.statements.selectEntry.get(index);
    assertInvariant(stored !== undefined, 'no stored entry at index', { index });
    return stored.term;
  }

  /** The snapshot record holds metadata only (its `data` column stays empty): the state is in the tables. */
  private writeSnapshotRow(given: SnapshotMeta): SnapshotMeta {
    return writeSnapshotRecord(this.statements, given);
  }

  private assertMatchesMemory(loaded: LoadedState): void {
    const { hardState } = loaded.persisted;
    const last = loaded.persisted.entries[loaded.persisted.entries.length - 1];
    const lastIndex = last?.index ?? loaded.persisted.snapshot?.index ?? 0;
    assertInvariant(hardState.term === this.state.hardState.term, 'loaded term differs', { hardState });
    assertInvariant(hardState.vote === this.state.hardState.vote, 'loaded vote differs', { hardState });
    assertInvariant(hardState.commit === this.state.hardState.commit, 'loaded commit differs', { hardState });
    assertInvariant(loaded.lastApplied === this.state.lastApplied, 'loaded lastApplied differs', {});
    assertInvariant(lastIndex === this.state.lastIndex, 'loaded last index differs', { lastIndex });
  }

  private assertOpen(): void {
    assertInvariant(!this.closed, 'storage is closed', { path: this.options.path });
  }
}
