// The cache follows the catalog group's live configuration, on `pygmy start`'s cluster: the catalog grows from 3
// to 6 (catalog-4..6 added and promoted) and the bootstrap members catalog-1..3 are removed, so none of the
// members the cache was started with is left. Past the cache's lease (3 s) lookups must still be served (reads
// from the new members) and be hits (the lease renewed by the new leader); a restock proposed straight to the new
// leader, not through the gateway (so no read-your-writes invalidation of its own), must reach the cache as the
// leader's invalidation. Fails if the cache keeps the member list it was started with.
// Then the clients nobody tells of a change: a group client made from the bootstrap names only (as a second
// gateway's), reading while the catalog grows to 5 and loses catalog-1..3, must still read and propose; and order
// replicas restarted afterwards (started from their bootstrap catalog list) must still get orders bought. And a
// client of the order group that only places orders (leader-only requests) follows that group onto order-4/5.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { encodeCatalogCommand, type CatalogMachine } from '../../src/actors/catalog/commands.js';
import type { OrderCalls } from '../../src/actors/order/actor.js';
import type { OrderMachine } from '../../src/actors/order/state.js';
import { catalogMembers, orderMembers, type RunningCluster } from '../../src/cluster/cluster.js';
import { GroupClient, type LeaderCalls } from '../../src/raft/client.js';
import type { AnyStateMachine } from '../../src/raft/state-machine.js';
import { isRuntimeError } from '../../src/runtime/errors.js';
import { withInProcessCluster } from '../support/in-process-cluster.js';
import { changeMembers } from '../support/membership-change.js';
import { eventually, http, sleep } from '../support/pygmy-process.js';

async function lookup(url: string, item: number): Promise<{ stock: number; cache: string | null }> {
  const answer = await http('GET', `${url}/lookup/${item}`, { timeoutMs: 10_000 });
  assert.is(answer.status, 200, answer.text);
  return { stock: answer.json().result.stock as number, cache: answer.headers.get('x-cache') };
}

/** A client of `group` made by the test from the names given, as another gateway's: nobody calls its setMembers. */
function clientOf<Machine extends AnyStateMachine, Calls extends LeaderCalls = LeaderCalls>(cluster: RunningCluster, group: string, members: readonly string[]) {
  return new GroupClient<Machine, Calls>({
    group, members,
    ask: (target, message, timeoutMs) => cluster.system.ask(target, message, { timeoutMs }),
    isUnavailable: (error) => isRuntimeError(error, 'ACTOR_UNAVAILABLE'),
    attemptTimeoutMs: 2_000,
  });
}

/**
 * Moves `group` onto `-4` and `-5` as the "replace every host" story does (two adds, then the three bootstrap members
 * removed), while `call` runs every 50 ms as a gateway's traffic would; answers how many calls succeeded meanwhile.
 */
async function moveGroupWhileCalling(url: string, group: 'catalog' | 'order', call: () => Promise<unknown>): Promise<number> {
  let calling = true;
  let succeeded = 0;
  const traffic = (async () => {
    while (calling) {
      await call().then(() => { succeeded += 1; }, () => undefined);
      await sleep(50);
    }
  })();
  try {
    for (const name of [`${group}-4`, `${group}-5`]) await changeMembers(url, 'POST', `/admin/groups/${group}/members`, JSON.stringify({ name }));
    for (const name of [`${group}-1`, `${group}-2`, `${group}-3`]) await changeMembers(url, 'DELETE', `/admin/groups/${group}/members/${name}`);
  } finally {
    calling = false;
    await traffic;
  }
  return succeeded;
}

test('with every bootstrap catalog member replaced, the cache reads from, renews its lease with and hears the new ones', () => withInProcessCluster(async (cluster) => {
  const url = cluster.url;
  for (const name of ['catalog-4', 'catalog-5', 'catalog-6']) await changeMembers(url, 'POST', '/admin/groups/catalog/members', JSON.stringify({ name }));
  for (const name of ['catalog-1', 'catalog-2', 'catalog-3']) await changeMembers(url, 'DELETE', `/admin/groups/catalog/members/${name}`);
  const members = await eventually('a leader among the new members', async () => {
    const view = (await http('GET', `${url}/admin/groups/catalog/members`)).json();
    return view.ok && view.result.leader !== null && view.result.voters.includes(view.result.leader) ? view.result : undefined;
  }, 20_000);
  assert.equal(members.voters, ['catalog-4', 'catalog-5', 'catalog-6']);
  await sleep(3_500); // past the cache's lease: only contact with the new leader keeps it serving hits
  const first = await lookup(url, 1);
  const second = await eventually('a cache hit on the new members', async () => {
    const read = await lookup(url, 1);
    return read.cache === 'HIT' ? read : undefined;
  }, 10_000);
  assert.is(second.stock, first.stock);

  const command = encodeCatalogCommand({ type: 'restock', requestId: `follow-${process.pid}`, item: 1, amount: 7 });
  // To the leader as the group names it now (with 20 ms ticks a busy machine may have moved it since); the restock is
  // idempotent by its request id, so sending it again is safe.
  await eventually('the restock taken by the catalog leader', async () => {
    const leader = (await http('GET', `${url}/admin/groups/catalog/members`)).json().result.leader as string | null;
    if (leader === null) return undefined;
    const proposed = await cluster.system.ask<{ ok: boolean }>(leader, { type: 'propose', data: command }, { timeoutMs: 5_000 });
    return proposed.ok ? proposed : undefined;
  }, 10_000, 100);
  const after = await eventually('the new leader\'s invalidation at the cache', async () => {
    const read = await lookup(url, 1);
    return read.stock === first.stock + 7 ? read : undefined;
  }, 5_000);
  assert.is(after.stock, first.stock + 7);
}));

test('a client given only the bootstrap members, and restarted order replicas, find the catalog after it moved', () => withInProcessCluster(async (cluster) => {
  const url = cluster.url;
  const other = clientOf<CatalogMachine>(cluster, 'catalog', catalogMembers);
  const reads = await moveGroupWhileCalling(url, 'catalog', () => other.read({ type: 'lookup', id: 1 }, Date.now() + 5_000));
  assert.ok(reads > 0, 'the other client never read during the changes');
  const read = await other.read({ type: 'lookup', id: 1 }, Date.now() + 5_000);
  assert.ok(['catalog-4', 'catalog-5'].includes(read.servedBy), `read served by ${read.servedBy}`);
  const proposed = await other.propose({ type: 'restock', requestId: `other-${process.pid}`, item: 1, amount: 3 }, Date.now() + 5_000);
  assert.ok(['catalog-4', 'catalog-5'].includes(proposed.servedBy), `restock served by ${proposed.servedBy}`);
  assert.equal([...other.configuration.members].sort(), ['catalog-4', 'catalog-5']);

  // Every order replica restarted, one at a time: each starts from its bootstrap catalog list (catalog-1..3, all
  // gone), so whichever leads next must have learnt the catalog's members from its peers to deduct.
  for (const name of ['order-1', 'order-2', 'order-3']) {
    await cluster.system.stop(name);
    await cluster.system.startActor(name);
    await eventually(`an order leader after ${name} restarted`, async () => {
      const view = (await http('GET', `${url}/admin/groups/order/members`)).json();
      return view.ok && view.result.leader !== null ? true : undefined;
    }, 20_000);
    await sleep(300);
  }
  const order = await eventually('an order bought after every order replica restarted', async () => {
    const answer = await http('POST', `${url}/order/1?amount=1`, { timeoutMs: 10_000 });
    return answer.status === 503 ? undefined : answer;
  }, 20_000, 200);
  assert.is(order.status, 200, order.text);
  assert.is(order.json(), true, `the order was not bought: ${order.text}`);
}));

test('a client that only places orders follows the order group onto new members', () => withInProcessCluster(async (cluster) => {
  const url = cluster.url;
  const orders = clientOf<OrderMachine, OrderCalls>(cluster, 'order', orderMembers);
  let sequence = 0;
  const place = () => orders.leaderCall({ type: 'order', orderId: `leader-call-${process.pid}-${sequence += 1}`, item: 3, amount: 1, createdAt: Date.now() }, Date.now() + 5_000);
  const placed = await moveGroupWhileCalling(url, 'order', place);
  assert.ok(placed > 0, 'the client placed no order during the changes');
  const answer = await place();
  assert.ok(['order-4', 'order-5'].includes(answer.servedBy), `order placed by ${answer.servedBy}`);
  assert.equal([...orders.configuration.members].sort(), ['order-4', 'order-5']);
}));

test.run();
