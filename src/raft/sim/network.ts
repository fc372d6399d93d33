// The simulator's network keeps the one transport contract (src/runtime/transport.ts): each ordered pair of nodes
// is a Link, and the replicas send through the same DrainGate the runtime's endpoint uses.
//
// Owns: one pair's count of copies on the wire (sent, not yet delivered or discarded) and the senders waiting for
// it to drain. Promises: `send` puts the envelope on the wire through `transmit` (where loss, duplication, delay,
// partitions and misdelivery are decided) and returns false once linkInFlightMax copies of this pair are on the
// wire; the drain listeners are called, once each, when a copy leaves and the count is below the bound again. A
// closed link sends nothing. Needs: the simulation to call `entered` for every copy it puts on the wire and `left`
// for every copy it takes off (delivered, or discarded at a node that is down).

import { assert } from '../../runtime/errors.js';
import type { Link } from '../../runtime/transport.js';
import type { Envelope } from '../../runtime/wire.js';
import type { RaftEnvelope } from '../identity.js';
import type { NodeId } from '../types.js';

/** Copies of one pair's messages on the wire beyond which its link says busy: far above what a seed produces. */
export const simLinkInFlightMax = 4_096;

/** Envelopes a replica's gate holds for one busy pair before it refuses (the message is lost, as on a network). */
export const simLinkHeldMax = 4_096;

export class SimLink implements Link {
  readonly self: NodeId;
  readonly peer: NodeId;
  private readonly inFlightMax: number;
  private readonly transmit: (envelope: RaftEnvelope, link: SimLink) => void;
  private inFlight = 0;
  private drainListeners: Array<() => void> = [];
  private closed = false;

  constructor(self: NodeId, peer: NodeId, inFlightMax: number, transmit: (envelope: RaftEnvelope, link: SimLink) => void) {
    assert(self !== peer, 'a link joins two different nodes', { self, peer });
    assert(Number.isInteger(inFlightMax) && inFlightMax > 0, 'inFlightMax must be a positive whole number', { inFlightMax });
    this.self = self;
    this.peer = peer;
    this.inFlightMax = inFlightMax;
    this.transmit = transmit;
  }

  /** Copies of this pair's messages on the wire now. */
  get inFlightCount(): number {
    return this.inFlight;
  }

  send(envelope: Envelope): boolean {
    if (this.closed) return false;
    assert(envelope.kind === 'tell' && envelope.to === this.peer && envelope.from === this.self, 'envelope sent on the wrong link', { peer: this.peer, to: envelope.to });
    this.transmit(envelope.body as RaftEnvelope, this);
    return this.inFlight < this.inFlightMax;
  }

  onDrain(listener: () => void): void {
    this.drainListeners.push(listener);
  }

  /** A copy was put on the wire. */
  entered(): void {
    this.inFlight += 1;
  }

  /** A copy left the wire (delivered or discarded). */
  left(): void {
    assert(this.inFlight > 0, 'a copy left a link that had none on the wire', { self: this.self, peer: this.peer });
    this.inFlight -= 1;
    if (this.inFlight >= this.inFlightMax || this.drainListeners.length === 0) return;
    const listeners = this.drainListeners;
    this.drainListeners = [];
    for (const listener of listeners) listener();
  }

  flush(): void {}

  close(): void {
    this.closed = true;
    this.drainListeners = [];
  }
}
