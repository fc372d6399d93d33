// Group size: `pygmy start --replicas N` runs N catalog and N order replicas (N odd, 1–7). With one replica a
// group needs no peer; with five it keeps serving with two of them stopped. A size we do not run is a usage error.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { groupMembers, replicasProblem, startCluster, type RunningCluster } from '../../src/cluster/cluster.js';
import { createLogger } from '../../src/cli/logger.js';
import { main as startMain } from '../../src/cli/start.js';
import { UsageError } from '../../src/cli/usage-error.js';
import { eventually, http, makeDataDir, removeDataDir } from '../support/pygmy-process.js';
import { placeOrders } from '../support/orders.js';

async function withCluster(replicas: number, run: (cluster: RunningCluster) => Promise<void>): Promise<void> {
  const dataDir = makeDataDir();
  const logger = createLogger({ level: 'warn', pretty: false, destination: { write: () => true } });
  const cluster = await startCluster({ host: '127.0.0.1', port: 0, dataDir, fresh: true, logger, replicas, tickMs: 20 });
  try {
    await run(cluster);
  } finally {
    await cluster.close();
    removeDataDir(dataDir);
  }
}

test('group sizes: odd from 1 to 7, anything else refused with the reason', async () => {
  assert.equal(groupMembers('catalog', 5), ['catalog-1', 'catalog-2', 'catalog-3', 'catalog-4', 'catalog-5']);
  for (const wrong of [0, 2, 4, 8, 9, 1.5]) assert.type(replicasProblem(wrong), 'string', `${wrong}`);
  for (const right of [1, 3, 5, 7]) assert.is(replicasProblem(right), null);
  for (const wrong of ['4', '9', 'x']) {
    try {
      await startMain(['--replicas', wrong, '--port', '0']);
      assert.unreachable(`--replicas ${wrong} started`);
    } catch (error) {
      assert.ok(error instanceof UsageError, `--replicas ${wrong}: ${String(error)}`);
      assert.match((error as Error).message, /replicas/);
    }
  }
});

test('--replicas 1: one catalog and one order replica serve orders', async () => {
  await withCluster(1, async (cluster) => {
    const view = await cluster.backend.cluster();
    assert.equal(view.actors.filter((actor) => actor.group === 'catalog').map((actor) => actor.name), ['catalog-1']);
    assert.is(view.leaders.catalog, 'catalog-1');
    assert.is(view.leaders.order, 'order-1');
    assert.is(await placeOrders(cluster.url, 5), 5);
    assert.is((await http('GET', `${cluster.url}/lookup/2`)).status, 200);
  });
});

test('--replicas 5: five per group, still serving with two catalog and two order replicas stopped', async () => {
  await withCluster(5, async (cluster) => {
    const view = await cluster.backend.cluster();
    assert.is(view.actors.filter((actor) => actor.group === 'catalog').length, 5);
    assert.is(view.actors.filter((actor) => actor.group === 'order').length, 5);
    const before = (await http('GET', `${cluster.url}/lookup/2`)).json().result.stock as number;
    assert.is(await placeOrders(cluster.url, 5), 5);
    // Stop the catalog leader and one more, and two order replicas: three of five remain in each group.
    const catalogLeader = view.leaders.catalog!;
    const catalogOther = groupMembers('catalog', 5).find((name) => name !== catalogLeader)!;
    for (const name of [catalogLeader, catalogOther, 'order-4', 'order-5']) await cluster.system.stop(name);
    await eventually('a catalog leader among the three left', async () => {
      const leaders = (await cluster.backend.cluster()).leaders;
      return leaders.catalog !== null && leaders.catalog !== catalogLeader ? leaders.catalog : undefined;
    }, 20_000);
    const placedAfter = await placeOrders(cluster.url, 5);
    assert.is(placedAfter, 5, 'orders failed with three of five replicas in each group');
    const after = (await http('GET', `${cluster.url}/lookup/2`)).json().result.stock as number;
    assert.is(before - after, 10, 'every acknowledged order deducted its stock once');
  });
});

test.run();
