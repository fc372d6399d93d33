// The cache client: the one owner, on the gateway's side, of everything that keeps the gateway's reads coherent
// with the cache actor (actor.ts) — the near cache (mirror.ts), the notices that feed it (notices.ts), trust in the
// cache, and read-your-writes.
//
// Promises:
// - One invalidation path per write. A write's invalidation travels catalog replica → cache actor → notice →
//   mirror, and nowhere else: this client never invalidates for a write. It asks the cache to *confirm* the write's
//   index (`{type:'confirm', index}`), which the actor answers once it has applied the invalidation of every change
//   up to it; the actor told the mirror's notices first (FIFO), so after confirmWrite() neither the cache nor the
//   mirror can serve what the write changed (read-your-writes, DESIGN.md §2.5 and §3).
// - Distrust: a write the cache did not confirm in time may still be cached stale. From then on reads go around
//   the cache (read() answers null) and the mirror is empty, until a confirmation of every write acknowledged
//   meanwhile and a full clear of the cache (invalidateAll) succeed. While distrusted a write waits for no
//   confirmation (no read can see the cache then), so a cache that died costs writes one confirmation's wait, not
//   one per write; trust is regained in the background, one attempt at a time.
// - The mirror is fed through a typed runtime hook (`watch`, ActorSystem.watchActor: each notice the cache actor tells '$system', and each
//   time it goes); killing, stopping or isolating the cache actor through aroundAction() revokes the mirror before
//   and after, so a lease grant still in flight does not outlive the action.
// Needs: an ask function (with a time remaining per ask), the cache actor's name, a logger; for the mirror, the
// runtime hook and a `prepare` that builds what a hit serves.
import type { ActorWatcher } from '../../runtime/system.js';
import type { Logger } from '../../runtime/actor.js';
import { isRuntimeError } from '../../runtime/errors.js';
import type { Item } from '../catalog/catalog.js';
import type { CacheAnswer } from './actor.js';
import { CacheMirror, type MirrorStats, type PrepareLookup } from './mirror.js';

export type CacheQuery =
  | { readonly type: 'lookup'; readonly id: number }
  | { readonly type: 'list'; readonly knownIndex?: number }
  | { readonly type: 'search'; readonly topic: string; readonly knownIndex?: number };

export interface NearCacheOptions<P> {
  readonly capacity: number;
  readonly now?: () => number;
  readonly prepare: PrepareLookup<P>;
  /** The runtime's hook on the cache actor (ActorSystem.watchActor): only where the cache actor runs in this process. */
  readonly watch: (name: string, watcher: ActorWatcher) => () => void;
}

export interface CacheClientOptions<P> {
  readonly ask: (target: string, message: unknown, timeoutMs: number) => Promise<unknown>;
  readonly cacheName: string;
  readonly log: Logger;
  /** False when the cache is switched off: reads go around it, and writes need no confirmation. */
  readonly readThrough: boolean;
  readonly nearCache: NearCacheOptions<P> | null;
}

/** A confirmation or a full clear takes what is left of the request's deadline, within these bounds. */
export const confirmTimeoutMsMax = 1_000;
export const confirmTimeoutMsMin = 50;
/** One attempt to trust the cache again goes after writes acknowledged during it at most this many times. */
const regainRoundsMax = 3;

const isUnavailable = (error: unknown) => isRuntimeError(error, 'ACTOR_UNAVAILABLE');

function confirmTimeoutMs(timeRemainingMs: number): number {
  return Math.max(confirmTimeoutMsMin, Math.min(confirmTimeoutMsMax, Math.floor(timeRemainingMs)));
}

export class CacheClient<P> {
  private readonly options: CacheClientOptions<P>;
  private readonly mirror: CacheMirror<P> | null;
  private readonly unwatch: () => void;
  /** Set when a write was not confirmed: the cache may hold a stale entry until fully cleared. */
  private distrusted = false;
  /** While distrusted: the highest catalog index of a write acknowledged without the cache's confirmation. */
  private unconfirmedIndex = 0;
  /** Counts distrusts: a read that began before one may not fill the mirror, even once trust is regained. */
  private distrusts = 0;
  /** The attempt in flight to trust the cache again; null when none. */
  private regaining: Promise<void> | null = null;

  constructor(options: CacheClientOptions<P>) {
    this.options = options;
    const near = options.nearCache;
    if (near === null || !options.readThrough) {
      this.mirror = null;
      this.unwatch = () => {};
      return;
    }
    const mirror = new CacheMirror<P>({ capacity: near.capacity, now: near.now ?? Date.now, prepare: near.prepare });
    this.mirror = mirror;
    this.unwatch = near.watch(options.cacheName, {
      told: (body) => {
        if (!mirror.apply(body)) options.log.debug({ event: 'badNotice' }, `gateway: ${options.cacheName} told something that is not a notice; ignored`);
      },
      gone: () => mirror.revoke(),
    });
  }

  /** Stops listening to the cache actor's notices. */
  close(): void {
    this.unwatch();
  }

  /** True when reads should go through the cache actor (it is on and trusted). */
  get usable(): boolean {
    return this.options.readThrough && !this.distrusted;
  }

  /** A lookup the near cache can answer now; undefined when it cannot (or is off, or the cache is distrusted). */
  nearLookup(id: number): P | undefined {
    if (this.mirror === null || this.distrusted) return undefined;
    return this.mirror.lookup(id);
  }

  nearCacheStats(): MirrorStats | null {
    return this.mirror?.stats() ?? null;
  }

  /** The cache actor's answer; null when it is not to be used (off, distrusted, or down): read the catalog then. */
  async read(query: CacheQuery, timeRemainingMs: number): Promise<CacheAnswer | null> {
    if (!this.usable) return null;
    const distrustsBefore = this.distrusts;
    let answer: CacheAnswer;
    try {
      answer = (await this.options.ask(this.options.cacheName, query, timeRemainingMs)) as CacheAnswer;
    } catch (error) {
      if (!isUnavailable(error)) throw error;
      this.options.log.debug({ query }, 'gateway: cache unavailable, reading from the catalog group');
      return null;
    }
    // Checked again after the wait: a write that went unconfirmed meanwhile makes the cache's answers untrusted
    // (and this one stays untrusted after the cache is trusted again).
    if (this.mirror !== null && query.type === 'lookup' && !this.distrusted && this.distrusts === distrustsBefore) {
      // A lookup's answer holds one item or none (CacheValue's other shape is a list's).
      this.mirror.fill(query.id, { result: answer.result as Item | null, topics: answer.topics, index: answer.index, held: answer.held === true });
    }
    return answer;
  }

  /**
   * Read-your-writes: returns once the cache (and the mirror) have applied every change up to `index`, the catalog
   * index of a write this gateway is about to acknowledge. If the cache does not confirm, it is distrusted.
   */
  async confirmWrite(index: number, timeRemainingMs: number): Promise<void> {
    // With the cache off every read is linearizable on a replica: nothing to confirm.
    if (!this.options.readThrough) return;
    const timeoutMs = confirmTimeoutMs(timeRemainingMs);
    if (this.distrusted) {
      this.unconfirmedIndex = Math.max(this.unconfirmedIndex, index);
      this.regainTrust(timeoutMs);
      return;
    }
    try {
      await this.confirm(index, timeoutMs);
    } catch (error) {
      this.unconfirmedIndex = Math.max(this.unconfirmedIndex, index);
      this.distrust(error);
    }
  }

  /** Settles once no attempt to trust the cache again is in flight (for tests and an orderly close). */
  async settled(): Promise<void> {
    await this.regaining;
  }

  /** An operator's explicit invalidation (POST /invalidate/item/:id): the cache drops the item, lists and searches. */
  async invalidateItem(id: number, timeRemainingMs: number): Promise<void> {
    const timeoutMs = confirmTimeoutMs(timeRemainingMs);
    try {
      await this.options.ask(this.options.cacheName, { type: 'invalidate', items: [id], index: 0 }, timeoutMs);
      if (this.distrusted) this.regainTrust(timeoutMs);
    } catch (error) {
      this.distrust(error);
    }
  }

  /** Runs an operator's action on an actor; one that cuts the cache actor off revokes the mirror before and after. */
  async aroundAction(name: string, cutsOff: boolean, perform: () => Promise<void>): Promise<void> {
    const cutsCache = cutsOff && name === this.options.cacheName;
    if (cutsCache) this.mirror?.revoke();
    try {
      await perform();
    } finally {
      if (cutsCache) this.mirror?.revoke();
    }
  }

  private async confirm(index: number, timeoutMs: number): Promise<void> {
    const confirmed = await this.options.ask(this.options.cacheName, { type: 'confirm', index }, timeoutMs);
    if (confirmed !== true) throw new Error(`the cache did not reach index ${index} in ${timeoutMs} ms`);
  }

  /**
   * In the background, one at a time: the cache confirms every write acknowledged while it was distrusted, is
   * cleared, and is trusted again — unless a write was acknowledged past what it confirmed meanwhile (then the
   * attempt goes after that one too, a bounded number of rounds, and the next write starts another).
   */
  private regainTrust(timeoutMs: number): void {
    if (this.regaining !== null) return;
    this.regaining = (async () => {
      for (let round = 0; round < regainRoundsMax && this.distrusted; round += 1) {
        const target = this.unconfirmedIndex;
        await this.confirm(target, timeoutMs);
        await this.options.ask(this.options.cacheName, { type: 'invalidateAll' }, timeoutMs);
        if (this.unconfirmedIndex > target) continue;
        this.trusted();
      }
    })()
      .catch((error: unknown) => this.options.log.debug({ error: String(error) }, 'gateway: the cache is not trusted yet'))
      .finally(() => (this.regaining = null));
  }

  private trusted(): void {
    this.mirror?.revoke();
    this.distrusted = false;
    this.unconfirmedIndex = 0;
    this.options.log.info({ event: 'cacheTrusted' }, 'gateway: cache cleared and trusted again');
  }

  private distrust(error: unknown): void {
    if (!this.distrusted) {
      this.options.log.warn({ error: String(error), event: 'cacheDistrusted' }, 'gateway: cache did not confirm a write; reading around it until it is cleared');
    }
    this.distrusted = true;
    this.distrusts += 1;
    this.mirror?.revoke();
  }
}
