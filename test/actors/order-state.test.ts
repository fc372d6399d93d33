// Tests of the order state machine on an in-memory SQLite database, applying commands inside transactions as a
// replica does: the saga's transitions, exactly-once creation, queries, snapshot and hash.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import Database from 'better-sqlite3';
import {
  encodeOrderCommand,
  OrderStateMachine,
  parseOrderQuery,
  type Order,
  type OrderCommand,
  type ItemPage,
  type OrderResult,
} from '../../src/actors/order/state.js';
import { assertAllBadCommands, openInMemory } from './in-memory-replica.js';

interface Replica {
  readonly database: Database.Database;
  readonly machine: OrderStateMachine;
  apply(command: OrderCommand | string): OrderResult;
}

const openDatabases: Database.Database[] = [];

function openReplica(): Replica {
  return openInMemory(new OrderStateMachine(), encodeOrderCommand, openDatabases);
}

function pending(orderId: string, item: number, amount: number, createdAt: number): OrderCommand {
  return { type: 'pending', orderId, item, amount, createdAt, deadlineAt: createdAt + 30_000 };
}

test.after(() => {
  for (const database of openDatabases) database.close();
});

test('pending creates an order shaped for the gateway, with keys in order', () => {
  // Creates one order and compares the serialized result, so key order and null total both count.
  const replica = openReplica();
  const result = replica.apply(pending('o1', 3, 2, 1000));
  assert.is(
    JSON.stringify(result),
    '{"ok":true,"order":{"id":"o1","item":3,"amount":2,"total":null,"status":"pending","createdAt":1000,"reason":null,"deadlineAt":31000,"sequence":1},"created":true}',
  );
  assert.is(JSON.stringify(replica.machine.query({ type: 'get', orderId: 'o1' })), JSON.stringify((result as { order: Order }).order));
  assert.is(replica.machine.query({ type: 'get', orderId: 'nope' }), null);
});

test('a repeated pending returns the existing order whatever its status and creates nothing', () => {
  // Repeats the same request (another createdAt) before and after commit; the stored order must not change.
  const replica = openReplica();
  replica.apply(pending('o1', 3, 2, 1000));
  const again = replica.apply(pending('o1', 3, 2, 2000)) as { order: Order; created: boolean };
  assert.is(again.created, false);
  assert.equal(again.order, { id: 'o1', item: 3, amount: 2, total: null, status: 'pending', createdAt: 1000, reason: null, deadlineAt: 31000, sequence: 1 });
  replica.apply({ type: 'committed', orderId: 'o1', total: 19.8 });
  const afterCommit = replica.apply(pending('o1', 3, 2, 1000)) as { order: Order; created: boolean };
  assert.is(afterCommit.created, false);
  assert.is(afterCommit.order.status, 'committed');
  assert.is(afterCommit.order.total, 19.8);
  assert.is((replica.machine.query({ type: 'byItem', item: 3 }) as Order[]).length, 1);
});

test('committed and rejected move a pending order once; repeats are no-ops; other moves are badCommand', () => {
  // Walks every transition of the saga and checks results and the stored order after each.
  const replica = openReplica();
  replica.apply(pending('a', 1, 1, 1));
  replica.apply(pending('b', 1, 1, 2));
  const committed = replica.apply({ type: 'committed', orderId: 'a', total: 19.9 }) as { order: Order; transitioned: boolean };
  assert.is(committed.transitioned, true);
  assert.equal(committed.order, { id: 'a', item: 1, amount: 1, total: 19.9, status: 'committed', createdAt: 1, reason: null, deadlineAt: 30001, sequence: 1 });
  const repeat = replica.apply({ type: 'committed', orderId: 'a', total: 5 }) as { order: Order; transitioned: boolean };
  assert.is(repeat.transitioned, false);
  assert.is(repeat.order.total, 19.9);
  const wrong = replica.apply({ type: 'rejected', orderId: 'a', reason: 'insufficient' });
  assert.equal(wrong.ok, false);
  assert.match((wrong as { detail: string }).detail, /committed; it cannot become rejected/);
  const rejected = replica.apply({ type: 'rejected', orderId: 'b', reason: 'insufficient' }) as { order: Order };
  assert.equal(rejected.order, { id: 'b', item: 1, amount: 1, total: null, status: 'rejected', createdAt: 2, reason: 'insufficient', deadlineAt: 30002, sequence: 2 });
  assert.is(replica.apply({ type: 'committed', orderId: 'b', total: 1 }).ok, false);
  assert.is((replica.machine.query({ type: 'get', orderId: 'b' }) as Order).status, 'rejected');
  assert.is(replica.apply({ type: 'committed', orderId: 'ghost', total: 1 }).ok, false);
});

test('malformed commands are badCommand results, never throws, and change nothing', () => {
  // Feeds broken JSON and wrong fields; each must be refused and the hash must not move.
  const replica = openReplica();
  const before = replica.machine.hash();
  const bad = [
    'garbage', '1', '{"type":"pending"}', '{"type":"pending","orderId":"x","item":0,"amount":1,"createdAt":1}',
    '{"type":"pending","orderId":"x","item":1,"amount":0,"createdAt":1}', '{"type":"pending","orderId":"x","item":1,"amount":1}',
    '{"type":"committed","orderId":"x","total":-1}', '{"type":"rejected","orderId":"x","reason":""}',
    '{"type":"shipped","orderId":"x"}', `{"type":"pending","orderId":"${'x'.repeat(200)}","item":1,"amount":1,"createdAt":1}`,
  ];
  assertAllBadCommands(replica, bad);
  assert.is(replica.machine.hash(), before);
  assert.equal(parseOrderQuery({ type: 'what' }), { ok: false, detail: 'unknown query type "what"' }, 'the replica refuses it as badQuery');
});

test('byItem, pendingPage, expired and committedTotals answer from the log', () => {
  // Builds orders over two items in mixed states and checks ordering by createdAt then id, and the sums.
  const replica = openReplica();
  replica.apply(pending('z', 1, 2, 5));
  replica.apply(pending('a', 1, 3, 5));
  replica.apply(pending('m', 1, 1, 1));
  replica.apply(pending('q', 2, 4, 3));
  replica.apply({ type: 'committed', orderId: 'z', total: 39.8 });
  replica.apply({ type: 'committed', orderId: 'a', total: 59.7 });
  replica.apply({ type: 'rejected', orderId: 'm', reason: 'insufficient' });
  const byItem = replica.machine.query({ type: 'byItem', item: 1 }) as Order[];
  assert.equal(byItem.map((order) => order.id), ['m', 'a', 'z']);
  assert.equal((replica.machine.query({ type: 'pendingPage', after: null, limit: 10 }) as Order[]).map((order) => order.id), ['q']);
  assert.equal(replica.machine.query({ type: 'committedTotals' }), [{ item: 1, amount: 5, orders: 2 }]);
  assert.equal(replica.machine.query({ type: 'byItem', item: 9 }), []);
});

test('a key belongs to one request: the same id with another item or amount is keyReused and changes nothing', () => {
  // Reuses one id for another item, then another amount, pending and then committed; each names the first order.
  const replica = openReplica();
  replica.apply(pending('k', 1, 1, 10));
  const before = replica.machine.hash();
  for (const [item, amount] of [[3, 1], [1, 5]] as const) {
    const reused = replica.apply(pending('k', item, amount, 20));
    assert.equal(reused, { ok: false, reason: 'keyReused', first: replica.machine.query({ type: 'get', orderId: 'k' }) });
  }
  assert.is(replica.machine.hash(), before);
  replica.apply({ type: 'committed', orderId: 'k', total: 19.9 });
  const afterCommit = replica.apply(pending('k', 3, 5, 30));
  assert.is(afterCommit.ok, false);
  assert.is((afterCommit as { first: Order }).first.status, 'committed');
});

test('a timeout rejection is refused before the deadline by the time in its own entry, and needs that time', () => {
  // deadlineAt 31000: a timeout at 30999 is badCommand, one without atMs is malformed, one at 31000 rejects.
  const replica = openReplica();
  replica.apply(pending('t', 1, 1, 1000));
  const early = replica.apply({ type: 'rejected', orderId: 't', reason: 'timeout', atMs: 30_999 });
  assert.is(early.ok, false);
  assert.match((early as { detail: string }).detail, /before its deadline 31000/);
  assert.is(replica.apply('{"type":"rejected","orderId":"t","reason":"timeout"}').ok, false);
  assert.is((replica.machine.query({ type: 'get', orderId: 't' }) as Order).status, 'pending');
  const late = replica.apply({ type: 'rejected', orderId: 't', reason: 'timeout', atMs: 31_000 }) as { order: Order };
  assert.is(late.order.status, 'rejected');
  assert.is(late.order.reason, 'timeout');
});

test('the sweep reads bounded pages: expired by deadline, and a cursor over the pending orders', () => {
  // Ten pending orders with deadlines 30001..30010: expired at 30005 with limit 3 gives the first three; pages of
  // four walk all ten once, in (createdAt, id) order, and a settled order drops out.
  const replica = openReplica();
  for (let index = 1; index <= 10; index += 1) replica.apply(pending(`p${String(index).padStart(2, '0')}`, 1, 1, index));
  const ids = (orders: unknown) => (orders as Order[]).map((order) => order.id);
  assert.equal(ids(replica.machine.query({ type: 'expired', nowMs: 30_005, limit: 3 })), ['p01', 'p02', 'p03']);
  assert.equal(ids(replica.machine.query({ type: 'expired', nowMs: 30_000, limit: 3 })), []);
  replica.apply({ type: 'committed', orderId: 'p02', total: 1 });
  const seen: string[] = [];
  let after: { createdAt: number; id: string } | null = null;
  for (let round = 0; round < 5; round += 1) {
    const page = replica.machine.query({ type: 'pendingPage', after, limit: 4 }) as Order[];
    seen.push(...ids(page));
    if (page.length < 4) break;
    after = { createdAt: page.at(-1)!.createdAt, id: page.at(-1)!.id };
  }
  assert.equal(seen, ['p01', 'p03', 'p04', 'p05', 'p06', 'p07', 'p08', 'p09', 'p10']);
  assert.is(parseOrderQuery({ type: 'expired', nowMs: 1, limit: 5_000 }).ok, false);
});

test('a database made before deadlines is migrated: pending orders get createdAt + 30 s', () => {
  // Creates the old table by hand with one pending row, opens the state machine on it, reads the deadline.
  const database = new Database(':memory:');
  openDatabases.push(database);
  database.exec(`CREATE TABLE order_orders (id TEXT PRIMARY KEY, item INTEGER NOT NULL, amount INTEGER NOT NULL, total REAL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'committed', 'rejected')), created_at INTEGER NOT NULL, reason TEXT) STRICT;
    INSERT INTO order_orders VALUES ('old', 1, 1, NULL, 'pending', 500, NULL);`);
  const machine = new OrderStateMachine();
  machine.open(database);
  assert.is((machine.query({ type: 'get', orderId: 'old' }) as Order).deadlineAt, 30_500);
});

test('same commands give the same hash, different commands a different one, and snapshots restore', () => {
  // Applies one list to two replicas (equal hashes), diverges them (different), then restores one from the other.
  const left = openReplica();
  const right = openReplica();
  const commands: OrderCommand[] = [pending('a', 1, 1, 10), pending('b', 2, 2, 11), { type: 'committed', orderId: 'a', total: 19.9 }];
  for (const command of commands) assert.equal(left.apply(command), right.apply(command));
  assert.is(left.machine.hash(), right.machine.hash());
  left.apply({ type: 'rejected', orderId: 'b', reason: 'insufficient' });
  right.apply({ type: 'committed', orderId: 'b', total: 59.8 });
  assert.is.not(left.machine.hash(), right.machine.hash());
  right.database.transaction(() => right.machine.restore(left.machine.snapshot()))();
  assert.is(right.machine.hash(), left.machine.hash());
  assert.is((right.machine.query({ type: 'get', orderId: 'b' }) as Order).status, 'rejected');
  assert.is((right.apply(pending('a', 1, 1, 10)) as { created: boolean }).created, false);
});

function itemPage(replica: Replica, item: number, after: ItemPage['next'], limit: number): ItemPage {
  return replica.machine.query({ type: 'itemPage', item, after, limit }) as ItemPage;
}

test('pages of an item: every order seen exactly once while orders are being added, in log order', () => {
  const replica = openReplica();
  let created = 0;
  const add = (item: number, createdAt: number) => replica.apply(pending(`o-${item}-${(created += 1)}`, item, 1, createdAt));
  for (let index = 0; index < 23; index += 1) add(1 + (index % 3), 1_000 + index);
  const seen: string[] = [];
  let after: ItemPage['next'] = null;
  let pages = 0;
  do {
    const page = itemPage(replica, 1, after, 3);
    assert.ok(page.orders.length <= 3);
    seen.push(...page.orders.map((order) => order.id));
    after = page.next;
    pages += 1;
    // Orders arrive between pages, some with a createdAt before everything listed so far (another gateway's clock).
    if (pages < 6 && after !== null) { add(1, 10); add(2, 10); add(1, 5_000); }
  } while (after !== null && pages < 100);
  const all = (replica.machine.query({ type: 'byItem', item: 1 }) as Order[]).map((order) => order.id);
  assert.is(new Set(seen).size, seen.length, 'no order listed twice');
  assert.equal([...seen].sort(), [...all].sort(), 'every order of the item listed, those added while paging too');
  assert.ok(pages >= 5, `${pages} pages`);
  const last = itemPage(replica, 1, null, 1_000);
  assert.is(last.next, null, 'one page holding everything has no next');
  assert.equal(last.orders.map((order) => order.id), seen, 'log order');
});

test('pages refuse a bad limit or cursor; a version-2 image restores with sequence 0, listed by id', () => {
  const replica = openReplica();
  for (const limit of [0, 1_001, 1.5, '3']) assert.is(parseOrderQuery({ type: 'itemPage', item: 1, after: null, limit }).ok, false, String(limit));
  assert.is(parseOrderQuery({ type: 'itemPage', item: 1, after: { sequence: -1, id: 'x' }, limit: 5 }).ok, false);
  assert.equal(parseOrderQuery({ type: 'itemPage', item: 1, limit: 5 }), { ok: true, query: { type: 'itemPage', item: 1, after: null, limit: 5 } }, 'no cursor is the first page');
  assert.is(parseOrderQuery({ type: 'pendingPage', after: { createdAt: 'x', id: 'a' }, limit: 5 }).ok, false);
  const image = JSON.stringify({ version: 2, orders: [['b', 1, 1, null, 'pending', 5, null, 30_005], ['a', 1, 1, null, 'pending', 9, null, 30_009]] });
  replica.database.transaction(() => replica.machine.restore(image))();
  replica.apply(pending('c', 1, 1, 1));
  assert.equal(itemPage(replica, 1, null, 10).orders.map((order) => order.id), ['a', 'b', 'c']);
  const first = itemPage(replica, 1, null, 1);
  assert.equal(itemPage(replica, 1, first.next, 10).orders.map((order) => order.id), ['b', 'c']);
});

test('the watermark: the lowest sequence of a pending order, else one past the highest', () => {
  const replica = openReplica();
  assert.is(replica.machine.query({ type: 'watermark' }), 1, 'no orders');
  replica.apply(pending('a', 1, 1, 1)); // sequence 1
  replica.apply(pending('b', 1, 1, 2)); // 2
  replica.apply(pending('c', 1, 1, 3)); // 3
  assert.is(replica.machine.query({ type: 'watermark' }), 1);
  replica.apply({ type: 'committed', orderId: 'a', total: 1 });
  assert.is(replica.machine.query({ type: 'watermark' }), 2);
  replica.apply({ type: 'rejected', orderId: 'c', reason: 'insufficient' });
  assert.is(replica.machine.query({ type: 'watermark' }), 2, 'b is still pending: nothing at or past it is settled for sure');
  replica.apply({ type: 'committed', orderId: 'b', total: 1 });
  assert.is(replica.machine.query({ type: 'watermark' }), 4, 'none pending: one past the highest');
});

test.run();
