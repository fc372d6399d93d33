// The sender's half of the transport contract: what any sender puts between itself and one Link.
//
// Owns: whether the link said busy, and the envelopes sent since, in order. Promises: once the link's `send`
// returns false, nothing more is sent on it until its drain; envelopes sent meanwhile are held, at most
// `heldMax`, and sent in order at the drain, until the link is busy again; `send` returns false when an envelope
// is refused because `heldMax` are held already (the caller counts or answers it); after `close()` nothing held
// is sent. The number held is kept in the `counts.held` the gate was given, shared by every gate of one sender.
// Needs: a Link (transport.ts).

import type { Link } from './transport.js';
import type { Envelope } from './wire.js';

export class DrainGate {
  readonly link: Link;
  private readonly heldMax: number;
  private readonly counts: { held: number };
  private waitingForDrain = false;
  private held: Envelope[] = [];
  private closed = false;

  constructor(link: Link, heldMax: number, counts: { held: number }) {
    this.link = link;
    this.heldMax = heldMax;
    this.counts = counts;
  }

  /** Envelopes held now, waiting for the link's drain. */
  get heldCount(): number {
    return this.held.length;
  }

  /** Sends, or holds while the link is busy; false when refused (heldMax held already, or closed). */
  send(envelope: Envelope): boolean {
    if (this.closed) return false;
    if (this.waitingForDrain) {
      if (this.held.length >= this.heldMax) return false;
      this.held.push(envelope);
      this.counts.held += 1;
      return true;
    }
    if (!this.link.send(envelope)) this.waitForDrain();
    return true;
  }

  /** Stops sending; returns how many held envelopes will never leave (the caller counts them dropped). */
  close(): number {
    const dropped = this.held.length;
    this.counts.held -= dropped;
    this.held = [];
    this.waitingForDrain = false;
    this.closed = true;
    return dropped;
  }

  private waitForDrain(): void {
    this.waitingForDrain = true;
    this.link.onDrain(() => this.drained());
  }

  /** The link drained: what was held goes out in order, until the link is busy again. */
  private drained(): void {
    if (!this.waitingForDrain || this.closed) return;
    this.waitingForDrain = false;
    const held = this.held;
    this.held = [];
    this.counts.held -= held.length;
    for (let position = 0; position < held.length; position += 1) {
      if (this.link.send(held[position]!)) continue;
      this.held = held.slice(position + 1);
      this.counts.held += this.held.length;
      this.waitForDrain();
      return;
    }
  }
}
