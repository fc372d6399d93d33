// The backup capture (src/raft/storage/backup.ts) against a real replica database: the copy holds exactly the
// state at the index it names while the source keeps applying (compared with a second database that applied
// exactly that many entries), a linearizable point above what is applied is refused and leaves no file, a copy
// whose manifest record or bytes differ is refused by verify with an error naming the field; the state machines'
// row-by-row hashes equal the digest of their snapshot text; a restored cluster's ids differ from the old ones.
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CatalogStateMachine } from '../../src/actors/catalog/state.js';
import initialCatalog from '../../src/actors/catalog/initial.js';
import { encodeCatalogCommand } from '../../src/actors/catalog/commands.js';
import { encodeOrderCommand, OrderStateMachine } from '../../src/actors/order/state.js';
import { factoryOf } from '../../src/cli/backup-files.js';
import { clusterIdFor } from '../../src/raft/identity.js';
import { BackupVerifyError, readBackupFile, verifyBackupFile, type BackupCaptureRequest } from '../../src/raft/storage/backup.js';
import { readClusterGeneration, generationFileName } from '../../src/raft/storage/generation.js';
import { RaftStorage } from '../../src/raft/storage/storage.js';
import type { Entry } from '../../src/raft/types.js';
import { captureInWorker, openOrderSource } from '../support/backup-capture.js';

const quiet = { warn: () => undefined };

function orderEntry(index: number): Entry {
  const command = { type: 'pending' as const, orderId: `order-${index}`, item: 1 + (index % 7), amount: 1 + (index % 3), createdAt: 1_000 + index, deadlineAt: 60_000 + index };
  return { index, term: 1, type: 'normal', data: encodeOrderCommand(command) };
}

/** Persists and applies entries fromIndex..toIndex, commit moving with them. */
function appendAndApply(storage: RaftStorage, fromIndex: number, toIndex: number): void {
  const entries: Entry[] = [];
  for (let index = fromIndex; index <= toIndex; index += 1) entries.push(orderEntry(index));
  storage.persist({ snapshot: null, entries, hardState: { term: 1, vote: 'order-1', commit: toIndex } });
  storage.apply(entries);
}

test('the copy holds exactly the state at the index it names, while the source keeps applying', async () => {
  const directory = mkdtempSync(join(tmpdir(), 'pygmy-backup-capture-'));
  const source = openOrderSource(directory);
  try {
    appendAndApply(source, 1, 20_000);
    const destinationPath = join(directory, 'order.db');
    const request: BackupCaptureRequest = { kind: 'pygmyBackupCapture', sourcePath: source.path, destinationPath, minimumIndex: 20_000, factory: factoryOf('order') };
    let done = false;
    const result = captureInWorker(request).finally(() => (done = true));
    // The replica keeps applying, 25 entries a turn, until the copy is done (bounded: at most 40,000 more).
    let next = 20_001;
    while (!done && next < 60_000) {
      appendAndApply(source, next, next + 24);
      next += 25;
      await new Promise((resolve) => setImmediate(resolve));
    }
    const captured = await result;
    assert.ok(captured.ok, JSON.stringify(captured));
    if (!captured.ok) return;
    assert.ok(captured.index >= 20_000 && captured.index < next, `index ${captured.index}`);
    assert.is(captured.orders, captured.index);
    assert.is(captured.clusterId, 'c0ffee00c0ffee00');
    // A database that applied exactly entries 1..index has the copy's state hash.
    const reference = RaftStorage.open({ path: join(directory, 'reference.db'), stateMachine: new OrderStateMachine(), logger: quiet });
    try {
      for (let from = 1; from <= captured.index; from += 5_000) appendAndApply(reference, from, Math.min(from + 4_999, captured.index));
      assert.is(captured.stateHash, reference.stateHash());
    } finally {
      reference.close();
    }
    const facts = await readBackupFile(destinationPath, factoryOf('order'));
    assert.is(facts.index, captured.index);
    assert.is(facts.stateHash, captured.stateHash);
    console.log(`    copy at index ${captured.index} while the source applied up to ${next - 1}`);

    // verify: each field of the record is checked, and a flipped byte is named by its file.
    await verifyBackupFile(destinationPath, captured, factoryOf('order'));
    for (const [field, wrong] of [['stateHash', '0'.repeat(64)], ['index', captured.index - 1], ['orders', 3]] as const) {
      const error = await verifyBackupFile(destinationPath, { ...captured, [field]: wrong }, factoryOf('order')).then(() => null, (caught: unknown) => caught);
      assert.instance(error, BackupVerifyError);
      assert.match((error as Error).message, `${field} is`);
    }
    const bytes = readFileSync(destinationPath);
    bytes[bytes.length - 100] ^= 0x20;
    writeFileSync(destinationPath, bytes);
    const flipped = await verifyBackupFile(destinationPath, captured, factoryOf('order')).then(() => null, (caught: unknown) => caught);
    assert.instance(flipped, BackupVerifyError);
    assert.match((flipped as Error).message, 'order.db: sha256');

    // A linearizable point the source has not applied yet: refused, no file.
    const ahead = await captureInWorker({ ...request, destinationPath: join(directory, 'ahead.db'), minimumIndex: 10_000_000 });
    assert.not.ok(ahead.ok);
    assert.match((ahead as { error: string }).error, 'below the linearizable point');
    assert.not.ok(existsSync(join(directory, 'ahead.db')));
  } finally {
    source.close();
    rmSync(directory, { recursive: true, force: true });
  }
});

test('the row-by-row state hashes are the digest of the snapshot text', async () => {
  const directory = mkdtempSync(join(tmpdir(), 'pygmy-backup-hash-'));
  try {
    const orders = new OrderStateMachine();
    const orderStorage = RaftStorage.open({ path: join(directory, 'order.db'), stateMachine: orders, logger: quiet });
    appendAndApply(orderStorage, 1, 500);
    assert.is(orders.hash(), createHash('sha256').update(orders.snapshot()).digest('hex'));
    orderStorage.close();
    const empty = new OrderStateMachine();
    const emptyStorage = RaftStorage.open({ path: join(directory, 'empty.db'), stateMachine: empty, logger: quiet });
    assert.is(empty.hash(), createHash('sha256').update(empty.snapshot()).digest('hex'));
    emptyStorage.close();
    const catalog = new CatalogStateMachine(initialCatalog);
    const catalogStorage = RaftStorage.open({ path: join(directory, 'catalog.db'), stateMachine: catalog, logger: quiet });
    const entries: Entry[] = [1, 2, 3].map((index) => ({ index, term: 1, type: 'normal', data: encodeCatalogCommand({ type: 'deduct', orderId: `o${index}`, item: index, amount: 1 }) }));
    catalogStorage.persist({ snapshot: null, entries, hardState: { term: 1, vote: null, commit: 3 } });
    catalogStorage.apply(entries);
    assert.is(catalog.hash(), createHash('sha256').update(catalog.snapshot()).digest('hex'));
    catalogStorage.close();
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
});

test('a restored cluster has ids of its own; a damaged generation file is refused, not read as none', () => {
  const members = ['order-1', 'order-2', 'order-3'];
  const named = clusterIdFor('pygmy', members);
  assert.is(clusterIdFor('pygmy', members, null), named);
  const first = clusterIdFor('pygmy', members, 'a'.repeat(32));
  assert.is.not(first, named);
  assert.is.not(clusterIdFor('pygmy', members, 'b'.repeat(32)), first);
  const directory = mkdtempSync(join(tmpdir(), 'pygmy-generation-'));
  try {
    assert.is(readClusterGeneration(directory), null);
    writeFileSync(join(directory, generationFileName), JSON.stringify({ generation: 'a'.repeat(32) }));
    assert.is(readClusterGeneration(directory), 'a'.repeat(32));
    writeFileSync(join(directory, generationFileName), '{"generation": "not hex"}');
    assert.throws(() => readClusterGeneration(directory), /is damaged/);
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
});

test.run();
