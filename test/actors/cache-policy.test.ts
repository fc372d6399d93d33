// Tests of the cache policy with a hand-driven clock: LRU bound, lease, invalidation marks, the stale re-insert
// race, and single-flight sharing of backend reads.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CachePolicy, itemKey, listKey, searchKey } from '../../src/actors/cache/policy.js';
import { SingleFlight, SingleFlightBusyError } from '../../src/actors/cache/single-flight.js';

function makeCache(options: { capacity?: number; leaseMs?: number; invalidationRecordsMax?: number; inFlightMax?: number } = {}) {
  const clock = { nowMs: 1_000 };
  const cache = new CachePolicy<string>({
    capacity: options.capacity ?? 100,
    leaseMs: options.leaseMs ?? 500,
    now: () => clock.nowMs,
    invalidationRecordsMax: options.invalidationRecordsMax ?? 16,
    inFlightMax: options.inFlightMax ?? 8,
  });
  cache.noteContact();
  return { cache, clock };
}

/** A promise with its resolve handle, to hold a backend read open while the test acts. */
function deferred<T>() {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((resolveWith, rejectWith) => {
    resolve = resolveWith;
    reject = rejectWith;
  });
  return { promise, resolve, reject };
}

test('construction checks its bounds', () => {
  // Each invalid bound must be refused at construction, not discovered later.
  const now = () => 0;
  assert.throws(() => new CachePolicy({ capacity: 0, leaseMs: 1, now }), /capacity/);
  assert.throws(() => new CachePolicy({ capacity: 1.5, leaseMs: 1, now }), /capacity/);
  assert.throws(() => new CachePolicy({ capacity: 1, leaseMs: 0, now }), /leaseMs/);
  assert.throws(() => new CachePolicy({ capacity: 1, leaseMs: 1, now, invalidationRecordsMax: 0 }), /invalidationRecordsMax/);
  assert.throws(() => new SingleFlight(0), /inFlightMax/);
  assert.throws(() => itemKey(0), /positive/);
  const { cache } = makeCache();
  assert.throws(() => cache.put('bogus', 'x', 1), /not a cache key/);
});

test('LRU keeps at most capacity entries and evicts the least recently used', () => {
  // Fills three keys into a capacity of two after touching the first, and checks which survives and the counters.
  const { cache } = makeCache({ capacity: 2 });
  cache.put(itemKey(1), 'one', 1);
  cache.put(itemKey(2), 'two', 1);
  assert.is(cache.get(itemKey(1)), 'one');
  cache.put(itemKey(3), 'three', 1);
  assert.is(cache.get(itemKey(2)), undefined);
  assert.is(cache.get(itemKey(1)), 'one');
  assert.is(cache.get(itemKey(3)), 'three');
  for (let id = 10; id < 200; id += 1) cache.put(itemKey(id), 'x', 1);
  const stats = cache.stats();
  assert.is(stats.size, 2);
  assert.is(stats.evictions, 1 + 190);
  assert.is(stats.hits, 3);
  assert.is(stats.misses, 1);
  assert.equal(cache.getEntry(itemKey(199)), { value: 'x', index: 1 });
});

test('hits are served only within the lease; a lapse drops every entry', () => {
  // Advances the clock to the lease edge (hit), past it (miss), then restores contact and checks the entry is gone.
  const { cache, clock } = makeCache({ leaseMs: 500 });
  cache.put(listKey, 'all', 3);
  clock.nowMs += 500;
  assert.is(cache.get(listKey), 'all');
  clock.nowMs += 1;
  assert.is(cache.get(listKey), undefined);
  cache.noteContact();
  assert.is(cache.get(listKey), undefined, 'an entry from before the lapse must not come back');
  cache.put(listKey, 'fresh', 4);
  assert.is(cache.get(listKey), 'fresh');
  assert.is(cache.stats().leaseLapses, 1);
});

test('a lapse noticed only when contact resumes still drops entries and raises the floor', () => {
  // Lets the lease lapse with no read, resumes contact at index 50, and checks old entries and old fills are refused.
  const { cache, clock } = makeCache({ leaseMs: 100 });
  cache.put(itemKey(1), 'old', 10);
  clock.nowMs += 1_000;
  cache.noteContact(clock.nowMs, 50);
  assert.is(cache.get(itemKey(1)), undefined);
  assert.is(cache.put(itemKey(1), 'still old', 40), false);
  assert.is(cache.put(searchKey('Sys'), 'old search', 49), false);
  assert.is(cache.put(itemKey(1), 'new', 50), true);
  assert.is(cache.get(itemKey(1)), 'new');
});

test('a cache that never heard from the catalog serves no hits', () => {
  // A fresh policy has no contact, so even a stored entry is not a hit.
  const cache = new CachePolicy<string>({ capacity: 4, leaseMs: 1_000, now: () => 0 });
  cache.put(listKey, 'x', 1);
  assert.is(cache.get(listKey), undefined);
  cache.noteContact();
  assert.is(cache.get(listKey), 'x');
});

test('invalidate drops the item, the list and every search, but not other items', () => {
  // Fills all kinds of keys, invalidates item 2, and checks exactly the covering keys went.
  const { cache } = makeCache();
  cache.put(itemKey(1), 'one', 5);
  cache.put(itemKey(2), 'two', 5);
  cache.put(listKey, 'list', 5);
  cache.put(searchKey('sys'), 'sys', 5);
  cache.put(searchKey('grad'), 'grad', 5);
  cache.invalidate(2, 6);
  assert.is(cache.get(itemKey(1)), 'one');
  assert.is(cache.get(itemKey(2)), undefined);
  assert.is(cache.get(listKey), undefined);
  assert.is(cache.get(searchKey('SYS')), undefined);
  assert.is(cache.get(searchKey('grad')), undefined);
  assert.is(cache.stats().invalidations, 1);
  assert.is(cache.stats().size, 1);
});

test('fills older than an invalidation already seen are dropped; fills at or after it are kept', () => {
  // After invalidating item 3 at index 20: fills at 19 are dropped (item, list, search), at 20 kept; item 4 is free.
  const { cache } = makeCache();
  cache.invalidate(3, 20);
  assert.is(cache.put(itemKey(3), 'stale', 19), false);
  assert.is(cache.put(listKey, 'stale', 19), false);
  assert.is(cache.put(searchKey('x'), 'stale', 19), false);
  assert.is(cache.put(itemKey(4), 'other item', 1), true);
  assert.is(cache.put(itemKey(3), 'fresh', 20), true);
  assert.is(cache.put(listKey, 'fresh', 21), true);
  assert.is(cache.stats().staleFillsDropped, 3);
  assert.is(cache.put(itemKey(3), 'older than the entry', 20 - 1), false);
  assert.is(cache.get(itemKey(3)), 'fresh');
});

test('the race: a fill begun before an invalidation returning an older index is not inserted', async () => {
  // Starts a single-flight read, lets an invalidation at index 8 arrive, then completes the read at index 7 (kept
  // out but still answered) and a second read at index 9 (kept).
  const { cache } = makeCache();
  const backend = deferred<{ value: string; index: number }>();
  const reading = cache.singleFlight(itemKey(5), () => backend.promise);
  cache.invalidate(5, 8);
  backend.resolve({ value: 'stock 10', index: 7 });
  const answer = await reading;
  assert.equal(answer, { value: 'stock 10', index: 7, shared: false });
  assert.is(cache.get(itemKey(5)), undefined);
  assert.is(cache.stats().staleFillsDropped, 1);
  const newer = await cache.singleFlight(itemKey(5), async () => ({ value: 'stock 9', index: 9 }));
  assert.is(newer.value, 'stock 9');
  assert.is(cache.get(itemKey(5)), 'stock 9');
});

test('evicted invalidation records stay conservative through evictedMark', () => {
  // Invalidates more items than the record bound; an evicted item's old fill must still be refused, never accepted.
  const { cache } = makeCache({ invalidationRecordsMax: 4 });
  for (let id = 1; id <= 10; id += 1) cache.invalidate(id, 100 + id);
  assert.is(cache.put(itemKey(1), 'stale', 101), false, 'item 1 lost its record, so the evicted mark 106 applies');
  assert.is(cache.put(itemKey(1), 'fresh', 106), true);
  assert.is(cache.put(itemKey(9), 'stale', 108), false, 'item 9 keeps its own record, 109');
  assert.is(cache.put(itemKey(9), 'fresh', 109), true);
  assert.is(cache.markOf(itemKey(2)), 106, 'evicted items fall back to the highest evicted mark');
  assert.is(cache.markOf(itemKey(10)), 110);
  assert.is(cache.markOf(itemKey(999)), 106);
  assert.is(cache.markOf(listKey), 110);
});

test('single-flight: concurrent misses on one key share one backend read', async () => {
  // Starts five reads of one key while the backend is held, counts load calls, then checks all got the one answer.
  const { cache } = makeCache();
  const backend = deferred<{ value: string; index: number }>();
  let loads = 0;
  const load = () => {
    loads += 1;
    return backend.promise;
  };
  const readers = Array.from({ length: 5 }, () => cache.singleFlight(listKey, load));
  assert.is(cache.stats().inFlight, 1);
  backend.resolve({ value: 'everything', index: 3 });
  const answers = await Promise.all(readers);
  assert.is(loads, 1);
  assert.equal(answers.map((answer) => answer.shared), [false, true, true, true, true]);
  for (const answer of answers) assert.is(answer.value, 'everything');
  assert.is(cache.stats().inFlight, 0);
  assert.is(cache.get(listKey), 'everything');
  await cache.singleFlight(listKey, load);
  assert.is(loads, 2, 'a settled load is not reused');
});

test('single-flight: a failed load rejects every waiter and frees its slot; the in-flight bound refuses', async () => {
  // Fails one shared load, checks both waiters see the error, then fills the bound and checks the named refusal.
  const { cache } = makeCache({ inFlightMax: 2 });
  const failing = deferred<{ value: string; index: number }>();
  const first = cache.singleFlight(itemKey(1), () => failing.promise);
  const second = cache.singleFlight(itemKey(1), () => failing.promise);
  failing.reject(new Error('no quorum'));
  for (const waiter of [first, second]) {
    try {
      await waiter;
      assert.unreachable('a failed load must reject');
    } catch (error) {
      assert.match((error as Error).message, /no quorum/);
    }
  }
  assert.is(cache.stats().inFlight, 0);
  const held = [deferred<{ value: string; index: number }>(), deferred<{ value: string; index: number }>()];
  const running = [cache.singleFlight(itemKey(1), () => held[0]!.promise), cache.singleFlight(itemKey(2), () => held[1]!.promise)];
  assert.throws(() => cache.singleFlight(itemKey(3), async () => ({ value: 'x', index: 1 })), (error: unknown) => error instanceof SingleFlightBusyError);
  held[0]!.resolve({ value: 'a', index: 1 });
  held[1]!.resolve({ value: 'b', index: 1 });
  await Promise.all(running);
  assert.is(cache.stats().inFlight, 0);
});

test('a fill begun before a lease lapse is refused when it completes', async () => {
  // Holds a read open across a lapse and a resumed contact, then completes it with a recent index: not stored.
  const { cache, clock } = makeCache({ leaseMs: 100 });
  const backend = deferred<{ value: string; index: number }>();
  const reading = cache.singleFlight(itemKey(1), () => backend.promise);
  clock.nowMs += 1_000;
  cache.noteContact();
  backend.resolve({ value: 'from before', index: 1_000 });
  await reading;
  assert.is(cache.get(itemKey(1)), undefined);
});

test.run();
