// The gateway's near cache through a real `pygmy start` process: cached lookups hammered while orders commit never
// show stock older than an acknowledged order, nor older than a read already answered; isolating or killing the
// cache actor through the admin routes ends hits at once (the mirror is revoked, not left to its lease).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { http, stopAndRemove, startPygmy, eventually, sleep, type PygmyProcess } from '../support/pygmy-process.js';

const near = suite<{ pygmy: PygmyProcess | null }>('near cache', { pygmy: null });

near.before(async (context) => {
  context.pygmy = await startPygmy();
});

near.after(async (context) => {
  await stopAndRemove(context.pygmy);
});

interface Read {
  readonly stock: number;
  readonly cache: string | undefined;
  readonly startedAfterAck: number;
}

async function lookup(url: string, item: number): Promise<{ stock: number; cache: string | undefined; servedBy: string | undefined }> {
  const answer = await http('GET', `${url}/lookup/${item}`);
  assert.is(answer.status, 200, answer.text);
  return { stock: answer.json().result.stock, cache: answer.headers.get('x-cache') ?? undefined, servedBy: answer.headers.get('x-served-by') ?? undefined };
}

/** Reads whose stock is above what the last order acknowledged before the read began: must be none. */
function staleReads(reads: readonly Read[], stockAfterAck: readonly number[]): Read[] {
  return reads.filter((read) => read.startedAfterAck > 0 && read.stock > stockAfterAck[read.startedAfterAck - 1]!);
}

near('the stale-read checker finds a read older than an acknowledged order', () => {
  // Proves the checker below can fail: a read begun after the 2nd acknowledgement that still shows the stock
  // from before it is reported; one that shows the stock after it is not.
  const stockAfterAck = [9, 8];
  assert.is(staleReads([{ stock: 9, cache: 'HIT', startedAfterAck: 2 }], stockAfterAck).length, 1);
  assert.is(staleReads([{ stock: 8, cache: 'HIT', startedAfterAck: 2 }, { stock: 10, cache: 'HIT', startedAfterAck: 0 }], stockAfterAck).length, 0);
});

near('hits never show stock older than an acknowledged order, nor older than an earlier read', async (context) => {
  // Four readers look item 3 up in a loop while 15 orders of one unit commit one after another; each read
  // records how many orders were acknowledged before it began. Every such read must show at most the stock
  // after those orders, and each reader's stock must never go up. Most reads must be hits (the near cache works).
  const url = context.pygmy!.url;
  const initial = (await lookup(url, 3)).stock;
  assert.ok(initial >= 15, `item 3 needs 15 in stock, has ${initial}`);
  await lookup(url, 3);
  let acknowledged = 0;
  let done = false;
  const stockAfterAck: number[] = [];
  const reads: Read[] = [];
  const reader = async () => {
    let last = Number.POSITIVE_INFINITY;
    while (!done) {
      const startedAfterAck = acknowledged;
      const read = await lookup(url, 3);
      assert.ok(read.stock <= last, `monotonic reads: stock went from ${last} up to ${read.stock}`);
      last = read.stock;
      reads.push({ stock: read.stock, cache: read.cache, startedAfterAck });
    }
  };
  const readers = [reader(), reader(), reader(), reader()];
  try {
    for (let order = 1; order <= 15; order += 1) {
      const answer = await http('POST', `${url}/order/3?amount=1`, { timeoutMs: 10_000 });
      assert.is(answer.text, 'true');
      stockAfterAck.push(initial - order);
      acknowledged = order;
      await sleep(30);
      const after = await lookup(url, 3);
      assert.is(after.stock, initial - order, 'a read after the acknowledgement shows the order');
    }
  } finally {
    done = true;
    await Promise.allSettled(readers);
  }
  await Promise.all(readers);
  assert.equal(staleReads(reads, stockAfterAck), []);
  const hits = reads.filter((read) => read.cache === 'HIT').length;
  assert.ok(hits > reads.length / 2, `expected mostly hits, got ${hits} of ${reads.length}`);
});

near('isolating the cache actor ends hits at once; healing brings them back', async (context) => {
  // After the admin isolate returns, every lookup must be a miss served by a replica — within the mirror's lease
  // (1 s) included, so the check runs for 1.5 s; after heal, hits return.
  const url = context.pygmy!.url;
  await lookup(url, 4);
  assert.is((await lookup(url, 4)).cache, 'HIT');
  assert.is((await http('POST', `${url}/admin/actors/cache/isolate`)).status, 200);
  const until = Date.now() + 1_500;
  while (Date.now() < until) {
    const read = await lookup(url, 4);
    assert.is(read.cache, 'MISS');
    assert.ok(read.servedBy?.startsWith('catalog-'), `served by ${read.servedBy}`);
    await sleep(50);
  }
  assert.is((await http('POST', `${url}/admin/actors/cache/heal`)).status, 200);
  await eventually('hits after heal', async () => ((await lookup(url, 4)).cache === 'HIT' ? true : undefined), 10_000, 100);
});

near('killing the cache actor ends hits at once', async (context) => {
  // The next lookup after the kill returns must not be a hit from the gateway's mirror: the restarted cache is
  // empty, so it is a miss whoever serves it.
  const url = context.pygmy!.url;
  await lookup(url, 1);
  assert.is((await lookup(url, 1)).cache, 'HIT');
  assert.is((await http('POST', `${url}/admin/actors/cache/kill`)).status, 200);
  assert.is((await lookup(url, 1)).cache, 'MISS');
  await eventually('hits after restart', async () => ((await lookup(url, 1)).cache === 'HIT' ? true : undefined), 10_000, 100);
});

near.run();
