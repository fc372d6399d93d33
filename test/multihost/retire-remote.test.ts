// A member removed on another node is retired there, on loopback: two `pygmy node`s in this process, node "a"
// with the gateway, the cache and catalog-1/2, order-1/2, node "b" with catalog-3 and order-3, each with its own
// data dir. `DELETE /admin/groups/catalog/members/catalog-3` on a's gateway must leave catalog-3 stopped on b and
// its database renamed catalog-3.removed-TIMESTAMP.db in b's data dir (b answers the gateway's `retire` control
// request). Then b goes away and order-3 is removed: the removal still succeeds, the gateway logs a warning with
// event retireSkipped (asked once, not retried) and orders are still bought. A retire request for an actor that
// does not live on the node is refused. Fails if the gateway only stops a remote member and leaves its database.
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createLogger } from '../../src/cli/logger.js';
import { parseLayout, startNode, type RunningNode } from '../../src/cli/multihost.js';
import { controlNameOf } from '../../src/runtime/transport/node-transport.js';
import { changeMembers } from '../support/membership-change.js';
import { freePort } from '../support/multihost.js';
import { placeOrders } from '../support/orders.js';
import { eventually, http } from '../support/pygmy-process.js';

interface LogLine {
  readonly event?: string;
  readonly member?: string;
  readonly level?: number;
}

/** A logger that keeps every line (JSON) it is given, for the test to read. */
function keptLogger(lines: LogLine[]) {
  return createLogger({ level: 'info', pretty: false, destination: { write: (line: string) => { lines.push(JSON.parse(line) as LogLine); return true; } } });
}

async function leaderOf(url: string, group: string): Promise<string> {
  return eventually(`a ${group} leader`, async () => {
    const answer = (await http('GET', `${url}/admin/groups/${group}/members`)).json();
    return answer.ok && answer.result.leader !== null ? answer.result.leader as string : undefined;
  }, 30_000);
}

/** `name` is made to lead no more (a removal is then one committed change, answered once). */
async function notLeading(node: RunningNode, url: string, group: string, name: string, other: string): Promise<void> {
  await eventually(`a ${group} leader other than ${name}`, async () => {
    const leader = await leaderOf(url, group);
    if (leader !== name) return true;
    await node.system.ask(name, { type: 'transferLeadership', to: other }, { timeoutMs: 5_000 }).catch(() => undefined);
    return undefined;
  }, 30_000, 200);
}

test('a member removed on another node is stopped there and its database renamed; an unreachable node is logged', async () => {
  const root = mkdtempSync(join(tmpdir(), 'pygmy-retire-remote-'));
  const [portA, portB] = await Promise.all([freePort(), freePort()]);
  const layout = parseLayout({
    tickMs: 20,
    nodes: [
      { name: 'a', host: '127.0.0.1', port: portA, actors: ['cache', 'catalog-1', 'catalog-2', 'order-1', 'order-2'], gateway: { host: '127.0.0.1', port: 0 } },
      { name: 'b', host: '127.0.0.1', port: portB, actors: ['catalog-3', 'order-3'] },
    ],
  }, root);
  const linesA: LogLine[] = [];
  const linesB: LogLine[] = [];
  const dataA = join(root, 'a');
  const dataB = join(root, 'b');
  const nodes: RunningNode[] = [];
  try {
    nodes.push(await startNode({ layout, node: 'b', dataDir: dataB, fresh: true, secret: null, logger: keptLogger(linesB) }));
    nodes.push(await startNode({ layout, node: 'a', dataDir: dataA, fresh: true, secret: null, logger: keptLogger(linesA) }));
    const [nodeB, nodeA] = nodes as [RunningNode, RunningNode];
    assert.ok(await nodeA.ready(30_000), 'both groups elected leaders');
    const url = nodeA.url!;
    assert.is(await placeOrders(url, 3), 3);
    assert.ok(readdirSync(dataB).includes('catalog-3.db'));

    await notLeading(nodeB, url, 'catalog', 'catalog-3', 'catalog-1');
    const removed = await changeMembers(url, 'DELETE', '/admin/groups/catalog/members/catalog-3');
    assert.not.ok(removed.json().result.voters.includes('catalog-3'), removed.text);
    const catalog3 = (await nodeB.system.status()).find((status) => status.name === 'catalog-3');
    assert.ok(catalog3 !== undefined && !catalog3.alive, `catalog-3 still runs on b: ${JSON.stringify(catalog3)}`);
    const filesB = readdirSync(dataB);
    assert.not.ok(filesB.includes('catalog-3.db'), `catalog-3's database kept its name on b: ${filesB.join(', ')}`);
    assert.ok(filesB.some((file) => /^catalog-3\.removed-.+\.db$/.test(file)), `catalog-3's database was not kept on b: ${filesB.join(', ')}`);
    assert.ok(filesB.includes('order-3.db'), 'order-3 was left alone');
    assert.ok(linesB.some((line) => line.event === 'memberRetired' && line.member === 'catalog-3'), 'b did not log the retirement');
    assert.not.ok(linesA.some((line) => line.event === 'retireSkipped'), 'a retirement was skipped');
    assert.is(await placeOrders(url, 3), 3, 'orders after catalog-3 was removed');

    // A retire request is served only for actors of the node it is sent to.
    await nodeA.system.ask(controlNameOf('b'), { type: 'retire', name: 'catalog-1' }, { timeoutMs: 5_000 }).then(
      () => assert.unreachable('b retired an actor that lives on a'),
      (error: unknown) => assert.match(String(error), /no actor named catalog-1 on b/),
    );

    // b goes away: order-3's removal still commits (order-1 and order-2 are a majority); its retirement is logged
    // as skipped, once, and nothing on b's disk changes.
    await notLeading(nodeA, url, 'order', 'order-3', 'order-1');
    await nodeB.close();
    const orderRemoved = await changeMembers(url, 'DELETE', '/admin/groups/order/members/order-3');
    assert.equal(orderRemoved.json().result.voters, ['order-1', 'order-2'], orderRemoved.text);
    const skipped = linesA.filter((line) => line.event === 'retireSkipped');
    assert.is(skipped.length, 1, JSON.stringify(skipped));
    assert.is(skipped[0]!.member, 'order-3');
    assert.is(skipped[0]!.level, 40, 'a warning');
    assert.ok(readdirSync(dataB).includes('order-3.db'), 'order-3 on the unreachable node is as it was');
    assert.is(await placeOrders(url, 3), 3, 'orders after order-3 was removed');
  } finally {
    for (const node of [...nodes].reverse()) await node.close();
    rmSync(root, { recursive: true, force: true });
  }
});

test.run();
