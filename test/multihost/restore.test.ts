// Restore onto new hosts: a single-process cluster takes orders and is backed up, then dies; `pygmy restore
// --config` lays the backup out for a four-host layout on network namespaces (a gateway host and three replica
// hosts), one `pygmy node` per host starts on its directory, and through the gateway host every acknowledged order
// is there and a new order is taken. Outside CI, without root or `ip netns`, the file skips with a printed reason.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createTestHosts, namespaceUnavailableReason } from '../../src/check/hosts.js';
import { makeTempDir, startNodeProcess, writeLayout, type LayoutNode, type NodeProcess } from '../../src/check/node-process.js';
import { http, startPygmy } from '../support/pygmy-process.js';
import { runPygmy, type ScriptRun } from '../support/run-script.js';

const skipReason = namespaceUnavailableReason();
if (skipReason !== null && process.env.CI === 'true') throw new Error(`multi-host tests must run in CI but cannot: ${skipReason}`);

/** `pygmy ...args`; a restore of this size takes seconds, so two minutes means it hung. */
function run(args: readonly string[]): Promise<ScriptRun> {
  return runPygmy(args, { timeoutMs: 120_000 });
}

test('a backup of a single-process cluster, restored onto three new hosts and a gateway host', async () => {
  if (skipReason !== null) return console.log(`skipped: ${skipReason}`);
  const root = makeTempDir('pygmy-restore-hosts-');
  const old = await startPygmy({ dataDir: join(root, 'old') });
  const keys = Array.from({ length: 12 }, (_, position) => `hosts-${position}`);
  try {
    for (const [position, key] of keys.entries()) {
      const answer = await http('POST', `${old.url}/order/${1 + (position % 4)}?amount=1`, { headers: { 'idempotency-key': key } });
      assert.is(answer.status, 200, answer.text);
    }
    const backup = await run(['backup', '--gateway', old.url, '--out', join(root, 'backup')]);
    assert.is(backup.code, 0, backup.output);
  } finally {
    await old.kill();
  }
  const hosts = createTestHosts(4);
  const nodes: NodeProcess[] = [];
  try {
    const addresses = hosts.addresses;
    const layout: LayoutNode[] = [
      { name: 'gateway', host: addresses[0]!, port: 34900, actors: ['cache'], gateway: { host: addresses[0]!, port: 34800 } },
      { name: 'host-a', host: addresses[1]!, port: 34900, actors: ['catalog-1', 'order-1'] },
      { name: 'host-b', host: addresses[2]!, port: 34900, actors: ['catalog-2', 'order-2'] },
      { name: 'host-c', host: addresses[3]!, port: 34900, actors: ['catalog-3', 'order-3'] },
    ];
    const config = writeLayout(root, layout);
    const restore = await run(['restore', '--from', join(root, 'backup'), '--data-dir', join(root, 'restored'), '--config', config]);
    assert.is(restore.code, 0, restore.output);
    for (const name of ['host-a', 'host-b', 'host-c']) assert.match(restore.output, `${join(root, 'restored', name)}: catalog-${name.slice(-1) === 'a' ? 1 : name.slice(-1) === 'b' ? 2 : 3}`);
    const secret = randomBytes(32).toString('hex');
    for (const [index, node] of layout.entries()) {
      if (index === 0) continue;
      nodes.push(await startNodeProcess({ name: node.name, config, dataDir: join(root, 'restored', node.name), env: { PYGMY_CLUSTER_SECRET: secret }, namespace: hosts.namespaces[index]! }));
    }
    const gateway = await startNodeProcess({ name: 'gateway', config, dataDir: join(root, 'restored', 'gateway'), env: { PYGMY_CLUSTER_SECRET: secret }, namespace: hosts.namespaces[0]!, waitReady: true });
    nodes.push(gateway);
    const url = gateway.url!;
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
