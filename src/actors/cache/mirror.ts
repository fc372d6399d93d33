// The near cache: a mirror of the cache actor's lookups in the gateway's own thread, so a hit costs no message.
//
// Owns: a CachePolicy of prepared lookup answers (status, body and headers, built once per fill), its lease, and
// the rules that keep it coherent with the cache actor, which stays the authority (src/actors/cache/actor.ts).
// Promises (the same as the cache actor's, never weaker):
// - It holds only what the cache actor held: a fill comes from a cache answer marked `held`, tagged with the
//   index it reflects. The actor tells '$system' each invalidation and each full forget before it answers
//   anything later (per-sender FIFO), so an answer produced after an invalidation arrives after it; an answer
//   already in flight when the invalidation arrives is refused by put() against the same marks.
// - Read-your-writes: the cache client (client.ts) acknowledges a write only once the cache actor confirmed the
//   write's invalidation; the actor told its notice first, so the mirror has applied it by then.
// - Lease: hits are served only until the latest `validUntilMs` the actor granted, which the actor grants only
//   while its own lease lasts that long; `revoke()` (the actor crashed, stopped, restarted or was isolated) drops
//   everything and ends the lease at once. A lapse forgets everything, again on the renewal that ends it (fills
//   that arrived meanwhile included), so nothing seen across a gap is served after it.
// What a hit serves is built by the injected `prepare` (the gateway's prepared HTTP answer), once per fill.
// Pure: time comes from the injected clock (wall time, shared with the actor's thread in one process).
import type { Item, Topic } from '../catalog/catalog.js';
import { isMirrorNotice, type MirrorNotice } from './notices.js';
import { CachePolicy, itemKey, type CacheStats } from './policy.js';
import { assertNever } from '../../assert.js';

/** Builds the answer a hit serves (its body, say) once per fill; null when it cannot (then it is not kept). */
export type PrepareLookup<P> = (id: number, item: Item | null, topics: readonly Topic[], index: number) => P | null;

export interface MirrorOptions<P> {
  /** Lookups kept at most (least recently used first out). */
  readonly capacity: number;
  readonly now: () => number;
  readonly prepare: PrepareLookup<P>;
  /** Items whose invalidation index is remembered individually (default 4096). */
  readonly invalidationRecordsMax?: number;
}

export { isMirrorNotice, type MirrorNotice };

export interface MirrorStats extends CacheStats {
  readonly leaseValid: boolean;
  readonly revocations: number;
  readonly fillsRefused: number;
}

export class CacheMirror<P> {
  private readonly now: () => number;
  private readonly policy: CachePolicy<P>;
  private readonly prepare: PrepareLookup<P>;
  /** Hits are served while now <= validUntilMs; -Infinity until the first grant and after a revocation. */
  private validUntilMs = Number.NEGATIVE_INFINITY;
  private revocations = 0;
  private fillsRefused = 0;

  constructor(options: MirrorOptions<P>) {
    this.now = options.now;
    this.prepare = options.prepare;
    // The policy's own lease is not used (it measures from contact; this one is granted until a time), so it is
    // made to hold for as long as the process may run; this class checks validUntilMs before every read.
    this.policy = new CachePolicy<P>({
      capacity: options.capacity,
      leaseMs: Number.MAX_SAFE_INTEGER,
      now: options.now,
      inFlightMax: 1,
      ...(options.invalidationRecordsMax === undefined ? {} : { invalidationRecordsMax: options.invalidationRecordsMax }),
    });
    this.policy.noteContact(0);
  }

  /** The hot path: a prepared answer, or undefined (not held, or the lease is not valid). */
  lookup(id: number): P | undefined {
    // One clock read per hit: the policy is handed the same instant instead of reading the clock again.
    const nowMs = this.now();
    if (nowMs > this.validUntilMs) {
      this.lapse();
      return undefined;
    }
    return this.policy.get(itemKey(id), nowMs);
  }

  /** Offers a cache actor's lookup answer; kept only when the actor held it and no mark refuses its index. */
  fill(id: number, answer: { readonly result: Item | null; readonly topics: readonly Topic[]; readonly index: number; readonly held: boolean }): boolean {
    if (!answer.held) return false;
    const prepared = this.prepare(id, answer.result, answer.topics, answer.index);
    if (prepared === null || !this.policy.put(itemKey(id), prepared, answer.index)) {
      this.fillsRefused += 1;
      return false;
    }
    return true;
  }

  /** Applies a notice the cache actor told '$system'; false (and no change) for anything else. */
  apply(message: unknown): boolean {
    if (!isMirrorNotice(message)) return false;
    switch (message.type) {
      case 'mirrorInvalidate':
        this.invalidate(message.items, message.index);
        return true;
      case 'mirrorForget':
        this.policy.clear();
        return true;
      case 'mirrorLease':
        this.renew(message.validUntilMs);
        return true;
      default:
        return assertNever(message);
    }
  }

  /** Drops the items (and raises their marks, so an older answer still in flight is refused). */
  invalidate(items: readonly number[], index: number): void {
    for (const item of items) this.policy.invalidate(item, index);
  }

  /** Drops everything and ends the lease now: only a later grant from the actor serves hits again. */
  revoke(): void {
    this.revocations += 1;
    this.validUntilMs = Number.NEGATIVE_INFINITY;
    this.policy.clear();
  }

  private renew(validUntilMs: number): void {
    if (this.now() > this.validUntilMs) this.lapse();
    this.validUntilMs = Math.max(this.validUntilMs, validUntilMs);
  }

  private lapse(): void {
    if (this.policy.stats().size > 0) this.policy.clear();
  }

  stats(): MirrorStats {
    return { ...this.policy.stats(), leaseValid: this.now() <= this.validUntilMs, revocations: this.revocations, fillsRefused: this.fillsRefused };
  }
}
