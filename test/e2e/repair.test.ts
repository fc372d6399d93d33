// The repair of a wiped disk on a real `pygmy start`: catalog-3's database is deleted and it is started again
// (it refuses to vote and says so); `DELETE /admin/groups/catalog/members/catalog-3` removes it while orders
// flow; catalog-4 is added (a learner, then a voter) under a new name; every acknowledged order deducted its
// stock (0 lost), the removed database is kept under another name, a used name cannot come back. Prints the longest gap between acknowledged orders while the
// removal committed (the write gap of a membership change).
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { eventually, http, removeDataDir, sleep, startPygmy } from '../support/pygmy-process.js';

const admin = async (url: string, path: string) => {
  const answer = await http('POST', `${url}${path}`, {});
  assert.is(answer.status, 200, `${path}: ${answer.text}`);
};

test('wiped catalog-3: it refuses to vote, is removed while orders flow, and no acknowledged order is lost', async () => {
  let pygmy = await startPygmy({ args: ['--no-cache', '--replicas', '3'] });
  const dataDir = pygmy.dataDir;
  try {
    const url = pygmy.url;
    const stockOf = async () => (await http('GET', `${url}/lookup/2`, { timeoutMs: 8_000 })).json().result.stock as number;
    await http('POST', `${url}/admin/items/2`, { body: JSON.stringify({ restock: 1_000 }) });
    const stockBefore = await stockOf();
    await admin(url, '/admin/actors/catalog-3/stop');
    for (const file of readdirSync(pygmy.dataDir)) if (file.startsWith('catalog-3.db')) rmSync(join(pygmy.dataDir, file), { force: true });
    await admin(url, '/admin/actors/catalog-3/start');
    await eventually('catalog-3 says it will not vote', async () => (/catalog-3 will not vote: .*lost its disk/.test(pygmy.output()) ? true : undefined), 20_000);

    // Orders flow throughout; each acknowledged one is counted with the time it was acknowledged.
    const acknowledgedAtMs: number[] = [];
    /** Answers that say nothing for sure (a 503, a timeout): such an order may or may not have bought. */
    let ambiguous = 0;
    let ordering = true;
    const loopEndsAtMs = Date.now() + 60_000;
    const orders = (async () => {
      while (ordering && Date.now() < loopEndsAtMs) {
        const answer = await http('POST', `${url}/order/2?amount=1`, { timeoutMs: 10_000 }).catch(() => null);
        if (answer?.status === 200 && answer.json() === true) acknowledgedAtMs.push(performance.now());
        else {
          if (answer === null || answer.status >= 500) ambiguous += 1;
          await sleep(20);
        }
      }
    })();
    await sleep(500);
    const removeStartedMs = performance.now();
    const removed = await http('DELETE', `${url}/admin/groups/catalog/members/catalog-3`, { timeoutMs: 10_000 });
    const removeEndedMs = performance.now();
    assert.is(removed.status, 200, removed.text);
    assert.equal(removed.json().result.voters.sort(), ['catalog-1', 'catalog-2']);
    // Back to three voters under a new name: catalog-4 joins as a learner, catches up, and is promoted.
    const addStartedMs = performance.now();
    const added = await http('POST', `${url}/admin/groups/catalog/members`, { body: JSON.stringify({ name: 'catalog-4' }), timeoutMs: 10_000 });
    const addEndedMs = performance.now();
    assert.is(added.status, 200, added.text);
    assert.equal(added.json().result.voters.sort(), ['catalog-1', 'catalog-2', 'catalog-4']);
    assert.equal(added.json().result.learners, []);
    console.log(`repair: catalog-4 added and promoted in ${(addEndedMs - addStartedMs).toFixed(0)} ms`);
    const reused = await http('POST', `${url}/admin/groups/catalog/members`, { body: JSON.stringify({ name: 'catalog-3' }), timeoutMs: 10_000 });
    assert.is(reused.status, 409, `a used name was accepted: ${reused.text}`);
    await sleep(500);
    ordering = false;
    await orders;
    assert.ok(acknowledgedAtMs.length > 0, 'no order was acknowledged');
    const after = acknowledgedAtMs.filter((at) => at >= removeStartedMs);
    assert.ok(after.length > 0, 'no order was acknowledged after the removal');
    let gapMs = 0;
    for (let position = 1; position < acknowledgedAtMs.length; position += 1) {
      const [previous, next] = [acknowledgedAtMs[position - 1]!, acknowledgedAtMs[position]!];
      if (next >= removeStartedMs && previous <= removeEndedMs) gapMs = Math.max(gapMs, next - previous);
    }
    console.log(`repair: removal answered in ${(removeEndedMs - removeStartedMs).toFixed(0)} ms; longest gap between acknowledged orders around it ${gapMs.toFixed(0)} ms; ${acknowledgedAtMs.length} orders acknowledged, ${ambiguous} ambiguous`);
    const stockAfter = await stockOf();
    assert.ok(stockAfter <= stockBefore - acknowledgedAtMs.length, `an acknowledged order was lost: stock ${stockAfter}, ${acknowledgedAtMs.length} acknowledged from ${stockBefore}`);
    assert.ok(stockAfter >= stockBefore - acknowledgedAtMs.length - ambiguous, `more was bought than ordered: stock ${stockAfter}`);
    assert.ok(readdirSync(pygmy.dataDir).some((file) => file.startsWith('catalog-3.removed-') && file.endsWith('.db')), 'the removed database was not kept');
    assert.match(pygmy.output(), /catalog-3 removed from the catalog group/);

    // A restart on the same data dir runs the group the changes left: catalog-4, not the removed catalog-3.
    await pygmy.stop();
    pygmy = await startPygmy({ dataDir, args: ['--no-cache', '--replicas', '3'] });
    const restarted = (await http('GET', `${pygmy.url}/admin/groups/catalog/members`)).json().result;
    assert.equal([...restarted.voters].sort(), ['catalog-1', 'catalog-2', 'catalog-4']);
    const actors = (await http('GET', `${pygmy.url}/cluster`)).json().result.actors.map((actor: { name: string }) => actor.name);
    assert.ok(actors.includes('catalog-4') && !actors.includes('catalog-3'), `actors after the restart: ${actors.join(', ')}`);
    const order = await http('POST', `${pygmy.url}/order/2?amount=1`, { timeoutMs: 10_000 });
    assert.is(order.status, 200, `an order after the restart: ${order.text}`);
  } finally {
    await pygmy.stop();
    removeDataDir(dataDir);
  }
});

test.run();
