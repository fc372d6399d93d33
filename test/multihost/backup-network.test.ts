// Backup over the network from a follower host; restore onto three new hosts (network namespaces). A four-host
// cluster — a gateway host with only the cache, three replica hosts — takes orders; `pygmy backup` through the
// gateway host gets a copy of each group from a follower on a replica host, staged there and read over the
// transport in checked chunks (the gateway's host holds no replica to copy from); `pygmy backup verify` passes.
// The whole cluster is then stopped and its hosts removed; `pygmy restore --config` lays the backup out for three
// new replica hosts and a new gateway host, and there every order acknowledged before the backup is committed
// and a new order is taken. Outside CI, without root or `ip netns`, the file skips with a printed reason.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createTestHosts, namespaceUnavailableReason, type TestHosts } from '../../src/check/hosts.js';
import { makeTempDir, startNodeProcess, writeLayout, type LayoutNode, type NodeProcess } from '../../src/check/node-process.js';
import { http } from '../support/pygmy-process.js';

const mainScript = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const skipReason = namespaceUnavailableReason();
if (skipReason !== null && process.env.CI === 'true') throw new Error(`multi-host tests must run in CI but cannot: ${skipReason}`);

/** The operations routes of a gateway on a non-loopback address need the token: the CLI and the test send it. */
const adminToken = randomBytes(16).toString('hex');

function run(args: readonly string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [mainScript, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PYGMY_ADMIN_TOKEN: adminToken } });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('exit', (code) => resolve({ code, output }));
  });
}

function layoutOn(hosts: TestHosts): LayoutNode[] {
  const addresses = hosts.addresses;
  return [
    { name: 'gateway', host: addresses[0]!, port: 34900, actors: ['cache'], gateway: { host: addresses[0]!, port: 34800 } },
    { name: 'host-a', host: addresses[1]!, port: 34900, actors: ['catalog-1', 'order-1'] },
    { name: 'host-b', host: addresses[2]!, port: 34900, actors: ['catalog-2', 'order-2'] },
    { name: 'host-c', host: addresses[3]!, port: 34900, actors: ['catalog-3', 'order-3'] },
  ];
}

/** One `pygmy node` per host, replica hosts first; resolves with the gateway host's URL once it is ready. */
async function startHosts(hosts: TestHosts, config: string, layout: readonly LayoutNode[], dataDirOf: (name: string) => string, secret: string, nodes: NodeProcess[]): Promise<string> {
  for (const [index, node] of layout.entries()) {
    if (index === 0) continue;
    nodes.push(await startNodeProcess({ name: node.name, config, dataDir: dataDirOf(node.name), env: { PYGMY_CLUSTER_SECRET: secret }, namespace: hosts.namespaces[index]! }));
  }
  const gateway = await startNodeProcess({ name: 'gateway', config, dataDir: dataDirOf('gateway'), env: { PYGMY_CLUSTER_SECRET: secret, PYGMY_ADMIN_TOKEN: adminToken }, namespace: hosts.namespaces[0]!, waitReady: true, timeoutMs: 90_000 });
  nodes.push(gateway);
  return gateway.url!;
}

test('backup over the network from a follower host; restore onto three new hosts', async () => {
  if (skipReason !== null) return console.log(`skipped: ${skipReason}`);
  const root = makeTempDir('pygmy-backup-network-');
  const keys = Array.from({ length: 12 }, (_, position) => `network-${position}`);
  let hosts = createTestHosts(4);
  let nodes: NodeProcess[] = [];
  try {
    const layout = layoutOn(hosts);
    mkdirSync(join(root, 'old'));
    const url = await startHosts(hosts, writeLayout(join(root, 'old'), layout), layout, (name) => join(root, 'old', name), randomBytes(32).toString('hex'), nodes);
    for (const [position, key] of keys.entries()) {
      const answer = await http('POST', `${url}/order/${1 + (position % 4)}?amount=1`, { headers: { 'idempotency-key': key }, timeoutMs: 8_000 });
      assert.is(answer.status, 200, answer.text);
    }
    const leaders = (await http('GET', `${url}/cluster`, { headers: { authorization: `Bearer ${adminToken}` } })).json().result.leaders as Record<string, string | null>;
    const backup = await run(['backup', '--gateway', url, '--out', join(root, 'backup')]);
    assert.is(backup.code, 0, backup.output);
    const manifest = JSON.parse(readFileSync(join(root, 'backup', 'manifest.json'), 'utf8')) as { groups: Array<{ group: string; member: string; orders: number }> };
    for (const group of manifest.groups) {
      assert.is.not(group.member, leaders[group.group], `${group.group}: copied from a follower, not the leader ${leaders[group.group]}`);
      assert.match(group.member, /^(catalog|order)-[123]$/, 'a replica on a replica host (the gateway host has none)');
    }
    assert.is(manifest.groups.find((group) => group.group === 'order')!.orders, keys.length);
    const verify = await run(['backup', 'verify', join(root, 'backup')]);
    assert.is(verify.code, 0, verify.output);
  } finally {
    await Promise.all(nodes.map((node) => node.stop()));
    hosts.cleanup();
  }
  // The old cluster and its hosts are gone; three new replica hosts and a new gateway host.
  hosts = createTestHosts(4);
  nodes = [];
  try {
    const layout = layoutOn(hosts);
    const config = writeLayout(root, layout);
    const restore = await run(['restore', '--from', join(root, 'backup'), '--data-dir', join(root, 'restored'), '--config', config]);
    assert.is(restore.code, 0, restore.output);
    const url = await startHosts(hosts, config, layout, (name) => join(root, 'restored', name), randomBytes(32).toString('hex'), nodes);
    for (const key of keys) {
      const answer = await http('GET', `${url}/orders/${key}`, { timeoutMs: 8_000 });
      assert.is(answer.status, 200, `${key}: ${answer.text}`);
      assert.is(answer.json().result.status, 'committed', key);
    }
    assert.is((await http('POST', `${url}/order/2?amount=1`, { timeoutMs: 8_000 })).text, 'true');
  } finally {
    await Promise.all(nodes.map((node) => node.stop()));
    hosts.cleanup();
  }
});

test.run();
