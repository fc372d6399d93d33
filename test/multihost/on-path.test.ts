// An on-path attacker inside a real cluster: four `pygmy node` processes, where every connection to host-c passes
// a relay (test/support/on-path-relay.ts; the other nodes' config names the relay for host-c). With root and
// `ip netns` the nodes run on four network-namespace hosts on a private bridge and the relay sits on the bridge's
// address in the root namespace, a box on the path between the hosts (host-c lists it in `allowFrom`, as it
// would a NAT in front of its peers); elsewhere all of it runs on loopback. After a genuine handshake the relay attacks one data frame of a connection, five times in a row, each
// on the connection that replaced the one before: a forged frame injected (a tell from catalog-1 to catalog-3,
// with a random tag), a frame replayed, two frames swapped, one bit flipped, a frame dropped. Checks: each
// attacked connection is closed by host-c with the authentication reason (the relay sees host-c hang up, and
// host-c logs why), the nodes reconnect and the cluster serves lookups and orders, stock matches the orders
// taken, no replica shows the forged append's term, and every node still runs.
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, writeFileSync } from 'node:fs';
import { createTestHosts, freePort, makeTempDir, namespaceUnavailableReason, startNodeProcess, writeLayout, type LayoutNode, type NodeProcess, type TestHosts } from '../support/multihost.js';
import { startRelay, type Attack, type Relay } from '../support/on-path-relay.js';
import { http } from '../support/pygmy-process.js';

const secret = randomBytes(32).toString('hex');
const adminToken = randomBytes(16).toString('hex');
const attacks: Attack[] = ['inject', 'replay', 'reorder', 'flip', 'drop'];
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Context {
  nodes: NodeProcess[];
  relay: Relay | null;
  hosts: TestHosts | null;
  url: string;
}

const namespaceReason = namespaceUnavailableReason();
const test = suite<Context>(`on-path attacker in a cluster (${namespaceReason === null ? 'network namespaces' : `loopback: ${namespaceReason}`})`, {
  nodes: [],
  relay: null,
  hosts: null,
  url: '',
});

/** Where each node listens, and where the relay listens for host-c. */
async function placement(context: Context): Promise<{ hosts: string[]; ports: number[]; relayHost: string; namespaces: Array<string | undefined> }> {
  if (namespaceReason !== null) {
    const ports = await Promise.all([0, 1, 2, 3].map(() => freePort()));
    return { hosts: ports.map(() => '127.0.0.1'), ports, relayHost: '127.0.0.1', namespaces: [undefined, undefined, undefined, undefined] };
  }
  const hosts = createTestHosts(4);
  context.hosts = hosts;
  return { hosts: [...hosts.addresses], ports: [34900, 34900, 34900, 34900], relayHost: hosts.bridgeAddress, namespaces: [...hosts.namespaces] };
}

test.before(async (context) => {
  const directory = makeTempDir('pygmy-on-path-');
  const place = await placement(context);
  const ports = place.ports;
  const relay = await startRelay({ host: place.hosts[3]!, port: ports[3]! }, place.relayHost);
  context.relay = relay;
  // Armed before any node starts: the first connections to host-c to send their sixth data frame are attacked.
  for (const attack of attacks) relay.arm(attack, 5, { kind: 'tell', from: 'catalog-1', to: 'catalog-3', body: { type: 'append', term: 99, entries: [] } });
  const layout = (hostC: { host: string; port: number }): LayoutNode[] => [
    { name: 'gateway', host: place.hosts[0]!, port: ports[0]!, actors: ['cache'], gateway: { host: place.hosts[0]!, port: namespaceReason === null ? 34800 : 0 } },
    { name: 'host-a', host: place.hosts[1]!, port: ports[1]!, actors: ['catalog-1', 'order-1'] },
    { name: 'host-b', host: place.hosts[2]!, port: ports[2]!, actors: ['catalog-2', 'order-2'] },
    { name: 'host-c', ...hostC, actors: ['catalog-3', 'order-3'] },
  ];
  const [ownDirectory, othersDirectory] = [join(directory, 'host-c'), join(directory, 'others')];
  mkdirSync(ownDirectory);
  mkdirSync(othersDirectory);
  const ownConfig = writeLayout(ownDirectory, layout({ host: place.hosts[3]!, port: ports[3]! }));
  // host-c's peers reach it through the relay, so their connections come from the relay's address.
  writeFileSync(ownConfig, JSON.stringify({ ...JSON.parse(readFileSync(ownConfig, 'utf8')), allowFrom: [place.relayHost] }));
  const othersConfig = writeLayout(othersDirectory, layout({ host: place.relayHost, port: relay.port }));
  const index = { gateway: 0, 'host-a': 1, 'host-b': 2, 'host-c': 3 } as const;
  const start = (name: keyof typeof index, config: string, waitReady = false) => {
    const namespace = place.namespaces[index[name]];
    return startNodeProcess({ name, config, dataDir: join(directory, `${name}-data`), env: { PYGMY_CLUSTER_SECRET: secret, PYGMY_ADMIN_TOKEN: adminToken }, waitReady, timeoutMs: 60_000, ...(namespace === undefined ? {} : { namespace }) });
  };
  context.nodes.push(await start('host-c', ownConfig));
  context.nodes.push(...(await Promise.all((['host-a', 'host-b'] as const).map((name) => start(name, othersConfig)))));
  const gateway = await start('gateway', othersConfig, true);
  context.nodes.push(gateway);
  context.url = gateway.url!;
});

test.after(async (context) => {
  await Promise.all(context.nodes.map((node) => node.stop()));
  await context.relay?.close();
  context.hosts?.cleanup();
});

test('every attacked connection is closed, the cluster recovers, nothing forged is applied', async ({ nodes, relay, url }) => {
  const startedAt = Date.now();
  while ((relay!.stats.attacks < attacks.length || relay!.stats.closedAfterAttack < attacks.length) && Date.now() - startedAt < 30_000) await sleep(50);
  assert.is(relay!.stats.attacks, attacks.length, 'every attack was carried out');
  assert.is(relay!.stats.closedAfterAttack, attacks.length, 'host-c closed every attacked connection');
  const hostC = nodes.find((node) => node.name === 'host-c')!;
  const closes = hostC.output().split('\n').filter((line) => line.includes('frame failed authentication'));
  assert.ok(closes.length >= attacks.length, `host-c logged ${closes.length} authentication failures:\n${hostC.output().slice(-3000)}`);
  // The cluster serves through the relay again (it forwards untouched now).
  let ordered = 0;
  for (let attempt = 0; attempt < 3; attempt += 1) {
    const answer = await http('POST', `${url}/order/4?amount=2`, { headers: { 'idempotency-key': `on-path-${attempt}` } });
    assert.is(answer.status, 200, answer.text);
    assert.is(answer.text, 'true');
    ordered += 2;
  }
  assert.is((await http('GET', `${url}/lookup/4`)).json().result.stock, 15 - ordered, 'stock matches the orders taken');
  const cluster = (await http('GET', `${url}/cluster`, { headers: { authorization: `Bearer ${adminToken}` } })).json().result as { actors: Array<{ name: string; term?: number }> };
  for (const actor of cluster.actors) assert.ok((actor.term ?? 0) < 99, `${actor.name} is at term ${actor.term}: the forged append's term`);
  for (const node of nodes) assert.is(node.child.exitCode, null, `${node.name} still runs`);
});

test.run();
