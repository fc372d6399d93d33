// Promise 8 against a real `pygmy start --no-cache`: a replica whose database was deleted does not vote.
//
// The scenario: isolate catalog-1; restock item 1 by 100 (acknowledged, so durable on catalog-2 and catalog-3);
// stop catalog-3 and delete its database; stop catalog-2; heal catalog-1; start catalog-3. Now catalog-1 (which
// never saw the restock) and the wiped catalog-3 are the only catalog replicas up. Were catalog-3 to vote, it
// would elect catalog-1 and the group would answer stock 10 — an acknowledged write lost. The test reads
// item 1 for six seconds: each answer must be a 503 or show the restocked stock, never the old one; the wiped
// replica must log why it does not vote; and once catalog-2 is back the group answers with the restock.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { eventually, http, removeDataDir, sleep, startPygmy } from '../support/pygmy-process.js';

const admin = async (url: string, path: string, body?: unknown) => {
  const answer = await http('POST', `${url}${path}`, body === undefined ? {} : { body: JSON.stringify(body) });
  assert.is(answer.status, 200, `${path}: ${answer.text}`);
};

function deleteDatabase(dataDir: string, name: string): void {
  for (const file of readdirSync(dataDir)) {
    if (file.startsWith(`${name}.db`)) rmSync(join(dataDir, file), { force: true });
  }
}

test('a replica whose database was deleted does not vote: reads never show the pre-restock stock', async () => {
  const pygmy = await startPygmy({ args: ['--no-cache'] });
  try {
    const url = pygmy.url;
    await admin(url, '/admin/actors/catalog-1/isolate');
    await eventually('a restock acknowledged without catalog-1', async () => {
      const answer = await http('POST', `${url}/admin/items/1`, { body: JSON.stringify({ restock: 100 }), timeoutMs: 6_000 });
      return answer.status === 200 ? true : undefined;
    }, 20_000, 200);
    const restocked = (await http('GET', `${url}/lookup/1`)).json().result.stock as number;
    assert.is(restocked, 110, 'the restock is visible before the faults');
    await admin(url, '/admin/actors/catalog-3/stop');
    deleteDatabase(pygmy.dataDir, 'catalog-3');
    await admin(url, '/admin/actors/catalog-2/stop');
    await admin(url, '/admin/actors/catalog-1/heal');
    await admin(url, '/admin/actors/catalog-3/start');
    const seen = new Map<string, number>();
    const until = Date.now() + 6_000;
    while (Date.now() < until) {
      const answer = await http('GET', `${url}/lookup/1`, { timeoutMs: 8_000 });
      const shown = answer.status === 200 ? `stock ${answer.json().result.stock}` : `status ${answer.status}`;
      seen.set(shown, (seen.get(shown) ?? 0) + 1);
      if (answer.status === 200) assert.is(answer.json().result.stock, 110, `a read after the faults showed ${shown}`);
      else assert.is(answer.status, 503, `a read after the faults answered ${answer.status}: ${answer.text}`);
      await sleep(100);
    }
    assert.ok(seen.size > 0);
    assert.match(pygmy.output(), /catalog-3 will not vote: .*lost its disk/);
    await admin(url, '/admin/actors/catalog-2/start');
    await eventually('the group answers with the restock once catalog-2 is back', async () => {
      const answer = await http('GET', `${url}/lookup/1`, { timeoutMs: 6_000 });
      return answer.status === 200 ? answer.json().result.stock as number : undefined;
    }, 20_000, 200).then((stock) => assert.is(stock, 110));
    const order = await http('POST', `${url}/order/1?amount=1`, { timeoutMs: 10_000 });
    assert.is(order.status, 200, `the group still takes orders: ${order.text}`);
  } finally {
    await pygmy.stop();
    removeDataDir(pygmy.dataDir);
  }
});

test.run();
