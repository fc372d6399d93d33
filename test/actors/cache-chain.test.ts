// The two cache anomalies `pygmy check` found, on the pure policy with hand-fed loads:
// - a lost invalidation (the cache or a replica cut off when it was pushed) let a hit on an older entry answer
//   after a miss had answered newer data (monotonic reads). The change chain now reveals the gap: every push names
//   the change before it, every read reports the latest change it reflects;
// - a lookup arriving just after an order was acknowledged joined a load that had begun before the order's
//   invalidation, and answered the old stock (read-your-writes). Invalidating a key now detaches its load.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CachePolicy, itemKey, listKey, searchKey } from '../../src/actors/cache/policy.js';

function policy(): CachePolicy<string> {
  const cache = new CachePolicy<string>({ capacity: 100, leaseMs: 1_000_000, now: () => 0 });
  cache.noteContact(0);
  return cache;
}

test('a read reporting a change the cache was never told of drops every entry before it is answered', async () => {
  // The list is cached at change 5; the invalidation of change 7 is lost; a search loads at index 9 reporting
  // change 7: the list is dropped (no later hit can show the pre-7 state) and the search's fresh answer is kept.
  const cache = policy();
  assert.ok(cache.observeChangeIndex(5) === false, 'a fresh cache learns where the chain is');
  cache.put(listKey, 'list as of change 5', 6);
  cache.put(itemKey(3), 'item 3 as of change 5', 6);
  const loaded = await cache.singleFlight(searchKey('grad'), async () => ({ value: 'search as of change 7', index: 9, changeIndex: 7 }));
  assert.is(loaded.value, 'search as of change 7');
  assert.is(cache.get(listKey), undefined);
  assert.is(cache.get(itemKey(3)), undefined);
  assert.is(cache.get(searchKey('grad')), 'search as of change 7', 'the load that revealed the gap is fresh and kept');
  assert.is(cache.stats().chainGaps, 1);
});

test('a read at a change already seen keeps everything', async () => {
  // No gap: change 7 arrived as an invalidation before the read that reports it (the replica pushes first).
  const cache = policy();
  cache.observeChangeIndex(5);
  cache.put(listKey, 'list', 6);
  assert.ok(cache.followChange(7, 5));
  cache.put(listKey, 'list after 7', 8);
  await cache.singleFlight(itemKey(1), async () => ({ value: 'item 1', index: 9, changeIndex: 7 }));
  assert.is(cache.get(listKey), 'list after 7');
  assert.is(cache.stats().chainGaps, 0);
});

test('a change is known once its first push was applied or the chain jumped past it', () => {
  // Every replica pushes each change; the cache acts on the first copy only. Known: pushed 7, jumped to 9.
  const cache = policy();
  cache.observeChangeIndex(5);
  assert.is(cache.knowsChange(7), false);
  cache.followChange(7, 5);
  assert.ok(cache.knowsChange(7), 'a second copy of 7 is a duplicate');
  assert.is(cache.knowsChange(8), false);
  cache.observeChangeIndex(9);
  assert.ok(cache.knowsChange(8), 'after a jump to 9 nothing cached predates 8');
});

test('an invalidation naming a change never seen reveals the gap', () => {
  // Changes 5 → 7 → 9: the push of 7 is lost; the push of 9 names 7, so everything cached is dropped.
  const cache = policy();
  cache.observeChangeIndex(5);
  cache.put(itemKey(1), 'item 1 as of change 5', 6);
  cache.put(itemKey(2), 'item 2 as of change 5', 6);
  assert.is(cache.followChange(9, 7), false);
  assert.is(cache.get(itemKey(1)), undefined, 'item 1 may have changed at 7');
  assert.is(cache.get(itemKey(2)), undefined);
  assert.ok(cache.followChange(11, 9), 'the chain continues from 9');
});

test('a lookup after an invalidation never joins a load that began before it', async () => {
  // A load of item 4 starts (at index 10, before the order); the order's invalidation arrives (index 12); a new
  // lookup must start its own load rather than share the old one, whose answer predates the order.
  const cache = policy();
  let release: (value: { value: string; index: number }) => void = () => {};
  const first = cache.singleFlight(itemKey(4), () => new Promise((resolve) => (release = resolve)));
  cache.invalidate(4, 12);
  let secondLoads = 0;
  const second = cache.singleFlight(itemKey(4), async () => {
    secondLoads += 1;
    return { value: 'stock after the order', index: 12 };
  });
  await new Promise((resolve) => setImmediate(resolve)); // loads start on a later turn
  release({ value: 'stock before the order', index: 10 });
  assert.is((await first).value, 'stock before the order', 'the caller that came before the order may see it');
  const answered = await second;
  assert.is(secondLoads, 1, 'the later caller made its own read');
  assert.is(answered.value, 'stock after the order');
  assert.is(answered.shared, false);
  assert.is(cache.get(itemKey(4)), 'stock after the order', 'and the old load was not stored');
  assert.is(cache.stats().inFlight, 0, 'the detached load no longer counts once settled');
});

test.run();
