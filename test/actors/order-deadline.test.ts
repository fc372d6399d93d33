// The deadline race at the level of the two state machines, under a seeded scheduler: sagas' deducts (retried when
// an answer is lost), the sweep's aborts (only once the clock passes an order's deadline) and the order-log
// commands that follow each catalog answer are delivered in a random order, duplicated, and delayed. Whatever the
// order, every order settles exactly once and the order log agrees with the catalog: committed ⇔ the deduct took
// stock, rejected `timeout` ⇔ the abort came first. With the planted bug (reject without fencing) some seed breaks
// that agreement, so the checks can fail.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import Database from 'better-sqlite3';
import { encodeCatalogCommand, type CatalogCommand, type DeductResult, type StockRecord } from '../../src/actors/catalog/commands.js';
import initialCatalog from '../../src/actors/catalog/initial.js';
import { CatalogStateMachine } from '../../src/actors/catalog/state.js';
import { deadlineOf, deductCommand, expiryStep, settleCommand, type SagaFaults } from '../../src/actors/order/saga.js';
import { encodeOrderCommand, OrderStateMachine, type Order, type OrderCommand, type OrderResult } from '../../src/actors/order/state.js';
import { SeededRandom } from '../../src/raft/sim/random.js';

const openDatabases: Database.Database[] = [];
test.after(() => {
  for (const database of openDatabases) database.close();
});

function machines() {
  const catalogDatabase = new Database(':memory:');
  const orderDatabase = new Database(':memory:');
  openDatabases.push(catalogDatabase, orderDatabase);
  const catalog = new CatalogStateMachine(initialCatalog);
  catalog.open(catalogDatabase);
  const orders = new OrderStateMachine();
  orders.open(orderDatabase);
  let catalogIndex = 0;
  let orderIndex = 0;
  return {
    catalog,
    orders,
    applyCatalog: (command: CatalogCommand) => catalogDatabase.transaction(() => catalog.apply(encodeCatalogCommand(command), ++catalogIndex))() as DeductResult,
    applyOrder: (command: OrderCommand) => orderDatabase.transaction(() => orders.apply(encodeOrderCommand(command), ++orderIndex))() as OrderResult,
  };
}

type Message =
  | { readonly to: 'catalog'; readonly order: Order; readonly command: CatalogCommand; readonly fromSaga: boolean }
  | { readonly to: 'order'; readonly command: OrderCommand };

interface RaceReport {
  readonly problems: string[];
  readonly timeouts: number;
  /** Orders whose abort found a deduct already there (the deduct won the race after the deadline). */
  readonly deductWonAfterDeadline: number;
}

const deadlineMs = 100;

/** One seeded run of `orderCount` orders through the scheduler; returns what broke. */
function race(seed: number, faults: SagaFaults, orderCount = 30): RaceReport {
  const random = new SeededRandom(seed);
  const world = machines();
  let nowMs = 1_000;
  const inFlight: Message[] = [];
  const created: Order[] = [];
  let deductWonAfterDeadline = 0;
  const expiredSeen = new Set<string>();
  for (let index = 0; index < orderCount; index += 1) {
    const item = random.integer(1, 4);
    const createdAt = nowMs + random.integer(0, 150);
    const result = world.applyOrder({ type: 'pending', orderId: `o${index}`, item, amount: random.integer(1, 6), createdAt, deadlineAt: deadlineOf(createdAt, deadlineMs) });
    assert.ok(result.ok && 'created' in result);
    created.push(result.order);
    inFlight.push({ to: 'catalog', order: result.order, command: deductCommand(result.order), fromSaga: true });
  }
  const sweep = () => {
    for (const order of world.orders.query({ type: 'expired', nowMs, limit: 8 }) as Order[]) {
      const step = expiryStep(order, nowMs, faults);
      expiredSeen.add(order.id);
      inFlight.push(step.kind === 'fence' ? { to: 'catalog', order, command: step.command, fromSaga: false } : { to: 'order', command: step.command });
    }
  };
  for (let step = 0; step < 20_000 && (inFlight.length > 0 || (world.orders.query({ type: 'pendingPage', after: null, limit: 1 }) as Order[]).length > 0); step += 1) {
    const draw = random.next();
    if (draw < 0.15 || inFlight.length === 0) {
      nowMs += random.integer(1, 40);
      sweep();
      continue;
    }
    const position = random.integer(0, inFlight.length - 1);
    const message = inFlight[position]!;
    // Delivered, or delivered twice (a retry crossing its first try), or its answer lost (the sender tries again).
    const duplicate = random.chance(0.1);
    if (!duplicate) inFlight.splice(position, 1);
    if (message.to === 'order') {
      world.applyOrder(message.command);
      continue;
    }
    const result = world.applyCatalog(message.command);
    if (message.command.type === 'abort' && result.repeated && result.ok) deductWonAfterDeadline += 1;
    if (random.chance(0.2) && message.fromSaga) {
      inFlight.push(message);
      continue;
    }
    inFlight.push({ to: 'order', command: settleCommand(message.order, result, nowMs) });
  }
  const problems: string[] = [];
  let timeouts = 0;
  const stock = new Map((world.catalog.query({ type: 'stock' }) as StockRecord[]).map((record) => [record.id, record]));
  const sold = new Map<number, number>();
  for (const first of created) {
    const order = world.orders.query({ type: 'get', orderId: first.id }) as Order;
    const decided = world.catalog.query({ type: 'deductOutcome', orderId: first.id }) as DeductResult | null;
    if (order.status === 'pending') problems.push(`${order.id} still pending`);
    if (order.status === 'committed') sold.set(order.item, (sold.get(order.item) ?? 0) + order.amount);
    if (order.reason === 'timeout') timeouts += 1;
    if ((order.status === 'committed') !== (decided?.ok === true)) {
      problems.push(`${order.id} is ${order.status} (${order.reason}) but the catalog holds ${JSON.stringify(decided)}`);
    }
    if (order.reason === 'timeout' && (decided === null || decided.ok || decided.reason !== 'aborted') && faults.rejectWithoutFence !== true) {
      problems.push(`${order.id} timed out without the catalog's abort`);
    }
  }
  for (const [item, record] of stock) {
    if (record.initialStock - (sold.get(item) ?? 0) !== record.stock) problems.push(`item ${item}: ${record.initialStock} − ${sold.get(item) ?? 0} sold ≠ stock ${record.stock}`);
  }
  return { problems, timeouts, deductWonAfterDeadline };
}

test('deduct against abort, in any order, settles every order once and keeps the order log equal to the catalog', () => {
  // 200 seeds of 30 orders each; both sides of the race must happen somewhere, and no seed may break an invariant.
  let timeouts = 0;
  let deductWon = 0;
  for (let seed = 1; seed <= 200; seed += 1) {
    const report = race(seed, {});
    assert.equal(report.problems, [], `seed ${seed}: ${report.problems.join('; ')}`);
    timeouts += report.timeouts;
    deductWon += report.deductWonAfterDeadline;
  }
  assert.ok(timeouts > 0, 'no order ever timed out: the race was not exercised');
  assert.ok(deductWon > 0, 'no deduct ever won against an abort: the race was not exercised');
});

test('the planted bug (reject without fencing) is caught: a deduct buys an order the log rejected', () => {
  // The same scheduler with faults.rejectWithoutFence: some seed among the first 200 must show the disagreement.
  const failing = [];
  for (let seed = 1; seed <= 200 && failing.length === 0; seed += 1) {
    if (race(seed, { rejectWithoutFence: true }).problems.length > 0) failing.push(seed);
  }
  assert.ok(failing.length > 0, 'the bug went unnoticed in 200 seeds');
});

test('abort is idempotent and fences: a deduct after it is refused, an abort after a deduct repeats the deduct', () => {
  // Abort o1 then deduct it (refused, stock unchanged); deduct o2 then abort it (the abort answers the deduct).
  const world = machines();
  const stockBefore = (world.catalog.query({ type: 'stock' }) as StockRecord[])[0]!.stock;
  assert.equal(world.applyCatalog({ type: 'abort', orderId: 'o1', item: 1, amount: 2 }), { ok: false, reason: 'aborted', changed: [], repeated: false });
  assert.is(world.applyCatalog({ type: 'abort', orderId: 'o1', item: 1, amount: 2 }).repeated, true);
  const late = world.applyCatalog({ type: 'deduct', orderId: 'o1', item: 1, amount: 2 });
  assert.is(late.ok, false);
  assert.is((late as { reason: string }).reason, 'aborted');
  assert.is((world.catalog.query({ type: 'stock' }) as StockRecord[])[0]!.stock, stockBefore);
  const bought = world.applyCatalog({ type: 'deduct', orderId: 'o2', item: 1, amount: 2 });
  assert.is(bought.ok, true);
  const fence = world.applyCatalog({ type: 'abort', orderId: 'o2', item: 1, amount: 2 });
  assert.is(fence.ok, true);
  assert.is(fence.repeated, true);
  assert.is((world.catalog.query({ type: 'stock' }) as StockRecord[])[0]!.stock, stockBefore - 2);
});

test.run();
