// The replica adapter: one Raft node, its SQLite storage and the application's state machine, run inside one
// actor of the runtime.
//
// Owns: the processing loop of the core (persist and send — a leader sends first —, apply, serve reads, advance), the
// proposals and reads waiting for their answers, log compaction and the images a leader sends to followers
// behind its log, and the replica's wire protocol:
//   {type:'raft', message}            a peer's Raft message (tell)
//   {type:'tick'}                     the replica's own timer (armed for the next tick that acts, see
//                                     tick-schedule.ts; an idle follower sleeps through its election timeout)
//   {type:'propose', data}            ask → {ok:true, index, result} | {ok:false, error, leader}
//   {type:'read', query}              ask → linearizable (ReadIndex) read → {ok:true, index, result} | {ok:false, …}
//   {type:'status'}                   ask → ReplicaStatus
//   {type:'hash'}                     ask → {index, hash}: the state digest at the applied index
//   {type:'transferLeadership', to?}  ask → boolean
//   {type:'peerGone', peer}           from the runtime: a peer's thread ended; if it was the leader, campaign soon
// Anything else goes to the application's own `receive` hook (the catalog's subscriptions, the order saga).
// Promises: a proposal is answered only after its entry is durable on a majority and applied here; a read is
// answered only with state at least as new as the commit index when the read began; a failed disk write crashes
// the actor rather than acknowledging (the supervisor restarts it and it reloads from its own disk).
// Needs: the runtime's ActorContext, a StateMachine, and a data directory.

import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { ActorContext, ActorDefinition, Reply } from '../runtime/actor.js';
import { RaftNode, type RaftStatus } from './core/node.js';
import { sendsBeforePersist } from './core/send-order.js';
import type { StateMachine } from './state-machine.js';
import type { SnapshotBuildRequest, SnapshotBuildResult, StateMachineFactory } from './storage/snapshot-builder.js';
import { RaftStorage, type AppliedResult } from './storage/storage.js';
import { StorageFaults } from './storage/faults.js';
import { StorageWriteError } from './storage/errors.js';
import { TickSchedule } from './tick-schedule.js';
import type { Entry, Message, NodeId, Ready, SoftState } from './types.js';
import { isRaftMessage } from './validate.js';
import { clusterIdFor, establishIdentity, IdentityGuard, isEnvelopeHeader, nonVoterNotice, type RaftEnvelope, type RefusalReason } from './identity.js';
import { FileMemberMarker } from './storage/marker.js';
import { SeededRandom } from './sim/random.js';

export interface ReplicaArgs {
  /** This replica's name, also its Raft node id and its actor name. */
  readonly name: NodeId;
  /** Every replica of the group, this one included. */
  readonly peers: readonly NodeId[];
  readonly dataDir: string;
  /**
   * Names the cluster: the group's cluster id is derived from it and the members (identity.ts), so every host
   * given the same name and members agrees on it. Default 'pygmy'.
   */
  readonly clusterName?: string;
  /** Milliseconds per Raft tick. */
  readonly tickMs?: number;
  /** Default 10: a follower campaigns after 10–20 ticks (0.5–1 s at 50 ms) without hearing from a leader. */
  readonly electionTicks?: number;
  /**
   * Default 3 (150 ms at 50 ms a tick): three heartbeats per shortest election timeout, as etcd's 1:10 advice
   * allows, at a third of the wake-ups of one heartbeat per tick — an idle group's threads cost 109 → 80 ms of CPU
   * per second. Replication and ReadIndex rounds do not wait for heartbeats.
   */
  readonly heartbeatTicks?: number;
  /**
   * Compact the log once it holds this many applied entries past the last compaction (default 10,000; at least
   * 2), keeping the newest half (see compactionIndex). The state itself lives in the database's tables, so
   * compacting writes no image; an image is built only when a follower needs entries that are gone.
   */
  readonly snapshotEntriesInterval?: number;
  /** Seed of the election-timeout randomness; defaults to one derived from the name. */
  readonly seed?: number;
  /** Test hook: accept {type:'injectDiskFault', code} to make the next disk write fail as a failing disk would. */
  readonly diskFaultInjection?: boolean;
}

export type ProposeAnswer =
  | { readonly ok: true; readonly index: number; readonly result: unknown }
  | { readonly ok: false; readonly error: ReplicaRefusal; readonly leader: NodeId | null };

export type ReadAnswer =
  | { readonly ok: true; readonly index: number; readonly result: unknown }
  | { readonly ok: false; readonly error: ReplicaRefusal; readonly leader: NodeId | null };

export type ReplicaRefusal = 'notLeader' | 'transferring' | 'tooManyUncommitted' | 'dropped' | 'busy' | 'leaderUnknown';

export interface ReplicaStatus {
  readonly name: NodeId;
  readonly role: RaftStatus['role'];
  readonly term: number;
  readonly leader: NodeId | null;
  readonly commitIndex: number;
  readonly lastApplied: number;
  readonly lastIndex: number;
  readonly snapshotIndex: number;
  readonly fsyncs: number;
  /** Times the tick timer fired since the replica started: an idle follower's stay near one per election timeout. */
  readonly tickWakeups: number;
  readonly clusterId: string;
  readonly replicaId: string;
  /** False when this replica lost its disk while its group lived on: it may not vote (identity.ts). */
  readonly voter: boolean;
  /** Raft messages refused at the envelope, by reason, since the replica started. */
  readonly refusedMessages: Readonly<Record<RefusalReason, number>>;
}

export type ReplicaMessage =
  | RaftEnvelope
  | { readonly type: 'tick' }
  | { readonly type: 'propose'; readonly data: string }
  | { readonly type: 'read'; readonly query: unknown }
  | { readonly type: 'status' }
  | { readonly type: 'hash' }
  | { readonly type: 'transferLeadership'; readonly to?: NodeId }
  | { readonly type: 'peerGone'; readonly peer: NodeId }
  | { readonly type: 'injectDiskFault'; readonly code: 'EIO' | 'ENOSPC' };

const replicaMessageTypes = new Set<string>(['raft', 'tick', 'propose', 'read', 'status', 'hash', 'transferLeadership', 'peerGone', 'injectDiskFault']);

export const readsPendingMax = 4_096;
/** At most one log line per this many milliseconds about refused Raft messages (the rest are counted). */
export const refusalLogIntervalMs = 10_000;
export const proposalsPendingMax = 8_192;

interface PendingProposal {
  readonly term: number;
  readonly resolve: (answer: ProposeAnswer) => void;
}

interface ReadWaiter {
  readonly query: unknown;
  readonly resolve: (answer: ReadAnswer) => void;
}

/** The reads of one turn, confirmed together by one ReadIndex round. */
interface PendingRead {
  readonly waiters: readonly ReadWaiter[];
  /** Set once the leader confirmed the round: serve when lastApplied reaches it. */
  index: number | null;
}

/** The application side of a replica: its state machine and its reactions to what the replica applies. */
export interface ReplicaApplication<App, AppMessage extends { type: string }, Args extends ReplicaArgs> {
  createStateMachine(args: Args): StateMachine;
  /**
   * Where a snapshot builder in another thread finds `createStateMachine` (a module URL and the name of the
   * export; it is called with the replica's args). With it, the images a leader sends to followers behind its
   * log are built off the replica's thread (storage/snapshot-builder.ts); without it, on the replica's thread.
   */
  readonly stateMachineModule?: { readonly url: string; readonly exportName: string };
  init?(replica: Replica, args: Args, context: ActorContext): App;
  /** Called for each applied entry with the state machine's result, on every replica. */
  onApplied?(app: App, replica: Replica, entry: Entry, result: unknown, context: ActorContext): void;
  /** Called when this replica's role or known leader changes. */
  onSoftState?(app: App, replica: Replica, softState: SoftState, context: ActorContext): void;
  isMessage?(message: unknown): message is AppMessage;
  receive?(app: App, replica: Replica, message: AppMessage, context: ActorContext): unknown;
  stop?(app: App, replica: Replica, context: ActorContext): void;
}

/** The live replica: what the application's hooks may call. */
export class Replica {
  readonly name: NodeId;
  readonly peers: readonly NodeId[];
  readonly node: RaftNode;
  readonly storage: RaftStorage;
  private readonly context: ActorContext;
  private readonly snapshotEntriesInterval: number;
  private readonly proposals = new Map<number, PendingProposal>();
  private readonly reads = new Map<string, PendingRead>();
  private readCounter = 0;
  /** Reads gathered this turn, not yet in a ReadIndex round. */
  private readBatch: ReadWaiter[] = [];
  /** Reads not yet answered, in rounds or gathered: bounded by readsPendingMax. */
  private readsWaiting = 0;
  private flushScheduled = false;
  /** How a builder thread makes this replica's state machine; null builds images on this thread. */
  private readonly snapshotFactory: StateMachineFactory | null;
  private snapshotBuilder: Worker | null = null;
  /** After a builder failed, images are built here (and the failure logged) rather than retried in a loop. */
  private snapshotBuilderFailed = false;
  /** While a builder runs: lastApplied when it started, at or below the index of the image it will bring. */
  private imageFloor = 0;
  private softState: SoftState = { leader: null, role: 'follower' };
  private stopped = false;
  private readonly tickMs: number;
  private readonly ticks: TickSchedule;
  /** When the armed tick timer falls due (performance.now() reading); +Infinity when none is armed. */
  private tickTimerAtMs = Number.POSITIVE_INFINITY;
  private tickWakeups = 0;
  private readonly diskFaults: StorageFaults | null;
  readonly identity: IdentityGuard;
  private readonly refused: Record<RefusalReason, number> = { otherCluster: 0, forgedSender: 0, forgedTarget: 0, notAPeer: 0 };
  /** When a refusal was last logged (context.now()): at most one line per refusalLogIntervalMs. */
  private refusalLoggedAtMs = Number.NEGATIVE_INFINITY;
  private refusalsUnlogged = 0;
  /** Hooks the application installs; the replica calls them from its processing loop. */
  onApplied: (entry: Entry, result: unknown) => void = () => {};
  onSoftState: (softState: SoftState) => void = () => {};

  constructor(args: ReplicaArgs, stateMachine: StateMachine, context: ActorContext, snapshotFactory: StateMachineFactory | null = null) {
    this.name = args.name;
    this.snapshotFactory = snapshotFactory;
    this.peers = [...args.peers];
    this.context = context;
    this.snapshotEntriesInterval = args.snapshotEntriesInterval ?? 10_000;
    this.tickMs = args.tickMs ?? 50;
    this.ticks = new TickSchedule(this.tickMs, () => performance.now());
    if (!Number.isInteger(this.snapshotEntriesInterval) || this.snapshotEntriesInterval < 2) {
      throw new RangeError(`${args.name}: snapshotEntriesInterval must be an integer ≥ 2, not ${this.snapshotEntriesInterval}`);
    }
    mkdirSync(args.dataDir, { recursive: true });
    this.diskFaults = args.diskFaultInjection ? new StorageFaults() : null;
    this.storage = RaftStorage.open({
      path: join(args.dataDir, `${args.name}.db`),
      stateMachine,
      logger: { warn: (details, message) => context.log.warn(details, `${args.name}: ${message}`) },
      ...(this.diskFaults === null ? {} : { faults: this.diskFaults }),
    });
    const loaded = this.storage.load();
    const established = establishIdentity({
      store: this.storage,
      marker: new FileMemberMarker(join(args.dataDir, `${args.name}.identity`)),
      clusterId: clusterIdFor(args.clusterName ?? 'pygmy', args.peers),
      newReplicaId: () => randomBytes(8).toString('hex'),
      nowIso: () => new Date(context.now()).toISOString(),
    });
    this.node = new RaftNode(
      {
        id: args.name,
        peers: args.peers,
        electionTicks: args.electionTicks ?? 10,
        heartbeatTicks: args.heartbeatTicks ?? 3,
        random: randomFor(args),
        preVote: true,
        checkQuorum: true,
        maxEntriesPerAppend: 256,
        maxInflightAppends: 64,
        maxUncommittedEntries: 16_384,
        maxPendingReads: readsPendingMax,
        applied: loaded.lastApplied,
        voter: established.identity.voter,
      },
      loaded.persisted,
    );
    this.identity = new IdentityGuard(args.name, args.peers, established.identity, this.storage, {
      peerLostDisk: (peer, why) => {
        this.node.markNonVoter(peer);
        context.log.warn({ replica: args.name, peer, event: 'peerLostDisk' }, `${args.name}: ${peer} lost its disk (${why}); its votes and acknowledgements no longer count`);
      },
      lostDisk: (why) => {
        this.node.becomeNonVoter();
        context.log.error({ replica: args.name, event: 'nonVoter' }, nonVoterNotice(args.name, why));
      },
    });
    const verdict = established.verdict;
    if (verdict.kind === 'lostDisk') {
      context.log.error(
        { replica: args.name, event: 'nonVoter', previousReplicaId: verdict.previousReplicaId },
        nonVoterNotice(args.name, `its database is empty, but its member marker says it was replica ${verdict.previousReplicaId} of cluster ${established.identity.clusterId}`),
      );
    } else if (!established.identity.voter) {
      context.log.error({ replica: args.name, event: 'nonVoter' }, nonVoterNotice(args.name, 'it recorded so earlier'));
    }
    context.log.info(
      { replica: args.name, term: loaded.persisted.hardState.term, lastApplied: loaded.lastApplied, entries: loaded.persisted.entries.length },
      `${args.name} loaded from disk: term ${loaded.persisted.hardState.term}, applied ${loaded.lastApplied}, ${loaded.persisted.entries.length} log entries`,
    );
  }

  get lastApplied(): number {
    return this.storage.lastApplied;
  }

  get isLeader(): boolean {
    return this.softState.role === 'leader';
  }

  get leader(): NodeId | null {
    return this.softState.leader;
  }

  /** Proposes a command; resolves once it is committed and applied here (or refused). */
  propose(data: string): Promise<ProposeAnswer> {
    if (this.proposals.size >= proposalsPendingMax) {
      return Promise.resolve({ ok: false, error: 'busy', leader: this.softState.leader });
    }
    this.catchUpTicks();
    const proposed = this.node.propose(data);
    if (!proposed.ok) return Promise.resolve({ ok: false, error: proposed.error, leader: proposed.leader });
    this.scheduleFlush();
    return new Promise((resolve) => this.proposals.set(proposed.index, { term: proposed.term, resolve }));
  }

  /**
   * A linearizable read through ReadIndex; resolves with the state machine's answer. Reads that arrive in one turn
   * share one ReadIndex round (one heartbeat exchange with a majority): each began before the round did, so the
   * round's index covers every write acknowledged before any of them.
   */
  read(query: unknown): Promise<ReadAnswer> {
    if (this.readsWaiting >= readsPendingMax) {
      return Promise.resolve({ ok: false, error: 'busy', leader: this.softState.leader });
    }
    this.readsWaiting += 1;
    return new Promise((resolve) => {
      this.readBatch.push({ query, resolve });
      this.scheduleFlush();
    });
  }

  /** Starts one ReadIndex round for the reads gathered since the last one. */
  private startReadRound(): void {
    if (this.readBatch.length === 0) return;
    this.readCounter += 1;
    const readContext = `${this.name}:${this.readCounter}`;
    this.reads.set(readContext, { waiters: this.readBatch, index: null });
    this.readBatch = [];
    this.catchUpTicks();
    this.node.readIndex(readContext);
  }

  private settleRead(pending: PendingRead, answer: (query: unknown) => ReadAnswer): void {
    this.readsWaiting -= pending.waiters.length;
    for (const waiter of pending.waiters) waiter.resolve(answer(waiter.query));
  }

  status(): ReplicaStatus {
    const status = this.node.status();
    return {
      name: this.name,
      role: status.role,
      term: status.term,
      leader: status.leader,
      commitIndex: status.commitIndex,
      lastApplied: this.storage.lastApplied,
      lastIndex: status.lastIndex,
      snapshotIndex: status.snapshotIndex,
      fsyncs: this.storage.stats().fsyncs,
      tickWakeups: this.tickWakeups,
      clusterId: this.identity.clusterId,
      replicaId: this.identity.replicaId,
      voter: status.voter,
      refusedMessages: { ...this.refused },
    };
  }

  /**
   * A peer's Raft message, in its envelope, as the transport delivered it from `sender`. One that fails the
   * identity checks (another cluster, a from/to that is not the envelope's, a name outside the group) is refused,
   * counted and logged, and never reaches the core.
   */
  step(envelope: RaftEnvelope, sender: NodeId | null): void {
    const verdict = this.identity.admit(envelope, sender);
    if (!verdict.ok) {
      this.refuse(verdict.reason, verdict.detail);
      return;
    }
    this.catchUpTicks();
    this.node.step(envelope.message);
    this.scheduleFlush();
  }

  private refuse(reason: RefusalReason, detail: string): void {
    this.refused[reason] += 1;
    const nowMs = this.context.now();
    if (nowMs - this.refusalLoggedAtMs < refusalLogIntervalMs) {
      this.refusalsUnlogged += 1;
      return;
    }
    const unlogged = this.refusalsUnlogged;
    this.refusalLoggedAtMs = nowMs;
    this.refusalsUnlogged = 0;
    this.context.log.warn(
      { replica: this.name, reason, refused: { ...this.refused }, event: 'raftMessageRefused' },
      `${this.name} refused a Raft message (${reason}: ${detail})${unlogged > 0 ? `; ${unlogged} more refused since the last such line` : ''}`,
    );
  }

  /** The tick timer fired: the ticks up to the one that acts, the processing loop, then the next timer. */
  tick(): void {
    this.tickTimerAtMs = Number.POSITIVE_INFINITY;
    this.tickWakeups += 1;
    const count = this.ticks.atTimer(this.node.ticksUntilDue());
    for (let tick = 0; tick < count; tick += 1) this.node.tick();
    this.flush();
  }

  /**
   * Before each input to the core: the ticks whose time has come, short of the one that acts (the timer's). They
   * only count, so they need no processing loop; but a message must find the counts as the clock has them (a
   * heartbeat resets them, a vote request reads them).
   */
  private catchUpTicks(): void {
    const count = this.ticks.beforeInput(this.node.ticksUntilDue());
    for (let tick = 0; tick < count; tick += 1) this.node.tick();
  }

  /**
   * After each processing loop: arms the timer for the next tick that acts, unless one is armed for that time or
   * earlier. An input can only bring that tick closer or push it further, and a timer that fires early just
   * finds fewer ticks due and is armed again. One armed for a time more than two ticks past counts as lost (a
   * full mailbox drops timer messages) and is armed again. Called once more when the actor starts.
   */
  armTickTimer(): void {
    if (this.stopped) return;
    const nowMs = performance.now();
    const dueAtMs = this.ticks.dueAtMs(this.node.ticksUntilDue());
    if (dueAtMs >= this.tickTimerAtMs && this.tickTimerAtMs > nowMs - 2 * this.tickMs) return;
    this.tickTimerAtMs = dueAtMs;
    // A millisecond late rather than early: the timers' clock is coarser than performance.now().
    this.context.setTimer('tick', { type: 'tick' }, Math.max(0, Math.ceil(dueAtMs - nowMs)) + 1);
  }

  /** Runs the processing loop after the current turn, so one turn's proposals share one fsync. */
  scheduleFlush(): void {
    if (this.flushScheduled || this.stopped) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  /**
   * Persist, then send (a leader may send first), then apply, then serve reads, then advance; until the core has
   * nothing more.
   * A failed disk write stops the replica here, before it sends anything that the write was to back (a vote, an
   * append ack, an answer): the error crashes the actor, the supervisor restarts it, and it reloads from disk.
   */
  flush(): void {
    if (this.stopped) return;
    this.startReadRound();
    try {
      this.runReadyLoop();
    } catch (error) {
      if (error instanceof StorageWriteError) {
        this.context.log.error(
          { replica: this.name, code: error.code, event: 'diskFault' },
          `${this.name} stops: a disk write failed (${error.code}); it acknowledges nothing it could not make durable`,
        );
      }
      throw error;
    }
    this.serveReads();
    this.maybeCompact();
    this.maybeBuildImage();
    if (this.node.hasReady()) this.scheduleFlush();
    this.armTickTimer();
  }

  /** Test hook (diskFaultInjection): the next write transaction fails with `code`. */
  injectDiskFault(code: 'EIO' | 'ENOSPC'): boolean {
    if (this.diskFaults === null) return false;
    this.diskFaults.failNextWrite(code);
    return true;
  }

  private runReadyLoop(): void {
    for (let round = 0; round < 64 && this.node.hasReady(); round += 1) {
      const ready = this.node.ready();
      // A leader's messages may leave before its own write, so its fsync and its followers' overlap (see
      // core/send-order.ts for why that is safe); everything else is written first.
      const role = (ready.softState ?? this.softState).role;
      const sendFirst = sendsBeforePersist(role, ready, this.storage.hardState);
      if (sendFirst) this.send(ready.messages);
      // A Ready that only moves the commit index is recorded in the same transaction as the entries it applies.
      const appliedWithCommit = this.storage.persistCommitAndApply(ready, ready.committedEntries);
      if (appliedWithCommit === null) this.persist(ready);
      if (!sendFirst) this.send(ready.messages);
      if (appliedWithCommit === null) this.apply(ready.committedEntries);
      else this.applied(ready.committedEntries, appliedWithCommit);
      this.collectReads(ready);
      if (ready.softState !== null) this.changeSoftState(ready.softState);
      this.node.advance(ready);
    }
  }

  private persist(ready: Ready): void {
    if (ready.snapshot === null && ready.entries.length === 0 && ready.hardState === null) return;
    this.storage.persist({ snapshot: ready.snapshot, entries: ready.entries, hardState: ready.hardState });
    if (ready.snapshot !== null) {
      this.context.log.info(
        { replica: this.name, index: ready.snapshot.meta.index },
        `${this.name} installed a snapshot at index ${ready.snapshot.meta.index} from the leader`,
      );
    }
  }

  private send(messages: readonly Message[]): void {
    for (const message of messages) this.context.tell(message.to, this.identity.wrap(message));
  }

  private apply(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    this.applied(entries, this.storage.apply(entries));
  }

  /** After entries were applied in storage: answer their proposers and tell the application. */
  private applied(entries: readonly Entry[], results: readonly AppliedResult[]): void {
    for (let position = 0; position < entries.length; position += 1) {
      const entry = entries[position]!;
      const result = results[position]!.result;
      const pending = this.proposals.get(entry.index);
      if (pending !== undefined) {
        this.proposals.delete(entry.index);
        if (pending.term === entry.term) pending.resolve({ ok: true, index: entry.index, result });
        else pending.resolve({ ok: false, error: 'dropped', leader: this.softState.leader });
      }
      if (entry.type === 'normal') this.onApplied(entry, result);
    }
  }

  private collectReads(ready: Ready): void {
    for (const readState of ready.readStates) {
      const pending = this.reads.get(readState.context);
      if (pending !== undefined) pending.index = readState.index;
    }
    for (const failure of ready.readFailures) {
      const pending = this.reads.get(failure.context);
      if (pending === undefined) continue;
      this.reads.delete(failure.context);
      const error: ReplicaRefusal = failure.reason === 'notLeader' ? 'notLeader' : failure.reason === 'leaderUnknown' ? 'leaderUnknown' : 'dropped';
      const leader = this.softState.leader;
      this.settleRead(pending, () => ({ ok: false, error, leader }));
    }
  }

  private serveReads(): void {
    const applied = this.storage.lastApplied;
    for (const [readContext, pending] of this.reads) {
      if (pending.index === null || pending.index > applied) continue;
      this.reads.delete(readContext);
      this.settleRead(pending, (query) => ({ ok: true, index: applied, result: this.storage.query(query) }));
    }
  }

  private changeSoftState(softState: SoftState): void {
    const previous = this.softState;
    this.softState = softState;
    const term = this.node.status().term;
    if (softState.role === 'leader' && previous.role !== 'leader') {
      const votes = `${Math.floor(this.peers.length / 2) + 1}/${this.peers.length}`;
      this.context.log.info({ replica: this.name, term, event: 'leader' }, `${this.name} became leader for term ${term} with at least ${votes} votes`);
    } else if (previous.role === 'leader' && softState.role !== 'leader') {
      this.context.log.info({ replica: this.name, term, event: 'stepDown' }, `${this.name} stepped down in term ${term}`);
      this.failProposals('notLeader');
    } else if (softState.leader !== previous.leader && softState.leader !== null) {
      this.context.log.debug({ replica: this.name, term, leader: softState.leader }, `${this.name} follows ${softState.leader} in term ${term}`);
    }
    this.onSoftState(softState);
  }

  /**
   * A former leader's proposals may still commit under the next leader, but this replica can no longer tell the
   * proposer when: answer "notLeader" so the proposer retries through the new leader (commands are idempotent).
   */
  private failProposals(error: ReplicaRefusal): void {
    for (const [index, pending] of this.proposals) {
      this.proposals.delete(index);
      pending.resolve({ ok: false, error, leader: this.softState.leader });
    }
  }

  /** Compacts the log once it holds snapshotEntriesInterval applied entries past the last compaction. */
  private maybeCompact(): void {
    const snapshotIndex = this.node.snapshotIndex;
    let index = compactionIndex(this.storage.lastApplied, snapshotIndex, this.snapshotEntriesInterval);
    if (index === null) return;
    // While an image is being built, keep the entries after the state it reads: compacted past them, the image
    // would be refused when it arrives, and a large state can take longer to encode than the log takes to grow.
    if (this.snapshotBuilder !== null) index = Math.min(index, this.imageFloor);
    if (index <= snapshotIndex) return;
    this.storage.compact(index, this.peers);
    this.node.compact(index);
    this.context.log.debug({ replica: this.name, index }, `${this.name} compacted its log up to index ${index}`);
  }

  /** The leader needs an image for a follower behind its log: build one, in a thread of its own when it can. */
  private maybeBuildImage(): void {
    if (this.snapshotBuilder !== null || !this.node.snapshotWanted()) return;
    if (this.snapshotFactory !== null && !this.snapshotBuilderFailed) {
      this.startSnapshotBuilder(this.snapshotFactory);
      return;
    }
    this.offerImage(this.storage.image(), '');
  }

  /**
   * Hands a built image to the core, which sends it to the followers that need it. One the log was compacted past
   * while it was built is refused, and the core asks again.
   */
  private offerImage(image: { readonly index: number; readonly term: number; readonly data: string }, how: string): void {
    const term = this.node.termAt(image.index);
    if (term !== undefined && term !== image.term) {
      throw new Error(`${this.name}: image at ${image.index} has term ${image.term}, the log has ${term}`);
    }
    if (!this.node.offerSnapshot(image.index, image.data)) return;
    this.context.log.info(
      { replica: this.name, index: image.index, bytes: image.data.length },
      `${this.name} built an image of its state at index ${image.index} (${image.data.length} bytes${how}) for a follower behind its log`,
    );
    this.scheduleFlush();
  }

  /** Builds the image in a thread of its own, from a consistent read of the database (see snapshot-builder.ts). */
  private startSnapshotBuilder(factory: StateMachineFactory): void {
    const request: SnapshotBuildRequest = { path: this.storage.path, factory };
    const builder = new Worker(snapshotBuilderUrl, { workerData: request });
    this.snapshotBuilder = builder;
    this.imageFloor = this.storage.lastApplied;
    let settled = false;
    const settle = (result: SnapshotBuildResult): void => {
      if (settled) return;
      settled = true;
      if (this.snapshotBuilder === builder) this.snapshotBuilder = null;
      void builder.terminate();
      if (!this.stopped) this.builtImage(result);
    };
    builder.once('message', (result: SnapshotBuildResult) => settle(result));
    builder.once('error', (error) => settle({ ok: false, error: error.message }));
    builder.once('exit', (code) => settle({ ok: false, error: `the snapshot builder exited with code ${code}` }));
  }

  private builtImage(result: SnapshotBuildResult): void {
    if (!result.ok) {
      this.snapshotBuilderFailed = true;
      this.context.log.warn({ replica: this.name, error: result.error }, `${this.name}: building an image in another thread failed (${result.error}); building them here from now on`);
      this.scheduleFlush();
      return;
    }
    this.offerImage(result, ', in another thread');
  }

  /**
   * The runtime saw a peer's thread end. When that peer was our leader, the core campaigns within a few ticks
   * instead of a whole election timeout: a killed leader costs ~100 ms of writes, not 500–1000 ms.
   */
  peerGone(peer: NodeId): void {
    this.catchUpTicks();
    if (!this.node.leaderLost(peer)) return;
    this.context.log.info({ replica: this.name, leader: peer, event: 'leaderGone' }, `${this.name}: leader ${peer} went away; campaigning early`);
    this.flush();
  }

  /** Before a graceful stop: hand leadership to the follower most likely to be up to date. */
  transferLeadershipAway(): boolean {
    if (!this.isLeader) return false;
    const target = this.node.transferTarget();
    if (target === null) return false;
    this.catchUpTicks();
    const started = this.node.transferLeadership(target, true);
    this.flush();
    return started;
  }

  close(): void {
    if (this.stopped) return;
    this.stopped = true;
    if (this.snapshotBuilder !== null) void this.snapshotBuilder.terminate();
    this.snapshotBuilder = null;
    this.failProposals('dropped');
    for (const [readContext, pending] of this.reads) {
      this.reads.delete(readContext);
      this.settleRead(pending, () => ({ ok: false, error: 'dropped', leader: null }));
    }
    this.settleRead({ waiters: this.readBatch, index: null }, () => ({ ok: false, error: 'dropped', leader: null }));
    this.readBatch = [];
    this.storage.close();
  }
}

/**
 * Where to compact the log, or null for not yet: once it holds `interval` applied entries past the last
 * compaction, up to the older half of them. The newest half stays, so that a follower a little behind (one that
 * restarted, or lost some appends) catches up from the log instead of needing a whole image of the state.
 */
export function compactionIndex(lastApplied: number, snapshotIndex: number, interval: number): number | null {
  if (lastApplied - snapshotIndex < interval) return null;
  return lastApplied - Math.floor(interval / 2);
}

const snapshotBuilderUrl = new URL('./storage/snapshot-builder.js', import.meta.url);

/** Election randomness: seeded when asked (reproducible runs), otherwise different on every start. */
function randomFor(args: ReplicaArgs): () => number {
  const generator = new SeededRandom(args.seed ?? (hashName(args.name) ^ Math.floor(Math.random() * 0x7fffffff)));
  return () => generator.next();
}

function hashName(name: string): number {
  let hash = 2166136261;
  for (let position = 0; position < name.length; position += 1) {
    hash ^= name.charCodeAt(position);
    hash = Math.imul(hash, 16777619);
  }
  return hash >>> 0;
}

interface ReplicaActorState<App> {
  readonly replica: Replica;
  readonly app: App;
}

function isReplicaMessage(message: unknown): message is ReplicaMessage {
  if (typeof message !== 'object' || message === null) return false;
  const type = (message as { type?: unknown }).type;
  if (typeof type !== 'string' || !replicaMessageTypes.has(type)) return false;
  switch (type) {
    case 'raft':
      return isEnvelopeHeader(message as Record<string, unknown>) && isRaftMessage((message as { message?: unknown }).message);
    case 'propose':
      return typeof (message as { data?: unknown }).data === 'string';
    case 'peerGone':
      return typeof (message as { peer?: unknown }).peer === 'string';
    case 'injectDiskFault': {
      const code = (message as { code?: unknown }).code;
      return code === 'EIO' || code === 'ENOSPC';
    }
    default:
      return true;
  }
}

function answerLater<T>(context: ActorContext, promise: Promise<T>): void {
  const reply: Reply = context.deferReply();
  promise.then((value) => reply.resolve(value), (error: unknown) => reply.reject(error instanceof Error ? error : new Error(String(error))));
}

/** Builds the actor definition of a replicated state machine; an actor module default-exports the result. */
export function defineReplicaActor<App, AppMessage extends { type: string }, Args extends ReplicaArgs>(
  application: ReplicaApplication<App, AppMessage, Args>,
): ActorDefinition<ReplicaActorState<App>, ReplicaMessage | AppMessage, Args> {
  return {
    init(args, context) {
      const module = application.stateMachineModule;
      const factory = module === undefined ? null : { moduleUrl: module.url, exportName: module.exportName, args };
      const replica = new Replica(args, application.createStateMachine(args), context, factory);
      const app = application.init ? application.init(replica, args, context) : (undefined as App);
      if (application.onApplied) {
        const onApplied = application.onApplied;
        replica.onApplied = (entry, result) => onApplied(app, replica, entry, result, context);
      }
      if (application.onSoftState) {
        const onSoftState = application.onSoftState;
        replica.onSoftState = (softState) => onSoftState(app, replica, softState, context);
      }
      replica.armTickTimer();
      return { replica, app };
    },
    isMessage(message: unknown): message is ReplicaMessage | AppMessage {
      if (isReplicaMessage(message)) return true;
      return application.isMessage ? application.isMessage(message) : false;
    },
    receive(state, message, context) {
      const { replica } = state;
      if (!replicaMessageTypes.has(message.type)) {
        return application.receive ? application.receive(state.app, replica, message as AppMessage, context) : undefined;
      }
      const replicaMessage = message as ReplicaMessage;
      switch (replicaMessage.type) {
        case 'raft':
          replica.step(replicaMessage, context.sender);
          return undefined;
        case 'tick':
          replica.tick();
          return undefined;
        case 'propose':
          answerLater(context, replica.propose(replicaMessage.data));
          return undefined;
        case 'read':
          answerLater(context, replica.read(replicaMessage.query));
          return undefined;
        case 'status':
          return replica.status();
        case 'hash':
          return { index: replica.lastApplied, hash: replica.storage.stateHash() };
        case 'transferLeadership':
          return replica.transferLeadershipAway();
        case 'injectDiskFault':
          return replica.injectDiskFault(replicaMessage.code);
        case 'peerGone':
          replica.peerGone(replicaMessage.peer);
          return undefined;
      }
    },
    async stop(state, context, reason) {
      // Handing over is for a replica stopping alone; when the whole system goes down, its peers go too.
      if (reason === 'stop' && state.replica.transferLeadershipAway()) {
        context.log.info({ replica: state.replica.name }, `${state.replica.name} hands leadership over before stopping`);
        // Give the timeoutNow message a moment to leave before the port closes.
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      application.stop?.(state.app, state.replica, context);
      state.replica.close();
    },
    status(state) {
      return state.replica.status();
    },
    peerGoneMessage: (peer) => ({ type: 'peerGone', peer }),
  };
}
