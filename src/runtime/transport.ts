// The transport contract, and its MessagePort implementation.
//
// Owns: one link per peer, carrying envelopes both ways. Promises: envelopes sent on a link arrive in the
// order they were sent (per-sender FIFO), batched into frames of at most frameEnvelopesMax envelopes, one
// postMessage per frame; a frame is flushed as soon as it is full, otherwise at the end of the current microtask
// turn ('microtask') or of the current event-loop phase ('immediate', see LinkFlush).
// `send` never throws and returns false when the caller should wait for `drain` (undici's convention: the
// envelope was still accepted). Arriving frames are validated before anything reaches an actor.
// Needs: a MessagePort whose other end is another MessagePortLink. Two more implementations keep the same
// contract: NodeLink (transport/node-link.ts, over a node's TCP or TLS connection) and SimLink (the simulator's
// network, ../raft/sim/network.ts); every sender honours it through a DrainGate (drain-gate.ts).

import type { MessagePort } from 'node:worker_threads';
import type { ActorName } from './actor.js';
import { assert } from './errors.js';
import { decodeFrame, encodeFrame, frameEnvelopesMax, type Envelope } from './wire.js';

export interface LinkHandlers {
  onEnvelope(envelope: Envelope): void;
  /** A frame or envelope failed validation; `count` envelopes were discarded. */
  onInvalid(problem: string, count: number): void;
  /** The other end went away (its thread ended or it closed the link). */
  onClose(): void;
}

export interface Link {
  readonly peer: ActorName;
  /** Queues the envelope; false means "busy: wait for drain before sending much more". */
  send(envelope: Envelope): boolean;
  onDrain(listener: () => void): void;
  /** Pushes out whatever is queued now (called before a worker exits so nothing queued is lost). */
  flush(): void;
  close(): void;
}

/** Every Link's check at construction: it joins two different names. */
export function assertLinkEnds(self: ActorName, peer: ActorName): void {
  assert(peer.length > 0 && self.length > 0 && peer !== self, 'a link joins two different names', { self, peer });
}

/** Every Link's check in `send`: the envelope goes from the link's own end to its peer. */
export function assertSentOnLink(self: ActorName, peer: ActorName, envelope: Envelope): void {
  assert(envelope.to === peer && envelope.from === self, 'envelope sent on the wrong link', { peer, to: envelope.to });
}

/** Builds a link once the endpoint has given it the handlers for what arrives: how any transport is plugged in. */
export type LinkFactory = (handlers: LinkHandlers) => Link;

/**
 * When a part-filled frame leaves. 'microtask': at the end of the current microtask turn — right for an actor,
 * whose whole turn is one callback. 'immediate': after the current event-loop phase — right for a thread that
 * sends on behalf of many I/O callbacks, like a gateway receiving one request per socket callback: the asks of
 * every request parsed in one poll phase share a frame (one postMessage, one wake-up of the target) instead of
 * one each.
 */
export type LinkFlush = 'microtask' | 'immediate';

/** Envelopes posted in one event-loop turn beyond which `send` reports busy. */
export const linkTurnEnvelopesHighWater = 65_536;

export class MessagePortLink implements Link {
  readonly peer: ActorName;
  private readonly port: MessagePort;
  private readonly handlers: LinkHandlers;
  private frame: Envelope[] = [];
  private flushScheduled = false;
  private envelopesThisTurn = 0;
  private turnResetScheduled = false;
  private readonly drainListeners: Array<() => void> = [];
  private closed = false;

  readonly self: ActorName;

  private readonly flushOn: LinkFlush;

  constructor(self: ActorName, peer: ActorName, port: MessagePort, handlers: LinkHandlers, flushOn: LinkFlush = 'microtask') {
    assertLinkEnds(self, peer);
    this.self = self;
    this.peer = peer;
    this.port = port;
    this.handlers = handlers;
    this.flushOn = flushOn;
    port.on('message', (value: unknown) => this.receive(value));
    port.on('close', () => this.handleClose());
  }

  send(envelope: Envelope): boolean {
    if (this.closed) return false;
    assertSentOnLink(this.self, this.peer, envelope);
    this.frame.push(envelope);
    if (this.frame.length >= frameEnvelopesMax) this.flush();
    else if (!this.flushScheduled) {
      this.flushScheduled = true;
      if (this.flushOn === 'immediate') setImmediate(() => this.flush());
      else queueMicrotask(() => this.flush());
    }
    this.envelopesThisTurn += 1;
    if (!this.turnResetScheduled) {
      this.turnResetScheduled = true;
      setImmediate(() => this.resetTurn());
    }
    return this.envelopesThisTurn < linkTurnEnvelopesHighWater;
  }

  onDrain(listener: () => void): void {
    this.drainListeners.push(listener);
  }

  flush(): void {
    this.flushScheduled = false;
    if (this.frame.length === 0 || this.closed) return;
    const frame = this.frame;
    this.frame = [];
    this.port.postMessage(encodeFrame(frame));
  }

  close(): void {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    this.port.close();
  }

  private resetTurn(): void {
    this.turnResetScheduled = false;
    const wasBusy = this.envelopesThisTurn >= linkTurnEnvelopesHighWater;
    this.envelopesThisTurn = 0;
    if (!wasBusy) return;
    const listeners = this.drainListeners.splice(0, this.drainListeners.length);
    for (const listener of listeners) listener();
  }

  private receive(value: unknown): void {
    const parsed = decodeFrame(value, this.peer, this.self);
    if (!parsed.ok) {
      this.handlers.onInvalid(parsed.problem, 1);
      return;
    }
    if (parsed.invalidCount > 0) this.handlers.onInvalid(parsed.firstProblem ?? 'invalid envelope', parsed.invalidCount);
    for (const envelope of parsed.envelopes) this.handlers.onEnvelope(envelope);
  }

  private handleClose(): void {
    if (this.closed) return;
    this.closed = true;
    this.frame = [];
    this.handlers.onClose();
  }
}
