// Raft storage on SQLite: what persist, load, apply and snapshots promise across close and reopen.
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import Database from 'better-sqlite3';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { RaftStorage, StorageCorruptionError, StorageInvariantError } from '../../src/raft/storage/index.js';
import type { Entry, HardState, Snapshot } from '../../src/raft/types.js';
import { kvCommand, KvStateMachine } from './fixtures/kv-state-machine.js';
import { expectError, noopEntry, putEntries, putEntry, StorageHarness } from './fixtures/storage-harness.js';

const harness = new StorageHarness();
const storageSuite = suite('raft storage');
storageSuite.after.each(() => harness.cleanup());

function databasePath(): string {
  return join(harness.directory(), 'nested', 'replica.sqlite');
}

storageSuite('a fresh file loads as an empty log at term 0', () => {
  // Opens a new file (in a directory that does not exist yet) and checks every field of the initial state.
  const { storage } = harness.open(databasePath());
  const loaded = storage.load();
  assert.equal(loaded.persisted.hardState, { term: 0, vote: null, commit: 0 });
  assert.equal(loaded.persisted.entries, []);
  assert.is(loaded.persisted.snapshot, null);
  assert.is(loaded.lastApplied, 0);
});

storageSuite('persisted entries and hard state survive close and reopen unchanged', () => {
  // Writes two Readys, closes, reopens the same file and compares what load() returns with what was written.
  const path = databasePath();
  const first = harness.open(path).storage;
  const entries = [...putEntries(1, 3, 1), noopEntry(4, 2), ...putEntries(5, 6, 2)];
  const hardState: HardState = { term: 2, vote: 'catalog-2', commit: 4 };
  first.persist({ snapshot: null, entries: entries.slice(0, 3), hardState: { term: 1, vote: 'catalog-1', commit: 0 } });
  first.persist({ snapshot: null, entries: entries.slice(3), hardState });
  first.close();
  const loaded = harness.open(path).storage.load();
  assert.equal(loaded.persisted.entries, entries);
  assert.equal(loaded.persisted.hardState, hardState);
  assert.is(loaded.lastApplied, 0);
});

storageSuite('a conflicting suffix is replaced by the new entries', () => {
  // Stores 1..5 at term 1, then writes 3..4 at term 2 (a new leader's log): 5 must be gone, 3..4 replaced.
  const path = databasePath();
  const { storage } = harness.open(path);
  storage.persist({ snapshot: null, entries: putEntries(1, 5, 1), hardState: { term: 1, vote: null, commit: 2 } });
  const replacement = [putEntry(3, 2, 'x', 'new3'), putEntry(4, 2, 'x', 'new4')];
  storage.persist({ snapshot: null, entries: replacement, hardState: { term: 2, vote: null, commit: 2 } });
  storage.close();
  const loaded = harness.open(path).storage.load();
  assert.equal(loaded.persisted.entries, [...putEntries(1, 2, 1), ...replacement]);
});

storageSuite('a write that would truncate or replace a committed entry is refused and changes nothing', () => {
  // Commits 1..3, then tries to overwrite index 2 with a different term and index 3 by a shorter log.
  const { storage } = harness.open(databasePath());
  storage.persist({ snapshot: null, entries: putEntries(1, 4, 1), hardState: { term: 1, vote: null, commit: 3 } });
  const before = storage.load();
  const rewrite = () => storage.persist({ snapshot: null, entries: putEntries(2, 5, 2), hardState: null });
  const error = expectError(rewrite, StorageInvariantError);
  assert.match(error.message, /committed/);
  const shorten = () => storage.persist({ snapshot: null, entries: putEntries(2, 2, 1), hardState: null });
  expectError(shorten, StorageInvariantError);
  assert.equal(storage.load(), before);
  // Identical committed entries may be written again (a retransmission), and the suffix beyond commit replaced.
  storage.persist({ snapshot: null, entries: [...putEntries(3, 3, 1), putEntry(4, 2, 'y', 'z')], hardState: null });
  assert.is(storage.load().persisted.entries[3]!.term, 2);
});

storageSuite('log invariants are asserted: gaps, falling terms, commit past the log, a changed vote', () => {
  // Each bad write must throw StorageInvariantError and leave the stored state exactly as before.
  const { storage } = harness.open(databasePath());
  storage.persist({ snapshot: null, entries: putEntries(1, 2, 3), hardState: { term: 3, vote: 'a', commit: 1 } });
  const before = storage.load();
  const badWrites = [
    { snapshot: null, entries: putEntries(4, 4, 3), hardState: null },
    { snapshot: null, entries: putEntries(3, 3, 2), hardState: null },
    { snapshot: null, entries: [putEntry(3, 3, 'a', 'b'), putEntry(5, 3, 'a', 'b')], hardState: null },
    { snapshot: null, entries: [], hardState: { term: 3, vote: 'a', commit: 3 } },
    { snapshot: null, entries: [], hardState: { term: 3, vote: 'b', commit: 1 } },
    { snapshot: null, entries: [], hardState: { term: 2, vote: null, commit: 1 } },
    { snapshot: null, entries: [], hardState: { term: 3, vote: 'a', commit: 0 } },
  ];
  for (const write of badWrites) {
    expectError(() => storage.persist(write), StorageInvariantError, JSON.stringify(write));
  }
  assert.equal(storage.load(), before);
});

storageSuite('apply runs committed entries in order and records lastApplied with them', () => {
  // Applies a batch with a no-op in it, checks results and state, then reopens to see both survived together.
  const path = databasePath();
  const { storage } = harness.open(path);
  const increment = kvCommand({ kind: 'increment', key: 'a', amount: 4 });
  const incrementEntry = { index: 3, term: 1, type: 'normal' as const, data: increment };
  const entries = [putEntry(1, 1, 'a', '1'), noopEntry(2, 1), incrementEntry];
  storage.persist({ snapshot: null, entries, hardState: { term: 1, vote: null, commit: 3 } });
  const results = storage.apply(entries);
  assert.equal(results, [
    { index: 1, result: { ok: true, value: '1' } },
    { index: 2, result: null },
    { index: 3, result: { ok: true, value: '5' } },
  ]);
  assert.is(storage.lastApplied, 3);
  const hash = storage.stateHash();
  storage.close();
  const reopened = harness.open(path).storage;
  assert.is(reopened.lastApplied, 3);
  assert.is(reopened.query({ type: 'get', key: 'a' }), '5');
  assert.is(reopened.stateHash(), hash);
});

storageSuite('a state machine that throws mid-batch leaves nothing of the batch applied', () => {
  // The second of three entries throws: the first must be rolled back too, and lastApplied must not move.
  const path = databasePath();
  const { storage, machine } = harness.open(path);
  const explode = { index: 2, term: 1, type: 'normal' as const, data: kvCommand({ kind: 'explode' }) };
  const entries = [putEntry(1, 1, 'a', '1'), explode, putEntry(3, 1, 'b', '2')];
  storage.persist({ snapshot: null, entries, hardState: { term: 1, vote: null, commit: 3 } });
  assert.throws(() => storage.apply(entries), /told to fail at index 2/);
  assert.is(machine.applyCalls, 2);
  assert.is(storage.lastApplied, 0);
  assert.is(storage.query({ type: 'get', key: 'a' }), null);
  storage.close();
  const reopened = harness.open(path).storage;
  assert.is(reopened.lastApplied, 0);
  assert.is(reopened.query({ type: 'get', key: 'a' }), null);
});

storageSuite('apply refuses entries that skip ahead, go past commit, or differ from the stored log', () => {
  // Three misuses by a driver; each must throw before anything is applied.
  const { storage } = harness.open(databasePath());
  storage.persist({ snapshot: null, entries: putEntries(1, 4, 1), hardState: { term: 1, vote: null, commit: 3 } });
  expectError(() => storage.apply(putEntries(2, 3, 1)), StorageInvariantError);
  expectError(() => storage.apply(putEntries(1, 4, 1)), StorageInvariantError);
  expectError(() => storage.apply([putEntry(1, 1, 'other', 'value')]), StorageInvariantError);
  assert.is(storage.lastApplied, 0);
  assert.is(storage.apply(putEntries(1, 3, 1)).length, 3);
});

storageSuite('compaction drops the log up to an applied index, stores no image, and a reopened replica restarts from it', () => {
  // Applies 1..10, compacts up to 8 (keeping 9..10), appends 11..12, reopens: snapshot record at 8, log 9..12,
  // lastApplied 10 and the same state hash, all from the tables: the record's data column stays empty.
  const path = databasePath();
  const { storage } = harness.open(path);
  storage.persist({ snapshot: null, entries: putEntries(1, 10, 1), hardState: { term: 1, vote: null, commit: 10 } });
  storage.apply(putEntries(1, 10, 1));
  const fsyncsBefore = storage.stats().fsyncs;
  const meta = storage.compact(8, ['n1', 'n2', 'n3']);
  assert.equal(meta, { index: 8, term: 1, peers: ['n1', 'n2', 'n3'], learners: [], configIndex: 8 });
  assert.is(storage.stats().fsyncs, fsyncsBefore, 'compaction is a deferred write');
  expectError(() => storage.compact(8, ['n1']), StorageInvariantError);
  expectError(() => storage.compact(11, ['n1']), StorageInvariantError);
  storage.persist({ snapshot: null, entries: putEntries(11, 12, 2), hardState: { term: 2, vote: null, commit: 10 } });
  assert.equal(storage.readEntries(1, 20).map((entry) => entry.index), [9, 10, 11, 12]);
  const hash = storage.stateHash();
  storage.close();
  const raw = new Database(path, { readonly: true });
  assert.equal(raw.prepare('SELECT snapshot_index, length(data) AS bytes FROM raft_snapshot').get(), { snapshot_index: 8, bytes: 0 });
  raw.close();
  const reopened = harness.open(path).storage;
  const loaded = reopened.load();
  assert.equal(loaded.persisted.snapshot, meta);
  assert.equal(loaded.persisted.entries, [...putEntries(9, 10, 1), ...putEntries(11, 12, 2)]);
  assert.is(loaded.lastApplied, 10);
  assert.is(reopened.stateHash(), hash);
  reopened.persist({ snapshot: null, entries: [], hardState: { term: 2, vote: null, commit: 12 } });
  assert.equal(reopened.apply(putEntries(11, 12, 2)).map((applied) => applied.index), [11, 12]);
  assert.is(reopened.query({ type: 'get', key: 'k12' }), 'v12');
});

storageSuite('an image is the state at lastApplied with the term stored for it, also right after a compaction', () => {
  const { storage } = harness.open(databasePath());
  assert.is(storage.image().index, 0, 'nothing applied: index 0');
  storage.persist({ snapshot: null, entries: [...putEntries(1, 3, 1), ...putEntries(4, 6, 2)], hardState: { term: 2, vote: null, commit: 6 } });
  storage.apply([...putEntries(1, 3, 1), ...putEntries(4, 6, 2)]);
  const image = storage.image();
  assert.is(image.index, 6);
  assert.is(image.term, 2);
  storage.compact(6, ['n1']);
  assert.equal(storage.image(), image, 'the term of a compacted lastApplied comes from the snapshot record');
});

storageSuite('an installed snapshot replaces the state and the whole log, as the core does', () => {
  // A leader's image restores two followers, one with a conflicting log and one holding a longer one: both logs
  // are discarded, both states equal the leader's, and the first survives a reopen.
  const leader = harness.open(databasePath()).storage;
  leader.persist({ snapshot: null, entries: putEntries(1, 6, 1), hardState: { term: 1, vote: null, commit: 6 } });
  leader.apply(putEntries(1, 6, 1));
  const image = leader.image();
  const snapshot: Snapshot = { meta: { index: image.index, term: image.term, peers: ['n1'] }, data: image.data };
  const path = databasePath();
  const follower = harness.open(path).storage;
  follower.persist({ snapshot: null, entries: putEntries(1, 8, 0), hardState: { term: 1, vote: null, commit: 0 } });
  follower.persist({ snapshot, entries: [], hardState: { term: 1, vote: null, commit: 6 } });
  assert.is(follower.lastApplied, 6);
  assert.is(follower.stateHash(), leader.stateHash());
  assert.equal(follower.load().persisted.entries, []);
  const other = harness.open(databasePath()).storage;
  other.persist({ snapshot: null, entries: putEntries(1, 8, 1), hardState: { term: 1, vote: null, commit: 2 } });
  other.persist({ snapshot, entries: [], hardState: { term: 1, vote: null, commit: 6 } });
  assert.equal(other.load().persisted.entries, []);
  assert.is(other.stateHash(), leader.stateHash());
  other.persist({ snapshot: null, entries: putEntries(7, 7, 2), hardState: { term: 2, vote: null, commit: 7 } });
  assert.is(other.apply(putEntries(7, 7, 2)).length, 1);
  const hash = follower.stateHash();
  follower.close();
  const reopened = harness.open(path).storage;
  assert.equal(reopened.load().persisted.snapshot, { ...snapshot.meta, learners: [], configIndex: 6 }, 'a snapshot without a configIndex took effect at its index');
  assert.is(reopened.lastApplied, 6);
  assert.is(reopened.stateHash(), hash);
});

storageSuite('each persist and apply is one transaction, and stats count them', () => {
  // Four writes (three persists, one apply) must show as exactly four transactions, of which only the two
  // persists that write entries or a new term are fsynced: a persist that only moves the commit index, and an
  // apply, become durable with the next fsync.
  const { storage } = harness.open(databasePath());
  const baseline = storage.stats();
  storage.persist({ snapshot: null, entries: putEntries(1, 64, 1), hardState: null });
  storage.persist({ snapshot: null, entries: [], hardState: { term: 1, vote: null, commit: 32 } });
  storage.persist({ snapshot: null, entries: [], hardState: { term: 1, vote: null, commit: 64 } });
  storage.apply(putEntries(1, 64, 1));
  const stats = storage.stats();
  assert.is(stats.transactions - baseline.transactions, 4);
  assert.is(stats.fsyncs - baseline.fsyncs, 2);
  assert.is(storage.load().persisted.hardState.commit, 64, 'the deferred commit index is stored all the same');
  assert.is(stats.entriesWritten - baseline.entriesWritten, 64);
  assert.ok(stats.bytesWritten - baseline.bytesWritten > 64 * 20);
});

storageSuite('a commit move and the entries it commits are written in one transaction, or not at all', () => {
  // A Ready that only moves the commit index is stored with the entries it applies: one transaction, no fsync,
  // and both survive a reopen together. Anything more than a commit move (entries, a new term or vote) is
  // refused with null and nothing written; so is a commit move with nothing to apply.
  const path = databasePath();
  const { storage } = harness.open(path);
  storage.persist({ snapshot: null, entries: putEntries(1, 4, 1), hardState: { term: 1, vote: 'a', commit: 0 } });
  const before = storage.stats();
  const commitTo = (commit: number) => ({ snapshot: null, entries: [], hardState: { term: 1, vote: 'a', commit } });
  assert.is(storage.persistCommitAndApply({ ...commitTo(2), entries: putEntries(5, 5, 1) }, putEntries(1, 2, 1)), null);
  assert.is(storage.persistCommitAndApply({ ...commitTo(2), hardState: { term: 2, vote: null, commit: 2 } }, putEntries(1, 2, 1)), null);
  assert.is(storage.persistCommitAndApply(commitTo(2), []), null);
  assert.is(storage.stats().transactions, before.transactions, 'a refused call writes nothing');
  const results = storage.persistCommitAndApply(commitTo(3), putEntries(1, 3, 1));
  assert.equal(results?.map((applied) => applied.index), [1, 2, 3]);
  assert.is(storage.stats().transactions - before.transactions, 1);
  assert.is(storage.stats().fsyncs, before.fsyncs);
  assert.is(storage.lastApplied, 3);
  assert.is(storage.hardState.commit, 3);
  // Applying past the commit it records is refused, and the commit move goes back with the failed apply.
  expectError(() => storage.persistCommitAndApply(commitTo(3), putEntries(4, 4, 1)), StorageInvariantError);
  storage.close();
  const reopened = harness.open(path).storage;
  assert.is(reopened.lastApplied, 3);
  assert.is(reopened.load().persisted.hardState.commit, 3);
  assert.is(reopened.query({ type: 'get', key: 'k3' }), 'v3');
});

storageSuite('a state machine that throws takes the commit move of its transaction back with it', () => {
  const path = databasePath();
  const { storage } = harness.open(path);
  const explode = { index: 2, term: 1, type: 'normal' as const, data: kvCommand({ kind: 'explode' }) };
  const entries = [putEntry(1, 1, 'a', '1'), explode];
  storage.persist({ snapshot: null, entries, hardState: { term: 1, vote: null, commit: 0 } });
  const commitMove = { snapshot: null, entries: [], hardState: { term: 1, vote: null, commit: 2 } };
  assert.throws(() => storage.persistCommitAndApply(commitMove, entries), /told to fail at index 2/);
  assert.is(storage.lastApplied, 0);
  assert.is(storage.hardState.commit, 0);
  storage.close();
  const reopened = harness.open(path).storage;
  assert.is(reopened.load().persisted.hardState.commit, 0);
  assert.is(reopened.query({ type: 'get', key: 'a' }), null);
});

storageSuite('the state machine tables live in the same file beside the Raft tables', () => {
  // The replica's database is one file a person can read: check the table names with a second machine.
  const path = databasePath();
  const { storage } = harness.open(path);
  storage.persist({ snapshot: null, entries: putEntries(1, 1, 1), hardState: { term: 1, vote: null, commit: 1 } });
  storage.apply(putEntries(1, 1, 1));
  storage.close();
  const machine = new KvStateMachine();
  const reopened = harness.open(path, { machine }).storage;
  assert.equal(reopened.query({ type: 'all' }), [{ key: 'k1', value: 'v1' }]);
});

/** A small seeded generator (mulberry32), so a failing sequence replays from its seed. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let mixed = Math.imul(state ^ (state >>> 15), 1 | state);
    mixed = (mixed + Math.imul(mixed ^ (mixed >>> 7), 61 | mixed)) ^ mixed;
    return ((mixed ^ (mixed >>> 14)) >>> 0) / 4294967296;
  };
}

interface LogModel {
  hardState: HardState;
  entries: Entry[];
  snapshotIndex: number;
  lastApplied: number;
}

function modelLastIndex(model: LogModel): number {
  return model.entries[model.entries.length - 1]?.index ?? model.snapshotIndex;
}

/** One random legal Ready-like step, applied to the storage and to the model alike. */
function randomStep(storage: RaftStorage, model: LogModel, random: () => number, step: number): void {
  const choice = random();
  const lastIndex = modelLastIndex(model);
  if (choice < 0.5) {
    const lowest = Math.max(model.hardState.commit, model.snapshotIndex) + 1;
    const first = lowest + Math.floor(random() * (lastIndex + 2 - lowest));
    const term = model.hardState.term + (random() < 0.3 ? 1 : 0);
    const count = 1 + Math.floor(random() * 8);
    const entries = Array.from({ length: count }, (_, offset) =>
      putEntry(first + offset, term, `k${step % 7}`, `s${step}`),
    );
    const vote = term === model.hardState.term ? model.hardState.vote : `n${step % 3}`;
    const hardState = { term, vote, commit: model.hardState.commit };
    storage.persist({ snapshot: null, entries, hardState });
    model.entries = [...model.entries.filter((entry) => entry.index < first), ...entries];
    model.hardState = hardState;
  } else if (choice < 0.75) {
    const commit = model.hardState.commit + Math.floor(random() * (lastIndex - model.hardState.commit + 1));
    model.hardState = { ...model.hardState, commit };
    storage.persist({ snapshot: null, entries: [], hardState: model.hardState });
  } else if (choice < 0.95) {
    const toApply = model.entries.filter(
      (entry) => entry.index > model.lastApplied && entry.index <= model.hardState.commit,
    );
    storage.apply(toApply);
    model.lastApplied = toApply[toApply.length - 1]?.index ?? model.lastApplied;
  } else if (model.lastApplied > model.snapshotIndex) {
    const index = model.snapshotIndex + 1 + Math.floor(random() * (model.lastApplied - model.snapshotIndex));
    storage.compact(index, ['n0', 'n1', 'n2']);
    model.snapshotIndex = index;
    model.entries = model.entries.filter((entry) => entry.index > model.snapshotIndex);
  }
}

storageSuite('random legal histories load back exactly as a simple model says, across reopens', () => {
  // Drives 300 seeded random persist/commit/apply/snapshot steps, compares load() with an in-memory model after
  // every step, and reopens the file every 40 steps (the persist/load round-trip checked in pairs).
  const path = databasePath();
  const random = seededRandom(20_240_611);
  const model: LogModel = {
    hardState: { term: 0, vote: null, commit: 0 },
    entries: [],
    snapshotIndex: 0,
    lastApplied: 0,
  };
  let storage = harness.open(path).storage;
  for (let step = 1; step <= 300; step += 1) {
    randomStep(storage, model, random, step);
    if (step % 40 === 0) {
      const hash = storage.stateHash();
      storage.close();
      storage = harness.open(path).storage;
      assert.is(storage.stateHash(), hash, `state hash after reopen at step ${step}`);
    }
    const loaded = storage.load();
    assert.equal(loaded.persisted.hardState, model.hardState, `hard state at step ${step}`);
    assert.equal(loaded.persisted.entries, model.entries, `entries at step ${step}`);
    assert.is(loaded.lastApplied, model.lastApplied, `lastApplied at step ${step}`);
    assert.is(loaded.persisted.snapshot?.index ?? 0, model.snapshotIndex, `snapshot at step ${step}`);
  }
  assert.ok(model.snapshotIndex > 0, 'the history reached a snapshot');
});

storageSuite('the snapshot record keeps the whole configuration: voters, learners and the index that set them', () => {
  // Compacts with a learner and a configuration set at index 3, reopens: the record reads back with both, as does
  // an installed snapshot that carries them. A learners column damaged after the write fails the checksum.
  const path = databasePath();
  const { storage } = harness.open(path);
  storage.persist({ snapshot: null, entries: putEntries(1, 10, 1), hardState: { term: 1, vote: null, commit: 10 } });
  storage.apply(putEntries(1, 10, 1));
  const meta = storage.compact(8, ['n1', 'n2', 'n3'], ['n4'], 3);
  assert.equal(meta, { index: 8, term: 1, peers: ['n1', 'n2', 'n3'], learners: ['n4'], configIndex: 3 });
  expectError(() => storage.compact(9, ['n1'], [], 10), StorageInvariantError);
  storage.close();
  const raw = new Database(path, { readonly: true });
  assert.equal(raw.prepare('SELECT learners, config_index FROM raft_snapshot').get(), { learners: '["n4"]', config_index: 3 });
  raw.close();
  assert.equal(harness.open(path).storage.load().persisted.snapshot, meta);

  const installedPath = databasePath();
  const installed = harness.open(installedPath).storage;
  const source = harness.open(join(harness.directory(), 'source.sqlite')).storage;
  source.persist({ snapshot: null, entries: putEntries(1, 4, 1), hardState: { term: 1, vote: null, commit: 4 } });
  source.apply(putEntries(1, 4, 1));
  const image = source.image();
  const snapshot: Snapshot = { meta: { index: image.index, term: image.term, peers: ['n1'], learners: ['n2', 'n3'], configIndex: 2 }, data: image.data };
  installed.persist({ snapshot, entries: [], hardState: { term: 1, vote: null, commit: 4 } });
  installed.close();
  assert.equal(harness.open(installedPath).storage.load().persisted.snapshot, snapshot.meta);

  const tampered = databasePath();
  const written = harness.open(tampered).storage;
  written.persist({ snapshot: null, entries: putEntries(1, 3, 1), hardState: { term: 1, vote: null, commit: 3 } });
  written.apply(putEntries(1, 3, 1));
  written.compact(2, ['n1'], ['n2'], 0);
  written.close();
  const writable = new Database(tampered);
  writable.prepare(`UPDATE raft_snapshot SET learners = '[]'`).run();
  writable.close();
  assert.match(expectError(() => harness.open(tampered), StorageCorruptionError).message, /snapshot checksum/);
});

storageSuite('a snapshot record from before learners were kept opens: no learners, its index as the configuration index', () => {
  // Rebuilds raft_snapshot as older files have it (no learners, no config_index column), with a record
  // checksummed the old way; the file opens, gains the columns, and a new compaction writes them.
  const path = databasePath();
  const { storage } = harness.open(path);
  storage.persist({ snapshot: null, entries: putEntries(1, 10, 1), hardState: { term: 1, vote: null, commit: 10 } });
  storage.apply(putEntries(1, 10, 1));
  storage.compact(5, ['n1', 'n2', 'n3']);
  storage.close();
  const old = new Database(path);
  old.exec(`DROP TABLE raft_snapshot;
    CREATE TABLE raft_snapshot (id INTEGER PRIMARY KEY CHECK (id = 1), snapshot_index INTEGER NOT NULL,
      snapshot_term INTEGER NOT NULL, peers TEXT NOT NULL, data TEXT NOT NULL, checksum INTEGER NOT NULL);`);
  const oldChecksum = crc32(JSON.stringify([5, 1, ['n1', 'n2', 'n3']]));
  old.prepare(`INSERT INTO raft_snapshot VALUES (1, 5, 1, '["n1","n2","n3"]', '', ?)`).run(oldChecksum);
  old.close();
  const reopened = harness.open(path).storage;
  assert.equal(reopened.load().persisted.snapshot, { index: 5, term: 1, peers: ['n1', 'n2', 'n3'] });
  assert.equal(reopened.compact(8, ['n1', 'n2'], ['n3'], 7), { index: 8, term: 1, peers: ['n1', 'n2'], learners: ['n3'], configIndex: 7 });
  reopened.close();
  assert.equal(harness.open(path).storage.load().persisted.snapshot?.learners, ['n3']);
  const forged = new Database(path);
  forged.prepare(`UPDATE raft_snapshot SET config_index = NULL`).run();
  forged.close();
  assert.match(expectError(() => harness.open(path), StorageCorruptionError).message, /learners without a config_index/);
});

storageSuite.run();
