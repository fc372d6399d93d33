// Restore onto new hosts: a single-process cluster takes orders and is backed up, then dies; `pygmy restore
// --config` lays the backup out for a four-host layout on network namespaces (a gateway host and three replica
// hosts), one `pygmy node` per host starts on its directory, and through the gateway host every acknowledged order
// is there and a new order is taken. Outside CI, without root or `ip netns`, the file skips with a printed reason.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createTestHosts } from '../../src/check/hosts.js';
import { makeTempDir, writeLayout, type NodeProcess } from '../../src/check/node-process.js';
import { assertOrdersRestored, fourHostLayout, multihostSkipReason, startLayoutHosts } from '../support/four-hosts.js';
import { http, startPygmy } from '../support/pygmy-process.js';
import { runPygmy, type ScriptRun } from '../support/run-script.js';

const skipReason = multihostSkipReason();

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
    const layout = fourHostLayout(hosts);
    const config = writeLayout(root, layout);
    const restore = await run(['restore', '--from', join(root, 'backup'), '--data-dir', join(root, 'restored'), '--config', config]);
    assert.is(restore.code, 0, restore.output);
    for (const name of ['host-a', 'host-b', 'host-c']) assert.match(restore.output, `${join(root, 'restored', name)}: catalog-${name.slice(-1) === 'a' ? 1 : name.slice(-1) === 'b' ? 2 : 3}`);
    const url = await startLayoutHosts({ hosts, config, layout, dataDirOf: (name) => join(root, 'restored', name), secret: randomBytes(32).toString('hex') }, nodes);
    await assertOrdersRestored(url, keys);
  } finally {
    await Promise.all(nodes.map((node) => node.stop()));
    hosts.cleanup();
  }
});

test.run();
