// Consistency inside one process (the cluster started in-process, so the test can ask replicas directly):
// - lookups racing invalidations never leave a stale entry in the cache;
// - replicas of each group converge to the same state hash at the same applied index (promise 7), checked by a
//   checker that is first shown to fail on diverged digests;
// - one invalidation path per write: each order and each price change through the gateway makes the cache actor
//   apply exactly one invalidation of the item, and the gateway's near cache exactly one (the replicas' push,
//   passed on as a notice). Two or more (the gateway invalidating beside the push, several replicas' copies
//   applied, the mirror invalidated twice) fail it, and so does none; read-your-writes is checked on the way.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { CacheStats } from '../../src/actors/cache/policy.js';
import { catalogMembers, orderMembers, startCluster, type RunningCluster } from '../../src/cluster/cluster.js';
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

interface Counts {
  readonly cache: number;
  readonly mirror: number;
}

async function invalidations(cluster: RunningCluster): Promise<Counts> {
  const cache = await cluster.system.ask<CacheStats>('cache', { type: 'stats' }, { timeoutMs: 2_000 });
  const mirror = cluster.backend.nearCacheStats();
  assert.ok(mirror !== null, 'the near cache is on by default');
  return { cache: cache.invalidations, mirror: mirror.invalidations };
}

async function stockOf(url: string, item: number): Promise<{ stock: number; price: number }> {
  const answer = await http('GET', `${url}/lookup/${item}`);
  assert.is(answer.status, 200, answer.text);
  const result = answer.json().result as { stock: number; price: number };
  return { stock: result.stock, price: result.price };
}

test('every write is invalidated once in the cache actor and once in the near cache', async () => {
  await withCluster(async (cluster) => {
    const url = cluster.url;
    const initial = await stockOf(url, 1);
    await stockOf(url, 1);
    const writes: Array<{ what: string; run: () => Promise<void>; expect: (read: { stock: number; price: number }) => boolean }> = [];
    for (let order = 1; order <= 5; order += 1) {
      writes.push({
        what: `order ${order}`,
        run: async () => assert.is((await http('POST', `${url}/order/1?amount=1`)).text, 'true'),
        expect: (read) => read.stock === initial.stock - order,
      });
    }
    writes.push({
      what: 'price change',
      run: async () => assert.is((await http('POST', `${url}/admin/items/1`, { body: JSON.stringify({ price: 12.5 }) })).status, 200),
      expect: (read) => read.price === 12.5,
    });
    for (const write of writes) {
      const before = await invalidations(cluster);
      await write.run();
      const read = await stockOf(url, 1);
      assert.ok(write.expect(read), `${write.what}: read-your-writes (read ${JSON.stringify(read)})`);
      // The followers apply (and push) a little later than the leader: their copies must not count either.
      await sleep(300);
      await stockOf(url, 1);
      const after = await invalidations(cluster);
      assert.is(after.cache - before.cache, 1, `${write.what}: invalidations applied by the cache actor`);
      assert.is(after.mirror - before.mirror, 1, `${write.what}: invalidations applied by the near cache`);
    }
  });
});

test.run();
