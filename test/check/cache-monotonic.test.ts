// Monotonic reads through the cache, the anomaly `pygmy check` found: a miss reads the catalog after a write was
// applied but before its invalidation reached the cache, and answers the new stock; a later hit on an older entry
// (the full list) answered the old stock again. The policy now invalidates an item when a load at a newer index
// shows it differently from an older entry. Checked on the pure policy with hand-fed loads.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CachePolicy, itemKey, listKey, searchKey } from '../../src/actors/cache/policy.js';

interface Value {
  readonly items: ReadonlyArray<{ id: number; stock: number }>;
}

function policy(): CachePolicy<Value> {
  const cache = new CachePolicy<Value>({ capacity: 100, leaseMs: 1_000_000, now: () => 0, itemsOf: (value) => value.items.map((item) => ({ id: item.id, fingerprint: String(item.stock) })) });
  cache.noteContact(0);
  return cache;
}

test('a newer load showing an item changed drops older entries that show it, before the load is answered', async () => {
  // The list is cached at index 5 with item 3 at stock 7; a search loads at index 9 with item 3 at stock 5: by the
  // time the search's answer is delivered, the list and the item entry are gone, so no hit can show 7 again.
  const cache = policy();
  cache.put(listKey, { items: [{ id: 3, stock: 7 }, { id: 4, stock: 15 }] }, 5);
  cache.put(itemKey(3), { items: [{ id: 3, stock: 7 }] }, 5);
  cache.put(itemKey(4), { items: [{ id: 4, stock: 15 }] }, 5);
  const loaded = await cache.singleFlight(searchKey('grad'), async () => ({ value: { items: [{ id: 3, stock: 5 }, { id: 4, stock: 15 }] }, index: 9 }));
  assert.is(loaded.index, 9);
  assert.is(cache.get(listKey), undefined, 'the list showing the old stock is dropped');
  assert.is(cache.get(itemKey(3)), undefined, 'the item showing the old stock is dropped');
  assert.ok(cache.get(itemKey(4)) !== undefined, 'an unchanged item stays cached');
  assert.is(cache.put(itemKey(3), { items: [{ id: 3, stock: 7 }] }, 6), false, 'a fill older than the change is refused');
});

test('a newer load showing the same versions keeps older entries (no needless misses)', async () => {
  // Same stocks at a newer index: nothing changed for these items, the cached list stays.
  const cache = policy();
  cache.put(listKey, { items: [{ id: 3, stock: 7 }] }, 5);
  await cache.singleFlight(itemKey(3), async () => ({ value: { items: [{ id: 3, stock: 7 }] }, index: 9 }));
  assert.ok(cache.get(listKey) !== undefined);
});

test.run();
