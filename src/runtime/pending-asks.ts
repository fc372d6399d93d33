// The asks an endpoint is waiting on, found by id when the reply comes.
//
// Why not a Map keyed by a random id: under a steady stream of asks, a Map's set and delete never reuse a freed
// entry, so the Map rehashes into a new table every few dozen asks, and once the Map itself lives in the old
// generation V8 allocates each new table there too: old-generation garbage at the rate of asks, which kept the
// gateway's major collections coming under uncached lookups. Here an ask takes a numbered slot from a free list,
// and its id names the slot, so a reply finds it with one array read.
// Owns: the slots, the free list and the id sequence. Promises: an id is never given twice by one table (a slot's
// number comes with a sequence number) nor by two tables (each has a random prefix), so a reply to an ask that
// already settled, or to another incarnation's ask, finds nothing; the slots never outnumber the most asks ever
// waiting at once; every operation but `entries` is O(1).
import { nanoid } from 'nanoid';

interface Tenant<P> {
  readonly id: string;
  readonly value: P;
}

export class PendingAsks<P> {
  private readonly slots: Array<Tenant<P> | null> = [];
  private readonly freeSlots: number[] = [];
  /** Ends with '.', which nanoid's alphabet lacks, so the slot number that follows is found without ambiguity. */
  private readonly prefix = `${nanoid(10)}.`;
  private sequence = 0;
  private count = 0;

  get size(): number {
    return this.count;
  }

  /** Stores the value under a new id, which it returns. */
  add(value: P): string {
    const slot = this.freeSlots.length > 0 ? this.freeSlots.pop()! : this.slots.push(null) - 1;
    this.sequence += 1;
    const id = `${this.prefix}${slot}.${this.sequence}`;
    this.slots[slot] = { id, value };
    this.count += 1;
    return id;
  }

  /** Removes and returns the value under the id; undefined when there is none (settled, or never ours). */
  take(id: string): P | undefined {
    const slot = this.slotOf(id);
    if (slot < 0) return undefined;
    const tenant = this.slots[slot];
    if (tenant === null || tenant === undefined || tenant.id !== id) return undefined;
    this.slots[slot] = null;
    this.freeSlots.push(slot);
    this.count -= 1;
    return tenant.value;
  }

  /** Every waiting ask, as [id, value] pairs (a copy: taking entries while walking it is safe). */
  entries(): Array<[string, P]> {
    const all: Array<[string, P]> = [];
    for (const tenant of this.slots) if (tenant !== null) all.push([tenant.id, tenant.value]);
    return all;
  }

  /** The slot an id of this table names, or -1 when it cannot be one of ours. */
  private slotOf(id: string): number {
    if (typeof id !== 'string' || !id.startsWith(this.prefix)) return -1;
    let slot = 0;
    let at = this.prefix.length;
    for (; at < id.length; at += 1) {
      const code = id.charCodeAt(at);
      if (code === 46) break; // '.'
      if (code < 48 || code > 57) return -1;
      slot = slot * 10 + (code - 48);
    }
    return at > this.prefix.length && at < id.length && slot < this.slots.length ? slot : -1;
  }
}
