// The bench's durable-write anchor: a three-member etcd cluster on loopback. Checks that it starts, takes a durable
// put through its JSON gateway on the leader it names, and that stop() leaves no member process and that a bench
// without etcd on PATH says how to install it and skips the scenario instead of failing.
// etcd comes from Debian's etcd-server; without it the cluster test skips with the reason, except under CI=true,
// where .ci/run installs it and the test must run.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { etcdInstallHint, findEtcd, startEtcd } from '../../bench/etcd.js';
import { runPygmy } from '../support/run-script.js';

const isAlive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

test('findEtcd looks only on the PATH it is given', () => {
  assert.is(findEtcd(''), null);
  assert.is(findEtcd('/nonexistent-directory'), null);
  const found = findEtcd();
  if (found !== null) assert.is(findEtcd(dirname(found)), found);
});

test('three etcd members on loopback: a durable put is acknowledged by the leader, stop leaves no member', async () => {
  const binary = findEtcd();
  if (binary === null) {
    if (process.env.CI === 'true') assert.unreachable(`under CI=true etcd must be installed by .ci/run: ${etcdInstallHint}`);
    console.log(`skipped: ${etcdInstallHint}`);
    return;
  }
  const root = mkdtempSync(join(tmpdir(), 'pygmy-etcd-test-'));
  try {
    const cluster = await startEtcd(binary, root);
    try {
      assert.is(cluster.pids.length, 3);
      assert.ok(cluster.pids.includes(cluster.leaderPid));
      const key = Buffer.from('order/test').toString('base64');
      const answer = await fetch(`${cluster.url}/v3/kv/put`, { method: 'POST', body: JSON.stringify({ key, value: Buffer.from('1').toString('base64') }) });
      assert.is(answer.status, 200);
      const body = (await answer.json()) as { header?: { revision?: string } };
      assert.ok(Number(body.header?.revision) >= 2, JSON.stringify(body));
      const range = await fetch(`${cluster.url}/v3/kv/range`, { method: 'POST', body: JSON.stringify({ key }) });
      const read = (await range.json()) as { kvs?: Array<{ value: string }> };
      assert.is(Buffer.from(read.kvs?.[0]?.value ?? '', 'base64').toString(), '1');
    } finally {
      await cluster.stop();
    }
    for (const pid of cluster.pids) assert.not.ok(isAlive(pid), `etcd member ${pid} outlived stop()`);
    assert.ok(existsSync(join(root, 'etcd-1')), 'the data dirs were made under the given root');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('pygmy bench --scenario etcd without etcd on PATH prints how to install it and skips', async () => {
  const out = join(mkdtempSync(join(tmpdir(), 'pygmy-etcd-skip-')), 'results.json');
  try {
    const { code, output } = await runPygmy(['bench', '--scenario', 'etcd', '--duration', '1', '--settle', '0', '--out', out], {
      env: { ...process.env, PATH: '/nonexistent-directory' },
      timeoutMs: 30_000,
    });
    assert.is(code, 0, output);
    assert.match(output, 'apt-get install etcd-server');
    const results = JSON.parse(readFileSync(out, 'utf8')) as { scenarios: Record<string, unknown>; ratios: Record<string, unknown> };
    assert.equal(Object.keys(results.scenarios), []);
    assert.is(results.ratios['order/etcd'], null);
  } finally {
    rmSync(dirname(out), { recursive: true, force: true });
  }
});

test.run();
