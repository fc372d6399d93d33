// One invalidation path per write, in a cluster started in-process: each order and each price change through the
// gateway makes the cache actor apply exactly one invalidation of the item, and the gateway's near cache exactly
// one — the replicas' push, passed on as a notice. Two or more (the gateway invalidating beside the push, several
// replicas' copies applied, the mirror invalidated twice) fail it, and so does none (a write whose invalidation
// was lost). Read-your-writes is checked on the way: a lookup right after each acknowledgement shows the write.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { CacheStats } from '../../src/actors/cache/policy.js';
import { startCluster, type RunningCluster } from '../../src/cli/cluster.js';
import { createLogger } from '../../src/cli/logger.js';
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
