// A Link to one actor on another node, over that node's authenticated connection: the TCP transport's side of the
// one transport contract (transport.ts), as MessagePortLink is the in-process side.
//
// Owns: one (local name, remote name) pair's route and whether it is closed. Promises: `send` returns the
// connection's busy signal (false: wait for `onDrain`; the envelope was still accepted — sent, or, when the node
// is unreachable, answered or counted by the transport); `onDrain` listeners are called when the node's
// connection drains, drops or is replaced, so a sender never waits on a connection that is gone; envelopes
// arriving for the local name are handed to the handlers until `close`. The wire checks (who may speak for
// which name) are the transport's, before `deliver`. Needs: the node transport's route to the remote node.

import type { ActorName } from '../actor.js';
import { assertLinkEnds, assertSentOnLink, type Link, type LinkHandlers } from '../transport.js';
import type { Envelope } from '../wire.js';

/** What a NodeLink needs of the node transport: the remote node's connection, as it is now. */
export interface NodeRoute {
  /** Local → wire; false: the connection is busy, wait for drain. */
  send(envelope: Envelope): boolean;
  /** Called once when the remote node's connection drains, drops or is replaced. */
  onDrain(listener: () => void): void;
  flush(): void;
}

export class NodeLink implements Link {
  readonly self: ActorName;
  readonly peer: ActorName;
  private readonly handlers: LinkHandlers;
  private readonly route: NodeRoute;
  private readonly onClosed: () => void;
  private closed = false;

  constructor(self: ActorName, peer: ActorName, handlers: LinkHandlers, route: NodeRoute, onClosed: () => void) {
    assertLinkEnds(self, peer);
    this.self = self;
    this.peer = peer;
    this.handlers = handlers;
    this.route = route;
    this.onClosed = onClosed;
  }

  send(envelope: Envelope): boolean {
    if (this.closed) return false;
    assertSentOnLink(this.self, this.peer, envelope);
    return this.route.send(envelope);
  }

  /** An envelope from the remote name for the local one, already checked by the transport. */
  deliver(envelope: Envelope): void {
    if (!this.closed) this.handlers.onEnvelope(envelope);
  }

  onDrain(listener: () => void): void {
    this.route.onDrain(listener);
  }

  flush(): void {
    if (!this.closed) this.route.flush();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.onClosed();
  }
}
