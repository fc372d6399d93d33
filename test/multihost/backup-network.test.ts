// Backup over the network from a follower host; restore onto three new hosts (network namespaces). A four-host
// cluster — a gateway host with only the cache, three replica hosts — takes orders; `pygmy backup` through the
// gateway host gets a copy of each group from a follower on a replica host, staged there and read over the
// transport in checked chunks (the gateway's host holds no replica to copy from); `pygmy backup verify` passes.
// The whole cluster is then stopped and its hosts removed; `pygmy restore --config` lays the backup out for three
// new replica hosts and a new gateway host, and there every order acknowledged before the backup is committed
// and a new order is taken. Outside CI, without root or `ip netns`, the file skips with a printed reason.
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createTestHosts } from '../../src/check/hosts.js';
import { makeTempDir, writeLayout, type NodeProcess } from '../../src/check/node-process.js';
import { assertOrdersRestored, fourHostLayout, multihostSkipReason, startLayoutHosts } from '../support/four-hosts.js';
import { http } from '../support/pygmy-process.js';
import { runPygmy, type ScriptRun } from '../support/run-script.js';

const skipReason = multihostSkipReason();

/** The operations routes of a gateway on a non-loopback address need the token: the CLI and the test send it. */
const adminToken = randomBytes(16).toString('hex');

/** `pygmy ...args` with the admin token; a backup or restore of this size takes seconds, so two minutes means it hung. */
function run(args: readonly string[]): Promise<ScriptRun> {
  return runPygmy(args, { env: { ...process.env, PYGMY_ADMIN_TOKEN: adminToken }, timeoutMs: 120_000 });
}

test('backup over the network from a follower host; restore onto three new hosts', async () => {
  if (skipReason !== null) return console.log(`skipped: ${skipReason}`);
  const root = makeTempDir('pygmy-backup-network-');
  const keys = Array.from({ length: 12 }, (_, position) => `network-${position}`);
  let hosts = createTestHosts(4);
  let nodes: NodeProcess[] = [];
  try {
    const layout = fourHostLayout(hosts);
    mkdirSync(join(root, 'old'));
    const config = writeLayout(join(root, 'old'), layout);
    const url = await startLayoutHosts({ hosts, config, layout, dataDirOf: (name) => join(root, 'old', name), secret: randomBytes(32).toString('hex'), adminToken, gatewayReadyTimeoutMs: 90_000 }, nodes);
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
    const layout = fourHostLayout(hosts);
    const config = writeLayout(root, layout);
    const restore = await run(['restore', '--from', join(root, 'backup'), '--data-dir', join(root, 'restored'), '--config', config]);
    assert.is(restore.code, 0, restore.output);
    const url = await startLayoutHosts({ hosts, config, layout, dataDirOf: (name) => join(root, 'restored', name), secret: randomBytes(32).toString('hex'), adminToken, gatewayReadyTimeoutMs: 90_000 }, nodes);
    await assertOrdersRestored(url, keys);
  } finally {
    await Promise.all(nodes.map((node) => node.stop()));
    hosts.cleanup();
  }
});

test.run();
