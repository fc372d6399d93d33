// Disk faults in running replicas: a write that fails with EIO or ENOSPC (through the storage's fault hook) makes
// the replica stop itself before it acknowledges anything that write was to back; the supervisor restarts it, it
// reloads from its own disk and catches up, and the group keeps serving meanwhile. Checked under a stream of
// orders: every acknowledged order is in the log, conservation holds, and the replicas converge.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { catalogMembers, orderMembers, startCluster, type RunningCluster } from '../../src/cluster/cluster.js';
import { createLogger } from '../../src/cli/logger.js';
import { conservationAnomalies } from '../support/conservation.js';
import { convergenceAnomalies } from '../support/convergence.js';
import { eventually, http, makeDataDir, removeDataDir, sleep } from '../support/pygmy-process.js';

const initialStock: Record<number, number> = { 1: 10, 2: 20, 3: 25, 4: 15 };
const restockEach = 300;

async function orderStream(url: string, stop: () => boolean, client: number): Promise<Array<{ key: string; bought: boolean }>> {
  const acknowledged: Array<{ key: string; bought: boolean }> = [];
  for (let sequence = 0; !stop() && sequence < 5_000; sequence += 1) {
    const key = `disk-${client}-${sequence}`;
    const answer = await http('POST', `${url}/order/${1 + ((client + sequence) % 4)}?amount=1`, { headers: { 'idempotency-key': key } });
    if (answer.status === 200) acknowledged.push({ key, bought: answer.text === 'true' });
  }
  return acknowledged;
}

async function restartsOf(cluster: RunningCluster, name: string): Promise<number> {
  return (await cluster.system.status()).find((status) => status.name === name)!.restarts;
}

test('EIO and ENOSPC stop the replica, the group goes on, nothing acknowledged is lost', async () => {
  const dataDir = makeDataDir();
  const lines: string[] = [];
  const logger = createLogger({ level: 'info', pretty: false, destination: { write: (line: string) => lines.push(line) } });
  const cluster = await startCluster({ host: '127.0.0.1', port: 0, dataDir, fresh: true, logger, diskFaultInjection: true, maxRestarts: 100 });
  try {
    const url = cluster.url;
    for (const item of [1, 2, 3, 4]) {
      assert.is((await http('POST', `${url}/admin/items/${item}`, { body: JSON.stringify({ restock: restockEach }) })).status, 200);
    }
    let stopping = false;
    const streams = Array.from({ length: 4 }, (_, client) => orderStream(url, () => stopping, client));
    const victims: Array<[string, 'EIO' | 'ENOSPC']> = [];
    for (const [group, code] of [['catalog', 'EIO'], ['order', 'ENOSPC'], ['catalog', 'ENOSPC']] as const) {
      await sleep(400);
      const status = await cluster.backend.cluster();
      const name = status.leaders[group]!; // the leader: its failing write would otherwise back an acknowledgement
      const before = await restartsOf(cluster, name);
      assert.ok(await cluster.system.ask<boolean>(name, { type: 'injectDiskFault', code }), `${name} accepts the fault`);
      await eventually(`${name} to be restarted after its ${code}`, async () => ((await restartsOf(cluster, name)) > before ? true : undefined), 10_000);
      victims.push([name, code]);
    }
    await sleep(500);
    stopping = true;
    const acknowledged = (await Promise.all(streams)).flat();
    assert.ok(acknowledged.filter((order) => order.bought).length > 20, `orders kept succeeding (${acknowledged.length} acknowledged)`);
    for (const [name, code] of victims) {
      assert.ok(lines.some((line) => line.includes(`${name} stops: a disk write failed (${code})`)), `${name} said why it stopped`);
    }
    for (const order of acknowledged) {
      const stored = await http('GET', `${url}/orders/${order.key}`);
      assert.is(stored.status, 200, `acknowledged order ${order.key} is in the log`);
      assert.is(stored.json().result.status, order.bought ? 'committed' : 'rejected');
    }
    const ledgers = [];
    for (const item of [1, 2, 3, 4]) {
      const page = (await http('GET', `${url}/orders?item=${item}&limit=1000`)).json();
      assert.is(page.next, null, 'one page holds every order of the item');
      const orders = page.result as Array<{ amount: number; status: string }>;
      const stock = (await http('GET', `${url}/lookup/${item}`)).json().result.stock as number;
      ledgers.push({ item, initialStock: initialStock[item]!, restocked: restockEach, stock,
        committedAmounts: orders.filter((order) => order.status === 'committed').map((order) => order.amount) });
    }
    assert.equal(conservationAnomalies(ledgers), []);
    for (const members of [catalogMembers, orderMembers]) {
      const digests = await eventually('the restarted replicas to catch up', async () => {
        const answers = await Promise.all(members.map((name) => cluster.system.ask<{ index: number; hash: string }>(name, { type: 'hash' })));
        return new Set(answers.map((answer) => answer.index)).size === 1 ? answers.map((answer, position) => ({ name: members[position]!, ...answer })) : undefined;
      }, 15_000);
      assert.equal(convergenceAnomalies(digests), []);
    }
  } finally {
    await cluster.close();
    removeDataDir(dataDir);
  }
});

test('without the test flag a replica refuses fault injection', async () => {
  // The hook is off by default: a production replica cannot be made to fail by a message.
  const dataDir = makeDataDir();
  const logger = createLogger({ level: 'warn', pretty: false, destination: { write: () => true } });
  const cluster = await startCluster({ host: '127.0.0.1', port: 0, dataDir, fresh: true, logger });
  try {
    assert.is(await cluster.system.ask<boolean>('catalog-1', { type: 'injectDiskFault', code: 'EIO' }), false);
  } finally {
    await cluster.close();
    removeDataDir(dataDir);
  }
});

test.run();
