// The Ready API of the Raft core: what the node hands its driver and what it learns back. After etcd's rawnode.go.
//
// Owns: everything gathered for the next Ready — the outbox, read answers and failures, a snapshot received from
// the leader — and the hard and soft state the last Ready reported, and the Ready handed out and not yet
// advanced. Promises: hasReady() says whether anything changed since the last Ready; take() hands out everything
// unstable at once (new entries, a truncation, term, vote, commit, the messages produced by the same inputs), so a
// message never promises what its Ready does not make durable; take() may not be called again before accept()
// (RaftUsageError); accept() records what the driver applied and made durable in the log. Needs: the node's log
// and its current term, vote, leader and role, passed in on each call (as values: has() runs after every input).
import type { Entry, HardState, Message, NodeId, ReadFailure, ReadState, Ready, Role, Snapshot, SoftState } from '../types.js';
import { RaftUsageError } from './errors.js';
import type { RaftLog } from './log.js';

export class ReadyQueue {
  /** Messages to send; a message may promise only what the same Ready makes durable. */
  outbox: Message[] = [];
  readStates: ReadState[] = [];
  readFailures: ReadFailure[] = [];
  /** A snapshot received from the leader, to be restored by the driver (replaces the whole stored log). */
  snapshot: Snapshot | null = null;
  private lastHardState: HardState;
  private lastSoftState: SoftState;
  private outstanding: Ready | null = null;
  private readonly id: NodeId;

  constructor(id: NodeId, hardState: HardState, softState: SoftState) {
    this.id = id;
    this.lastHardState = hardState;
    this.lastSoftState = softState;
  }

  /** The hard state the last Ready reported (what the driver has made durable, or is making durable). */
  get reportedHardState(): HardState {
    return this.lastHardState;
  }

  /** The snapshot of the Ready handed out and not yet advanced, if any. */
  get outstandingSnapshot(): Snapshot | null {
    return this.outstanding?.snapshot ?? null;
  }

  has(log: RaftLog, term: number, vote: NodeId | null, leader: NodeId | null, role: Role): boolean {
    if (this.outstanding !== null) return false;
    return this.outbox.length > 0 || this.readStates.length > 0 || this.readFailures.length > 0
      || this.snapshot !== null || log.unstableFrom <= log.lastIndex()
      || this.committedEntriesFrom(log) <= log.commit || this.hardStateChanged(log, term, vote) || this.softStateChanged(leader, role);
  }

  take(log: RaftLog, term: number, vote: NodeId | null, leader: NodeId | null, role: Role): Ready {
    if (this.outstanding !== null) throw new RaftUsageError(`${this.id}: ready() called again before advance()`);
    const hardState = this.hardStateChanged(log, term, vote) ? { term, vote, commit: log.commit } : null;
    const softState = this.softStateChanged(leader, role) ? { leader, role } : null;
    const ready: Ready = {
      softState,
      hardState,
      snapshot: this.snapshot,
      entries: log.slice(log.unstableFrom, log.lastIndex()),
      messages: this.outbox,
      committedEntries: log.slice(this.committedEntriesFrom(log), log.commit),
      readStates: this.readStates,
      readFailures: this.readFailures,
    };
    if (hardState !== null) this.lastHardState = hardState;
    if (softState !== null) this.lastSoftState = softState;
    log.unstableFrom = log.lastIndex() + 1;
    this.outbox = [];
    this.readStates = [];
    this.readFailures = [];
    this.snapshot = null;
    this.outstanding = ready;
    return ready;
  }

  /** The driver persisted, sent and applied everything in `ready`: the log learns what is applied and durable. */
  accept(ready: Ready, log: RaftLog): void {
    if (this.outstanding !== ready) throw new RaftUsageError(`${this.id}: advance() with a Ready that is not the outstanding one`);
    this.outstanding = null;
    if (ready.snapshot !== null) log.applied = Math.max(log.applied, ready.snapshot.meta.index);
    const lastCommitted: Entry | undefined = ready.committedEntries[ready.committedEntries.length - 1];
    if (lastCommitted !== undefined) log.applied = Math.max(log.applied, lastCommitted.index);
    const lastPersisted = ready.entries[ready.entries.length - 1];
    if (lastPersisted !== undefined && log.matchTerm(lastPersisted.index, lastPersisted.term)) {
      log.persistedIndex = Math.max(log.persistedIndex, lastPersisted.index);
    }
  }

  private committedEntriesFrom(log: RaftLog): number {
    const restoredTo = this.snapshot?.meta.index ?? 0;
    return Math.max(log.applied, log.snapshotIndex, restoredTo) + 1;
  }

  private hardStateChanged(log: RaftLog, term: number, vote: NodeId | null): boolean {
    const last = this.lastHardState;
    return last.term !== term || last.vote !== vote || last.commit !== log.commit;
  }

  private softStateChanged(leader: NodeId | null, role: Role): boolean {
    return this.lastSoftState.leader !== leader || this.lastSoftState.role !== role;
  }
}
