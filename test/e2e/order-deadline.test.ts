// An order whose answer is a 503 has a name and settles exactly once by its deadline (DESIGN.md §2.9), in a real
// cluster (one process, port 0, a 6 s order deadline): with the whole catalog group stopped the order is answered
// 503 with x-order-id and stays pending (total null); the catalog back before the deadline → the sweep buys it;
// back after it → it is fenced and rejected `timeout` and nothing is taken; the catalog flapping under several
// orders → each ends committed or rejected, the stock moves by exactly the committed amounts, and a repeat with
// the key answers the settled outcome. The same key on another request is 422.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { catalogMembers, startCluster, type RunningCluster } from '../../src/cluster/cluster.js';
import { createLogger } from '../../src/cli/logger.js';
import initialCatalog from '../../src/actors/catalog/initial.js';
import { eventually, http, makeDataDir, removeDataDir, sleep } from '../support/pygmy-process.js';

const orderDeadlineMs = 6_000;

interface StoredOrder {
  id: string;
  item: number;
  amount: number;
  total: number | null;
  status: string;
  reason: string | null;
}

async function catalogGroup(cluster: RunningCluster, action: 'stop' | 'start'): Promise<void> {
  for (const name of catalogMembers) await cluster.backend.actorAction(name, action);
}

async function stockOf(url: string, item: number): Promise<number> {
  const answer = await eventually(`a lookup of item ${item}`, async () => {
    const lookup = await http('GET', `${url}/lookup/${item}`);
    return lookup.status === 200 ? lookup : undefined;
  }, 15_000);
  return answer.json().result.stock as number;
}

async function orderOf(url: string, orderId: string): Promise<StoredOrder> {
  const answer = await http('GET', `${url}/orders/${orderId}`);
  assert.is(answer.status, 200, `GET /orders/${orderId}: ${answer.text}`);
  return answer.json().result as StoredOrder;
}

function settled(url: string, orderId: string, withinMs: number): Promise<StoredOrder> {
  return eventually(`order ${orderId} to settle`, async () => {
    const order = await orderOf(url, orderId).catch(() => undefined);
    return order !== undefined && order.status !== 'pending' ? order : undefined;
  }, withinMs, 100);
}

/** A 503 for an order taken while the catalog is stopped: it names the order, which is then pending. */
async function orderWhileCatalogDown(url: string, item: number, amount: number, key: string): Promise<void> {
  const answer = await http('POST', `${url}/order/${item}?amount=${amount}`, { headers: { 'idempotency-key': key } });
  assert.is(answer.status, 503, answer.text);
  assert.is(answer.headers.get('x-order-id'), key);
  assert.is(answer.json().outcome, 'unknown');
  const pending = await orderOf(url, key);
  assert.is(pending.status, 'pending');
  assert.is(pending.total, null);
}

test('503 → pending → settled: catalog back before the deadline, after it, and flapping', async () => {
  const dataDir = makeDataDir();
  const logger = createLogger({ level: 'warn', pretty: false, destination: { write: () => undefined } });
  // Item 5 sits near the stock bound (10^9), so that a restock of it is refused by the catalog.
  const catalog = { topics: initialCatalog.topics, items: [...initialCatalog.items, { id: 5, name: 'Full', stock: 999_999_999, price: 1, topic: 1 }] };
  const cluster = await startCluster({ host: '127.0.0.1', port: 0, dataDir, fresh: true, logger, catalog, orderDeadlineMs, requestDeadlineMs: 1_200, maxRestarts: 100,
    // Every step of a request fits inside its deadline (src/http/timeouts.ts); the saga gives up on the catalog first.
    timeouts: { sagaDeductMs: 1_000, cacheReadMs: 1_000, orderAttemptMs: 1_000 } });
  try {
    const url = cluster.url;
    // Refusals that say why, through the real catalog: 400 for the value, 409 for the conflict, 404 for the item.
    assert.is((await http('POST', `${url}/admin/items/3`, { body: '{"price":0.001}' })).status, 400);
    const conflict = await http('POST', `${url}/admin/items/5`, { body: '{"restock":5}' });
    assert.is(conflict.status, 409, conflict.text);
    assert.match(conflict.json().error, 'past 1000000000');
    assert.is((await http('POST', `${url}/admin/items/77`, { body: '{"restock":5}' })).status, 404);
    assert.is((await http('POST', `${url}/order/1?Amount=5`)).status, 400);
    const stock2 = await stockOf(url, 2);

    // Back before the deadline: the sweep finishes the saga and buys it, once.
    await catalogGroup(cluster, 'stop');
    const startedMs = Date.now();
    await orderWhileCatalogDown(url, 2, 2, 'before-deadline-1');
    await catalogGroup(cluster, 'start');
    assert.ok(Date.now() - startedMs < orderDeadlineMs, `the catalog came back ${Date.now() - startedMs} ms after the order: not before its deadline`);
    const bought = await settled(url, 'before-deadline-1', 15_000);
    assert.is(bought.status, 'committed');
    assert.is(bought.total, 59.8);
    assert.is(await stockOf(url, 2), stock2 - 2);
    const reused = await http('POST', `${url}/order/4?amount=1`, { headers: { 'idempotency-key': 'before-deadline-1' } });
    assert.is(reused.status, 422, reused.text);
    assert.equal(reused.json().firstRequest, { item: 2, amount: 2 });
    // Two requests with one key at once, another amount each: one is the order, the other is 422, never both true.
    const stock1 = await stockOf(url, 1);
    const racing = await Promise.all([1, 2].map((amount) => http('POST', `${url}/order/1?amount=${amount}`, { headers: { 'idempotency-key': 'racing-1' } })));
    assert.equal(racing.map((answer) => answer.status).sort(), [200, 422], racing.map((answer) => answer.text).join(' | '));
    const won = racing.find((answer) => answer.status === 200)!;
    const wonAmount = racing.indexOf(won) + 1;
    assert.is(won.text, 'true');
    assert.is(await stockOf(url, 1), stock1 - wonAmount);

    // Back after the deadline: fenced, rejected "timeout", nothing taken; a repeat answers false and buys nothing.
    await catalogGroup(cluster, 'stop');
    await orderWhileCatalogDown(url, 2, 3, 'after-deadline-1');
    await sleep(orderDeadlineMs + 1_500); // past the deadline, and past the saga's own deduct deadline (4 s)
    assert.is((await orderOf(url, 'after-deadline-1')).status, 'pending', 'nothing can settle while the catalog is stopped');
    await catalogGroup(cluster, 'start');
    const timedOut = await settled(url, 'after-deadline-1', 15_000);
    assert.is(timedOut.status, 'rejected');
    assert.is(timedOut.reason, 'timeout');
    assert.is(await stockOf(url, 2), stock2 - 2);
    const repeat = await http('POST', `${url}/order/2?amount=3`, { headers: { 'idempotency-key': 'after-deadline-1' } });
    assert.is(repeat.text, 'false');
    assert.is(repeat.headers.get('x-order-reason'), 'timeout', 'a false by the deadline says so: it is not a stock refusal');
    assert.is(await stockOf(url, 2), stock2 - 2);

    // Flapping: stop and start the catalog group while orders come in; all settle, and the stock agrees.
    const stock3 = await stockOf(url, 3);
    const keys: string[] = [];
    for (let round = 0; round < 4; round += 1) {
      await catalogGroup(cluster, 'stop');
      const key = `flap-${round}`;
      keys.push(key);
      await http('POST', `${url}/order/3?amount=1`, { headers: { 'idempotency-key': key } });
      await sleep(round * 700);
      await catalogGroup(cluster, 'start');
      await sleep(300);
    }
    let committed = 0;
    for (const key of keys) {
      const order = await settled(url, key, 20_000);
      if (order.status === 'committed') committed += 1;
      else assert.is(order.reason, 'timeout', `${key}: ${JSON.stringify(order)}`);
      const again = await http('POST', `${url}/order/3?amount=1`, { headers: { 'idempotency-key': key } });
      assert.is(again.text, order.status === 'committed' ? 'true' : 'false', key);
    }
    assert.is(await stockOf(url, 3), stock3 - committed);
  } finally {
    await cluster.close();
    removeDataDir(dataDir);
  }
});

test.run();
