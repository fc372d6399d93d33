// Multi-host runs on real separate hosts: four network namespaces on a private bridge (a gateway host and three
// hosts each with one catalog and one order replica), one `pygmy node` process per host, driven through the
// gateway host. A probe node in the test process speaks the transport to ask single replicas directly.
// Outside CI, without root or `ip netns`, the file skips with a printed reason; with CI=true it must run.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { convergenceAnomalies } from '../support/convergence.js';
import { type FourHostName, fourHostNames, fourHosts, type FourHosts, multihostSkipReason, startFourHosts, startHost, stopFourHosts } from '../support/four-hosts.js';
import { eventually, http, sleep } from '../support/pygmy-process.js';

const lookup3Body =
  '{"ok":true,"result":{"id":3,"name":"Xen and the Art of Surviving Graduate School","stock":25,"price":9.9,"topic":2},"topics":[{"id":2,"name":"Graduate School"}]}';

const skipReason = multihostSkipReason();

const initial = fourHosts();
const admin = { authorization: `Bearer ${initial.adminToken}` };
const test = suite<FourHosts>('multi-host on network namespaces', initial);

interface ClusterView {
  actors: Array<{ name: string; node: string; alive: boolean; role: string | null; commitIndex: number | null; lastApplied: number | null }>;
  leaders: Record<string, string | null>;
}

async function clusterView(url: string): Promise<ClusterView> {
  const answer = await http('GET', `${url}/cluster`, { headers: admin });
  if (answer.status !== 200) throw new Error(`/cluster answered ${answer.status}: ${answer.text}`);
  return answer.json().result as ClusterView;
}

const stockOf = async (url: string, id: number): Promise<number> => (await http('GET', `${url}/lookup/${id}`)).json().result.stock as number;
const order = async (url: string, id: number, amount = 1) => http('POST', `${url}/order/${id}?amount=${amount}`, { timeoutMs: 8_000 });

test.before(async (context) => {
  if (skipReason !== null) return;
  await startFourHosts(context, { dataDirPrefix: 'pygmy-multihost-', probePortOffset: 0 });
});

test.after(async (context) => {
  await stopFourHosts(context);
});

test('the reference experiments pass through the gateway host', async (context) => {
  // Checks, across four hosts: a remote lookup then a cached one (exact bytes), list and search, stopping the
  // catalog leader (another replica leads, orders work), starting it again, and cache consistency after buying 6.
  if (skipReason !== null) return console.log(`skipped: ${skipReason}`);
  const { url } = context;
  const first = await http('GET', `${url}/lookup/3`);
  assert.is(first.text, lookup3Body);
  assert.is(first.headers.get('x-cache'), 'MISS');
  assert.is((await http('GET', `${url}/lookup/3`)).headers.get('x-cache'), 'HIT');
  assert.equal((await http('GET', `${url}/lookup`)).json().result.map((item: { id: number }) => item.id), [1, 2, 3, 4]);
  assert.equal((await http('GET', `${url}/search/SYS`)).json().result.map((item: { id: number }) => item.id), [1, 2]);
  const leader = (await clusterView(url)).leaders.catalog!;
  assert.is((await http('POST', `${url}/admin/actors/${leader}/stop`, { headers: admin })).status, 200);
  await eventually('a new catalog leader', async () => {
    const next = (await clusterView(url)).leaders.catalog;
    return next !== null && next !== leader ? next : undefined;
  }, 15_000);
  assert.is((await http('GET', `${url}/lookup/2`)).json().result.stock, 20);
  assert.is((await order(url, 1)).text, 'true');
  assert.is((await http('POST', `${url}/admin/actors/${leader}/start`, { headers: admin })).status, 200);
  assert.is((await order(url, 3, 6)).text, 'true');
  assert.is(await stockOf(url, 3), 19, 'the cached lookup shows the order at once');
  await eventually(`${leader} catches up`, async () => {
    const view = await clusterView(url);
    const restarted = view.actors.find((actor) => actor.name === leader)!;
    const head = view.actors.find((actor) => actor.name === view.leaders.catalog)!;
    return restarted.alive && restarted.lastApplied === head.lastApplied ? true : undefined;
  }, 15_000);
});

async function catalogDigests(context: FourHosts) {
  return Promise.all(['catalog-1', 'catalog-2', 'catalog-3'].map(async (name) => ({ name, ...(await context.probe!.system.ask<{ index: number; hash: string }>(name, { type: 'hash' }, { timeoutMs: 2_000 })) })));
}

test('kill -9 of the host process holding the catalog leader: failover, orders keep succeeding, restart catches up', async (context) => {
  // Checks that a whole host crashing (SIGKILL of its node process) loses no service: orders succeed while it is
  // down, and once restarted on its own disk its replica reaches the same state hash as the others.
  if (skipReason !== null) return console.log(`skipped: ${skipReason}`);
  const { url } = context;
  const view = await clusterView(url);
  const victimNode = view.actors.find((actor) => actor.name === view.leaders.catalog)!.node;
  const victimIndex = fourHostNames.indexOf(victimNode as FourHostName);
  assert.ok(victimIndex > 0, `catalog leader on a replica host (${victimNode})`);
  const before = await stockOf(url, 2);
  await context.nodes.get(victimNode)!.kill();
  let bought = 0;
  for (let attempt = 0; attempt < 5; attempt += 1) {
    const answer = await eventually('an order during the failover', async () => {
      const result = await order(url, 2);
      return result.status === 200 ? result.text : undefined;
    }, 20_000, 200);
    if (answer === 'true') bought += 1;
  }
  assert.is(bought, 5, 'every order succeeded');
  assert.is(await stockOf(url, 2), before - 5);
  await startHost(context, victimIndex);
  await eventually('replicas converge after the restart', async () => {
    const digests = await catalogDigests(context);
    return digests.every((digest) => digest.index === digests[0]!.index) && convergenceAnomalies(digests).length === 0 ? true : undefined;
  }, 20_000, 250);
});

test('a partition: the majority serves writes, the cut-off replica serves no stale read, and it converges after healing', async (context) => {
  // Checks partition safety across hosts: cut the host of the catalog leader off from the other replica hosts
  // (blackhole routes both ways; the gateway and the probe still reach it), buy through the majority, then ask
  // the cut-off replica for a linearizable read: it must refuse or time out, never answer with the old stock.
  // After healing, all three replicas reach the same state hash at the same index.
  if (skipReason !== null) return console.log(`skipped: ${skipReason}`);
  const { url, hosts } = context;
  const view = await clusterView(url);
  const cutName = view.leaders.catalog!;
  const cutIndex = fourHostNames.indexOf(view.actors.find((actor) => actor.name === cutName)!.node as FourHostName);
  const others = [1, 2, 3].filter((index) => index !== cutIndex);
  const before = await stockOf(url, 4);
  hosts!.cut(cutIndex, others);
  try {
    await eventually('the majority elects another catalog leader (the cut took effect)', async () => {
      const leader = (await clusterView(url)).leaders.catalog;
      return leader !== null && leader !== cutName ? leader : undefined;
    }, 15_000, 100);
    await eventually('an order through the majority', async () => ((await order(url, 4)).text === 'true' ? true : undefined), 25_000, 200);
    const after = await stockOf(url, 4);
    assert.is(after, before - 1);
    await sleep(500);
    let staleAnswer: unknown = null;
    const reads: string[] = [];
    for (let attempt = 0; attempt < 3; attempt += 1) {
      const read = await context.probe!.system.ask<{ ok: boolean; result?: { item: { stock: number } } }>(cutName, { type: 'read', query: { type: 'lookup', id: 4 } }, { timeoutMs: 1_500 }).catch(() => ({ ok: false }) as { ok: boolean; result?: { item: { stock: number } } });
      if (read.ok && read.result?.item.stock !== after) staleAnswer = read;
      reads.push(read.ok ? `ok stock ${read.result?.item.stock}` : 'refused');
    }
    console.log(`  reads at the cut-off ${cutName}: ${reads.join(', ')}`);
    assert.is(staleAnswer, null, `the cut-off replica answered a stale read: ${JSON.stringify(staleAnswer)}`);
  } finally {
    hosts!.heal(cutIndex, others);
  }
  await eventually('replicas converge after healing', async () => {
    const digests = await catalogDigests(context);
    return digests.every((digest) => digest.index === digests[0]!.index) && convergenceAnomalies(digests).length === 0 ? true : undefined;
  }, 20_000, 250);
});

test.run();
