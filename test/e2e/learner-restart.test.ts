// A learner survives compaction and a restart of `pygmy start`: catalog-4 is added with "promote":false, the
// catalog log grows past that configuration entry and every replica compacts it away (a small
// snapshotEntriesInterval), the process stops and starts again on the same data dir. The configuration then comes
// from the snapshot record alone: catalog-4 must still be a learner (not a voter, not forgotten), with the same
// configuration index, and still be replicated to. Fails if the snapshot record keeps only the voters.
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startCluster, type ClusterOptions } from '../../src/cluster/cluster.js';
import { createLogger } from '../../src/cli/logger.js';
import { cluster as clusterView, eventually, http, makeDataDir, removeDataDir } from '../support/pygmy-process.js';

function snapshotRecord(dataDir: string, name: string): { snapshot_index: number; learners: string; config_index: number } | undefined {
  const database = new Database(join(dataDir, `${name}.db`), { readonly: true });
  try {
    return database.prepare('SELECT snapshot_index, learners, config_index FROM raft_snapshot').get() as never;
  } finally {
    database.close();
  }
}

test('a learner added with promote:false is still a learner after compaction and a restart', async () => {
  const dataDir = makeDataDir();
  const logger = createLogger({ level: 'warn', pretty: false, destination: { write: () => true } });
  const options: ClusterOptions = { host: '127.0.0.1', port: 0, dataDir, fresh: true, logger, tickMs: 20, snapshotEntriesInterval: 8 };
  let running = await startCluster(options);
  try {
    const added = await http('POST', `${running.url}/admin/groups/catalog/members`, { body: '{"name":"catalog-4","promote":false}', timeoutMs: 15_000 });
    assert.is(added.status, 200, added.text);
    assert.equal(added.json().result.learners, ['catalog-4']);
    const configIndex = added.json().result.configIndex as number;
    for (let restock = 0; restock < 24; restock += 1) {
      const answer = await http('POST', `${running.url}/admin/items/1`, { body: '{"restock":1}' });
      assert.is(answer.status, 200, answer.text);
    }
    const stock = (await http('GET', `${running.url}/lookup/1`)).json().result.stock as number;
    await running.close();
    for (const name of ['catalog-1', 'catalog-2', 'catalog-3', 'catalog-4']) {
      const record = snapshotRecord(dataDir, name);
      assert.ok(record !== undefined && record.snapshot_index > configIndex, `${name} did not compact past the change: ${JSON.stringify(record)}`);
      assert.equal(JSON.parse(record.learners), ['catalog-4'], `${name} recorded no learner`);
      assert.is(record.config_index, configIndex);
    }

    running = await startCluster({ ...options, fresh: false });
    const members = await eventually('the catalog leader after the restart', async () => {
      const view = (await http('GET', `${running.url}/admin/groups/catalog/members`)).json();
      return view.ok && view.result.leader !== null ? view.result : undefined;
    }, 20_000);
    assert.equal(members.voters, ['catalog-1', 'catalog-2', 'catalog-3']);
    assert.equal(members.learners, ['catalog-4'], 'the learner was forgotten or promoted by the restart');
    assert.is(members.configIndex, configIndex);
    assert.is((await http('POST', `${running.url}/admin/items/1`, { body: '{"restock":1}' })).status, 200);
    assert.is((await http('GET', `${running.url}/lookup/1`)).json().result.stock, stock + 1);
    const leaderApplied = await eventually('the learner replicated to after the restart', async () => {
      const view = await clusterView(running.url);
      const leader = view.actors.find((actor) => actor.name === members.leader);
      const learner = view.actors.find((actor) => actor.name === 'catalog-4');
      const learnerApplied = learner?.lastApplied ?? 0;
      return learnerApplied > 0 && learnerApplied >= (leader?.lastApplied ?? Number.POSITIVE_INFINITY) ? learnerApplied : undefined;
    }, 20_000);
    assert.ok(leaderApplied > configIndex);
  } finally {
    await running.close();
    removeDataDir(dataDir);
  }
});

test.run();
