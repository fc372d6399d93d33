// Admission of sockets that have not authenticated yet: who may connect, how many may be in their handshake,
// and how many bytes they may make this node hold. Pure: no sockets, no clock.
//
// Owns: the address allow list (the cluster's node addresses, or an explicit list), handshake slots per remote
// address and in total, and the ledger of bytes held for unauthenticated connections.
// Promises:
// - a socket from an address that is not allowed gets no slot (the transport closes it before reading a byte);
// - at most handshakesPerAddressMax slots per address and handshakesMax in all. A newcomer whose address is full
//   takes the slot of that address's oldest handshake (evicted), so strangers at one address cannot keep a peer
//   at that address out by sitting on slots: they would have to finish a handshake, which needs the secret, or
//   open sockets faster than the peer completes one round trip. When all slots are taken, the newcomer takes the
//   oldest slot of the address holding the most, if that holds at least two more than the newcomer's address,
//   else the oldest slot of its own address. So strangers from other addresses never take the last slot of an
//   address (a peer needs one), slots end up shared evenly among the addresses that want them, and a newcomer is
//   refused only when its address holds none and no address holds two: impossible while the allow list has no
//   more addresses than handshakesMax (the transport checks that).
// - the ledger refuses (the caller closes the connection) a hold that would take the bytes held for all
//   unauthenticated connections over preAuthBytesMax, and remembers the peak, so the bound is observable.
// Needs: nothing.

import { isIP } from 'node:net';
import { assert } from '../errors.js';

export interface AdmissionLimits {
  readonly handshakesPerAddressMax: number;
  readonly handshakesMax: number;
  /** Bound on the bytes held, in all, for connections that have not authenticated (their incomplete frames). */
  readonly preAuthBytesMax: number;
}

export const admissionLimitsDefault: AdmissionLimits = {
  handshakesPerAddressMax: 4,
  handshakesMax: 64,
  preAuthBytesMax: 1024 * 1024,
};

export function checkAdmissionLimits(limits: AdmissionLimits, preAuthBytesPerConnectionMax: number): void {
  for (const [name, value] of Object.entries(limits)) {
    assert(Number.isSafeInteger(value) && value > 0, `admission limit ${name} must be a positive integer`, { value });
  }
  assert(limits.handshakesPerAddressMax <= limits.handshakesMax, 'handshakesPerAddressMax must not exceed handshakesMax', { ...limits });
  // Every slot full of the largest incomplete pre-auth frame still fits the byte bound: the ledger never has to
  // refuse a well-formed handshake.
  assert(limits.handshakesMax * preAuthBytesPerConnectionMax <= limits.preAuthBytesMax, 'handshakesMax × pre-auth frame bound exceeds preAuthBytesMax', {
    ...limits,
    preAuthBytesPerConnectionMax,
  });
}

/** An address as the allow list compares it: IPv4-mapped IPv6 (`::ffff:10.0.0.1`) is the IPv4 address. */
export function normalizeAddress(address: string): string {
  const lower = address.toLowerCase();
  if (lower.startsWith('::ffff:') && isIP(lower.slice(7)) === 4) return lower.slice(7);
  return lower;
}

export class AddressAllowList {
  private readonly addresses: ReadonlySet<string>;

  constructor(addresses: Iterable<string>) {
    this.addresses = new Set([...addresses].map(normalizeAddress));
  }

  allows(address: string | undefined): boolean {
    return address !== undefined && this.addresses.has(normalizeAddress(address));
  }

  get size(): number {
    return this.addresses.size;
  }

  list(): string[] {
    return [...this.addresses];
  }
}

export type Admission<Id> = { readonly kind: 'admitted'; readonly evicted: readonly Id[] } | { readonly kind: 'refused'; readonly reason: string };

export class HandshakeSlots<Id> {
  private readonly limits: AdmissionLimits;
  /** Oldest first. */
  private readonly byAddress = new Map<string, Id[]>();
  private readonly addressOf = new Map<Id, string>();

  constructor(limits: AdmissionLimits) {
    this.limits = limits;
  }

  get size(): number {
    return this.addressOf.size;
  }

  holds(id: Id): boolean {
    return this.addressOf.has(id);
  }

  admit(id: Id, rawAddress: string): Admission<Id> {
    assert(!this.addressOf.has(id), 'a socket admitted twice');
    const address = normalizeAddress(rawAddress);
    const own = this.byAddress.get(address) ?? [];
    const evicted: Id[] = [];
    if (own.length >= this.limits.handshakesPerAddressMax) {
      evicted.push(own[0]!);
    } else if (this.addressOf.size >= this.limits.handshakesMax) {
      const crowded = this.mostCrowded();
      // Taking from an address left with no more than the newcomer's would only move the problem; short of that,
      // the newcomer replaces the oldest handshake of its own address.
      if (crowded.length > own.length + 1) evicted.push(crowded[0]!);
      else if (own.length > 0) evicted.push(own[0]!);
      else return { kind: 'refused', reason: `all ${this.limits.handshakesMax} handshake slots are taken` };
    }
    for (const gone of evicted) this.release(gone);
    const list = this.byAddress.get(address) ?? [];
    list.push(id);
    this.byAddress.set(address, list);
    this.addressOf.set(id, address);
    assert(list.length <= this.limits.handshakesPerAddressMax && this.addressOf.size <= this.limits.handshakesMax, 'slot bounds broken');
    return { kind: 'admitted', evicted };
  }

  release(id: Id): void {
    const address = this.addressOf.get(id);
    if (address === undefined) return;
    this.addressOf.delete(id);
    const list = this.byAddress.get(address)!;
    list.splice(list.indexOf(id), 1);
    if (list.length === 0) this.byAddress.delete(address);
  }

  private mostCrowded(): Id[] {
    let crowded: Id[] = [];
    for (const list of this.byAddress.values()) if (list.length > crowded.length) crowded = list;
    return crowded;
  }
}

/** Bytes held for unauthenticated connections, in all, within preAuthBytesMax; with the peak ever held. */
export class PreAuthLedger<Id> {
  private readonly bytesMax: number;
  private readonly held = new Map<Id, number>();
  private total = 0;
  private peak = 0;

  constructor(bytesMax: number) {
    this.bytesMax = bytesMax;
  }

  get heldBytes(): number {
    return this.total;
  }

  get peakBytes(): number {
    return this.peak;
  }

  /** Records that `id` now holds `bytes`; false (nothing recorded) when that would pass the bound. */
  hold(id: Id, bytes: number): boolean {
    const next = this.total - (this.held.get(id) ?? 0) + bytes;
    if (next > this.bytesMax) return false;
    this.total = next;
    if (bytes === 0) this.held.delete(id);
    else this.held.set(id, bytes);
    this.peak = Math.max(this.peak, this.total);
    return true;
  }

  release(id: Id): void {
    this.hold(id, 0);
  }
}
