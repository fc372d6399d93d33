// Actors restarted by the supervisor after the catalog group was replaced, on `pygmy start`'s cluster (in-process).
// catalog-4..6 are added and catalog-1..3 removed (the runbook's repair, every member once); the store sells.
// Then every order replica is killed in turn (`POST /admin/actors/order-N/kill`), or the cache actor is, and the
// supervisor restarts each. The store must still sell and read: a restarted actor has to reach the catalog group
// as it is now. Shows that today each starts with the catalog members its spec was made with at start-up
// (catalog-1..3, all removed): every order is answered 503 "outcome unknown", every cache miss 503, until the
// whole process restarts. (They now learn the catalog's configuration from their peers and the replicas' answers.)
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { withInProcessCluster } from '../support/in-process-cluster.js';
import { changeMembers } from '../support/membership-change.js';
import { eventually, http } from '../support/pygmy-process.js';

const membersPath = '/admin/groups/catalog/members';

/** catalog-4..6 added, catalog-1..3 removed; the store sells once it is done. */
async function replaceCatalog(url: string): Promise<void> {
  for (const name of ['catalog-4', 'catalog-5', 'catalog-6']) await changeMembers(url, 'POST', membersPath, JSON.stringify({ name }));
  for (const name of ['catalog-1', 'catalog-2', 'catalog-3']) await changeMembers(url, 'DELETE', `${membersPath}/${name}`);
  const replaced = (await http('GET', `${url}${membersPath}`)).json().result;
  assert.equal([...replaced.voters].sort(), ['catalog-4', 'catalog-5', 'catalog-6']);
  assert.is((await http('POST', `${url}/order/1?amount=1`, { timeoutMs: 10_000 })).text, 'true', 'an order once the catalog was replaced');
}

test('order replicas restarted after the catalog group was replaced still reach it', () => withInProcessCluster(async (cluster) => {
  const url = cluster.url;
  await replaceCatalog(url);

  for (const name of ['order-1', 'order-2', 'order-3']) {
    const killed = await http('POST', `${url}/admin/actors/${name}/kill`);
    assert.is(killed.status, 200, `kill ${name}: ${killed.text}`);
    await eventually(`${name} restarted`, async () => {
      const view = await http('GET', `${url}/cluster`);
      const actor = view.json().result.actors.find((entry: { name: string }) => entry.name === name);
      return actor?.alive === true && actor.restarts >= 1 ? true : undefined;
    }, 15_000, 100);
  }
  await eventually('an order leader', async () => ((await http('GET', `${url}/cluster`)).json().result.leaders.order ?? undefined), 15_000, 100);

  // The same order, its key repeated after a 503 (never buys twice), a few times.
  const key = `after-restarts-${process.pid}`;
  let answer = await http('POST', `${url}/order/2?amount=1`, { headers: { 'idempotency-key': key }, timeoutMs: 15_000 });
  for (let again = 1; answer.status === 503 && again <= 3; again += 1) {
    answer = await http('POST', `${url}/order/2?amount=1`, { headers: { 'idempotency-key': key }, timeoutMs: 15_000 });
  }
  assert.is(answer.text, 'true', `an order after the order replicas restarted: ${answer.status} ${answer.text}`);
}));

test('the cache actor restarted after the catalog group was replaced still reads from it', () => withInProcessCluster(async (cluster) => {
  const url = cluster.url;
  await replaceCatalog(url);
  assert.is((await http('GET', `${url}/lookup/2`)).status, 200, 'a lookup once the catalog was replaced');
  const killed = await http('POST', `${url}/admin/actors/cache/kill`);
  assert.is(killed.status, 200, `kill cache: ${killed.text}`);
  await eventually('the cache restarted', async () => {
    const actor = (await http('GET', `${url}/cluster`)).json().result.actors.find((entry: { name: string }) => entry.name === 'cache');
    return actor?.alive === true && actor.restarts >= 1 ? true : undefined;
  }, 15_000, 100);
  // A miss goes through the cache actor to the catalog group: a few tries, well inside the time a lookup needs.
  const lookup = await eventually('a lookup after the cache restarted', async () => {
    const answer = await http('GET', `${url}/lookup/3`);
    return answer.status === 200 ? answer : undefined;
  }, 15_000, 250).catch((error: unknown) => error as Error);
  assert.ok(!(lookup instanceof Error), `lookups after the cache restarted: ${String(lookup)}`);
}));

test.run();
