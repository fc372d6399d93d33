// Logs sized for production: at `pygmy node`'s default level (productionLogLevel, info), 1,000 lookups and 1,000
// orders through a real in-process cluster write no per-request line, only state changes. The same detector is
// then shown to catch per-request lines once the gateway's level is lowered to debug (so it can fail).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startCluster } from '../../src/cluster/cluster.js';
import { createLogger, productionLogLevel } from '../../src/cli/logger.js';
import { http, makeDataDir, removeDataDir } from '../support/pygmy-process.js';

/** Messages that are written once per request: a read through the cache, an order, an invalidation. */
const perRequestPattern = /^(lookup|search)\/?|^lookup:|^order \S+: |invalidate item \d+ at index/;

function perRequestLines(lines: readonly string[]): string[] {
  return lines.filter((line) => perRequestPattern.test((JSON.parse(line) as { msg: string }).msg));
}

/** Runs `total` requests, `parallel` at a time. */
async function inParallel(total: number, parallel: number, request: (index: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: parallel }, async () => {
    while (next < total) await request(next++);
  }));
}

test('at the default level, 1,000 lookups and 1,000 orders write no per-request line', async () => {
  const dataDir = makeDataDir();
  const lines: string[] = [];
  const logger = createLogger({ level: productionLogLevel, pretty: false, destination: { write: (line: string) => lines.push(line) } });
  const cluster = await startCluster({ host: '127.0.0.1', port: 0, dataDir, fresh: true, logger });
  try {
    const url = cluster.url;
    const restock = await http('POST', `${url}/admin/items/2`, { body: JSON.stringify({ restock: 5_000 }) });
    assert.is(restock.status, 200, restock.text);
    const linesBefore = lines.length;
    await inParallel(1_000, 8, async (index) => {
      const answer = await http('GET', `${url}/lookup/${(index % 4) + 1}`);
      assert.is(answer.status, 200, answer.text);
    });
    await inParallel(1_000, 8, async () => {
      const answer = await http('POST', `${url}/order/2?amount=1`);
      assert.is(answer.status, 200, answer.text);
    });
    const loadLines = lines.slice(linesBefore);
    assert.equal(perRequestLines(loadLines), [], 'no per-request line at the default level');
    // State changes may happen meanwhile (an election after a slow tick on a busy machine), but not per request.
    assert.ok(loadLines.length <= 20, `at most a few state-change lines for 2,000 requests, got ${loadLines.length}:\n${loadLines.join('')}`);
    // The detector catches per-request lines when they are written: lower the gateway's level (the workers keep
    // theirs, set at spawn) and repeat a few lookups.
    logger.level = 'debug';
    const debugFrom = lines.length;
    for (let index = 0; index < 10; index += 1) await http('GET', `${url}/lookup/1`);
    assert.ok(perRequestLines(lines.slice(debugFrom)).length >= 10, 'at debug the same requests write their lines');
  } finally {
    await cluster.close();
    removeDataDir(dataDir);
  }
});

test.run();
