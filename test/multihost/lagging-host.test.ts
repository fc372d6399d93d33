// A host down while its group takes many orders with long keys, restarted on its data: its replicas are behind
// the compacted log, so each leader streams an image larger than one transport frame (16 MiB) in chunks; both
// replicas catch up and reach the same state hash as their leaders, and the catalog's deduct records are pruned. The layout sets logRetainBytes 0, so that
// the leaders keep no log for host-c (compaction.ts) and it needs an image. Before images were streamed such an image
// was dropped by the transport and re-sent forever.
// Four network namespaces (a gateway host and three replica hosts), one `pygmy node` per host, a probe node in
// the test process. PYGMY_LAGGING_ORDERS sets how many orders are taken while the host is down (default 80,000:
// with 128-character keys the order group's image is ~200 code units an order, past 16 MiB there; the catalog's
// is a few hundred KiB whatever the count, since its deduct records are pruned). Without root or `ip netns` the file
// skips with a printed reason; with CI=true it must run.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { ReplicaStatus } from '../../src/raft/replica.js';
import { fourHosts, type FourHosts, multihostSkipReason, startFourHosts, startHost, stopFourHosts } from '../support/four-hosts.js';
import { eventually, http } from '../support/pygmy-process.js';

const ordersWhileDown = Number(process.env.PYGMY_LAGGING_ORDERS ?? 80_000);
const inFlight = 48;
/** The load loop's bound: whatever was taken by then counts (and must still make an image past one frame). */
const loadBudgetMs = 240_000;

const skipReason = multihostSkipReason();

const test = suite<FourHosts>('a host far behind on network namespaces', fourHosts());

test.before(async (context) => {
  if (skipReason !== null) return;
  // logRetainBytes 0: leaders keep no log for a follower behind past their interval, so host-c needs images.
  await startFourHosts(context, { dataDirPrefix: 'pygmy-lagging-', probePortOffset: 6_000, config: { logRetainBytes: 0, dedupePruning: true } });
});

test.after(async (context) => {
  await stopFourHosts(context);
});

function status(context: FourHosts, name: string): Promise<ReplicaStatus> {
  return context.probe!.system.ask<ReplicaStatus>(name, { type: 'status' }, { timeoutMs: 5_000 });
}

/** Orders with 128-character keys, `inFlight` at a time, until `count` are answered or the budget is spent. */
async function takeOrders(url: string, count: number): Promise<number> {
  const deadline = Date.now() + loadBudgetMs;
  let next = 0;
  let answered = 0;
  const worker = async (): Promise<void> => {
    while (next < count && Date.now() < deadline) {
      const sequence = next;
      next += 1;
      const key = `${String(sequence).padStart(12, '0')}-${'k'.repeat(115)}`;
      const answer = await http('POST', `${url}/order/${1 + (sequence % 500)}?amount=1`, { headers: { 'idempotency-key': key }, timeoutMs: 10_000 }).catch(() => null);
      if (answer !== null && answer.status === 200) answered += 1;
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  return answered;
}

test('a host restarted far behind catches up through streamed images and reaches the same state', async (context) => {
  if (skipReason !== null) return console.log(`skipped: ${skipReason}`);
  await context.nodes.get('host-c')!.kill();
  const startedMs = Date.now();
  const answered = await takeOrders(context.url, ordersWhileDown);
  console.log(`lagging-host: ${answered} orders answered in ${Date.now() - startedMs} ms while host-c was down`);
  assert.ok(answered > ordersWhileDown / 2, `only ${answered} orders answered`);
  const restarted = await startHost(context, 3);
  const catchUpStartedMs = Date.now();
  for (const [follower, peer] of [['catalog-3', 'catalog-1'], ['order-3', 'order-1']] as const) {
    await eventually(`${follower} catches up`, async () => {
      const [behind, ahead] = await Promise.all([status(context, follower), status(context, peer)]);
      return behind.lastApplied > 0 && behind.lastApplied >= ahead.lastApplied ? true : undefined;
    }, 180_000, 500);
    const [hashBehind, hashAhead] = await Promise.all([follower, peer].map((name) => context.probe!.system.ask<{ index: number; hash: string }>(name, { type: 'hash' }, { timeoutMs: 5_000 })));
    assert.is(hashBehind!.index, hashAhead!.index, `${follower} and ${peer} at the same index`);
    assert.is(hashBehind!.hash, hashAhead!.hash, `${follower} has ${peer}'s state`);
    const counters = (await status(context, follower)).snapshotStream;
    assert.ok(counters.imagesInstalled >= 1, `${follower} installed a streamed image: ${JSON.stringify(counters)}`);
    console.log(`lagging-host: ${follower} caught up ${Date.now() - catchUpStartedMs} ms after the restart; ${JSON.stringify(counters)}`);
  }
  // Bounded dedupe over the whole run: the catalog holds deduct records only for orders not yet below the order
  // group's watermark, far fewer than the orders taken (src/actors/order/README.md).
  const held = await eventually('the catalog prunes its deduct records', async () => {
    const answer = await context.probe!.system.ask<{ ok: boolean; result?: unknown }>('catalog-3', { type: 'read', query: { type: 'deductsHeld' } }, { timeoutMs: 5_000 });
    return answer.ok && typeof answer.result === 'number' && answer.result < answered / 10 ? answer.result : undefined;
  }, 30_000, 500);
  console.log(`lagging-host: catalog-3 holds ${held} deduct records after ${answered} orders`);
  assert.not.match(restarted.output(), /larger than frameBytesMax/);
  for (const name of ['host-a', 'host-b']) assert.not.match(context.nodes.get(name)!.output(), /larger than frameBytesMax/, `${name} dropped no oversize message`);
});

test.run();
