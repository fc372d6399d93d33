// The gateway cache's policy: what may be stored, what may be served, and what must be dropped. Pure: no timers,
// no I/O; time arrives as `nowMs` arguments or from the injected clock.
//
// Owns: an LRU of at most `capacity` entries, each tagged with the catalog Raft index it reflects, under the keys
// `item:<id>`, `list` and `search:<lower-cased topic text>`; the invalidation marks; the contact lease.
// Promises (DESIGN.md §3, Cache):
// - No stale re-insert: a fill at index i for a key is stored only if i >= every invalidation index already seen
//   for the items that key covers (an item's own mark; for list and search, the mark of all items). Per-item marks
//   are kept in a bounded map; when one is evicted its index raises `evictedMark`, which then stands for every
//   item without a mark, so forgetting is conservative and never unbounded.
// - Lease: a hit is served only while `nowMs - lastContactMs <= leaseMs`. A cache that was cut off longer than its
//   lease may have missed invalidations, so on noticing the lapse it drops every entry and starts a new generation:
//   fills begun before the lapse are refused when they complete.
// - Single-flight: concurrent misses on one key share one backend read; at most inFlightMax keys load at once.
// - Single-flight never answers older than an invalidation: invalidating a key detaches its load in flight, so a
//   caller arriving after the invalidation starts a fresh read instead of joining one that began before it.
// - No missed invalidation goes unnoticed: catalog changes form a chain (each invalidation names the change index
//   before it; every read and lease renewal reports the latest change index it reflects). A gap means an
//   invalidation was lost (the cache or a replica was cut off, a replica crashed right after applying): the
//   cache then drops every entry and every load in flight before serving anything else.
import { LruMap } from './lru.js';
import { SingleFlight } from './single-flight.js';
import { assert, assertNever } from '../../assert.js';

export interface CachePolicyOptions {
  /** Entries kept at most; the least recently used goes first. */
  readonly capacity: number;
  /** How long after the last word from the catalog group hits may still be served. */
  readonly leaseMs: number;
  readonly now: () => number;
  /** Items whose invalidation index is remembered individually (default 4096). */
  readonly invalidationRecordsMax?: number;
  /** Keys that may be loading at once (default 1024). */
  readonly inFlightMax?: number;
  /** Called whenever the policy forgets every entry on its own (lease lapse, chain gap), before it returns. */
  readonly onForgetEverything?: () => void;
}

export interface CacheEntry<V> {
  readonly value: V;
  readonly index: number;
}

/** What a load returns: the value, the Raft index it reflects, and the latest change index it reflects. */
export interface LoadedEntry<V> extends CacheEntry<V> {
  readonly changeIndex?: number;
}

export interface CacheStats {
  readonly hits: number;
  readonly misses: number;
  readonly evictions: number;
  readonly staleFillsDropped: number;
  readonly invalidations: number;
  readonly leaseLapses: number;
  /** Invalidations found missing by the change chain (each made the cache forget everything). */
  readonly chainGaps: number;
  readonly size: number;
  readonly inFlight: number;
}

export const listKey = 'list';

export function itemKey(id: number): string {
  assert(Number.isSafeInteger(id) && id > 0, `item id must be a positive integer, got ${id}`);
  return `item:${id}`;
}

/** Searches are case-insensitive, so "SYS" and "sys" share one entry. */
export function searchKey(topic: string): string {
  return `search:${topic.toLowerCase()}`;
}

type ParsedKey = { readonly kind: 'item'; readonly id: number } | { readonly kind: 'list' } | { readonly kind: 'search' };

function parseKey(key: string): ParsedKey {
  if (key === listKey) return { kind: 'list' };
  if (key.startsWith('search:')) return { kind: 'search' };
  const match = /^item:([1-9][0-9]{0,15})$/.exec(key);
  assert(match !== null, `not a cache key: ${JSON.stringify(key.slice(0, 80))}`);
  const id = Number(match[1]);
  assert(Number.isSafeInteger(id), `item id out of range in key ${key}`);
  return { kind: 'item', id };
}

function assertPositiveInteger(value: number, name: string): void {
  assert(Number.isSafeInteger(value) && value > 0, `${name} must be a positive integer, got ${value}`);
}

function assertIndex(index: number): void {
  assert(Number.isSafeInteger(index) && index >= 0, `a Raft index must be a non-negative integer, got ${index}`);
}

export class CachePolicy<V> {
  readonly capacity: number;
  readonly leaseMs: number;
  readonly invalidationRecordsMax: number;
  private readonly now: () => number;
  private readonly onForgetEverything: () => void;
  /** In recency order: the oldest key is the least recently used. */
  private readonly entries = new LruMap<string, CacheEntry<V>>();
  private readonly searchKeys = new Set<string>();
  /** Per item, the highest invalidation index seen; the least recently invalidated item is evicted first. */
  private readonly itemMarks = new LruMap<number, number>();
  /** Upper bound of every per-item mark that was evicted (and so of every item without a mark). */
  private evictedMark = 0;
  /** Highest invalidation index seen for any item: the mark of list and search entries. */
  private globalMark = 0;
  private lastContactMs = Number.NEGATIVE_INFINITY;
  /** Bumped whenever a lease lapse is noticed; fills begun in an older generation are refused. */
  private generation = 0;
  private lapseCountedFor = Number.NEGATIVE_INFINITY;
  private readonly flights: SingleFlight<CacheEntry<V>>;
  /** Highest change index whose invalidation this cache has applied, following the chain. */
  private changeSeen = 0;
  private counters = { hits: 0, misses: 0, evictions: 0, staleFillsDropped: 0, invalidations: 0, leaseLapses: 0, chainGaps: 0 };

  constructor(options: CachePolicyOptions) {
    assertPositiveInteger(options.capacity, 'capacity');
    assert(Number.isFinite(options.leaseMs) && options.leaseMs > 0, `leaseMs must be positive, got ${options.leaseMs}`);
    this.capacity = options.capacity;
    this.leaseMs = options.leaseMs;
    this.now = options.now;
    this.onForgetEverything = options.onForgetEverything ?? (() => {});
    this.invalidationRecordsMax = options.invalidationRecordsMax ?? 4096;
    assertPositiveInteger(this.invalidationRecordsMax, 'invalidationRecordsMax');
    this.flights = new SingleFlight(options.inFlightMax ?? 1024);
  }

  leaseValid(nowMs: number = this.now()): boolean {
    return nowMs - this.lastContactMs <= this.leaseMs;
  }

  /**
   * Records word from the catalog group (an answer, an invalidation, a heartbeat). `index`, when known, is a Raft
   * index the group had reached; after a lapse it becomes the mark of every key, since the invalidations missed
   * while cut off are unknown but none of them is newer than what the group had then applied.
   */
  noteContact(nowMs: number = this.now(), index?: number): void {
    const firstContact = this.lastContactMs === Number.NEGATIVE_INFINITY;
    if (!firstContact && !this.leaseValid(nowMs)) this.lapse();
    if (index !== undefined && (firstContact || !this.leaseValid(nowMs))) this.raiseFloor(index);
    this.lastContactMs = Math.max(this.lastContactMs, nowMs);
  }

  private raiseFloor(index: number): void {
    assertIndex(index);
    this.globalMark = Math.max(this.globalMark, index);
    this.evictedMark = Math.max(this.evictedMark, index);
  }

  private lapse(): void {
    // One gap in contact may be noticed twice (by a read, then by the contact that ends it); count it once.
    if (this.lapseCountedFor !== this.lastContactMs) this.counters.leaseLapses += 1;
    this.lapseCountedFor = this.lastContactMs;
    this.forgetEverything();
  }

  /** Nothing stored or loading can be trusted: drop every entry, refuse every fill begun before now. */
  private forgetEverything(): void {
    this.generation += 1;
    this.entries.clear();
    this.searchKeys.clear();
    for (const key of this.flights.keys()) this.flights.forget(key);
    this.onForgetEverything();
  }

  /**
   * An invalidation of the chain: the change at `index` names `previousChangeIndex` as the one before it. If that
   * one was never seen, an invalidation was lost on the way: forget everything. Returns false on such a gap.
   */
  followChange(index: number, previousChangeIndex: number): boolean {
    assertIndex(index);
    assertIndex(previousChangeIndex);
    assert(previousChangeIndex < index, `a change at ${index} cannot follow one at ${previousChangeIndex}`);
    const gap = previousChangeIndex > this.changeSeen;
    if (gap) this.jumpTo(previousChangeIndex);
    this.changeSeen = Math.max(this.changeSeen, index);
    return !gap;
  }

  /**
   * A read or a lease renewal reflecting every change up to `changeIndex`. A replica pushes its invalidations
   * before it answers (links are FIFO), so a higher index than the cache has seen means one was lost. Returns false
   * on such a gap (everything was forgotten).
   */
  /**
   * Whether the change at `index` is already accounted for: its invalidation was applied, or the cache forgot
   * everything past it (a jump of the chain). Another replica's copy of such a push has nothing left to do: the
   * first copy raised the marks and detached the loads; after a jump no entry or load predates the change.
   */
  knowsChange(index: number): boolean {
    return index <= this.changeSeen;
  }

  observeChangeIndex(changeIndex: number): boolean {
    assertIndex(changeIndex);
    if (changeIndex <= this.changeSeen) return true;
    this.jumpTo(changeIndex);
    return false;
  }

  /**
   * The chain moved past changes whose invalidations never arrived: forget every entry and every load in flight
   * (they may show those changes' old state). A cache that had nothing yet has no gap to count.
   */
  private jumpTo(changeIndex: number): void {
    if (this.changeSeen > 0 || this.entries.size > 0) this.counters.chainGaps += 1;
    this.forgetEverything();
    this.changeSeen = changeIndex;
  }

  getEntry(key: string, nowMs: number = this.now()): CacheEntry<V> | undefined {
    if (!this.leaseValid(nowMs)) {
      // Cut off too long: invalidations may have been missed, so nothing stored so far can be trusted again.
      if (this.entries.size > 0 && this.lastContactMs !== Number.NEGATIVE_INFINITY) this.lapse();
      this.counters.misses += 1;
      return undefined;
    }
    const entry = this.entries.get(key);
    if (entry === undefined) {
      this.counters.misses += 1;
      return undefined;
    }
    this.counters.hits += 1;
    return entry;
  }

  /** Whether `value` (by identity) is the entry stored under `key` now; no recency or counter changes. */
  holds(key: string, value: V): boolean {
    return this.entries.peek(key)?.value === value;
  }

  get(key: string, nowMs: number = this.now()): V | undefined {
    return this.getEntry(key, nowMs)?.value;
  }

  /** Drops the item, the list and every search (any of them may show the item), and remembers the index. */
  invalidate(itemId: number, index: number): void {
    assertPositiveInteger(itemId, 'itemId');
    assertIndex(index);
    this.counters.invalidations += 1;
    this.entries.delete(itemKey(itemId));
    this.entries.delete(listKey);
    if (this.searchKeys.size > 0) {
      // Only when there is something to clear: clearing a Set allocates it a new table, even an empty one.
      for (const key of this.searchKeys) this.entries.delete(key);
      this.searchKeys.clear();
    }
    // Callers arriving from now on must not join a load that began before this invalidation.
    for (const key of this.flights.keys()) {
      if (key === listKey || key === itemKey(itemId) || key.startsWith('search:')) this.flights.forget(key);
    }
    this.itemMarks.set(itemId, Math.max(this.itemMarks.peek(itemId) ?? 0, index));
    this.globalMark = Math.max(this.globalMark, index);
    while (this.itemMarks.size > this.invalidationRecordsMax) {
      const oldestItem = this.itemMarks.oldestKey() as number;
      const oldestIndex = this.itemMarks.peek(oldestItem) as number;
      this.itemMarks.delete(oldestItem);
      this.evictedMark = Math.max(this.evictedMark, oldestIndex);
    }
  }

  /** The lowest index a fill of this key may reflect and still be stored. */
  markOf(key: string): number {
    const parsed = parseKey(key);
    switch (parsed.kind) {
      case 'item':
        return this.itemMarks.peek(parsed.id) ?? this.evictedMark;
      case 'list':
      case 'search':
        return this.globalMark;
      default:
        return assertNever(parsed);
    }
  }

  /** Stores a fill unless it is older than an invalidation already seen or than the entry it would replace. */
  put(key: string, value: V, index: number): boolean {
    assertIndex(index);
    const current = this.entries.peek(key);
    if (index < this.markOf(key) || (current !== undefined && index < current.index)) {
      this.counters.staleFillsDropped += 1;
      return false;
    }
    this.entries.set(key, { value, index });
    if (key.startsWith('search:')) this.searchKeys.add(key);
    while (this.entries.size > this.capacity) this.evictOldest();
    assert(this.entries.size <= this.capacity, 'size above capacity after put');
    return true;
  }

  private evictOldest(): void {
    const oldestKey = this.entries.oldestKey() as string;
    this.entries.delete(oldestKey);
    this.searchKeys.delete(oldestKey);
    this.counters.evictions += 1;
  }

  /**
   * Loads a missing key once for all concurrent callers and offers the result to put(); every caller gets the
   * loaded value (fresh at its index) even when the cache refuses to keep it. Throws SingleFlightBusyError when
   * inFlightMax keys are already loading.
   */
  singleFlight(key: string, load: () => Promise<LoadedEntry<V>>): Promise<CacheEntry<V> & { readonly shared: boolean }> {
    parseKey(key);
    const generation = this.generation;
    const { promise, shared } = this.flights.run(key, async () => {
      const loaded = await load();
      // A load that reveals a gap in the chain is itself fresh: it is kept, everything older is forgotten.
      const fresh = loaded.changeIndex !== undefined && !this.observeChangeIndex(loaded.changeIndex);
      if (fresh || generation === this.generation) this.put(key, loaded.value, loaded.index);
      else this.counters.staleFillsDropped += 1;
      return loaded;
    });
    return promise.then((loaded) => ({ value: loaded.value, index: loaded.index, shared }));
  }

  /** Drops every entry (the admin's full invalidation); marks are kept. */
  clear(): void {
    this.entries.clear();
    this.searchKeys.clear();
  }

  stats(): CacheStats {
    return { ...this.counters, size: this.entries.size, inFlight: this.flights.size };
  }
}
