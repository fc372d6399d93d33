// Replacing a dead host by a new one, on real hosts: host-c dies and its disk is lost; host-d, which the running
// cluster has never heard of, is added to cluster.json and started with `pygmy node`; `pygmy member add --group
// catalog catalog-4 --node host-d` and the same for order-4 create the members there (the running nodes admit
// host-d, authenticated by the cluster secret), they catch up and are promoted; then catalog-3 and order-3 are
// removed. Orders flow throughout; every acknowledged order is committed, stock agrees with them, and the new
// members converge with the old (same applied index, same state hash). Then cluster.json is written as the
// operator leaves it (host-c gone, the new members placed on host-d), host-d and the gateway restart on it, and
// orders are still bought.
// Six network namespaces (a gateway host, host-a..host-d, and one for the probe's address on the bridge); a probe
// node in the test process asks single replicas for their status. Without root or `ip netns` the file skips with
// a printed reason; with CI=true it must run.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { main as memberMain } from '../../src/cli/member.js';
import type { ReplicaStatus } from '../../src/raft/replica.js';
import { writeLayout, type LayoutNode } from '../../src/check/node-process.js';
import { fourHosts, type FourHosts, multihostSkipReason, startFourHosts, startHost, stopFourHosts } from '../support/four-hosts.js';
import { startOrderFlow } from '../support/orders.js';
import { eventually, http, sleep } from '../support/pygmy-process.js';

const skipReason = multihostSkipReason();

const test = suite<FourHosts>('a new host replaces a dead one', fourHosts());

test.before(async (context) => {
  if (skipReason !== null) return;
  await startFourHosts(context, { dataDirPrefix: 'pygmy-join-', probePortOffset: 7_000, spareHost: true });
});

test.after(async (context) => {
  await stopFourHosts(context);
});

/** `pygmy member ...` as an operator runs it; a removal answered 503 (no leader for a moment) is run again, bounded. */
async function member(url: string, adminToken: string, args: string[]): Promise<string[]> {
  const printed: string[] = [];
  const log = console.log;
  const error = console.error;
  const token = process.env.PYGMY_ADMIN_TOKEN;
  console.log = (line: string) => printed.push(line);
  console.error = (line: string) => printed.push(line);
  process.env.PYGMY_ADMIN_TOKEN = adminToken;
  try {
    await eventually(`pygmy member ${args.join(' ')}`, async () => {
      const code = await memberMain([...args, '--gateway', url, '--timeout-ms', '30000']);
      if (code === 0) return true;
      // Only a removal is run again: an add that failed half-way is a failure of this test, shown as it is.
      if (args[0] === 'remove' && /\b503\b/.test(printed[printed.length - 1] ?? '')) return undefined;
      throw new Error(printed.join('\n'));
    }, 90_000, 500);
  } finally {
    console.log = log;
    console.error = error;
    if (token === undefined) delete process.env.PYGMY_ADMIN_TOKEN;
    else process.env.PYGMY_ADMIN_TOKEN = token;
  }
  return printed;
}

async function status(context: FourHosts, name: string): Promise<ReplicaStatus> {
  return context.probe!.system.ask<ReplicaStatus>(name, { type: 'status' }, { timeoutMs: 2_000 });
}

test('host-c lost; host-d joins; catalog-4 and order-4 added there, catalog-3 and order-3 removed; no order lost', async (context) => {
  if (skipReason !== null) return console.log(`skipped: ${skipReason}`);
  const { url, adminToken } = context;
  const admin = { authorization: `Bearer ${adminToken}` };
  const restocked = await http('POST', `${url}/admin/items/2`, { headers: admin, body: '{"restock":5000}' });
  assert.is(restocked.status, 200, restocked.text);
  const initialStock = (await http('GET', `${url}/lookup/2`)).json().result.stock as number;
  const flow = startOrderFlow({ url, item: 2, keyPrefix: `join-${process.pid}`, durationMsMax: 240_000, answerTimeoutMs: 8_000, pauseAfterUnsureMs: 100 });
  const { acknowledged, unsure } = flow;
  try {
    await sleep(1_000);
    await context.nodes.get('host-c')!.kill();
    rmSync(join(context.dataRoot, 'host-c'), { recursive: true, force: true });

    // The operator adds host-d to cluster.json (the gateway's copy is read again on `member add`) and starts it.
    const hostD: LayoutNode = { name: 'host-d', host: context.hosts!.addresses[4]!, port: 34900, actors: [] };
    context.config = writeLayout(context.dataRoot, [...context.layout, hostD]);
    // Named before it runs: refused before anything is proposed, and the group is unchanged.
    const early = await http('POST', `${url}/admin/groups/catalog/members`, { headers: admin, body: '{"name":"catalog-4","node":"host-d"}', timeoutMs: 30_000 });
    assert.is(early.status, 409, early.text);
    assert.match(early.json().error, /host-d .* does not answer: start it/);
    const unknown = await http('POST', `${url}/admin/groups/catalog/members`, { headers: admin, body: '{"name":"catalog-4","node":"host-e"}' });
    assert.is(unknown.status, 409, unknown.text);
    assert.match(unknown.json().error, /host-e is not in .*cluster\.json/);
    const unchanged = (await http('GET', `${url}/admin/groups/catalog/members`, { headers: admin })).json().result;
    assert.equal(unchanged.learners, [], 'a refused add left a learner behind');
    await startHost(context, 4);
    const before = acknowledged.length;
    const addedCatalog = await member(url, adminToken, ['add', '--group', 'catalog', 'catalog-4', '--node', 'host-d']);
    assert.match(addedCatalog.join('\n'), /voters [^;]*catalog-4/);
    const addedOrder = await member(url, adminToken, ['add', '--group', 'order', 'order-4', '--node', 'host-d']);
    assert.match(addedOrder.join('\n'), /voters [^;]*order-4/);
    await member(url, adminToken, ['remove', '--group', 'catalog', 'catalog-3']);
    await member(url, adminToken, ['remove', '--group', 'order', 'order-3']);
    for (const group of ['catalog', 'order']) {
      const view = (await http('GET', `${url}/admin/groups/${group}/members`, { headers: admin })).json().result;
      assert.equal([...view.voters].sort(), [`${group}-1`, `${group}-2`, `${group}-4`], `${group}: ${JSON.stringify(view)}`);
      assert.equal(view.learners, []);
    }
    // Orders keep flowing with host-c gone for good: the new members count in the quorum.
    const afterChanges = acknowledged.length;
    await eventually('orders after the changes', async () => (acknowledged.length >= afterChanges + 5 ? true : undefined), 30_000, 200);
    assert.ok(afterChanges > before, 'no order was acknowledged while the members changed');
  } finally {
    await flow.stop();
  }
  // Every acknowledged order committed, once; the ones whose answer was lost settle one way or the other.
  for (const key of acknowledged) {
    const stored = await http('GET', `${url}/orders/${key}`);
    assert.is(stored.status, 200, `acknowledged order ${key} is in the log`);
    assert.is(stored.json().result.status, 'committed', key);
  }
  let committedUnsure = 0;
  for (const key of unsure) {
    const stored = await http('GET', `${url}/orders/${key}`);
    if (stored.status === 200 && stored.json().result.status === 'committed') committedUnsure += 1;
  }
  const stock = (await http('GET', `${url}/lookup/2`)).json().result.stock as number;
  assert.is(stock, initialStock - acknowledged.length - committedUnsure, 'stock reflects every committed order once');
  console.log(`join: ${acknowledged.length} orders acknowledged, ${unsure.length} unanswered (${committedUnsure} of them committed)`);

  // The new members converge with the old ones: same applied index, same state.
  const hostD = { name: 'host-d', host: context.hosts!.addresses[4]!, port: 34900, actors: [] };
  await context.probe!.transport.admitNode(hostD);
  for (const name of ['catalog-4', 'order-4']) await context.probe!.transport.place(name, 'host-d');
  for (const [fresh, old] of [['catalog-4', 'catalog-1'], ['order-4', 'order-1']] as const) {
    await eventually(`${fresh} converges with ${old}`, async () => {
      const [newer, older] = await Promise.all([status(context, fresh), status(context, old)]);
      if (newer.lastApplied !== older.lastApplied || newer.lastApplied === 0) return undefined;
      const [newHash, oldHash] = await Promise.all([fresh, old].map((name) => context.probe!.system.ask<{ index: number; hash: string }>(name, { type: 'hash' }, { timeoutMs: 2_000 })));
      return newHash!.index === oldHash!.index && newHash!.hash === oldHash!.hash ? true : undefined;
    }, 30_000, 250);
  }

  // For restarts the operator writes the new placement into cluster.json: host-c gone, catalog-4 and order-4 on
  // host-d. host-d and the gateway restart on it and serve; catalog-4 catches up again.
  const finalLayout = [...context.layout.filter((node) => node.name !== 'host-c'), { ...hostD, actors: ['catalog-4', 'order-4'] }];
  context.config = writeLayout(context.dataRoot, finalLayout);
  for (const name of ['host-d', 'gateway']) await context.nodes.get(name)!.stop();
  await startHost(context, 4);
  await startHost(context, 0, true);
  const restartedUrl = context.url;
  for (let sequence = 0; sequence < 3; sequence += 1) {
    const key = `join-restarted-${process.pid}-${sequence}`;
    const bought = await eventually(`order ${key} after the restart`, async () => {
      const answer = await http('POST', `${restartedUrl}/order/2?amount=1`, { headers: { 'idempotency-key': key }, timeoutMs: 8_000 }).catch(() => null);
      return answer?.status === 200 ? answer.text : undefined;
    }, 60_000, 250);
    assert.is(bought, 'true');
  }
  const members = (await http('GET', `${restartedUrl}/admin/groups/catalog/members`, { headers: { authorization: `Bearer ${adminToken}` } })).json().result;
  assert.equal([...members.voters].sort(), ['catalog-1', 'catalog-2', 'catalog-4']);
  await eventually('catalog-4 catches up after its restart', async () => {
    const [newer, older] = await Promise.all([status(context, 'catalog-4'), status(context, 'catalog-1')]);
    return newer.lastApplied >= older.lastApplied && newer.lastApplied > 0 ? true : undefined;
  }, 30_000, 250);
});

test.run();
