// The promises of DESIGN.md §2 through the HTTP API of a real `pygmy start` process: no oversell under 200
// concurrent orders, exactly-once with one Idempotency-Key sent 10 times at once, conservation per item,
// read-your-writes and monotonic reads through the gateway, and linearizable uncached reads on every replica.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { conservationAnomalies, type ItemLedger } from '../support/conservation.js';
import { http, stopAndRemove, startPygmy, type PygmyProcess } from '../support/pygmy-process.js';
import { allOrdersOfItem } from '../support/orders.js';

const initialStock: Record<number, number> = { 1: 10, 2: 20, 3: 25, 4: 15 };

const promises = suite<{ pygmy: PygmyProcess | null; restocked: Record<number, number> }>('promises', { pygmy: null, restocked: { 1: 0, 2: 0, 3: 0, 4: 0 } });

promises.before(async (context) => {
  context.pygmy = await startPygmy();
});

promises.after(async (context) => {
  await stopAndRemove(context.pygmy);
});

async function stockOf(url: string, item: number): Promise<number> {
  const answer = await http('GET', `${url}/lookup/${item}`);
  assert.is(answer.status, 200, answer.text);
  return answer.json().result.stock;
}

promises('the conservation checker reports a broken ledger', () => {
  // Proves the checker used below can fail: a lost order and an oversell are both reported.
  const broken: ItemLedger[] = [
    { item: 1, initialStock: 10, restocked: 0, committedAmounts: [3], stock: 10 },
    { item: 2, initialStock: 1, restocked: 0, committedAmounts: [1, 1], stock: -1 },
  ];
  const anomalies = conservationAnomalies(broken);
  assert.is(anomalies.length, 2 + 0, anomalies.join('\n'));
  assert.match(anomalies[1]!, /below zero/);
  assert.equal(conservationAnomalies([{ item: 1, initialStock: 10, restocked: 2, committedAmounts: [3, 4], stock: 5 }]), []);
});

promises('no oversell: 200 concurrent orders of one unit on 50 in stock → exactly 50 bought, stock 0', async (context) => {
  // Checks promise 2: restock book 2 from 20 to 50, fire 200 one-unit orders at once, count the trues.
  const url = context.pygmy!.url;
  const restock = await http('POST', `${url}/admin/items/2`, { body: JSON.stringify({ restock: 30 }), headers: { 'content-type': 'application/json' } });
  assert.is(restock.status, 200, restock.text);
  context.restocked[2]! += 30;
  assert.is(await stockOf(url, 2), 50);
  const answers = await Promise.all(Array.from({ length: 200 }, () => http('POST', `${url}/order/2?amount=1`, { timeoutMs: 30_000 })));
  const statuses = new Set(answers.map((answer) => answer.status));
  assert.equal([...statuses], [200], `every order answered 200: ${[...statuses].join(',')}`);
  assert.is(answers.filter((answer) => answer.text === 'true').length, 50);
  assert.is(answers.filter((answer) => answer.text === 'false').length, 150);
  assert.is(await stockOf(url, 2), 0);
});

promises('exactly once: one Idempotency-Key sent 10 times concurrently buys once', async (context) => {
  // Checks promise 3: ten identical requests with one key → one order in the log, stock down by its amount once.
  const url = context.pygmy!.url;
  const before = await stockOf(url, 4);
  const key = `test-key-${Date.now()}`;
  const answers = await Promise.all(
    Array.from({ length: 10 }, () => http('POST', `${url}/order/4?amount=2`, { headers: { 'idempotency-key': key }, timeoutMs: 30_000 })),
  );
  for (const answer of answers) {
    assert.is(answer.status, 200, answer.text);
    assert.is(answer.text, 'true');
    assert.is(answer.headers.get('x-order-id'), key);
  }
  assert.is(await stockOf(url, 4), before - 2);
  const orders = await allOrdersOfItem(url, 4);
  assert.is(orders.filter((order) => order.id === key).length, 1);
  const order = (await http('GET', `${url}/orders/${encodeURIComponent(key)}`)).json().result;
  assert.equal(Object.keys(order), ['id', 'item', 'amount', 'total', 'status', 'reason', 'createdAt']);
  assert.is(order.status, 'committed');
  assert.is(order.total, 61.8);
  const again = await http('POST', `${url}/order/4?amount=2`, { headers: { 'idempotency-key': key } });
  assert.is(again.text, 'true');
  assert.is(await stockOf(url, 4), before - 2, 'a later repeat does not buy again');
});

promises('read-your-writes and monotonic reads through the gateway', async (context) => {
  // Checks promise 5: with book 1 cached before each order, the lookup right after the order's answer shows the
  // new stock, and no read ever shows a higher stock than an earlier read (stock only goes down here).
  const url = context.pygmy!.url;
  let lastSeen = await stockOf(url, 1);
  while (lastSeen > 0) {
    await stockOf(url, 1);
    const bought = await http('POST', `${url}/order/1?amount=1`);
    assert.is(bought.text, 'true');
    const [direct, listed] = await Promise.all([stockOf(url, 1), http('GET', `${url}/lookup`)]);
    assert.is(direct, lastSeen - 1, 'the lookup right after the order shows it');
    assert.ok(listed.json().result[0].stock <= lastSeen - 1, 'the list right after the order shows it');
    lastSeen = direct;
  }
  assert.is((await http('POST', `${url}/order/1?amount=1`)).text, 'false', 'nothing left to buy');
});

promises('conservation holds for every item after all of the above', async (context) => {
  // Checks promise 4 on the live system: stock = initial + restocks − committed order amounts, per item.
  const url = context.pygmy!.url;
  const ledgers: ItemLedger[] = [];
  for (const item of [1, 2, 3, 4]) {
    const orders = await allOrdersOfItem(url, item);
    assert.ok(orders.every((order) => order.status !== 'pending'), 'no order left pending');
    ledgers.push({
      item,
      initialStock: initialStock[item]!,
      restocked: context.restocked[item]!,
      committedAmounts: orders.filter((order) => order.status === 'committed').map((order) => order.amount),
      stock: await stockOf(url, item),
    });
  }
  assert.equal(conservationAnomalies(ledgers), []);
});

promises.run();

const linearizable = suite<{ pygmy: PygmyProcess | null }>('linearizable uncached reads', { pygmy: null });

linearizable.before(async (context) => {
  context.pygmy = await startPygmy({ args: ['--no-cache'] });
});

linearizable.after(async (context) => {
  await stopAndRemove(context.pygmy);
});

linearizable('every replica answers with a write acknowledged before the read began', async (context) => {
  // Checks promise 6: with the cache off, reads rotate over all three replicas (followers included); after each
  // acknowledged restock, every following read — whichever replica serves it — shows it.
  const url = context.pygmy!.url;
  const servers = new Set<string>();
  let expected = 25;
  for (let round = 0; round < 15; round += 1) {
    const restock = await http('POST', `${url}/admin/items/3`, { body: JSON.stringify({ restock: 1 }), headers: { 'content-type': 'application/json' } });
    assert.is(restock.status, 200, restock.text);
    expected += 1;
    for (let read = 0; read < 3; read += 1) {
      const answer = await http('GET', `${url}/lookup/3`);
      assert.is(answer.headers.get('x-cache'), 'MISS');
      servers.add(answer.headers.get('x-served-by') ?? '');
      assert.is(answer.json().result.stock, expected, `read served by ${answer.headers.get('x-served-by')}`);
    }
  }
  assert.is(servers.size, 3, `reads were served by every replica: ${[...servers].join(',')}`);
});

linearizable.run();
