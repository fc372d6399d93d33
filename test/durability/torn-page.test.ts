// A replica whose database file has a torn last page, against a real `pygmy start`: catalog-3 is stopped, the
// last page of its file overwritten with garbage, and started again. It must refuse to start with a clear
// corruption error (never serve from a damaged file), while the group keeps taking orders with two replicas.
// Repair is not tested here: removing the damaged file makes the replica crash on the leader's first heartbeat
// (commit beyond its empty log, as etcd's raft does too); see src/check/README.md.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { openSync, fstatSync, writeSync, closeSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { clusterView, eventually, http, makeDataDir, removeDataDir, sleep, startPygmy, type PygmyProcess } from '../../src/check/process.js';

function tearLastPage(path: string): void {
  const descriptor = openSync(path, 'r+');
  try {
    const size = fstatSync(descriptor).size;
    assert.ok(size >= 8_192, `database file large enough to tear (${size} bytes)`);
    const garbage = Buffer.alloc(4_096, 0xa5);
    writeSync(descriptor, garbage, 0, garbage.length, size - garbage.length);
  } finally {
    closeSync(descriptor);
  }
}

async function order(url: string, key: string): Promise<number> {
  return (await http('POST', `${url}/order/3?amount=1`, { headers: { 'idempotency-key': key }, timeoutMs: 8_000 })).status;
}

test('a torn last page: the replica refuses with a corruption error, the group continues', async () => {
  const dataDir = makeDataDir('pygmy-torn-');
  let pygmy: PygmyProcess | null = null;
  try {
    pygmy = await startPygmy({ dataDir, args: ['--max-restarts', '1000'] });
    const url = pygmy.url;
    assert.is((await http('POST', `${url}/admin/items/3`, { body: JSON.stringify({ restock: 500 }) })).status, 200);
    for (let index = 0; index < 40; index += 1) assert.is(await order(url, `before-${index}`), 200);
    assert.is((await http('POST', `${url}/admin/actors/catalog-3/stop`)).status, 200);
    await eventually('catalog-3 to be down', async () => ((await clusterView(url)).actors.find((actor) => actor.name === 'catalog-3')?.alive ? undefined : true));
    const path = join(dataDir, 'catalog-3.db');
    rmSync(`${path}-wal`, { force: true });
    rmSync(`${path}-shm`, { force: true });
    tearLastPage(path);
    await http('POST', `${url}/admin/actors/catalog-3/start`, { timeoutMs: 10_000 }).catch(() => null);
    await sleep(1_500);
    assert.match(pygmy.output(), /malformed|StorageCorruption|corrupt/i, 'a clear corruption error in the log');
    const down = (await clusterView(url)).actors.find((actor) => actor.name === 'catalog-3');
    assert.ok(down && !down.alive, 'the damaged replica is not serving');
    for (let index = 0; index < 10; index += 1) assert.is(await order(url, `during-${index}`), 200, 'the group continues');
  } finally {
    await pygmy?.stop();
    removeDataDir(dataDir);
  }
});

test.run();
