// Linearizable reads (ReadIndex, Raft thesis §6.4), the bookkeeping half: what the node remembers about reads
// between the request and the answer. After etcd's read_only.go.
//
// Owns: a leader's reads confirmed by a heartbeat round (oldest first), its reads waiting for the first commit of
// its term, and a follower's reads forwarded to the leader, each with its age in ticks. Promises: reads are
// released in the order they were registered; an acknowledgement for one read counts for every read registered
// before it; nothing here sends, pushes a Ready or reads a clock — it returns what the node must answer, and the
// node (node.ts) answers. Needs: the node to bound the counts (maxPendingReads) before it adds.
import type { NodeId } from '../types.js';

export interface PendingRead {
  readonly context: string;
  /** Who asked: this node (answer in Ready.readStates) or a follower (answer with readIndexResponse). */
  readonly requester: NodeId;
  readonly index: number;
  readonly acknowledgers: Set<NodeId>;
  ageTicks: number;
}

/** A read that has no index yet: it waits for the first commit of the leader's term. */
export interface WaitingRead {
  readonly context: string;
  readonly requester: NodeId;
}

/** A leader's reads: the ones confirmed by heartbeat rounds, and the ones waiting for a commit of its term. */
export class LeaderReads {
  /** Reads confirmed by a heartbeat round, oldest first. */
  private pending: PendingRead[] = [];
  /** Reads waiting for the first commit of this term before they can get an index. */
  private awaitingTermCommit: WaitingRead[] = [];

  /** Every read this leader holds, both kinds (the bound maxPendingReads is on this count). */
  get size(): number {
    return this.pending.length + this.awaitingTermCommit.length;
  }

  /** Whether any read waits for a heartbeat round (the leader then ages them every tick). */
  get hasPending(): boolean {
    return this.pending.length > 0;
  }

  awaitTermCommit(context: string, requester: NodeId): void {
    this.awaitingTermCommit.push({ context, requester });
  }

  /** The reads that waited for a commit of this term, in order; none wait afterwards. */
  takeAwaitingTermCommit(): WaitingRead[] {
    const waiting = this.awaitingTermCommit;
    this.awaitingTermCommit = [];
    return waiting;
  }

  /** Registers a read at `index`, already acknowledged by the leader itself. */
  add(context: string, requester: NodeId, index: number, self: NodeId): void {
    this.pending.push({ context, requester, index, acknowledgers: new Set([self]), ageTicks: 0 });
  }

  /** The context of the newest read waiting for a heartbeat round, which the next heartbeats carry. */
  newestContext(): string | null {
    const newest = this.pending[this.pending.length - 1];
    return newest === undefined ? null : newest.context;
  }

  /** `from` acknowledged the read `context`, and so every read registered before it; false when unknown. */
  acknowledge(context: string, from: NodeId): boolean {
    const position = this.pending.findIndex((read) => read.context === context);
    if (position < 0) return false;
    for (let index = 0; index <= position; index += 1) this.pending[index]!.acknowledgers.add(from);
    return true;
  }

  /** Removes and returns the prefix of reads that `confirmed` accepts, in order. */
  takeConfirmed(confirmed: (read: PendingRead) => boolean): PendingRead[] {
    const released: PendingRead[] = [];
    while (this.pending.length > 0 && confirmed(this.pending[0]!)) released.push(this.pending.shift()!);
    return released;
  }

  /** One tick passed: every read waiting for a heartbeat round ages by one. */
  age(): void {
    for (const read of this.pending) read.ageTicks += 1;
  }

  /** Removes and returns the oldest reads older than `maxAgeTicks`, in order. */
  takeExpired(maxAgeTicks: number): PendingRead[] {
    const expired: PendingRead[] = [];
    while (this.pending.length > 0 && this.pending[0]!.ageTicks > maxAgeTicks) expired.push(this.pending.shift()!);
    return expired;
  }

  /** Leadership ends: every read, confirmed-round ones first, then the waiting ones; none are kept. */
  takeAll(): WaitingRead[] {
    const all: WaitingRead[] = [...this.pending, ...this.awaitingTermCommit];
    this.pending = [];
    this.awaitingTermCommit = [];
    return all;
  }
}

/** A follower's reads forwarded to the leader, by context, with their age in ticks. */
export class ForwardedReads {
  private readonly ages = new Map<string, number>();

  get size(): number {
    return this.ages.size;
  }

  has(context: string): boolean {
    return this.ages.has(context);
  }

  add(context: string): void {
    this.ages.set(context, 0);
  }

  /** The leader answered `context`; false when it was not (or no longer) forwarded. */
  settle(context: string): boolean {
    return this.ages.delete(context);
  }

  /** The leader changed: every forwarded read is dropped; returns their contexts in order. */
  takeAll(): string[] {
    const contexts = [...this.ages.keys()];
    this.ages.clear();
    return contexts;
  }

  /** One tick passed: ages every read, removes and returns those now older than `maxAgeTicks`. */
  ageAndTakeExpired(maxAgeTicks: number): string[] {
    const expired: string[] = [];
    for (const [context, age] of this.ages) {
      if (age + 1 > maxAgeTicks) {
        this.ages.delete(context);
        expired.push(context);
      } else {
        this.ages.set(context, age + 1);
      }
    }
    return expired;
  }
}
