// Consistency inside one process (the cluster started in-process, so the test can ask replicas directly):
// - lookups racing invalidations never leave a stale entry in the cache;
// - replicas of each group converge to the same state hash at the same applied index (promise 7), checked by a
//   checker that is first shown to fail on diverged digests.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { catalogMembers, orderMembers, startCluster, type RunningCluster } from '../../src/cli/cluster.js';
import { createLogger } from '../../src/cli/logger.js';
import { convergenceAnomalies, digestsAtOneIndex, type ReplicaDigest } from '../support/convergence.js';
import { http, makeDataDir, removeDataDir, sleep } from '../support/pygmy-process.js';

async function withCluster(run: (cluster: RunningCluster) => Promise<void>): Promise<void> {
  const dataDir = makeDataDir();
  const logger = createLogger({ level: 'warn', pretty: false, destination: { write: () => true } });
  const cluster = await startCluster({ host: '127.0.0.1', port: 0, dataDir, fresh: true, logger });
  try {
    await run(cluster);
  } finally {
    await cluster.close();
    removeDataDir(dataDir);
  }
}

test('the convergence checker reports diverged replicas', () => {
  // Proves the checker can fail: two replicas at one index with different hashes are reported; equal ones are not.
  const diverged: ReplicaDigest[] = [
    { name: 'catalog-1', index: 7, hash: 'aaaa' },
    { name: 'catalog-2', index: 7, hash: 'bbbb' },
    { name: 'catalog-3', index: 6, hash: 'cccc' },
  ];
  assert.is(convergenceAnomalies(diverged).length, 1);
  assert.equal(convergenceAnomalies([{ name: 'a', index: 3, hash: 'x' }, { name: 'b', index: 3, hash: 'x' }]), []);
});

test('lookups racing invalidations never leave a stale entry in the cache', async () => {
  // Runs readers of book 2 (lookup, list, search) against a writer ordering book 2, in five rounds; after each
  // round the cached answer (a HIT when present) must equal a fresh linearizable read taken after dropping it.
  await withCluster(async (cluster) => {
    const url = cluster.url;
    await http('POST', `${url}/admin/items/2`, { body: JSON.stringify({ restock: 500 }) });
    for (let round = 0; round < 5; round += 1) {
      let writing = true;
      const writer = (async () => {
        for (let order = 0; order < 15; order += 1) await http('POST', `${url}/order/2?amount=1`);
        writing = false;
      })();
      const readers = Array.from({ length: 4 }, async (_, reader) => {
        while (writing) await http('GET', reader % 2 === 0 ? `${url}/lookup/2` : reader === 1 ? `${url}/lookup` : `${url}/search/distributed`);
      });
      await Promise.all([writer, ...readers]);
      await sleep(20);
      const cached = (await http('GET', `${url}/lookup/2`)).json().result.stock;
      const cachedList = (await http('GET', `${url}/lookup`)).json().result[1].stock;
      await http('POST', `${url}/invalidate/item/2`);
      const fresh = await http('GET', `${url}/lookup/2`);
      assert.is(fresh.headers.get('x-cache'), 'MISS');
      assert.is(cached, fresh.json().result.stock, `round ${round}: cached lookup equals a fresh read`);
      assert.is(cachedList, fresh.json().result.stock, `round ${round}: cached list equals a fresh read`);
    }
  });
});

test('replicas of each group converge to the same state hash', async () => {
  // Places orders and restocks, then waits until the three replicas of each group have applied the same index
  // and compares their state hashes.
  await withCluster(async (cluster) => {
    const url = cluster.url;
    await Promise.all(Array.from({ length: 40 }, (_, order) => http('POST', `${url}/order/${1 + (order % 4)}?amount=1`)));
    await http('POST', `${url}/admin/items/4`, { body: JSON.stringify({ restock: 3, price: 12.5 }) });
    for (const members of [catalogMembers, orderMembers]) {
      const digests = await digestsAtOneIndex(cluster.system, members);
      assert.equal(convergenceAnomalies(digests), []);
      assert.ok(digests[0]!.index > 3);
    }
  });
});

test.run();
