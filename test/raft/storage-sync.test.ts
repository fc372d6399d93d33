// persistThen (src/raft/storage/storage.ts): a Ready written at once and fsynced off the replica's thread. Checks
// that the answer comes only after the write's own fsync returned, that writes made while an fsync runs share the
// next one (group commit), that what needs no fsync is not waited for, and that a failed fsync reaches every waiter
// and stops the storage — so a driver can never hear "durable" for a write that was not made so.
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { StorageFaults, StorageWriteError } from '../../src/raft/storage/index.js';
import { expectError, putEntries, StorageHarness } from './fixtures/storage-harness.js';

const harness = new StorageHarness();
const syncSuite = suite('raft storage: fsync off the thread');
syncSuite.after.each(() => harness.cleanup());

function databasePath(): string {
  return join(harness.directory(), 'replica.sqlite');
}

/** A persistThen callback that records its calls, in order, and resolves once `count` arrived. */
function collector(count: number) {
  const calls: Array<Error | null> = [];
  let resolve: () => void = () => {};
  const all = new Promise<void>((done) => { resolve = done; });
  const durable = (error: Error | null): void => {
    calls.push(error);
    if (calls.length === count) resolve();
  };
  return { calls, all, durable };
}

syncSuite('persistThen answers after its fsync, never before returning, and the write survives reopening', async () => {
  // One Ready with entries and a new term: the call returns true with nothing answered yet; the answer comes
  // later with no error, one fsync more is counted, and a reopened file holds the entries and the hard state.
  const path = databasePath();
  const { storage } = harness.open(path);
  const fsyncsBefore = storage.stats().fsyncs;
  const waiting = collector(1);
  const entries = putEntries(1, 3, 1);
  const hardState = { term: 1, vote: 'catalog-1', commit: 0 };
  assert.is(storage.persistThen({ snapshot: null, entries, hardState }, waiting.durable), true);
  assert.equal(waiting.calls, [], 'answered before the fsync could have run');
  assert.equal(storage.hardState, hardState, 'written at once: the next Ready sees it');
  await waiting.all;
  assert.equal(waiting.calls, [null]);
  // The first call also made sure the WAL file exists with one synced write of its own.
  assert.ok(storage.stats().fsyncs >= fsyncsBefore + 1);
  storage.close();
  const loaded = harness.open(path).storage.load();
  assert.equal(loaded.persisted.entries, entries);
  assert.equal(loaded.persisted.hardState, hardState);
});

syncSuite('writes made while an fsync runs share the next one (group commit), answered in order', async () => {
  // Ten Readys in one turn: the first starts an fsync, the other nine wait for the one after it, so at most two
  // fsyncs answer all ten, in the order they were written.
  const { storage } = harness.open(databasePath());
  storage.persist({ snapshot: null, entries: [], hardState: { term: 1, vote: null, commit: 0 } });
  const fsyncsBefore = storage.stats().fsyncs;
  const order: number[] = [];
  const answered = collector(10);
  for (let index = 1; index <= 10; index += 1) {
    storage.persistThen({ snapshot: null, entries: putEntries(index, index, 1), hardState: null }, (error) => {
      order.push(index);
      answered.durable(error);
    });
  }
  await answered.all;
  assert.equal(answered.calls, Array(10).fill(null));
  assert.equal(order, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  // The first persistThen of this storage adds its one synced write (making sure the WAL file exists).
  const fsyncs = storage.stats().fsyncs - fsyncsBefore;
  assert.ok(fsyncs <= 3, `${fsyncs} fsyncs for ten writes in one turn`);
});

syncSuite('a Ready that needs no fsync is not waited for, and its callback is never called', async () => {
  // A hard state that only moves the commit index is a deferred write (README, Durability): false, no answer.
  const { storage } = harness.open(databasePath());
  storage.persist({ snapshot: null, entries: putEntries(1, 2, 1), hardState: { term: 1, vote: null, commit: 0 } });
  let called = false;
  assert.is(storage.persistThen({ snapshot: null, entries: [], hardState: { term: 1, vote: null, commit: 2 } }, () => { called = true; }), false);
  assert.is(storage.persistThen({ snapshot: null, entries: [], hardState: null }, () => { called = true; }), false);
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.is(called, false);
  assert.is(storage.hardState.commit, 2);
});

syncSuite('a failed fsync answers every waiter with StorageWriteError and every later write throws it', async () => {
  // The fault fires after the fsync ran, as a disk reporting EIO would: the waiter hears the error, not "durable",
  // and the storage refuses to write again (the replica must stop rather than acknowledge).
  const faults = new StorageFaults();
  const { storage } = harness.open(databasePath(), { faults });
  storage.persist({ snapshot: null, entries: [], hardState: { term: 1, vote: null, commit: 0 } });
  faults.failNextSync('EIO');
  const waiting = collector(1);
  assert.is(storage.persistThen({ snapshot: null, entries: putEntries(1, 1, 1), hardState: null }, waiting.durable), true);
  await waiting.all;
  const error = waiting.calls[0];
  assert.ok(error instanceof StorageWriteError, `got ${String(error)}`);
  assert.is((error as StorageWriteError).code, 'EIO');
  const later = expectError(() => storage.persist({ snapshot: null, entries: putEntries(2, 2, 1), hardState: null }), StorageWriteError);
  assert.is(later.code, 'EIO');
});

syncSuite.run();
