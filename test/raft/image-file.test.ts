// File images (src/raft/storage/image-file.ts) end to end, in one thread so that its heap can be watched: an order
// database of ~45 MB is built into an image file, streamed in chunks (snapshot-stream.ts, a hand-driven network,
// one chunk lost on the way), and installed into a fresh replica's storage. The installed state hashes as the
// source; the heap grows by under a quarter of the image (garbage the young generation collects: it does not grow with the image) across build, stream and install. The same state as a
// text image (StateMachine.snapshot, one string) grows the heap by more than that bound, so the measurement can
// tell an image held whole from one that is not. Also: the builder reads one view while the source keeps writing,
// an image with a table the target lacks is refused, and the staging file is what the install reads; the install
// keeps the target's indexes; installThen (the install from a connection of its own, image-install.ts) refuses
// writes until it is done, leaves the storage as it was when it fails, and agrees with the disk when it succeeds.
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { encodeOrderCommand, OrderStateMachine } from '../../src/actors/order/state.js';
import { buildImageFile, copyImageTables, imageFileReference, parseImageFileReference } from '../../src/raft/storage/image-file.js';
import { installImageFile } from '../../src/raft/storage/image-install.js';
import { RaftStorage } from '../../src/raft/storage/storage.js';
import { SnapshotStreams, defaultSnapshotStreamOptions, fileChunkBytes, type SnapshotStreamMessage } from '../../src/raft/snapshot-stream.js';
import type { Entry } from '../../src/raft/types.js';

const quiet = { warn: () => undefined };
const orders = 160_000;

function pendingEntry(index: number): Entry {
  const command = { type: 'pending' as const, orderId: `order-${index}`, item: 1, amount: 1, createdAt: 1_000 + index, deadlineAt: 60_000 + index };
  return { index, term: 2, type: 'normal', data: encodeOrderCommand(command) };
}

/** A replica database holding `orders` orders with 128-character ids: a few through the log, the rest in bulk. */
function sourceDatabase(directory: string): RaftStorage {
  const storage = RaftStorage.open({ path: join(directory, 'order-1.db'), stateMachine: new OrderStateMachine(), logger: quiet });
  const entries = [1, 2, 3].map(pendingEntry);
  storage.persist({ snapshot: null, entries, hardState: { term: 2, vote: 'order-1', commit: 3 } });
  storage.apply(entries);
  const bulk = new Database(storage.path);
  bulk.exec(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${orders})
    INSERT INTO order_orders (id, item, amount, total, status, created_at, reason, deadline_at, seq)
    SELECT printf('%0128d', i), 1 + i % 50, 1, 2.5, 'committed', 1000 + i, NULL, 61000 + i, 3 + i FROM n`);
  bulk.close();
  return storage;
}

function heapNow(): number {
  return process.memoryUsage().heapUsed;
}

test('an image far larger than a chunk is built, streamed and installed with the heap growing by well under its size', () => {
  const directory = mkdtempSync(join(tmpdir(), 'pygmy-image-file-'));
  const source = sourceDatabase(directory);
  const target = RaftStorage.open({ path: join(directory, 'order-3.db'), stateMachine: new OrderStateMachine(), logger: quiet });
  try {
    const baseline = heapNow();
    let peak = baseline;
    const sample = () => (peak = Math.max(peak, heapNow()));
    const built = buildImageFile(source.path, join(directory, 'order-1.db.image-1'));
    sample();
    const chunkBytes = fileChunkBytes(defaultSnapshotStreamOptions.chunkUnits);
    assert.equal([built.index, built.term], [3, 2]);
    assert.ok(built.bytes > 40 * chunkBytes, `the image (${built.bytes} bytes) is far larger than a chunk (${chunkBytes})`);
    // Stream it: leader n1 → follower n3, one chunk lost on the way.
    const options = { ...defaultSnapshotStreamOptions, windowChunks: 4 };
    const leader = new SnapshotStreams({ ...options, self: 'n1' });
    const follower = new SnapshotStreams({ ...options, self: 'n3', incomingImagePath: ({ index, snapshotTerm }) => join(directory, `incoming-${index}-${snapshotTerm}`) });
    const wire: SnapshotStreamMessage[] = [...leader.offer({ type: 'installSnapshot', from: 'n1', to: 'n3', term: 2, snapshot: { meta: { index: built.index, term: built.term, peers: ['n1', 'n2', 'n3'] }, data: imageFileReference(built) } }).messages];
    let installed: string | null = null;
    let lost = false;
    for (let steps = 0; wire.length > 0 || installed === null; steps += 1) {
      assert.ok(steps < 100_000, 'the stream ends');
      if (wire.length === 0) wire.push(...leader.tick(options.retransmitTicks).messages);
      const message = wire.shift()!;
      if (message.type === 'snapshotChunk') {
        if (!lost && message.offset > 10 * chunkBytes) {
          lost = true;
          continue;
        }
        const { reply, install } = follower.receiveChunk(message);
        wire.push(reply);
        if (install !== null) installed = install.snapshot.data;
      } else {
        wire.push(...leader.receiveAck(message).messages);
      }
      sample();
    }
    const file = parseImageFileReference(installed);
    assert.ok(file !== null && existsSync(file.path), 'the follower holds a staging file');
    assert.is(statSync(file.path).size, built.bytes);
    target.persist({ snapshot: { meta: { index: built.index, term: built.term, peers: ['n1', 'n2', 'n3'] }, data: installed }, entries: [], hardState: { term: 2, vote: null, commit: built.index } });
    sample();
    assert.is(target.lastApplied, built.index);
    assert.is(target.query({ type: 'get', orderId: 'order-2' }) !== null, true);
    const growth = peak - baseline;
    assert.ok(growth < built.bytes / 4, `heap grew by ${growth} bytes for an image of ${built.bytes}`);
    // The same state as one text image: the measurement sees it.
    const textBaseline = heapNow();
    const text = source.image().data;
    const textGrowth = heapNow() - textBaseline;
    assert.ok(textGrowth > built.bytes / 4, `a text image of ${text.length} units grew the heap by ${textGrowth} bytes`);
    const sourceHash = new OrderStateMachine();
    const targetHash = new OrderStateMachine();
    const sourceDatabase2 = new Database(source.path, { readonly: true });
    const targetDatabase = new Database(target.path, { readonly: true });
    try {
      sourceHash.open(sourceDatabase2);
      targetHash.open(targetDatabase);
      assert.is(targetHash.hash(), sourceHash.hash(), 'the installed state hashes as the source');
      // The install drops the target's indexes for the copy and makes them again: the same ones, over the new rows.
      const indexesOf = (database: Database.Database) => database.prepare("SELECT name, tbl_name, sql FROM sqlite_master WHERE type = 'index' ORDER BY name").all();
      assert.ok(indexesOf(targetDatabase).length > 1, 'the order table has indexes of its own');
      assert.equal(indexesOf(targetDatabase), indexesOf(sourceDatabase2));
      assert.equal(targetDatabase.pragma('integrity_check'), [{ integrity_check: 'ok' }]);
    } finally {
      sourceDatabase2.close();
      targetDatabase.close();
    }
    console.log(`image ${built.bytes} bytes in ${Math.ceil(built.bytes / chunkBytes)} chunks: heap +${(growth / 1e6).toFixed(1)} MB (text image: +${(textGrowth / 1e6).toFixed(1)} MB)`);
  } finally {
    source.close();
    target.close();
    rmSync(directory, { recursive: true, force: true });
  }
});

test('the builder copies one view while the source keeps writing; an image with a table the target lacks is refused', () => {
  const directory = mkdtempSync(join(tmpdir(), 'pygmy-image-view-'));
  const source = RaftStorage.open({ path: join(directory, 'source.db'), stateMachine: new OrderStateMachine(), logger: quiet });
  try {
    const entries = [1, 2, 3, 4].map(pendingEntry);
    source.persist({ snapshot: null, entries, hardState: { term: 2, vote: 'order-1', commit: 4 } });
    source.apply(entries);
    const built = buildImageFile(source.path, join(directory, 'image.db'));
    const more = [5, 6].map(pendingEntry);
    source.persist({ snapshot: null, entries: more, hardState: { term: 2, vote: 'order-1', commit: 6 } });
    source.apply(more);
    const image = new Database(built.path, { readonly: true });
    assert.is((image.prepare('SELECT count(*) AS count FROM order_orders').get() as { count: number }).count, 4, 'the view as of index 4');
    assert.is(image.prepare("SELECT name FROM sqlite_master WHERE name LIKE 'raft_%'").all().length, 0, 'no Raft tables in an image');
    image.close();
    // A target without the image's table refuses it, and keeps its own state.
    const other = new Database(join(directory, 'other.db'));
    other.exec('CREATE TABLE unrelated (id INTEGER PRIMARY KEY)');
    other.prepare('ATTACH DATABASE ? AS image').run(built.path);
    assert.throws(() => other.transaction(() => copyImageTables(other))(), /order_orders/);
    other.close();
  } finally {
    source.close();
    rmSync(directory, { recursive: true, force: true });
  }
});


test('installThen copies a file image from a connection of its own: writes wait for it, and the state and the disk then agree', async () => {
  const directory = mkdtempSync(join(tmpdir(), 'pygmy-image-install-'));
  const source = sourceDatabase(directory);
  const target = RaftStorage.open({ path: join(directory, 'order-3.db'), stateMachine: new OrderStateMachine(), logger: quiet });
  try {
    const built = buildImageFile(source.path, join(directory, 'order-1.db.image-1'));
    const part = { snapshot: { meta: { index: built.index, term: built.term, peers: ['n1', 'n2', 'n3'] }, data: imageFileReference(built) }, entries: [], hardState: { term: 2, vote: null, commit: built.index } };
    // An install that fails (as a thread that died would) leaves the storage as it was, and writable.
    const failed = await new Promise<Error | null>((resolve) => {
      assert.ok(target.installThen(part, () => Promise.reject(new Error('the image thread died')), resolve));
    });
    assert.match(String(failed), /the image thread died/);
    assert.is(target.lastApplied, 0);
    // The real one, on another connection (the test's thread, after this turn: as the image thread would).
    let installed = false;
    const done = new Promise<Error | null>((resolve) => {
      assert.ok(target.installThen(part, async (task) => {
        await Promise.resolve();
        installImageFile(task);
        installed = true;
      }, resolve));
    });
    assert.is(target.lastApplied, 0, 'nothing moves before the other connection committed');
    assert.throws(() => target.persist({ snapshot: null, entries: [], hardState: { term: 3, vote: null, commit: 0 } }), /while an image installs/);
    assert.is(await done, null);
    assert.ok(installed);
    assert.is(target.lastApplied, built.index);
    assert.is(target.load().lastApplied, built.index, 'the disk agrees with the storage (load checks every field)');
    assert.is(target.query({ type: 'get', orderId: 'order-2' }) !== null, true);
    assert.is(textHash(target.path), textHash(source.path), 'the installed state hashes as the source');
    // A text image is not this path's: persist() takes it.
    assert.not.ok(target.installThen({ ...part, snapshot: { ...part.snapshot, data: '{}' } }, () => Promise.resolve(), () => undefined));
  } finally {
    source.close();
    target.close();
    rmSync(directory, { recursive: true, force: true });
  }
});

/** The order state's hash, read from the database at `path` on a connection of its own. */
function textHash(path: string): string {
  const database = new Database(path, { readonly: true });
  try {
    const machine = new OrderStateMachine();
    machine.open(database);
    return machine.hash();
  } finally {
    database.close();
  }
}

test.run();
