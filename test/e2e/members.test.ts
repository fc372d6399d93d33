// The membership routes of the gateway on `pygmy start`'s cluster: GET /admin/groups/:group/members answers the
// configuration in the contract's shape; DELETE /admin/groups/:group/members/:name removes a member through the
// leader, stops its actor and keeps its database under another name; orders flow before and after, and every
// acknowledged order deducted its stock. Bad input is a 400, a refused change a 409, never a 500. An add that gave
// up after its learner entry committed but before its actor started (a 503) is finished by the same add again.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startCluster } from '../../src/cluster/cluster.js';
import { createLogger } from '../../src/cli/logger.js';
import { main as memberMain } from '../../src/cli/member.js';
import { UsageError } from '../../src/cli/usage-error.js';
import { eventually, http, makeDataDir, removeDataDir } from '../support/pygmy-process.js';
import { printedBy } from '../support/console-capture.js';
import { placeOrders } from '../support/orders.js';
import { withInProcessCluster } from '../support/in-process-cluster.js';

test('members: list, remove a follower and the leader, its database kept; orders flow; bad input refused', async () => {
  const dataDir = makeDataDir();
  const logger = createLogger({ level: 'warn', pretty: false, destination: { write: () => true } });
  const cluster = await startCluster({ host: '127.0.0.1', port: 0, dataDir, fresh: true, logger, replicas: 5, tickMs: 20 });
  try {
    const url = cluster.url;
    const listed = (await http('GET', `${url}/admin/groups/catalog/members`)).json();
    assert.is(listed.ok, true);
    assert.equal(listed.result.voters, ['catalog-1', 'catalog-2', 'catalog-3', 'catalog-4', 'catalog-5']);
    assert.equal(listed.result.learners, []);
    assert.type(listed.result.leader, 'string');
    assert.is(listed.result.configIndex, 0);
    const stockBefore = (await http('GET', `${url}/lookup/2`)).json().result.stock as number;
    assert.is(await placeOrders(url, 3), 3);

    const follower = listed.result.voters.find((name: string) => name !== listed.result.leader) as string;
    const removed = await http('DELETE', `${url}/admin/groups/catalog/members/${follower}`);
    assert.is(removed.status, 200, removed.text);
    assert.not.ok(removed.json().result.voters.includes(follower));
    assert.ok(removed.json().result.configIndex > 0);
    assert.not.ok(existsSync(join(dataDir, `${follower}.db`)), 'the database is still under its name');
    assert.ok(readdirSync(dataDir).some((file) => file.startsWith(`${follower}.removed-`) && file.endsWith('.db')), 'the database was not kept');
    assert.is(await placeOrders(url, 3), 3, 'orders failed after a follower was removed');

    // The leader itself: it leads until its removal commits, then hands over.
    const leader = removed.json().result.leader as string;
    const leaderRemoved = await http('DELETE', `${url}/admin/groups/catalog/members/${leader}`);
    assert.is(leaderRemoved.status, 200, leaderRemoved.text);
    const after = await eventually('a new catalog leader', async () => {
      const view = (await http('GET', `${url}/admin/groups/catalog/members`)).json();
      return view.ok && view.result.leader !== null && view.result.leader !== leader ? view.result : undefined;
    }, 20_000);
    assert.is(after.voters.length, 3);
    assert.is(await placeOrders(url, 3), 3, 'orders failed after the leader was removed');
    const stockAfter = (await http('GET', `${url}/lookup/2`)).json().result.stock as number;
    assert.is(stockBefore - stockAfter, 9, 'every acknowledged order deducted its stock once');

    const again = await http('DELETE', `${url}/admin/groups/catalog/members/${follower}`);
    assert.is(again.status, 409, 'removing a non-member is refused with the reason');
    assert.match(again.json().error, /not a member/);
    assert.is((await http('GET', `${url}/admin/groups/nope/members`)).status, 400);
    // The CLI over the same routes.
    const printed = await printedBy(async () => {
      assert.is(await memberMain(['list', '--group', 'catalog', '--gateway', url]), 0);
      assert.is(await memberMain(['remove', '--group', 'catalog', follower, '--gateway', url]), 1);
      assert.is(await memberMain(['add', '--group', 'catalog', 'catalog-6', '--learner', '--gateway', url]), 0);
      assert.is(await memberMain(['add', '--group', 'catalog', 'catalog-7', '--gateway', url]), 0);
      await memberMain(['list', '--group', 'nope', '--gateway', url]).then(() => assert.unreachable('bad group accepted'), (thrown: unknown) => assert.ok(thrown instanceof UsageError));
    });
    assert.match(printed[0]!, new RegExp(`^catalog: voters ${after.voters.join(', ')}; learners none; leader `));
    assert.match(printed[1]!, /409 .*not a member/);
    assert.match(printed[3]!, /learners catalog-6;/);
    assert.match(printed[5]!, /voters .*catalog-7.*; learners catalog-6;/);
    assert.is(await placeOrders(url, 3), 3, 'orders failed after members were added');
    const bad = await http('POST', `${url}/admin/groups/catalog/members`, { body: '{"name":"../x"}' });
    assert.is(bad.status, 400);
    const elsewhere = await http('POST', `${url}/admin/groups/catalog/members`, { body: '{"name":"catalog-9","node":"host-d"}' });
    assert.is(elsewhere.status, 409);
    const unchanged = (await http('GET', `${url}/admin/groups/catalog/members`)).json().result;
    assert.not.ok(unchanged.learners.includes('catalog-9'), 'a member that cannot start was added to the configuration');
    assert.is((await http('DELETE', `${url}/admin/groups/catalog/members/bad%20name`)).status, 400);
    // The same add again promotes a learner that runs (what a client does after a 503 while it caught up).
    const promoted = await http('POST', `${url}/admin/groups/catalog/members`, { body: '{"name":"catalog-6"}', timeoutMs: 15_000 });
    assert.is(promoted.status, 200, promoted.text);
    assert.ok(promoted.json().result.voters.includes('catalog-6'), 'the learner was not promoted');
    assert.not.ok(promoted.json().result.learners.includes('catalog-6'));
  } finally {
    await cluster.close();
    removeDataDir(dataDir);
  }
});

test('the same add again finishes one whose learner is in the configuration but has no actor yet', () => withInProcessCluster(async (cluster) => {
  // The state an add leaves when its ask to the leader gives up after the learner entry committed: put there by
  // proposing the learner straight to the leader, as that add did, without starting an actor.
  const view = await eventually('a catalog leader', async () => {
    const members = (await http('GET', `${cluster.url}/admin/groups/catalog/members`)).json();
    return members.ok && members.result.leader !== null ? members.result : undefined;
  }, 20_000);
  const proposed = await cluster.system.ask<{ ok: boolean }>(view.leader, { type: 'changeMembership', change: { type: 'addLearner', node: 'catalog-4' } }, { timeoutMs: 5_000 });
  assert.ok(proposed.ok, JSON.stringify(proposed));
  assert.equal((await http('GET', `${cluster.url}/admin/groups/catalog/members`)).json().result.learners, ['catalog-4']);
  assert.not.ok((await cluster.system.status()).some((status) => status.name === 'catalog-4'), 'no actor yet');
  const again = await http('POST', `${cluster.url}/admin/groups/catalog/members`, { body: '{"name":"catalog-4"}', timeoutMs: 15_000 });
  assert.is(again.status, 200, again.text);
  assert.ok(again.json().result.voters.includes('catalog-4'), again.text);
  assert.ok((await cluster.system.status()).some((status) => status.name === 'catalog-4' && status.alive), 'its actor runs');
  assert.is((await http('POST', `${cluster.url}/admin/items/1`, { body: '{"restock":1}' })).status, 200);
}));

test.run();
