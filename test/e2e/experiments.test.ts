// The reference experiments, step by step, against a real `pygmy start` process: a remote then a cached lookup,
// list and search, the catalog leader stopped (a new leader is elected, uncached lookups and orders still work),
// the stopped replica started again (it catches up), and cache consistency after buying 6 of book 3.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { cluster, eventually, http, removeDataDir, startPygmy, type PygmyProcess } from '../support/pygmy-process.js';

const lookup1Body =
  '{"ok":true,"result":{"id":1,"name":"How to get a good grade in 677 in 20 minutes a day","stock":10,"price":19.9,"topic":1},"topics":[{"id":1,"name":"Distributed systems"}]}';
const lookup3Body =
  '{"ok":true,"result":{"id":3,"name":"Xen and the Art of Surviving Graduate School","stock":25,"price":9.9,"topic":2},"topics":[{"id":2,"name":"Graduate School"}]}';

const experiments = suite<{ pygmy: PygmyProcess | null }>('reference experiments', { pygmy: null });

experiments.before(async (context) => {
  // The demo's level: the per-request lines (a cache hit, an order, an invalidation) are part of the story.
  context.pygmy = await startPygmy({ env: { LOG_LEVEL: 'debug' } });
});

experiments.after(async (context) => {
  if (context.pygmy) {
    const code = await context.pygmy.stop();
    removeDataDir(context.pygmy.dataDir);
    assert.is(code, 0, 'pygmy start exits 0 on SIGTERM');
  }
});

experiments('the logs name the elected leaders in plain words', async ({ pygmy }) => {
  // Checks the demo's log: each group's leader announces itself as the reference system's logs did.
  await eventually('leader lines', async () => (/catalog-\d became leader for term \d+/.test(pygmy!.output()) && /order-\d became leader for term \d+/.test(pygmy!.output()) ? true : undefined));
});

experiments('a remote lookup, then a cached one, with the exact body bytes', async ({ pygmy }) => {
  // Checks MISS (served by a named catalog replica) then HIT, byte for byte the DESIGN.md body.
  const first = await http('GET', `${pygmy!.url}/lookup/1`);
  assert.is(first.status, 200);
  assert.is(first.text, lookup1Body);
  assert.is(first.headers.get('x-cache'), 'MISS');
  assert.match(first.headers.get('x-served-by') ?? '', /^catalog-[123]$/);
  assert.is(first.headers.get('content-type'), 'application/json');
  const second = await http('GET', `${pygmy!.url}/lookup/1`);
  assert.is(second.text, lookup1Body);
  assert.is(second.headers.get('x-cache'), 'HIT');
});

experiments('list and search answer as the contract says', async ({ pygmy }) => {
  // Checks the full list (all four items and both topics, by id) and a case-insensitive topic search.
  const list = (await http('GET', `${pygmy!.url}/lookup`)).json();
  assert.equal(list.result.map((item: { id: number }) => item.id), [1, 2, 3, 4]);
  assert.equal(list.topics, [{ id: 1, name: 'Distributed systems' }, { id: 2, name: 'Graduate School' }]);
  const search = (await http('GET', `${pygmy!.url}/search/SYS`)).json();
  assert.equal(search.result.map((item: { id: number }) => item.id), [1, 2]);
  assert.equal(search.topics, [{ id: 1, name: 'Distributed systems' }]);
  const none = await http('GET', `${pygmy!.url}/search/nothing-like-this`);
  assert.is(none.status, 200);
  assert.equal(none.json(), { ok: true, result: [], topics: [] });
});

experiments('stopping the catalog leader: a new leader, uncached lookups and orders still work', async ({ pygmy }) => {
  // Checks failover: stop the leader through the admin route (as `docker stop`), then expect another replica to
  // lead in a higher term, lookups of uncached items to be served by live replicas, and an order to succeed.
  const before = await cluster(pygmy!.url);
  const oldLeader = before.leaders.catalog!;
  const oldTerm = before.actors.find((actor) => actor.name === oldLeader)!.term!;
  assert.ok(oldLeader);
  const stopped = await http('POST', `${pygmy!.url}/admin/actors/${oldLeader}/stop`);
  assert.is(stopped.status, 200, stopped.text);
  const newLeader = await eventually('a new catalog leader', async () => {
    const view = await cluster(pygmy!.url);
    const leader = view.leaders.catalog;
    return leader && leader !== oldLeader ? view.actors.find((actor) => actor.name === leader)! : undefined;
  });
  assert.ok(newLeader.term! > oldTerm, 'the new leader is in a higher term');
  for (const id of [2, 4]) {
    const answer = await http('GET', `${pygmy!.url}/lookup/${id}`);
    assert.is(answer.status, 200, answer.text);
    assert.is(answer.headers.get('x-cache'), 'MISS');
    assert.is.not(answer.headers.get('x-served-by'), oldLeader);
  }
  const order = await http('POST', `${pygmy!.url}/order/2?amount=1`);
  assert.is(order.status, 200, order.text);
  assert.is(order.text, 'true');
  assert.ok(order.headers.get('x-order-id'));
  const started = await http('POST', `${pygmy!.url}/admin/actors/${oldLeader}/start`);
  assert.is(started.status, 200, started.text);
  await eventually('the restarted replica to catch up', async () => {
    const view = await cluster(pygmy!.url);
    const leader = view.actors.find((actor) => actor.name === view.leaders.catalog);
    const restarted = view.actors.find((actor) => actor.name === oldLeader)!;
    return restarted.alive && leader && restarted.lastApplied === leader.commitIndex ? true : undefined;
  });
});

experiments('cache consistency: buy 6 of book 3, the very next reads show 19', async ({ pygmy }) => {
  // Checks invalidation: warm the cache with book 3 (25 in stock), buy 6, then lookup, list and search must all
  // show 19 at once — never the cached 25.
  assert.is((await http('GET', `${pygmy!.url}/lookup/3`)).text, lookup3Body);
  assert.is((await http('GET', `${pygmy!.url}/lookup/3`)).headers.get('x-cache'), 'HIT');
  await http('GET', `${pygmy!.url}/lookup`);
  await http('GET', `${pygmy!.url}/search/graduate`);
  const order = await http('POST', `${pygmy!.url}/order/3?amount=6`);
  assert.is(order.text, 'true');
  const lookup = (await http('GET', `${pygmy!.url}/lookup/3`)).json();
  assert.is(lookup.result.stock, 19);
  const list = (await http('GET', `${pygmy!.url}/lookup`)).json();
  assert.is(list.result.find((item: { id: number }) => item.id === 3).stock, 19);
  const search = (await http('GET', `${pygmy!.url}/search/graduate`)).json();
  assert.is(search.result.find((item: { id: number }) => item.id === 3).stock, 19);
  assert.match(pygmy!.output(), /invalidate item 3 at index \d+/);
});

experiments.run();
