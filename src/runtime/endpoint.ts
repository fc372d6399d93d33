// An endpoint: one thread's view of the data path (a worker's actor, or the main thread as `$system`).
//
// Owns: the routing table (peer name → link), the envelopes held for a busy link, asks awaiting replies with
// their deadlines, isolation flags and the dead-letter / dropped / invalid / held counters. Promises: tell never
// throws; every ask settles exactly once, by reply, by deadline (AskTimeoutError), or at once when the target is
// unknown, isolated or gone (ActorUnavailableError), went away with the ask outstanding (ActorCrashedError), or
// its link is busy with linkHeldEnvelopesMax envelopes already held (MailboxFullError). The transport contract is
// honoured: once a link's `send` returns false, nothing more is sent on it until its `drain`; what arrives
// meanwhile is held in order (at most linkHeldEnvelopesMax per link, counted in `held`) and sent at the drain;
// past the bound a tell or reply is dropped (counted). Needs: a clock, a logger and a `deliver` callback for
// tells and asks addressed to this endpoint.

import type { MessagePort } from 'node:worker_threads';
import { askTimeoutMsDefault, type ActorName, type AskOptions, type Logger } from './actor.js';
import {
  ActorCrashedError,
  ActorUnavailableError,
  AskTimeoutError,
  MailboxFullError,
  assert,
  fromErrorData,
  toErrorData,
  type RuntimeError,
} from './errors.js';
import { DrainGate } from './drain-gate.js';
import { PendingAsks } from './pending-asks.js';
import { MessagePortLink, type Link, type LinkFactory, type LinkFlush } from './transport.js';
import type { AskEnvelope, EndpointCounters, Envelope, TellEnvelope } from './wire.js';

interface PendingAsk {
  readonly target: ActorName;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: Error) => void;
  readonly timer: NodeJS.Timeout;
}

export interface EndpointOptions {
  readonly self: ActorName;
  /**
   * Ms on the process's monotonic clock (clock.ts) in production: an ask's deadline is an instant on it, judged
   * by whichever thread of this process the ask reaches (over TCP it travels as a time remaining instead).
   */
  readonly clock: () => number;
  readonly log: Logger;
  /** Called for each tell or ask addressed to this endpoint that passed isolation checks. */
  readonly deliver: (envelope: TellEnvelope | AskEnvelope) => void;
  /** Called when the link to a peer closed by itself (its thread ended), not when it was replaced or disconnected. */
  readonly onPeerGone?: (peer: ActorName) => void;
  /** When its MessagePort links send a part-filled frame (see LinkFlush); default 'microtask'. */
  readonly linkFlush?: LinkFlush;
  /** Envelopes held per busy link until it drains; default linkHeldEnvelopesMaxDefault. */
  readonly linkHeldEnvelopesMax?: number;
}

/** Envelopes an endpoint holds for one link that said busy, until its drain. */
export const linkHeldEnvelopesMaxDefault = 65_536;

/** At most one dead-letter (and one invalid-input) log line per interval, so a flood cannot flood the log. */
export const deadLetterLogIntervalMs = 1_000;

export class Endpoint {
  readonly self: ActorName;
  readonly counters: EndpointCounters = { deadLetters: 0, dropped: 0, invalid: 0, held: 0 };
  private readonly options: EndpointOptions;
  private readonly heldMax: number;
  /** Each peer's link, behind the gate that holds what is sent while the link is busy. */
  private readonly routes = new Map<ActorName, DrainGate>();
  private readonly pending = new PendingAsks<PendingAsk>();
  private readonly isolatedPeers = new Set<ActorName>();
  private selfIsolated = false;
  private lastDeadLetterLogAtMs = -Infinity;
  private deadLettersSinceLog = 0;
  private lastInvalidLogAtMs = -Infinity;
  private invalidSinceLog = 0;

  constructor(options: EndpointOptions) {
    this.self = options.self;
    this.options = options;
    this.heldMax = options.linkHeldEnvelopesMax ?? linkHeldEnvelopesMaxDefault;
    assert(Number.isInteger(this.heldMax) && this.heldMax >= 0, 'linkHeldEnvelopesMax must be a whole number', { linkHeldEnvelopesMax: this.heldMax });
  }

  /** Routes `peer` over a MessagePort (the in-process transport). */
  connect(peer: ActorName, port: MessagePort): void {
    this.attach(peer, (handlers) => new MessagePortLink(this.self, peer, port, handlers, this.options.linkFlush));
  }

  /** Routes `peer` over any transport implementing Link (a TCP link, a simulated network); replaces an old route. */
  attach(peer: ActorName, makeLink: LinkFactory): void {
    assert(peer !== this.self, 'an endpoint cannot link to itself', { peer });
    const old = this.routes.get(peer);
    if (old !== undefined) {
      old.link.close();
      this.counters.dropped += old.close();
    }
    const link: Link = makeLink({
      onEnvelope: (envelope) => this.receive(envelope),
      onInvalid: (problem, count) => this.countInvalid(peer, problem, count),
      onClose: () => {
        if (this.forget(peer, link)) this.options.onPeerGone?.(peer);
      },
    });
    assert(link.peer === peer, 'link built for another peer', { peer, linkPeer: link.peer });
    this.routes.set(peer, new DrainGate(link, this.heldMax, this.counters));
  }

  /** Drops the link and fails every ask still waiting on that peer. */
  disconnect(peer: ActorName): void {
    const route = this.routes.get(peer);
    if (route !== undefined) {
      route.link.close();
      this.forget(peer, route.link);
    }
  }

  setIsolated(isolated: boolean): void {
    this.selfIsolated = isolated;
  }

  setPeerIsolated(peer: ActorName, isolated: boolean): void {
    if (isolated) this.isolatedPeers.add(peer);
    else this.isolatedPeers.delete(peer);
  }

  get isolated(): boolean {
    return this.selfIsolated;
  }

  get pendingAskCount(): number {
    return this.pending.size;
  }

  tell(target: ActorName, body: unknown): void {
    const envelope: TellEnvelope = { kind: 'tell', from: this.self, to: target, body };
    if (target === this.self) return this.receive(envelope);
    if (this.isCut(target)) {
      this.counters.dropped += 1;
      return;
    }
    const route = this.routes.get(target);
    if (route === undefined) return this.deadLetter(target, 'no route');
    if (!route.send(envelope)) this.counters.dropped += 1;
  }

  ask<R>(target: ActorName, body: unknown, options?: AskOptions): Promise<R> {
    const timeoutMs = options?.timeoutMs ?? askTimeoutMsDefault;
    assert(Number.isFinite(timeoutMs) && timeoutMs > 0, 'ask timeout must be a positive number of ms', { timeoutMs });
    if (this.isCut(target)) {
      this.counters.dropped += 1;
      return Promise.reject(new ActorUnavailableError(`${target} is isolated from ${this.self}`));
    }
    const route = target === this.self ? null : this.routes.get(target);
    if (route === undefined) {
      this.deadLetter(target, 'no route');
      return Promise.reject(new ActorUnavailableError(`${target} is unknown, stopped or restarting`));
    }
    let id = '';
    const promise = new Promise<R>((resolve, reject) => {
      const timer = setTimeout(() => this.settle(id, new AskTimeoutError(`${target} did not answer within ${timeoutMs} ms`)), timeoutMs);
      id = this.pending.add({ target, resolve: resolve as (value: unknown) => void, reject, timer });
    });
    const envelope: AskEnvelope = { kind: 'ask', from: this.self, to: target, id, body, deadlineAtMs: this.options.clock() + timeoutMs };
    if (route === null) this.receive(envelope);
    else if (!route.send(envelope)) {
      this.counters.dropped += 1;
      this.settle(id, new MailboxFullError(`the link from ${this.self} to ${target} is busy with ${route.heldCount} envelopes held`));
    }
    return promise;
  }

  /** Answers an ask; an error becomes plain data so it survives the trip. */
  reply(ask: { from: ActorName; id: string }, body: unknown, error: unknown | null): void {
    const envelope: Envelope = { kind: 'reply', from: this.self, to: ask.from, id: ask.id, body, error: error === null ? null : toErrorData(error) };
    if (ask.from === this.self) return this.receive(envelope);
    if (this.isCut(ask.from)) {
      this.counters.dropped += 1;
      return;
    }
    const route = this.routes.get(ask.from);
    if (route === undefined) return this.deadLetter(ask.from, 'reply to a gone asker');
    if (!route.send(envelope)) this.counters.dropped += 1;
  }

  /** Envelopes held now for `peer`'s busy link (0 when it is not busy or unknown). */
  heldFor(peer: ActorName): number {
    return this.routes.get(peer)?.heldCount ?? 0;
  }

  /** Posts every pending frame now (before a worker exits). */
  flushAll(): void {
    for (const route of this.routes.values()) route.link.flush();
  }

  /** Closes every link and fails every pending ask; the endpoint is unusable afterwards. */
  close(reason: string): void {
    for (const peer of [...this.routes.keys()]) this.disconnect(peer);
    for (const [id] of this.pending.entries()) this.settle(id, new ActorUnavailableError(`${this.self} closed: ${reason}`));
  }

  private receive(envelope: Envelope): void {
    if (envelope.to !== this.self) return this.countInvalid(envelope.from, `envelope for ${envelope.to} arrived at ${this.self}`, 1);
    if (envelope.from !== this.self && this.isCut(envelope.from)) {
      this.counters.dropped += 1;
      return;
    }
    switch (envelope.kind) {
      case 'reply':
        return this.settle(envelope.id, envelope.error === null ? null : fromErrorData(envelope.error), envelope.body);
      case 'tell':
      case 'ask':
        return this.options.deliver(envelope);
    }
  }

  private settle(id: string, error: RuntimeError | null, value?: unknown): void {
    const pending = this.pending.take(id);
    if (pending === undefined) return; // A late reply to an ask that already timed out.
    clearTimeout(pending.timer);
    if (error === null) pending.resolve(value);
    else pending.reject(error);
  }

  /** Drops the link unless a newer one replaced it; returns whether it was the live link to the peer. */
  private forget(peer: ActorName, link: Link): boolean {
    const route = this.routes.get(peer);
    if (route?.link !== link) return false; // Already replaced by a newer link to a restarted peer.
    this.routes.delete(peer);
    this.counters.dropped += route.close(); // asks among what was held fail just below, with every other ask to the peer
    for (const [id, pending] of this.pending.entries()) {
      if (pending.target === peer) this.settle(id, new ActorCrashedError(`${peer} went away before answering`));
    }
    return true;
  }

  private isCut(peer: ActorName): boolean {
    return this.selfIsolated || this.isolatedPeers.has(peer);
  }

  deadLetter(target: ActorName, why: string): void {
    this.counters.deadLetters += 1;
    this.deadLettersSinceLog += 1;
    const nowMs = this.options.clock();
    if (nowMs - this.lastDeadLetterLogAtMs < deadLetterLogIntervalMs) return;
    // Debug, not warn: messages to a stopped or restarting peer are expected during faults; the count is in stats.
    this.options.log.debug({ from: this.self, target, why, deadLettersSinceLastLog: this.deadLettersSinceLog }, `dead letter from ${this.self} to ${target} (${why})`);
    this.lastDeadLetterLogAtMs = nowMs;
    this.deadLettersSinceLog = 0;
  }

  countInvalid(peer: ActorName, problem: string, count: number): void {
    this.counters.invalid += count;
    this.invalidSinceLog += count;
    const nowMs = this.options.clock();
    if (nowMs - this.lastInvalidLogAtMs < deadLetterLogIntervalMs) return;
    const message = `${this.self} discarded invalid input from ${peer}: ${problem} (${this.invalidSinceLog} since the last report)`;
    this.options.log.warn({ peer, problem, invalidSinceLastLog: this.invalidSinceLog }, message);
    this.lastInvalidLogAtMs = nowMs;
    this.invalidSinceLog = 0;
  }
}
