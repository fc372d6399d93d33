// Raft storage against damaged files and failing disks: what is dropped, what refuses to open, what rolls back.
import { copyFileSync, existsSync, readFileSync, renameSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  RaftStorage,
  StorageCorruptionError,
  StorageFaults,
  StorageWriteError,
} from '../../src/raft/storage/index.js';
import { judgeLog, type StoredEntryRow } from '../../src/raft/storage/recovery.js';
import { checkWholeFile, damageRecordPath, recordDamage } from '../../src/raft/storage/integrity.js';
import { entryChecksum } from '../../src/raft/storage/checksum.js';
import { KvStateMachine } from './fixtures/kv-state-machine.js';
import { addNeverUsedPage, CapturingLogger, expectError, putEntries, StorageHarness } from './fixtures/storage-harness.js';

const harness = new StorageHarness();
const corruption = suite('raft storage corruption and disk faults');
corruption.after.each(() => harness.cleanup());

/** A closed file holding entries 1..lastIndex at term 1, committed and applied up to commit. */
function writeReplica(lastIndex: number, commit: number): string {
  const path = join(harness.directory(), 'replica.sqlite');
  const { storage } = harness.open(path);
  storage.persist({ snapshot: null, entries: putEntries(1, lastIndex, 1), hardState: { term: 1, vote: 'n1', commit } });
  storage.apply(putEntries(1, commit, 1));
  storage.close();
  return path;
}

/** Changes stored rows with a second, raw connection that bypasses the storage and its checksums. */
function tamper(path: string, sql: string): void {
  const raw = new Database(path);
  try {
    raw.exec(sql);
  } finally {
    raw.close();
  }
}

/** Flips one byte inside the only occurrence of marker in the file itself. */
function flipByteOf(path: string, marker: string): void {
  const bytes = readFileSync(path);
  const offset = bytes.indexOf(marker);
  assert.ok(offset >= 0, `marker ${marker} not found in ${path}`);
  assert.is(bytes.indexOf(marker, offset + 1), -1, `marker ${marker} occurs twice`);
  bytes[offset + 1] = bytes[offset + 1]! ^ 0x20;
  writeFileSync(path, bytes);
}

corruption('damaged final entries above the commit index are dropped and logged, never applied', () => {
  // Damages entries 4 and 5 of 1..5 (commit 3) through a raw connection; reopening must keep 1..3 and warn.
  const path = writeReplica(5, 3);
  tamper(path, `UPDATE raft_log SET data = 'torn' WHERE log_index >= 4`);
  const logger = new CapturingLogger();
  const { storage } = harness.open(path, { logger });
  const loaded = storage.load();
  assert.equal(loaded.persisted.entries, putEntries(1, 3, 1));
  assert.is(logger.warnings.length, 1);
  assert.equal(logger.warnings[0]!.details['firstDroppedIndex'], 4);
  assert.equal(logger.warnings[0]!.details['droppedCount'], 2);
  // The dropped tail is gone for good and the log continues from 4.
  storage.persist({ snapshot: null, entries: putEntries(4, 4, 2), hardState: null });
  assert.is(storage.load().persisted.entries.length, 4);
});

corruption('a flipped byte in the file inside an uncommitted final entry is dropped like a torn write', () => {
  // Flips a byte of entry 5's data in the database file itself (commit 3), then reopens.
  const path = writeReplica(5, 3);
  flipByteOf(path, '"key":"k5"');
  const logger = new CapturingLogger();
  const loaded = harness.open(path, { logger }).storage.load();
  assert.equal(loaded.persisted.entries, putEntries(1, 4, 1));
  assert.is(logger.warnings.length, 1);
});

corruption('a damaged committed entry refuses to open, through a raw update or a flipped byte in the file', () => {
  // Entry 2 of 1..5 (commit 3) is damaged in two ways; both must stop the replica with StorageCorruptionError.
  const updated = writeReplica(5, 3);
  tamper(updated, `UPDATE raft_log SET data = replace(data, 'v2', 'v9') WHERE log_index = 2`);
  const first = expectError(() => harness.open(updated), StorageCorruptionError);
  assert.match(first.message, /committed entry damaged/);
  assert.equal(first.details['index'], 2);
  const flipped = writeReplica(5, 3);
  flipByteOf(flipped, '"key":"k2"');
  expectError(() => harness.open(flipped), StorageCorruptionError);
});

corruption('a damaged entry followed by intact ones refuses to open even above the commit index', () => {
  // Entry 4 of 1..6 (commit 2) is damaged but 5 and 6 are fine: not a torn write, so the disk lost data.
  const path = writeReplica(6, 2);
  tamper(path, `UPDATE raft_log SET term = 7 WHERE log_index = 4`);
  const error = expectError(() => harness.open(path), StorageCorruptionError);
  assert.match(error.message, /followed by intact entries/);
});

corruption('a missing entry, a damaged hard state or a damaged snapshot refuses to open', () => {
  // Three separate files, each damaged in one record the log verdict does not cover.
  const gap = writeReplica(5, 2);
  tamper(gap, 'DELETE FROM raft_log WHERE log_index = 4');
  assert.match(expectError(() => harness.open(gap), StorageCorruptionError).message, /expected index 4/);
  const hardState = writeReplica(3, 2);
  tamper(hardState, 'UPDATE raft_hard_state SET commit_index = 3');
  assert.match(expectError(() => harness.open(hardState), StorageCorruptionError).message, /hard state checksum/);
  const snapshotPath = join(harness.directory(), 'replica.sqlite');
  const { storage } = harness.open(snapshotPath);
  storage.persist({ snapshot: null, entries: putEntries(1, 3, 1), hardState: { term: 1, vote: null, commit: 3 } });
  storage.apply(putEntries(1, 3, 1));
  storage.compact(2, ['n1']);
  storage.close();
  tamper(snapshotPath, `UPDATE raft_snapshot SET data = '[]'`);
  assert.match(expectError(() => harness.open(snapshotPath), StorageCorruptionError).message, /snapshot checksum/);
});

corruption('SQLite damage is reported as StorageCorruptionError: a broken page, a broken header, a cut file', () => {
  // Damages the file below the row level, where only SQLite's own checks (quick_check, open) can see it.
  const page = writeReplica(300, 300);
  const raw = new Database(page, { readonly: true });
  const rootRow = raw.prepare(`SELECT rootpage FROM sqlite_master WHERE name = 'raft_log'`).get();
  const rootPage = (rootRow as { rootpage: number }).rootpage;
  const pageSize = raw.pragma('page_size', { simple: true }) as number;
  raw.close();
  const bytes = readFileSync(page);
  bytes[(rootPage - 1) * pageSize] = 0x07;
  writeFileSync(page, bytes);
  assert.match(expectError(() => harness.open(page), StorageCorruptionError).message, /malformed/);
  // Also when the file counts as large (its full check after open): the Raft tables are still checked at open.
  assert.match(expectError(() => harness.open(page, { wholeFileCheckAtOpenBytesMax: 0 }), StorageCorruptionError).message, /malformed/);
  const header = writeReplica(3, 3);
  const headerBytes = readFileSync(header);
  headerBytes.fill(0x41, 0, 16);
  writeFileSync(header, headerBytes);
  assert.match(expectError(() => harness.open(header), StorageCorruptionError).message, /malformed/);
  assert.match(expectError(() => harness.open(header, { wholeFileCheckAtOpenBytesMax: 0 }), StorageCorruptionError).message, /malformed/);
  const cut = writeReplica(300, 300);
  truncateSync(cut, statSync(cut).size - pageSize - 100);
  assert.match(expectError(() => harness.open(cut), StorageCorruptionError).message, /malformed/);
  assert.match(expectError(() => harness.open(cut, { wholeFileCheckAtOpenBytesMax: 0 }), StorageCorruptionError).message, /malformed/);
});

corruption('damage only the full check sees: refused at open when the file is small, else recorded by the check after open', () => {
  // A cleanly closed file gets a page that no table uses. A file within the bound is checked whole at open and
  // refused. Above the bound (0 bytes here) open checks only the Raft tables, so it opens; checkWholeFile (the
  // replica's check after open) names the damage; once recorded, every open of that file refuses.
  const path = writeReplica(20, 20);
  assert.equal(checkWholeFile(path), [], 'an intact file passes the full check');
  addNeverUsedPage(path);
  assert.match(expectError(() => harness.open(path), StorageCorruptionError).message, /never used/, 'a small file is checked whole at open');
  const large = { wholeFileCheckAtOpenBytesMax: 0 };
  const opened = harness.open(path, large).storage;
  assert.is(opened.checkedWholeFile, false);
  assert.is(opened.load().lastApplied, 20);
  opened.close();
  const problems = checkWholeFile(path);
  assert.is(problems.length, 1);
  assert.match(problems[0]!, /never used/);
  recordDamage(path, problems, '2026-01-01T00:00:00.000Z');
  assert.match(expectError(() => harness.open(path, large), StorageCorruptionError).message, /never used/);
  assert.match(expectError(() => harness.open(path, large), StorageCorruptionError).message, /never used/, 'refused again');
  // A repair replaces the file (another inode): the record is of the old file, so it goes and the copy opens.
  copyFileSync(path, `${path}.copy`);
  renameSync(`${path}.copy`, path);
  assert.is(harness.open(path, large).storage.load().lastApplied, 20);
  assert.not.ok(existsSync(damageRecordPath(path)), 'the stale record was removed');
});

corruption('a WAL cut in the middle of its last frame loses only the unsynced last transaction', () => {
  // Copies a live replica's database and WAL (a crash image), cuts the WAL mid-frame, and opens the copy.
  const directory = harness.directory();
  const path = join(directory, 'replica.sqlite');
  const { storage } = harness.open(path);
  storage.persist({ snapshot: null, entries: putEntries(1, 3, 1), hardState: { term: 1, vote: null, commit: 3 } });
  storage.persist({ snapshot: null, entries: putEntries(4, 6, 1), hardState: null });
  const crashPath = join(directory, 'crash.sqlite');
  copyFileSync(path, crashPath);
  copyFileSync(`${path}-wal`, `${crashPath}-wal`);
  truncateSync(`${crashPath}-wal`, statSync(`${crashPath}-wal`).size - 100);
  const loaded = harness.open(crashPath).storage.load();
  assert.equal(loaded.persisted.entries, putEntries(1, 3, 1));
  assert.equal(loaded.persisted.hardState, { term: 1, vote: null, commit: 3 });
});

corruption('an injected EIO or ENOSPC rolls the whole write back and stops later writes', () => {
  // Fails a persist with EIO and, on another file, an apply with ENOSPC; reopening shows nothing of either.
  const faults = new StorageFaults();
  const path = join(harness.directory(), 'replica.sqlite');
  const { storage } = harness.open(path, { faults });
  storage.persist({ snapshot: null, entries: putEntries(1, 2, 1), hardState: { term: 1, vote: null, commit: 2 } });
  faults.failNextWrite('EIO');
  const error = expectError(
    () =>
      storage.persist({ snapshot: null, entries: putEntries(3, 5, 2), hardState: { term: 2, vote: 'n2', commit: 2 } }),
    StorageWriteError,
  );
  assert.is(error.code, 'EIO');
  assert.is(expectError(() => storage.apply(putEntries(1, 2, 1)), StorageWriteError).code, 'EIO');
  storage.close();
  const reopened = harness.open(path).storage.load();
  assert.equal(reopened.persisted.entries, putEntries(1, 2, 1));
  assert.equal(reopened.persisted.hardState, { term: 1, vote: null, commit: 2 });
  const applyFaults = new StorageFaults();
  const applyPath = join(harness.directory(), 'replica.sqlite');
  const second = harness.open(applyPath, { faults: applyFaults }).storage;
  second.persist({ snapshot: null, entries: putEntries(1, 2, 1), hardState: { term: 1, vote: null, commit: 2 } });
  applyFaults.failNextWrite('ENOSPC');
  assert.is(expectError(() => second.apply(putEntries(1, 2, 1)), StorageWriteError).code, 'ENOSPC');
  assert.is(second.lastApplied, 0);
  second.close();
  const afterApply = harness.open(applyPath).storage;
  assert.is(afterApply.lastApplied, 0);
  assert.is(afterApply.query({ type: 'get', key: 'k1' }), null);
});

corruption('a real SQLITE_FULL from SQLite becomes StorageWriteError ENOSPC with nothing written', () => {
  // Caps the file's page count from the state machine's open(), then writes until SQLite reports the disk full.
  class CappedMachine extends KvStateMachine {
    override open(database: Database.Database): void {
      super.open(database);
      database.pragma(`max_page_count = ${(database.pragma('page_count', { simple: true }) as number) + 4}`);
    }
  }
  const path = join(harness.directory(), 'replica.sqlite');
  const { storage } = harness.open(path, { machine: new CappedMachine() });
  const big = 'x'.repeat(64 * 1024);
  const error = expectError(
    () =>
      storage.persist({ snapshot: null, entries: [{ index: 1, term: 1, type: 'normal', data: big }], hardState: null }),
    StorageWriteError,
  );
  assert.is(error.code, 'ENOSPC');
  storage.close();
  assert.equal(harness.open(path).storage.load().persisted.entries, []);
});

corruption('the log verdict: torn tail, gap, falling term, and damage at or below commit', () => {
  // Feeds judgeLog rows directly, so each rule of recovery is checked without a database.
  const row = (index: number, term: number, damaged = false): StoredEntryRow => {
    const entry = putEntries(index, index, term)[0]!;
    const checksum = (entryChecksum(entry) ^ (damaged ? 1 : 0)) >>> 0;
    return { log_index: index, term, type: entry.type, data: entry.data, checksum };
  };
  const bounds = { snapshotIndex: 0, snapshotTerm: 0, commit: 2 };
  assert.is(judgeLog([row(1, 1), row(2, 1), row(3, 1)], bounds).kind, 'intact');
  assert.is(judgeLog([row(1, 1), row(2, 1), row(3, 1, true)], bounds).kind, 'tornTail');
  assert.is(judgeLog([row(1, 1), row(2, 1, true), row(3, 1, true)], bounds).kind, 'corrupt');
  assert.is(judgeLog([row(1, 1), row(2, 1), row(4, 1)], bounds).kind, 'corrupt');
  assert.is(judgeLog([row(1, 2), row(2, 2), row(3, 1)], bounds).kind, 'corrupt');
  assert.is(judgeLog([row(2, 1)], { snapshotIndex: 1, snapshotTerm: 2, commit: 1 }).kind, 'corrupt');
  assert.is(judgeLog([row(1, 1), row(2, 1), row(3, 1, true), row(4, 1)], bounds).kind, 'corrupt');
});

corruption('RaftStorage.open on a file of another format refuses instead of misreading it', () => {
  // A database whose user_version is not ours must not be taken for a Raft log.
  const path = join(harness.directory(), 'other.sqlite');
  tamper(path, 'PRAGMA user_version = 42');
  const open = () => RaftStorage.open({ path, stateMachine: new KvStateMachine(), logger: new CapturingLogger() });
  const error = expectError(open, StorageCorruptionError);
  assert.match(error.message, /schema version/);
});

corruption.run();
