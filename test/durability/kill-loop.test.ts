// Durability under repeated crashes: 20 times in a row on the same data dir, a stream of orders (idempotency keys)
// runs against a real `pygmy start`, which is killed with SIGKILL at a random moment (seeded); after each restart
// every order acknowledged so far is in the order log with its outcome, nothing stays pending, and conservation
// holds for every item (initial stock + restocks − committed amounts = stock).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { makeDataDir, removeDataDir, http, eventually, startPygmy, type PygmyProcess } from '../../src/check/process.js';
import { SeededRandom } from '../../src/raft/sim/random.js';

const initialStock: Record<number, number> = { 1: 10, 2: 20, 3: 25, 4: 15 };
const restockEach = 2_000;
const crashes = 20;

interface Acknowledged {
  readonly key: string;
  readonly bought: boolean;
}

async function stream(url: string, stopped: () => boolean, prefix: string): Promise<Acknowledged[]> {
  const acknowledged: Acknowledged[] = [];
  for (let sequence = 0; !stopped() && sequence < 5_000; sequence += 1) {
    const key = `${prefix}-${sequence}`;
    try {
      const answer = await http('POST', `${url}/order/${1 + (sequence % 4)}?amount=${1 + (sequence % 3)}`, { headers: { 'idempotency-key': key }, timeoutMs: 4_000 });
      if (answer.status === 200) acknowledged.push({ key, bought: answer.text === 'true' });
    } catch {
      return acknowledged; // killed under us: the outcome of this one is unknown, which is allowed
    }
  }
  return acknowledged;
}

async function verify(url: string, acknowledged: readonly Acknowledged[], round: number): Promise<void> {
  const orders = await eventually(`round ${round}: no order left pending`, async () => {
    const all: Array<{ id: string; amount: number; status: string; item: number }> = [];
    for (const item of [1, 2, 3, 4]) {
      const page = (await http('GET', `${url}/orders?item=${item}&limit=1000`)).json();
      assert.is(page.next, null, 'one page holds every order of the item');
      all.push(...page.result);
    }
    return all.some((order) => order.status === 'pending') ? undefined : all;
  }, 15_000, 200);
  const status = new Map(orders.map((order) => [order.id, order.status]));
  for (const order of acknowledged) {
    assert.is(status.get(order.key), order.bought ? 'committed' : 'rejected', `round ${round}: acknowledged order ${order.key}`);
  }
  for (const item of [1, 2, 3, 4]) {
    const stock = (await http('GET', `${url}/lookup/${item}`)).json().result.stock as number;
    const sold = orders.filter((order) => order.item === item && order.status === 'committed').reduce((sum, order) => sum + order.amount, 0);
    assert.is(stock, initialStock[item]! + restockEach - sold, `round ${round}: conservation of item ${item}`);
    assert.ok(stock >= 0, `round ${round}: item ${item} not oversold`);
  }
}

test(`${crashes} kill -9 in a row on one data dir: acknowledged orders survive, conservation holds each time`, async () => {
  const dataDir = makeDataDir('pygmy-durability-');
  const random = new SeededRandom(2024);
  let pygmy: PygmyProcess | null = null;
  const acknowledged: Acknowledged[] = [];
  try {
    pygmy = await startPygmy({ dataDir });
    for (const item of [1, 2, 3, 4]) {
      assert.is((await http('POST', `${pygmy.url}/admin/items/${item}`, { body: JSON.stringify({ restock: restockEach }) })).status, 200);
    }
    for (let round = 1; round <= crashes; round += 1) {
      let killed = false;
      const streams = Array.from({ length: 4 }, (_, client) => stream(pygmy!.url, () => killed, `r${round}c${client}`));
      await new Promise((resolve) => setTimeout(resolve, random.integer(200, 900)));
      killed = true;
      await pygmy.kill();
      acknowledged.push(...(await Promise.all(streams)).flat());
      pygmy = await startPygmy({ dataDir });
      await verify(pygmy.url, acknowledged, round);
    }
    assert.ok(acknowledged.length > crashes * 5, `orders acknowledged across the crashes: ${acknowledged.length}`);
  } finally {
    await pygmy?.stop();
    removeDataDir(dataDir);
  }
});

test.run();
