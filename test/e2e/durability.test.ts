// Durability and exactly-once under crashes, against real `pygmy start` processes:
// - kill -9 of the whole process during a stream of orders: after a restart on the same data dir every
//   acknowledged order is in the order log with its outcome, nothing stays pending, and conservation holds;
// - the order leader killed between the deduct and the final commit (the saga's hold widens that window): the
//   next leader completes the order exactly once.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { conservationAnomalies } from '../support/conservation.js';
import { cluster, eventually, http, makeDataDir, removeDataDir, sleep, startPygmy, type PygmyProcess } from '../support/pygmy-process.js';
import { allOrdersOfItem } from '../support/orders.js';

const initialStock: Record<number, number> = { 1: 10, 2: 20, 3: 25, 4: 15 };
const restockEach = 200;

interface Acknowledged {
  readonly key: string;
  readonly item: number;
  readonly amount: number;
  readonly bought: boolean;
}

async function orderStream(url: string, until: () => boolean, clientId: number): Promise<Acknowledged[]> {
  const acknowledged: Acknowledged[] = [];
  for (let sequence = 0; !until() && sequence < 10_000; sequence += 1) {
    const item = 1 + ((clientId + sequence) % 4);
    const amount = 1 + (sequence % 3);
    const key = `c${clientId}-${sequence}`;
    try {
      const answer = await http('POST', `${url}/order/${item}?amount=${amount}`, { headers: { 'idempotency-key': key }, timeoutMs: 5_000 });
      if (answer.status === 200) acknowledged.push({ key, item, amount, bought: answer.text === 'true' });
    } catch {
      return acknowledged; // the process died under us: this order's outcome is unknown, which is allowed
    }
  }
  return acknowledged;
}

async function ledgerAnomalies(url: string, restocked: number): Promise<string[]> {
  const ledgers = [];
  for (const item of [1, 2, 3, 4]) {
    const orders = await allOrdersOfItem(url, item);
    const stock = (await http('GET', `${url}/lookup/${item}`)).json().result.stock as number;
    ledgers.push({
      item,
      initialStock: initialStock[item]!,
      restocked,
      committedAmounts: orders.filter((order) => order.status === 'committed').map((order) => order.amount),
      stock,
    });
  }
  return conservationAnomalies(ledgers);
}

test('kill -9 during a stream of orders: every acknowledged order survives, conservation holds', async () => {
  // Runs 6 concurrent clients ordering with idempotency keys, kills the whole process with SIGKILL mid-stream,
  // restarts it on the same data, and checks every acknowledged order's outcome, then conservation per item.
  const dataDir = makeDataDir();
  let pygmy: PygmyProcess | null = null;
  try {
    pygmy = await startPygmy({ dataDir });
    for (const item of [1, 2, 3, 4]) {
      const restock = await http('POST', `${pygmy.url}/admin/items/${item}`, { body: JSON.stringify({ restock: restockEach }) });
      assert.is(restock.status, 200, restock.text);
    }
    let killed = false;
    const streams = Array.from({ length: 6 }, (_, clientId) => orderStream(pygmy!.url, () => killed, clientId));
    await sleep(1_500);
    killed = true;
    await pygmy.kill();
    const acknowledged = (await Promise.all(streams)).flat();
    assert.ok(acknowledged.length > 20, `enough orders were acknowledged before the crash (${acknowledged.length})`);
    pygmy = await startPygmy({ dataDir });
    const url = pygmy.url;
    for (const order of acknowledged) {
      const stored = await http('GET', `${url}/orders/${order.key}`);
      assert.is(stored.status, 200, `acknowledged order ${order.key} is in the log`);
      assert.is(stored.json().result.status, order.bought ? 'committed' : 'rejected', `order ${order.key}`);
    }
    await eventually('no order left pending', async () => {
      for (const item of [1, 2, 3, 4]) {
        const orders = await allOrdersOfItem(url, item);
        if (orders.some((order) => order.status === 'pending')) return undefined;
      }
      return true;
    }, 15_000, 200);
    assert.equal(await ledgerAnomalies(url, restockEach), []);
  } finally {
    await pygmy?.stop();
    removeDataDir(dataDir);
  }
});

test('a graceful stop and a second start on the same data dir continue where it stopped', async () => {
  // Stops with SIGTERM (exit code 0: flushed, databases closed), starts again on the same data, and checks that
  // stock, price and every order are as they were, that replicas reloaded their logs, and that orders go on.
  const dataDir = makeDataDir();
  let pygmy: PygmyProcess | null = null;
  try {
    pygmy = await startPygmy({ dataDir });
    assert.is((await http('POST', `${pygmy.url}/admin/items/4`, { body: JSON.stringify({ price: 12.5 }) })).status, 200);
    const bought = await http('POST', `${pygmy.url}/order/4?amount=3`, { headers: { 'idempotency-key': 'before-restart' } });
    assert.is(bought.text, 'true');
    assert.is(await pygmy.stop(), 0, 'SIGTERM stops it cleanly');
    pygmy = await startPygmy({ dataDir });
    assert.match(pygmy.output(), /catalog-\d loaded from disk: term [1-9]\d*, applied [1-9]/);
    const item = (await http('GET', `${pygmy.url}/lookup/4`)).json().result;
    assert.is(item.stock, 12);
    assert.is(item.price, 12.5);
    const order = (await http('GET', `${pygmy.url}/orders/before-restart`)).json().result;
    assert.is(order.status, 'committed');
    assert.is(order.total, 37.5);
    const repeat = await http('POST', `${pygmy.url}/order/4?amount=3`, { headers: { 'idempotency-key': 'before-restart' } });
    assert.is(repeat.text, 'true');
    assert.is((await http('GET', `${pygmy.url}/lookup/4`)).json().result.stock, 12, 'the repeat after a restart buys nothing');
    assert.is((await http('POST', `${pygmy.url}/order/4?amount=2`)).text, 'true');
    assert.is((await http('GET', `${pygmy.url}/lookup/4`)).json().result.stock, 10);
  } finally {
    await pygmy?.stop();
    removeDataDir(dataDir);
  }
});

test('the order leader killed between deduct and commit: the next leader completes the order once', async () => {
  // Holds every saga 1 s after its deduct, kills the order leader inside that window, and checks that the
  // client's order still answers true, is committed once, and the stock went down by its amount exactly once.
  const pygmy = await startPygmy({ args: ['--hold-after-deduct-ms', '1000'] });
  try {
    const url = pygmy.url;
    const before = (await http('GET', `${url}/lookup/3`)).json().result.stock as number;
    const leader = (await cluster(url)).leaders.order!;
    const key = 'saga-crash-1';
    const ordering = http('POST', `${url}/order/3?amount=4`, { headers: { 'idempotency-key': key }, timeoutMs: 20_000 });
    await eventually('the deduct to be applied', async () => {
      const view = await cluster(url);
      const catalogLeader = view.actors.find((actor) => actor.name === view.leaders.catalog);
      return catalogLeader && catalogLeader.commitIndex! >= 2 ? true : undefined;
    });
    const killed = await http('POST', `${url}/admin/actors/${leader}/kill`);
    assert.is(killed.status, 200, killed.text);
    const answer = await ordering;
    assert.is(answer.status, 200, answer.text);
    assert.is(answer.text, 'true');
    const order = (await http('GET', `${url}/orders/${key}`)).json().result;
    assert.is(order.status, 'committed');
    assert.is((await http('GET', `${url}/lookup/3`)).json().result.stock, before - 4);
    const orders = await allOrdersOfItem(url, 3);
    assert.is(orders.filter((stored) => stored.id === key).length, 1);
    const view = await cluster(url);
    assert.is.not(view.leaders.order, leader, 'another replica leads the order group');
    assert.ok(view.actors.find((actor) => actor.name === leader)!.restarts >= 1, 'the supervisor restarted the killed leader');
    assert.match(pygmy.output(), new RegExp(`supervisor restarted ${leader}`));
  } finally {
    await pygmy.stop();
    removeDataDir(pygmy.dataDir);
  }
});

test.run();
