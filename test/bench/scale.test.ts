// The scale run's machinery (bench/scale.ts) at a small size: 5,000 orders preloaded in bulk, the cluster started
// on them, a follower of each group replaced while orders flow. Checks that the figures are measured (not that they
// are fast: a benchmark is not a test) and that the new order member holds the preloaded orders — they are in no
// log entry after the preload's compaction, so it got them in an image; a catch-up that only replayed the log would
// leave it with a few hundred and fail here.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { benchCatalog } from '../../bench/run.js';
import { formatScale, scale } from '../../bench/scale.js';

test('scale: 5,000 preloaded orders reach a new member in an image; every figure is measured', async () => {
  const root = mkdtempSync(join(tmpdir(), 'pygmy-scale-test-'));
  try {
    const catalogPath = join(root, 'catalog.json');
    writeFileSync(catalogPath, JSON.stringify(benchCatalog()));
    const figures = await scale(root, catalogPath, { orders: 5_000, phaseSeconds: 2, connections: 4 }, () => undefined);
    console.log(formatScale(figures));
    assert.ok(figures.catchUpSeconds.order !== null && figures.catchUpSeconds.catalog !== null, 'both new members caught up');
    assert.ok((figures.ordersInNewMember ?? 0) >= 5_000, `the new order member holds ${figures.ordersInNewMember} orders`);
    assert.ok(figures.startEmptySeconds > 0 && figures.startLoadedSeconds > 0);
    assert.ok(figures.rssMiBPeak !== null && figures.rssMiBPeak >= (figures.rssMiBBefore ?? 0));
    assert.ok(figures.leaderStallMsMax !== null, 'the leaders\' event-loop delay was scraped');
    assert.ok(figures.ordersPerSecondBefore > 0 && figures.ordersPerSecondDuring > 0);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test.run();
