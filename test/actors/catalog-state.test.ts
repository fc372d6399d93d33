// Tests of the catalog state machine on an in-memory SQLite database, applying commands inside transactions as a
// replica does, and of the catalog validation and generator.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import Database from 'better-sqlite3';
import { CatalogStateMachine } from '../../src/actors/catalog/state.js';
import { CatalogError, parseCatalog, type Catalog } from '../../src/actors/catalog/catalog.js';
import { encodeCatalogCommand, parseCatalogQuery, type CatalogCommand, type CatalogResult } from '../../src/actors/catalog/commands.js';
import { generateCatalog } from '../../src/actors/catalog/generate.js';
import initialCatalog from '../../src/actors/catalog/initial.js';
import { assertAllBadCommands, openInMemory } from './in-memory-replica.js';

interface Replica {
  readonly database: Database.Database;
  readonly machine: CatalogStateMachine;
  apply(command: CatalogCommand | string): CatalogResult;
}

const openDatabases: Database.Database[] = [];

function openReplica(catalog: Catalog = initialCatalog): Replica {
  return openInMemory(new CatalogStateMachine(catalog), encodeCatalogCommand, openDatabases);
}

function stockOf(replica: Replica, id: number): number {
  const answer = replica.machine.query({ type: 'lookup', id }) as unknown as { item: { stock: number } | null };
  assert.ok(answer.item !== null, `item ${id} exists`);
  return answer.item.stock;
}

test.after(() => {
  for (const database of openDatabases) database.close();
});

test('lookup answers the design example with keys in the gateway order', () => {
  // Checks the seeded item 1 and its topic against DESIGN.md §1, comparing serialized JSON so key order counts.
  const replica = openReplica();
  const answer = replica.machine.query({ type: 'lookup', id: 1 });
  assert.is(
    JSON.stringify(answer),
    '{"item":{"id":1,"name":"How to get a good grade in 677 in 20 minutes a day","stock":10,"price":19.9,"topic":1},' +
      '"topics":[{"id":1,"name":"Distributed systems"}],"changeIndex":0}',
  );
  assert.equal(replica.machine.query({ type: 'lookup', id: 99 }), { item: null, topics: [], changeIndex: 0 });
});

test('list returns every item and topic by id', () => {
  // Checks the list of the initial catalog: four items ids 1..4 and both topics, in id order.
  const replica = openReplica();
  const answer = replica.machine.query({ type: 'list' }) as unknown as { items: { id: number }[]; topics: { id: number }[] };
  assert.equal(answer.items.map((item) => item.id), [1, 2, 3, 4]);
  assert.equal(answer.topics, [{ id: 1, name: 'Distributed systems' }, { id: 2, name: 'Graduate School' }]);
  assert.equal(Object.keys(answer.items[2]!), ['id', 'name', 'stock', 'price', 'topic']);
});

test('search is a case-insensitive substring match on topic names', () => {
  // Checks "sys" → topic 1 and its items, "GRAD" → topic 2, "" → everything, "zzz" → nothing.
  const replica = openReplica();
  const ids = (topic: string) => {
    const answer = replica.machine.query({ type: 'search', topic }) as unknown as { items: { id: number }[]; topics: { id: number }[] };
    return { items: answer.items.map((item) => item.id), topics: answer.topics.map((one) => one.id) };
  };
  assert.equal(ids('sys'), { items: [1, 2], topics: [1] });
  assert.equal(ids('GRAD'), { items: [3, 4], topics: [2] });
  assert.equal(ids(''), { items: [1, 2, 3, 4], topics: [1, 2] });
  assert.equal(ids('zzz'), { items: [], topics: [] });
});

test('deduct takes stock, prices in cents, and never goes below zero', () => {
  // Checks a successful deduct's result, then a too-large one refused with the current stock and nothing changed.
  const replica = openReplica();
  const first = replica.apply({ type: 'deduct', orderId: 'a', item: 1, amount: 3 });
  assert.equal(first, { ok: true, price: 19.9, total: 59.7, stock: 7, changed: [1], repeated: false, previousChangeIndex: 0 });
  const refused = replica.apply({ type: 'deduct', orderId: 'b', item: 1, amount: 8 });
  assert.equal(refused, { ok: false, reason: 'insufficient', stock: 7, changed: [], repeated: false });
  assert.is(stockOf(replica, 1), 7);
  const rest = replica.apply({ type: 'deduct', orderId: 'c', item: 1, amount: 7 });
  assert.is(rest.ok, true);
  assert.is(stockOf(replica, 1), 0);
  assert.is(replica.apply({ type: 'deduct', orderId: 'd', item: 1, amount: 1 }).ok, false);
  assert.is(stockOf(replica, 1), 0);
  const unknown = replica.apply({ type: 'deduct', orderId: 'e', item: 42, amount: 1 });
  assert.equal(unknown, { ok: false, reason: 'unknownItem', changed: [], repeated: false });
});

test('deduct is idempotent by orderId: ten repeats deduct once and return the first outcome', () => {
  // Applies the same deduct ten times and checks the stock fell by one amount and every repeat says so.
  const replica = openReplica();
  const results = Array.from({ length: 10 }, () => replica.apply({ type: 'deduct', orderId: 'same', item: 2, amount: 4 }));
  assert.is(stockOf(replica, 2), 16);
  assert.is(results[0]!.repeated, false);
  for (const result of results.slice(1)) {
    // A repeat changes nothing, so it names no item and starts no invalidation.
    assert.equal(result, { ok: true, price: 29.9, total: 119.6, stock: 16, changed: [], repeated: true });
  }
  const { previousChangeIndex: _chain, ...firstOutcome } = results[0]!;
  assert.equal(replica.machine.query({ type: 'deductOutcome', orderId: 'same' }), firstOutcome);
  assert.is(replica.machine.query({ type: 'deductOutcome', orderId: 'other' }), null);
});

test('a refused deduct stays refused on repeat even after a restock', () => {
  // Checks that the first outcome (insufficient) is the answer forever, so a retried order is never bought late.
  const replica = openReplica();
  assert.is(replica.apply({ type: 'deduct', orderId: 'x', item: 1, amount: 11 }).ok, false);
  assert.is(replica.apply({ type: 'restock', requestId: 'r', item: 1, amount: 5 }).ok, true);
  const repeat = replica.apply({ type: 'deduct', orderId: 'x', item: 1, amount: 11 });
  assert.equal(repeat, { ok: false, reason: 'insufficient', stock: 10, changed: [], repeated: true });
  assert.is(stockOf(replica, 1), 15);
});

test('changes form a chain: each names the previous change index, reads report the latest', () => {
  // Checks the chain a cache follows to notice a missed invalidation: only entries that changed an item move it,
  // each change names the one before, and lookup, list and search answers carry the latest change index.
  const replica = openReplica();
  assert.is(replica.apply({ type: 'deduct', orderId: 'a', item: 1, amount: 1 }).previousChangeIndex, 0);
  assert.is(replica.apply({ type: 'deduct', orderId: 'b', item: 1, amount: 99 }).previousChangeIndex, undefined, 'a refusal changes nothing');
  assert.is(replica.apply({ type: 'deduct', orderId: 'a', item: 1, amount: 1 }).previousChangeIndex, undefined, 'a repeat changes nothing');
  assert.is(replica.apply({ type: 'restock', requestId: 'r', item: 2, amount: 1 }).previousChangeIndex, 1);
  assert.is(replica.machine.query({ type: 'changeIndex' }), 4);
  assert.is((replica.machine.query({ type: 'list' }) as { changeIndex: number }).changeIndex, 4);
  assert.is((replica.machine.query({ type: 'search', topic: 'grad' }) as { changeIndex: number }).changeIndex, 4);
  const copy = openReplica();
  copy.database.transaction(() => copy.machine.restore(replica.machine.snapshot()))();
  assert.is(copy.machine.query({ type: 'changeIndex' }), 4, 'a snapshot carries the chain');
});

test('a change rolled back with its transaction never shows in the change index reads report', () => {
  // Reads keep the latest change index in memory; an apply inside a transaction that then fails must not leave
  // that value ahead of what is stored (a cache would believe it saw a change that never happened).
  const replica = openReplica();
  replica.apply({ type: 'restock', requestId: 'r1', item: 1, amount: 1 });
  assert.is(replica.machine.query({ type: 'changeIndex' }), 1);
  assert.throws(() =>
    replica.database.transaction(() => {
      replica.machine.apply(encodeCatalogCommand({ type: 'restock', requestId: 'r2', item: 1, amount: 1 }), 2);
      replica.machine.apply(encodeCatalogCommand({ type: 'restock', requestId: 'r3', item: 2, amount: 1 }), 3);
      assert.is(replica.machine.query({ type: 'changeIndex' }), 3, 'inside the transaction the change shows');
      throw new Error('disk full');
    })(),
  );
  assert.is(replica.machine.query({ type: 'changeIndex' }), 1);
  assert.is((replica.machine.query({ type: 'lookup', id: 1 }) as { changeIndex: number }).changeIndex, 1);
  assert.is(stockOf(replica, 1), 11);
});

test('restock and setPrice change the item once per requestId and name it as changed', () => {
  // Checks results, repeats and unknown items of restock and setPrice, and the conservation record.
  const replica = openReplica();
  assert.equal(replica.apply({ type: 'restock', requestId: 'r1', item: 3, amount: 5 }), {
    ok: true, stock: 30, changed: [3], repeated: false, previousChangeIndex: 0,
  });
  assert.is(replica.apply({ type: 'restock', requestId: 'r1', item: 3, amount: 5 }).repeated, true);
  assert.is(stockOf(replica, 3), 30);
  assert.equal(replica.apply({ type: 'setPrice', requestId: 'p1', item: 3, price: 12.5 }), {
    ok: true, price: 12.5, changed: [3], repeated: false, previousChangeIndex: 1,
  });
  assert.equal(replica.apply({ type: 'setPrice', requestId: 'p2', item: 3, price: 12.5 }).changed, []);
  const lookup = replica.machine.query({ type: 'lookup', id: 3 }) as unknown as { item: { price: number } };
  assert.is(lookup.item.price, 12.5);
  assert.equal(replica.apply({ type: 'restock', requestId: 'r2', item: 9, amount: 1 }), {
    ok: false, reason: 'unknownItem', changed: [], repeated: false,
  });
  assert.equal(replica.apply({ type: 'setPrice', requestId: 'p3', item: 9, price: 1 }).ok, false);
  replica.apply({ type: 'deduct', orderId: 'o', item: 3, amount: 2 });
  const stock = replica.machine.query({ type: 'stock' }) as unknown as { id: number; stock: number; initialStock: number; restocked: number; deducted: number }[];
  for (const record of stock) assert.is(record.initialStock + record.restocked - record.deducted, record.stock);
  assert.equal(stock[2], { id: 3, stock: 28, initialStock: 25, restocked: 5, deducted: 2 });
});

test('malformed commands are answered with badCommand and change nothing', () => {
  // Feeds broken JSON, wrong types, zero or huge amounts and bad prices; each must be refused, none may throw.
  const replica = openReplica();
  const before = replica.machine.hash();
  const bad = [
    'not json', '[]', '{"type":"explode"}', '{"type":"deduct","orderId":"a","item":1}',
    '{"type":"deduct","orderId":"a","item":1,"amount":0}', '{"type":"deduct","orderId":"a","item":1,"amount":1.5}',
    '{"type":"deduct","orderId":"","item":1,"amount":1}', '{"type":"deduct","orderId":"a","item":-1,"amount":1}',
    '{"type":"deduct","orderId":"a","item":1,"amount":1e12}', '{"type":"restock","requestId":"a","item":"1","amount":1}',
    '{"type":"setPrice","requestId":"a","item":1,"price":-1}', '{"type":"setPrice","requestId":"a","item":1,"price":1.001}',
    '{"type":"setPrice","requestId":"a","item":1,"price":"NaN"}', 'null',
  ];
  assertAllBadCommands(replica, bad);
  for (let round = 0; round < 1000; round += 1) replica.apply({ type: 'restock', requestId: `big${round}`, item: 1, amount: 1_000_000 });
  const overflow = replica.apply({ type: 'restock', requestId: 'over', item: 1, amount: 1_000_000 });
  assert.is((overflow as { reason: string }).reason, 'badCommand');
  assert.is.not(replica.machine.hash(), before);
  // A query from the wire is checked before it reaches the machine; the replica refuses it as badQuery.
  assert.equal(parseCatalogQuery({ type: 'nonsense' }), { ok: false, detail: 'unknown query type "nonsense"' });
  assert.equal(parseCatalogQuery({ type: 'lookup', id: 'x' }), { ok: false, detail: 'lookup id must be a positive integer' });
  assert.equal(parseCatalogQuery(null).ok, false);
  assert.equal(parseCatalogQuery({ type: 'search', topic: 'x'.repeat(501) }).ok, false);
  assert.equal(parseCatalogQuery({ type: 'lookup', id: 3, knownIndex: 9 }), { ok: true, query: { type: 'lookup', id: 3 } }, 'only the fields of its kind are kept');
  // Every query the machine answers can come from the wire (a backup check and operators ask deductWatermark).
  for (const type of ['list', 'stock', 'changeIndex', 'deductsHeld', 'deductWatermark'] as const) {
    assert.equal(parseCatalogQuery({ type, extra: 1 }), { ok: true, query: { type } }, type);
  }
});

test('replicas with the same commands have the same hash; different commands give different hashes', () => {
  // Applies one command list to two databases and checks equal hashes, then diverges one and checks they differ.
  const left = openReplica();
  const right = openReplica();
  const commands: CatalogCommand[] = [
    { type: 'deduct', orderId: 'o1', item: 1, amount: 2 },
    { type: 'restock', requestId: 'r1', item: 2, amount: 3 },
    { type: 'setPrice', requestId: 'p1', item: 4, price: 5.5 },
    { type: 'deduct', orderId: 'o2', item: 4, amount: 99 },
  ];
  for (const command of commands) assert.equal(left.apply(command), right.apply(command));
  assert.is(left.machine.hash(), right.machine.hash());
  assert.match(left.machine.hash(), /^[0-9a-f]{64}$/);
  left.apply({ type: 'deduct', orderId: 'o3', item: 1, amount: 1 });
  right.apply({ type: 'deduct', orderId: 'o3', item: 2, amount: 1 });
  assert.is.not(left.machine.hash(), right.machine.hash());
});

test('snapshot then restore reproduces the state, hash and idempotency records', () => {
  // Restores one replica's snapshot into another that diverged, then checks the hash and that a repeat is a repeat.
  const source = openReplica();
  source.apply({ type: 'deduct', orderId: 'o1', item: 1, amount: 2 });
  source.apply({ type: 'restock', requestId: 'r1', item: 2, amount: 3 });
  const target = openReplica();
  target.apply({ type: 'deduct', orderId: 'zz', item: 3, amount: 1 });
  target.database.transaction(() => target.machine.restore(source.machine.snapshot()))();
  assert.is(target.machine.hash(), source.machine.hash());
  assert.is(target.apply({ type: 'deduct', orderId: 'o1', item: 1, amount: 2 }).repeated, true);
  assert.is(stockOf(target, 1), 8);
  assert.is(target.machine.query({ type: 'deductOutcome', orderId: 'zz' }), null);
});

test('open seeds once: reopening a used database keeps its state', () => {
  // Opens a second state machine on a database that already holds state and checks nothing was re-seeded.
  const replica = openReplica();
  replica.apply({ type: 'deduct', orderId: 'o1', item: 1, amount: 2 });
  const again = new CatalogStateMachine(initialCatalog);
  again.open(replica.database);
  assert.is(again.hash(), replica.machine.hash());
  const lookup = again.query({ type: 'lookup', id: 1 }) as { item: { stock: number } };
  assert.is(lookup.item.stock, 8);
});

test('parseCatalog accepts the initial catalog and names the first bad field', () => {
  // Checks a round trip of the initial catalog and a set of broken catalogs with the message each must carry.
  assert.equal(parseCatalog(JSON.parse(JSON.stringify(initialCatalog))), initialCatalog);
  const broken: [unknown, RegExp][] = [
    [null, /object/],
    [{ topics: [], items: 'x' }, /items must be an array/],
    [{ topics: [{ id: 0, name: 'a' }], items: [] }, /topics\[0\]\.id/],
    [{ topics: [{ id: 1, name: 'a' }, { id: 1, name: 'b' }], items: [] }, /id 1 twice/],
    [{ topics: [{ id: 1, name: 'a' }], items: [{ id: 1, name: 'b', stock: -1, price: 1, topic: 1 }] }, /items\[0\]\.stock/],
    [{ topics: [{ id: 1, name: 'a' }], items: [{ id: 1, name: 'b', stock: 1, price: 1.234, topic: 1 }] }, /price/],
    [{ topics: [{ id: 1, name: 'a' }], items: [{ id: 1, name: 'b', stock: 1, price: 1, topic: 2 }] }, /not a topic/],
    [{ topics: [{ id: 1, name: '' }], items: [] }, /name/],
  ];
  for (const [input, message] of broken) {
    assert.throws(() => parseCatalog(input), (error: unknown) => error instanceof CatalogError && message.test(error.message));
  }
});

test('generateCatalog is deterministic by seed and valid', () => {
  // Generates twice with one seed (equal) and once with another (different), each passing parseCatalog.
  const first = generateCatalog({ items: 500, topics: 20, seed: 7 });
  const second = generateCatalog({ items: 500, topics: 20, seed: 7 });
  const other = generateCatalog({ items: 500, topics: 20, seed: 8 });
  assert.is(JSON.stringify(first), JSON.stringify(second));
  assert.is.not(JSON.stringify(first), JSON.stringify(other));
  assert.is(first.items.length, 500);
  assert.is(first.topics.length, 20);
  parseCatalog(JSON.parse(JSON.stringify(first)));
  assert.throws(() => generateCatalog({ items: -1, topics: 1, seed: 1 }), /items/);
});

test('the list never shows stale stock: after a deduct, and after a rolled-back transaction', () => {
  // Reads the list (memoized), deducts, reads again; then deducts inside a transaction that throws and checks the
  // list shows the stock the database kept, not the rolled-back one.
  const replica = openReplica();
  const stockInList = () => {
    const answer = replica.machine.query({ type: 'list' }) as unknown as { items: { id: number; stock: number }[] };
    return answer.items.find((item) => item.id === 1)!.stock;
  };
  assert.is(stockInList(), 10);
  replica.apply({ type: 'deduct', orderId: 'a', item: 1, amount: 2 });
  assert.is(stockInList(), 8);
  const data = encodeCatalogCommand({ type: 'deduct', orderId: 'b', item: 1, amount: 3 });
  assert.throws(() =>
    replica.database.transaction(() => {
      replica.machine.apply(data, 100);
      assert.is(stockInList(), 5);
      throw new Error('lastApplied write failed');
    })(),
  /lastApplied/);
  assert.is(stockInList(), 8);
  assert.is(replica.machine.query({ type: 'deductOutcome', orderId: 'b' }), null);
  const answer = replica.machine.query({ type: 'list' }) as unknown as { items: object[] };
  assert.ok(Object.isFrozen(answer.items) && Object.isFrozen(answer.items[0]), 'the shared list cannot be changed by a reader');
});

test('list and search over 10,000 items cost a few reads of the table, not more', () => {
  // Times list, a narrow search and lookups on a generated catalog of 10,000 items. The bounds are multiples of
  // what the machine needs, in the same run, to read every item row straight from SQLite (the least any answer
  // built from the table costs), so a busy machine slows both sides alike; the fixed floors keep a fast machine's
  // tiny baseline from making the bounds tighter than the cost of one answer.
  const replica = openReplica(generateCatalog({ items: 10_000, topics: 50, seed: 1 }));
  const timed = (work: () => unknown, rounds: number) => {
    work();
    const started = performance.now();
    for (let round = 0; round < rounds; round += 1) work();
    return (performance.now() - started) / rounds;
  };
  const readAllRows = replica.database.prepare('SELECT * FROM catalog_items');
  const tableReadMs = timed(() => readAllRows.all(), 5);
  const coldStarted = performance.now();
  replica.machine.query({ type: 'list' });
  const coldListMs = performance.now() - coldStarted;
  const listMs = timed(() => replica.machine.query({ type: 'list' }), 20);
  const searchMs = timed(() => replica.machine.query({ type: 'search', topic: 'consensus' }), 20);
  const lookupMs = timed(() => replica.machine.query({ type: 'lookup', id: 777 }), 2000);
  console.log(`10,000 items: table read ${tableReadMs.toFixed(2)} ms; list ${listMs.toFixed(3)} ms (${coldListMs.toFixed(1)} ms after a write), search ${searchMs.toFixed(2)} ms, lookup ${(lookupMs * 1000).toFixed(1)} µs`);
  const list = replica.machine.query({ type: 'list' }) as unknown as { items: unknown[] };
  assert.is(list.items.length, 10_000);
  // A kept list is not rebuilt: far below one read of the table.
  assert.ok(listMs < Math.max(0.5, tableReadMs / 4), `list took ${listMs} ms (table read ${tableReadMs} ms)`);
  assert.ok(coldListMs < Math.max(20, 10 * tableReadMs), `list after a write took ${coldListMs} ms (table read ${tableReadMs} ms)`);
  assert.ok(searchMs < Math.max(5, 2 * tableReadMs), `search took ${searchMs} ms (table read ${tableReadMs} ms)`);
  // A lookup reads one row by its key: far below a read of the whole table.
  assert.ok(lookupMs < Math.max(0.05, tableReadMs / 20), `lookup took ${lookupMs} ms (table read ${tableReadMs} ms)`);
});

test('bounded dedupe: prune drops the records below the watermark; a retry forced after it is refused settled, never applied twice', () => {
  const replica = openReplica();
  replica.apply({ type: 'restock', requestId: 'r-1', item: 1, amount: 100 });
  const before = stockOf(replica, 1);
  for (let sequence = 1; sequence <= 10; sequence += 1) {
    const result = replica.apply({ type: 'deduct', orderId: `o-${sequence}`, item: 1, amount: 1, sequence });
    assert.is(result.ok, true, `deduct ${sequence}`);
  }
  replica.apply({ type: 'abort', orderId: 'o-11', item: 1, amount: 1, sequence: 11 });
  replica.apply({ type: 'deduct', orderId: 'legacy', item: 1, amount: 1 }); // no sequence: kept forever
  assert.is(replica.machine.query({ type: 'deductsHeld' }), 12);
  const pruned = replica.apply({ type: 'prune', watermark: 8 }) as { ok: boolean; pruned: number; watermark: number };
  assert.equal([pruned.ok, pruned.pruned, pruned.watermark], [true, 7, 8]);
  assert.is(replica.machine.query({ type: 'deductsHeld' }), 5, 'o-8, o-9, o-10, o-11 and legacy stay');
  assert.is(stockOf(replica, 1), before - 11);
  // A retry forced after pruning (a stale saga's deduct, an abort fence for an order already decided).
  const hash = replica.machine.hash();
  for (const type of ['deduct', 'abort'] as const) {
    const retry = replica.apply({ type, orderId: 'o-3', item: 1, amount: 1, sequence: 3 }) as { ok: boolean; reason?: string; repeated: boolean; changed: number[] };
    assert.equal([retry.ok, retry.reason, retry.repeated, retry.changed], [false, 'settled', true, []], type);
  }
  assert.is(stockOf(replica, 1), before - 11, 'not applied twice');
  assert.is(replica.machine.hash(), hash, 'nothing changed');
  // At and above the watermark records stay and answer repeats; new orders deduct as before.
  assert.is((replica.apply({ type: 'deduct', orderId: 'o-9', item: 1, amount: 1, sequence: 9 }) as { repeated: boolean }).repeated, true);
  assert.is((replica.apply({ type: 'abort', orderId: 'o-11', item: 1, amount: 1, sequence: 11 }) as { reason: string }).reason, 'aborted');
  assert.is(replica.apply({ type: 'deduct', orderId: 'o-20', item: 1, amount: 1, sequence: 20 }).ok, true);
  // The watermark never moves back; a lower prune is a no-op.
  const lower = replica.apply({ type: 'prune', watermark: 2 }) as { pruned: number; watermark: number; repeated: boolean };
  assert.equal([lower.pruned, lower.watermark, lower.repeated], [0, 8, true]);
  assert.is(replica.apply({ type: 'prune', watermark: -1 } as unknown as CatalogCommand).ok, false, 'a bad watermark is a bad command');
  assert.is(replica.apply(JSON.stringify({ type: 'deduct', orderId: 'x', item: 1, amount: 1, sequence: 1.5 })).ok, false);
});

test('bounded dedupe: a backup\'s hold stops every prune until released or past its lease; the hold travels in images', () => {
  const replica = openReplica();
  for (let sequence = 1; sequence <= 6; sequence += 1) replica.apply({ type: 'deduct', orderId: `o-${sequence}`, item: 1, amount: 1, sequence });
  replica.apply({ type: 'prune', watermark: 3, nowMs: 1_000 });
  const hold = replica.apply({ type: 'holdPrunes', untilMs: 5_000 }) as { ok: boolean; untilMs: number; watermark: number };
  assert.equal([hold.ok, hold.untilMs, hold.watermark], [true, 5_000, 3], 'the hold says the watermark it found');
  for (const prune of [{ type: 'prune', watermark: 6, nowMs: 4_999 }, { type: 'prune', watermark: 6 }] as const) {
    const held = replica.apply(prune) as { ok: boolean; held?: boolean; pruned: number; watermark: number };
    assert.equal([held.ok, held.held, held.pruned, held.watermark], [true, true, 0, 3], `held: ${JSON.stringify(prune)}`);
  }
  assert.is(replica.machine.query({ type: 'deductWatermark' }), 3);
  assert.is(replica.machine.query({ type: 'deductsHeld' }), 4, 'o-3 to o-6 kept under the hold');
  // The hold is replicated state: a follower that installs an image keeps holding.
  const follower = openReplica();
  follower.database.transaction(() => follower.machine.restore(replica.machine.snapshot()))();
  assert.is((follower.apply({ type: 'prune', watermark: 6, nowMs: 10 }) as { held?: boolean }).held, true, 'held after an image');
  // Past the lease the prune applies; so it does once released.
  const late = replica.apply({ type: 'prune', watermark: 5, nowMs: 5_000 }) as { pruned: number; watermark: number; held?: boolean };
  assert.equal([late.pruned, late.watermark, late.held], [2, 5, undefined], 'a prune at the end of the lease applies');
  replica.apply({ type: 'holdPrunes', untilMs: 9_000_000 });
  assert.is((replica.apply({ type: 'prune', watermark: 6, nowMs: 6_000 }) as { held?: boolean }).held, true);
  replica.apply({ type: 'holdPrunes', untilMs: 0 });
  assert.is((replica.apply({ type: 'prune', watermark: 6, nowMs: 6_000 }) as { pruned: number }).pruned, 1, 'released');
  assert.is(replica.apply(JSON.stringify({ type: 'holdPrunes', untilMs: -1 })).ok, false, 'a bad lease is a bad command');
  assert.is(replica.apply(JSON.stringify({ type: 'prune', watermark: 7, nowMs: 'now' })).ok, false, 'a bad nowMs is a bad command');
});

test('bounded dedupe: the watermark and the records travel in images; a version-1 image restores without sequences', () => {
  const left = openReplica();
  left.apply({ type: 'deduct', orderId: 'a', item: 1, amount: 1, sequence: 1 });
  left.apply({ type: 'deduct', orderId: 'b', item: 1, amount: 1, sequence: 5 });
  left.apply({ type: 'prune', watermark: 3 });
  const right = openReplica();
  right.database.transaction(() => right.machine.restore(left.machine.snapshot()))();
  assert.is(right.machine.hash(), left.machine.hash());
  assert.is((right.apply({ type: 'deduct', orderId: 'a', item: 1, amount: 1, sequence: 1 }) as { reason?: string }).reason, 'settled');
  const image = JSON.parse(left.machine.snapshot()) as Record<string, unknown> & { deducts: unknown[][] };
  const version1 = JSON.stringify({ ...image, version: 1, deducts: image.deducts.map((row) => row.slice(0, 4)) });
  const old = openReplica();
  old.database.transaction(() => old.machine.restore(version1))();
  assert.is(old.machine.query({ type: 'deductsHeld' }), 1);
  assert.is((old.apply({ type: 'prune', watermark: 100 }) as { pruned: number }).pruned, 0, 'rows without a sequence are never pruned');
});

test.run();
