// The replica driver: the one processing loop around a Raft core, used by the replica actor (production), the
// simulator and the scenario scripts alike.
//
// Owns: the RaftNode and its identity guard; the loop (a leader may send first — core/send-order.ts —, persist,
// send, apply, serve reads, advance, until the core has nothing more; with a storage that fsyncs off the thread,
// persist is a write now and the send and the advance wait for the fsync); proposals and reads waiting for their
// answers (reads of one turn share one ReadIndex round); tick accounting against the clock (tick-schedule.ts);
// log compaction; images for followers behind the compacted log; the hand-over before a graceful stop.
// Promises: a proposal is answered only after its entry is durable on a majority and applied here; a read only with
// state at least as new as the commit index when the read began; nothing is sent that a write failing before it
// was to back (a failed write throws out of the loop, and the host must stop this driver); messages refused by
// the identity guard never reach the core.
// Needs, all injected (see the interfaces below): storage, a monotonic clock, a tick timer and a way to run work
// after the current turn, a transport, an image builder, and hooks for the application and the log.
import {
  RaftNode, type Membership, type MembershipChange, type MembershipChangeResult, type RaftConfig, type RaftStatus,
} from './core/node.js';
import { rmSync } from 'node:fs';
import { sendsBeforePersist } from './core/send-order.js';
import { assertNever } from './core/errors.js';
import { compactionTarget, entryOverheadBytes, retainBytesMaxDefault } from './compaction.js';

export { compactionIndex } from './compaction.js';
import { SnapshotStreams, defaultSnapshotStreamOptions, isSnapshotStreamMessage } from './snapshot-stream.js';
import type { SnapshotStreamCounters, SnapshotStreamMessage, SnapshotStreamOptions, StreamOutput } from './snapshot-stream.js';
import { IdentityGuard, nonVoterNotice, type IdentityStore, type RaftEnvelope, type RefusalReason, type StoredIdentity } from './identity.js';
import { StorageWriteError } from './storage/errors.js';
import { parseImageFileReference } from './storage/image-file.js';
import type { ImageInstaller } from './storage/image-install.js';
import { TickSchedule } from './tick-schedule.js';
import { ActivityCounters, type HistogramFigures, type ReplicaActivity } from './activity.js';
import type { Entry, HardState, Message, NodeId, PersistedState, Ready, SoftState } from './types.js';

export interface AppliedResult {
  readonly index: number;
  readonly result: unknown;
}

export interface PersistPart {
  readonly snapshot: Ready['snapshot'];
  readonly entries: readonly Entry[];
  readonly hardState: HardState | null;
}

/** The durable storage of one replica, as the driver uses it (storage/storage.ts in production). */
export interface DriverStorage extends IdentityStore {
  readonly hardState: HardState;
  readonly lastApplied: number;
  /** Durable (fsynced) when it returns, except a hard state that only moves the commit index. */
  persist(part: PersistPart): void;
  /**
   * Optional: persist() with the fsync off the replica's thread. Writes `part` now, in one transaction, and returns
   * before it is on disk; `durable` is called once it is (or with the error that stopped the storage), never
   * before this returns. False when `part` needs no fsync of its own (nothing, or only a commit move): it is then
   * as durable as persist() would have left it, and `durable` is never called. Without it, the driver uses persist().
   */
  persistThen?(part: PersistPart, durable: (error: Error | null) => void): boolean;
  /**
   * Optional: persist() of a Ready that installs a file image, its transaction run by `install` in another thread;
   * `durable` is called as for persistThen, once it committed. False when it cannot (then persist() it).
   */
  installThen?(part: PersistPart, install: ImageInstaller, durable: (error: Error | null) => void): boolean;
  /** Atomic; durable no later than the next persist(). */
  apply(entries: readonly Entry[]): AppliedResult[];
  /** A Ready that only moves the commit index, recorded with the entries it applies; null when not that case. */
  persistCommitAndApply(part: PersistPart, entries: readonly Entry[]): AppliedResult[] | null;
  /**
   * `peers`, `learners` and `configIndex` (the index of the entry that set them): the configuration in force at
   * `index`, recorded with the compaction point.
   */
  compact(index: number, peers: readonly NodeId[], learners: readonly NodeId[], configIndex: number): void;
  /** An image of the applied state, labelled with lastApplied and its term. */
  image(): BuiltImage;
  query(query: unknown): unknown;
}

export interface BuiltImage {
  readonly index: number;
  readonly term: number;
  readonly data: string;
}

/** A built image, and where it was built when not on the replica's thread (for the log: "in another thread"). */
export type ImageResult = ({ readonly ok: true; readonly where?: string } & BuiltImage) | { readonly ok: false; readonly error: string };

/** Builds an image of the applied state for a follower behind the log, perhaps elsewhere and later. */
export interface ImageBuilder {
  /** Starts a build and calls `done` once (later, or before returning); false when it cannot build at all. */
  start(done: (result: ImageResult) => void): boolean;
  /** Abandons a build in progress (the driver is closing). */
  cancel(): void;
  /** Where a file image from a leader is installed, off the replica's thread (storage's installThen); optional. */
  readonly install?: ImageInstaller | undefined;
}

/** The clock and timers of the host. */
export interface DriverTime {
  /** A monotonic clock, in milliseconds. */
  nowMs(): number;
  /** Arms (replacing any armed one) the timer that calls onTickTimer() after `delayMs`. */
  armTick(delayMs: number): void;
  /** Runs `task` after the current turn: one turn's proposals share one flush (group commit). */
  defer(task: () => void): void;
}

export interface DriverTransport {
  send(to: NodeId, envelope: RaftEnvelope): void;
}

export interface DriverLog {
  debug(details: Record<string, unknown>, message: string): void;
  info(details: Record<string, unknown>, message: string): void;
  warn(details: Record<string, unknown>, message: string): void;
  error(details: Record<string, unknown>, message: string): void;
}

/** What the host and the application hear from the loop. */
export interface DriverHooks {
  /** An applied normal entry and its result, on every replica. */
  applied?(entry: Entry, result: unknown): void;
  /** The role or the known leader changed. */
  softState?(softState: SoftState): void;
  /** A Ready was persisted (before its messages went out, unless a leader sent first). For scripts and checks. */
  persisted?(ready: Ready): void;
  /** A Ready was applied (after its messages went out, or before, while its fsync runs off the thread). For scripts and checks. */
  appliedReady?(ready: Ready): void;
  /** An image was offered to the core (or refused by it). */
  imageOffered?(index: number, offered: boolean): void;
}

export type ReplicaRefusal = 'notLeader' | 'transferring' | 'tooManyUncommitted' | 'dropped' | 'busy' | 'leaderUnknown';

/** Why a replica did not take a proposal or serve a read; `leader` is where to try next (null: unknown). */
export interface ReplicaRefused {
  readonly ok: false;
  readonly error: ReplicaRefusal;
  readonly leader: NodeId | null;
}

/** `Result`: what the state machine's apply gave back (the replica actor names its type; the driver does not). */
export type ProposeAnswer<Result = unknown> = { readonly ok: true; readonly index: number; readonly result: Result } | ReplicaRefused;

/** `Answer`: the state machine's answer to the read's query (typed by the replica actor, as ProposeAnswer). */
export type ReadAnswer<Answer = unknown> = { readonly ok: true; readonly index: number; readonly result: Answer } | ReplicaRefused;

export type MembershipAnswer =
  | { readonly ok: true; readonly index: number; readonly membership: Membership }
  | { readonly ok: false; readonly error: ReplicaRefusal | Exclude<MembershipChangeResult, { ok: true }>['error']; readonly reason: string; readonly leader: NodeId | null };

export interface DriverOptions {
  readonly name: NodeId;
  /** The voters of the group's bootstrap configuration; the log's configuration entries take over from it. */
  readonly peers: readonly NodeId[];
  /** The learners of the bootstrap configuration (a member added later starts with those it was told of). */
  readonly learners?: readonly NodeId[];
  /**
   * Names whose messages are admitted besides the members of the configuration in use (for example every name
   * the host may ever run in this group). Default none: the bootstrap configuration and the log's decide.
   */
  readonly knownNames?: readonly NodeId[];
  /** The core's configuration, less what the driver decides: id, peers, learners, applied, voter. */
  readonly raft: Omit<RaftConfig, 'id' | 'peers' | 'learners' | 'applied' | 'voter'>;
  readonly persisted: PersistedState;
  readonly identity: StoredIdentity;
  readonly storage: DriverStorage;
  readonly time: DriverTime;
  readonly transport: DriverTransport;
  readonly images: ImageBuilder;
  readonly log: DriverLog;
  readonly hooks?: DriverHooks;
  readonly tickMs: number;
  /**
   * Unique to this start of the replica (random in production): read contexts carry it, so that the answer to a
   * read forwarded by an earlier start — still in flight, or held by the leader — never answers a read of this one.
   */
  readonly bootId: string;
  /** Compact the log once it holds this many applied entries past the last compaction (≥ 2; Infinity: never). */
  readonly snapshotEntriesInterval: number;
  readonly readsPendingMax: number;
  readonly proposalsPendingMax: number;
  /** At most one log line per this many milliseconds about refused messages (the rest are counted). */
  readonly refusalLogIntervalMs: number;
  /** Bytes of log a leader keeps for followers behind it (compaction.ts; default retainBytesMaxDefault). */
  readonly logRetainBytesMax?: number;
  /** Chunk size, window and timeouts of image streams (defaults: snapshot-stream.ts). */
  readonly snapshotStream?: Partial<Omit<SnapshotStreamOptions, 'self'>>;
}

export interface DriverStatus {
  readonly raft: RaftStatus;
  /** Times the tick timer fired since the replica started: an idle follower's stay near one per election timeout. */
  readonly tickWakeups: number;
  readonly clusterId: string;
  readonly replicaId: string;
  /** Raft messages refused at the envelope, by reason, since the replica started. */
  readonly refusedMessages: Readonly<Record<RefusalReason, number>>;
  /** Image streams to and from peers since the replica started (snapshot-stream.ts). */
  readonly snapshotStream: Readonly<SnapshotStreamCounters>;
}

interface PendingProposal {
  readonly term: number;
  readonly answer: (answer: ProposeAnswer) => void;
}

interface ReadWaiter {
  readonly query: unknown;
  readonly answer: (answer: ReadAnswer) => void;
}

/** The reads of one turn, confirmed together by one ReadIndex round. */
interface PendingRead {
  readonly waiters: readonly ReadWaiter[];
  /** Set once the leader confirmed the round: serve when lastApplied reaches it. */
  index: number | null;
}

/** Ready batches one flush may process before it yields (the rest run in a deferred flush). */
const readyRoundsPerFlushMax = 64;

export class ReplicaDriver {
  readonly name: NodeId;
  readonly peers: readonly NodeId[];
  readonly node: RaftNode;
  readonly identity: IdentityGuard;
  private readonly options: DriverOptions;
  private readonly storage: DriverStorage;
  private readonly time: DriverTime;
  private readonly log: DriverLog;
  private readonly hooks: DriverHooks;
  private readonly ticks: TickSchedule;
  private readonly proposals = new Map<number, PendingProposal>();
  private readonly reads = new Map<string, PendingRead>();
  private readCounter = 0;
  private readBatch: ReadWaiter[] = [];
  private readsWaiting = 0;
  private flushScheduled = false;
  private softStateNow: SoftState = { leader: null, role: 'follower' };
  private stopped = false;
  /** When the armed tick timer falls due (clock reading); +Infinity when none is armed. */
  private tickTimerAtMs = Number.POSITIVE_INFINITY;
  private tickWakeups = 0;
  /** While an image is built: lastApplied when it started, at or below the index of the image it will bring. */
  private imageFloor: number | null = null;
  private readonly refused: Record<RefusalReason, number> = { otherCluster: 0, forgedSender: 0, forgedTarget: 0, notAPeer: 0, staleIncarnation: 0 };
  private refusalLoggedAtMs = Number.NEGATIVE_INFINITY;
  private refusalsUnlogged = 0;
  /** Images to and from peers, in bounded chunks (snapshot-stream.ts). */
  private readonly streams: SnapshotStreams;
  /** A compaction held back for a follower is decided again once lastApplied reaches this. */
  private compactionRecheckAt = 0;
  /**
   * The Ready written but not yet on disk (storage.persistThen): its held messages leave, and the core hears it
   * was persisted (advance), only once the fsync returns. No other Ready is taken meanwhile (the core refuses
   * one before advance), so proposals and messages arriving during the fsync gather into the next write.
   */
  private unsynced: { readonly ready: Ready; readonly sentFirst: boolean } | null = null;
  /** A file image is installing from another thread (storage's installThen): the storage takes no writes. */
  private imageInstalling = false;
  /** Leader changes, proposals, apply and image figures for the metrics (activity.ts). */
  private readonly activity = new ActivityCounters();

  constructor(options: DriverOptions) {
    const interval = options.snapshotEntriesInterval;
    if (!(interval === Number.POSITIVE_INFINITY || (Number.isInteger(interval) && interval >= 2))) {
      throw new RangeError(`${options.name}: snapshotEntriesInterval must be an integer ≥ 2 or Infinity, not ${interval}`);
    }
    this.options = options;
    this.name = options.name;
    this.peers = [...options.peers];
    this.storage = options.storage;
    this.time = options.time;
    this.log = options.log;
    this.hooks = options.hooks ?? {};
    this.ticks = new TickSchedule(options.tickMs, () => this.time.nowMs());
    this.streams = new SnapshotStreams({ ...defaultSnapshotStreamOptions, ...options.snapshotStream, self: options.name });
    this.node = new RaftNode(
      {
        ...options.raft, id: options.name, peers: options.peers, learners: options.learners ?? [],
        applied: options.storage.lastApplied, voter: options.identity.voter,
      },
      options.persisted,
    );
    const admitted = new Set([...options.peers, ...(options.learners ?? []), ...(options.knownNames ?? [])]);
    const isPeer = (name: NodeId): boolean => {
      if (admitted.has(name)) return true;
      const membership = this.node.membership();
      if (membership.voters.includes(name) || membership.learners.includes(name)) return true;
      // A member added at run time starts knowing the bootstrap names only, and its leader may be a member added
      // later still: until its log gives it a configuration that names it, it admits any sender of its cluster
      // (the cluster id and the transport's authentication still apply), or it could never learn who leads.
      return !membership.voters.includes(options.name) && !membership.learners.includes(options.name);
    };
    this.identity = new IdentityGuard(options.name, isPeer, options.identity, options.storage, {
      peerLostDisk: (peer, why) => {
        this.node.markNonVoter(peer);
        this.log.warn({ replica: this.name, peer, event: 'peerLostDisk' }, `${this.name}: ${peer} lost its disk (${why}); its votes and acknowledgements no longer count`);
      },
      peerReincarnated: (peer) => this.node.peerReincarnated(peer),
      lostDisk: (why) => {
        this.node.becomeNonVoter();
        this.log.error({ replica: this.name, event: 'nonVoter' }, nonVoterNotice(this.name, why));
      },
    });
  }

  get lastApplied(): number {
    return this.storage.lastApplied;
  }

  get softState(): SoftState {
    return this.softStateNow;
  }

  // ---- inputs -----------------------------------------------------------------------------------------------------

  /** Proposes a command; `answer` is called once it is committed and applied here, or refused. */
  propose(data: string, answer: (answer: ProposeAnswer) => void): void {
    if (this.stopped) return answer({ ok: false, error: 'dropped', leader: null });
    if (this.proposals.size >= this.options.proposalsPendingMax) {
      return answer({ ok: false, error: 'busy', leader: this.softStateNow.leader });
    }
    this.catchUpTicks();
    const proposed = this.node.propose(data);
    if (!proposed.ok) {
      this.activity.proposalsFailed += 1;
      return answer({ ok: false, error: proposed.error, leader: proposed.leader });
    }
    this.activity.proposalsProposed += 1;
    this.proposals.set(proposed.index, { term: proposed.term, answer });
    this.scheduleFlush();
  }

  /**
   * Proposes one membership change (core/config-change.ts); `answer` is called once it is committed and applied
   * here (result: the new configuration), or refused — with the core's reason when the change cannot start now.
   */
  changeMembership(change: MembershipChange, answer: (answer: MembershipAnswer) => void): void {
    if (this.stopped) return answer({ ok: false, error: 'dropped', reason: 'the replica stopped', leader: null });
    if (this.proposals.size >= this.options.proposalsPendingMax) {
      return answer({ ok: false, error: 'busy', reason: 'too many proposals pending', leader: this.softStateNow.leader });
    }
    this.catchUpTicks();
    const proposed = this.node.proposeMembershipChange(change);
    if (!proposed.ok) return answer({ ok: false, error: proposed.error, reason: proposed.reason, leader: proposed.leader });
    const membership = proposed.membership;
    this.proposals.set(proposed.index, {
      term: proposed.term,
      answer: (applied) => answer(applied.ok ? { ok: true, index: applied.index, membership }
        : { ok: false, error: applied.error, reason: 'the change was overtaken by another leader\'s log', leader: applied.leader }),
    });
    this.scheduleFlush();
  }

  /**
   * A linearizable read through ReadIndex. Reads that arrive in one turn share one ReadIndex round: each began
   * before the round did, so the round's index covers every write acknowledged before any of them.
   */
  read(query: unknown, answer: (answer: ReadAnswer) => void): void {
    if (this.stopped) return answer({ ok: false, error: 'dropped', leader: null });
    if (this.readsWaiting >= this.options.readsPendingMax) {
      return answer({ ok: false, error: 'busy', leader: this.softStateNow.leader });
    }
    this.readsWaiting += 1;
    this.readBatch.push({ query, answer });
    this.scheduleFlush();
  }

  /**
   * A peer's Raft message in its envelope, as the transport delivered it from `sender`. One the identity guard
   * refuses is counted and logged, and never reaches the core.
   */
  receive(envelope: RaftEnvelope, sender: NodeId | null): void {
    if (this.stopped) return;
    // While an image installs from another thread the storage takes no writes: an envelope whose admission would
    // write one (a peer's first, say a new leader's) is dropped, as if lost; its sender sends again.
    if (this.imageInstalling && this.identity.wouldRecord(envelope)) {
      this.log.debug({ replica: this.name, from: envelope.message.from, event: 'envelopeHeldByInstall' },
        `${this.name} dropped a message from ${envelope.message.from}: an image is installing, and admitting it would write`);
      return;
    }
    const verdict = this.identity.admit(envelope, sender);
    if (!verdict.ok) return this.refuse(verdict.reason, verdict.detail);
    this.catchUpTicks();
    const message = envelope.message;
    if (isSnapshotStreamMessage(message)) return this.receiveStream(message);
    this.node.step(verdict.staleView ? withoutUnverifiedCommit(message) : message);
    this.scheduleFlush();
  }

  /** A chunk of an image, or a follower's answer to one: the image, once whole, is stepped as the core's message. */
  private receiveStream(message: SnapshotStreamMessage): void {
    if (message.type === 'snapshotChunkAck') return this.sendStream(this.streams.receiveAck(message));
    const { reply, install, events } = this.streams.receiveChunk(message);
    if (events.length > 0) this.sendStream({ messages: [], events });
    if (install !== null) {
      this.activity.receiveCompleted(install.snapshot.data.length, this.time.nowMs());
      const file = parseImageFileReference(install.snapshot.data);
      const size = file === null ? `${install.snapshot.data.length} code units` : `a file of ${file.bytes} bytes`;
      this.log.info({ replica: this.name, from: message.from, index: install.snapshot.meta.index, size, event: 'imageReceived' },
        `${this.name} received an image at index ${install.snapshot.meta.index} from ${message.from} (${size})`);
      this.node.step(install);
      this.scheduleFlush();
    }
    this.options.transport.send(reply.to, this.identity.wrap(reply));
  }

  private sendStream(output: StreamOutput): void {
    for (const message of output.messages) this.options.transport.send(message.to, this.identity.wrap(message));
    for (const event of output.events) {
      switch (event.kind) {
        case 'started':
          this.activity.streamStarted(event.peer, event.length, this.time.nowMs());
          this.log.info({ replica: this.name, peer: event.peer, index: event.index, units: event.length, event: 'imageStreamStarted' },
            `${this.name} streams an image at index ${event.index} (${event.length} code units) to ${event.peer}`);
          break;
        case 'completed':
          this.activity.streamCompleted(event.peer, this.time.nowMs());
          this.log.info({ replica: this.name, peer: event.peer, index: event.index, event: 'imageStreamCompleted' },
            `${this.name} delivered the image at index ${event.index} to ${event.peer}`);
          break;
        case 'receiving':
          this.activity.receiveStarted(this.time.nowMs());
          this.log.debug({ replica: this.name, peer: event.peer, index: event.index, units: event.length, event: 'imageReceiving' },
            `${this.name} receives an image at index ${event.index} (${event.length} code units) from ${event.peer}`);
          break;
        case 'stalled':
          this.log.warn({ replica: this.name, peer: event.peer, index: event.index, acked: event.acked, units: event.length, ticks: event.ticks, event: 'imageStreamStalled' },
            `${this.name}: the image at index ${event.index} for ${event.peer} made no progress for ${event.ticks} ticks (${event.acked} of ${event.length} code units acknowledged); still re-sending`);
          break;
        case 'refusedSize':
          this.log.warn({ replica: this.name, peer: event.peer, index: event.index, units: event.units, declaredLength: event.declaredLength, refusals: event.refusals, event: 'imageChunkRefusedSize' },
            `${this.name} refused a chunk from ${event.peer} (${event.units} code units, image of ${event.declaredLength}): over the chunk or image bound; ${event.refusals} refused so far`);
          break;
        case 'refusedByPeer':
          this.log.warn({ replica: this.name, peer: event.peer, index: event.index, units: event.length, refusals: event.refusals, retryInTicks: event.retryInTicks, event: 'imageRefusedByPeer' },
            `${this.name}: ${event.peer} refused the image at index ${event.index} (${event.length} units) as over its bounds (${event.refusals} in a row); no image is sent to it for ${event.retryInTicks} ticks`);
          break;
        case 'imageTooLarge':
          this.log.error({ replica: this.name, peer: event.peer, index: event.index, units: event.length, event: 'imageTooLarge' },
            `${this.name} cannot send its image at index ${event.index} to ${event.peer}: ${event.length} code units, over imageUnitsMax`);
          break;
        default:
          assertNever(event, 'stream event');
      }
    }
  }

  /** Counters of the image streams since the driver started. */
  snapshotStreamCounters(): Readonly<SnapshotStreamCounters> {
    return { ...this.streams.counters };
  }

  /** The image streaming to `peer`, or being received (tests and status). */
  get snapshotStreams(): SnapshotStreams {
    return this.streams;
  }

  /** The tick timer fired: the ticks up to the one that acts, the processing loop, then the next timer. */
  onTickTimer(): void {
    if (this.stopped) return;
    this.tickTimerAtMs = Number.POSITIVE_INFINITY;
    this.tickWakeups += 1;
    this.applyTicks(this.ticks.atTimer(this.node.ticksUntilDue()));
    this.flush();
  }

  /**
   * The host saw a peer's process end. When that peer was our leader, the core campaigns within a few ticks
   * instead of a whole election timeout.
   */
  peerGone(peer: NodeId): void {
    if (this.stopped) return;
    this.catchUpTicks();
    if (!this.node.leaderLost(peer)) return;
    this.log.info({ replica: this.name, leader: peer, event: 'leaderGone' }, `${this.name}: leader ${peer} went away; campaigning early`);
    this.flush();
  }

  /** Before a graceful stop: hand leadership to the follower most likely to be up to date. */
  transferLeadershipAway(): boolean {
    if (this.stopped || this.softStateNow.role !== 'leader') return false;
    const target = this.node.transferTarget();
    if (target === null) return false;
    this.catchUpTicks();
    const started = this.node.transferLeadership(target, true);
    this.flush();
    return started;
  }

  /** One tick of the core by hand, then the loop: for scenario scripts, which have no clock. */
  tickOnce(): void {
    if (this.stopped) return;
    this.applyTicks(1);
    this.flush();
  }

  /** Compacts the log at the applied index now, whatever the interval (scripts and tests). */
  compactNow(): number {
    if (this.unsynced !== null) return this.node.snapshotIndex;
    const index = this.storage.lastApplied;
    if (index <= this.node.snapshotIndex) return this.node.snapshotIndex;
    this.compactTo(index);
    return index;
  }

  /** Stops: every waiting proposal and read is answered `dropped`; later inputs are ignored. */
  close(): void {
    if (this.stopped) return;
    this.stopped = true;
    if (this.imageFloor !== null) this.options.images.cancel();
    this.imageFloor = null;
    this.failProposals('dropped');
    for (const [readContext, pending] of this.reads) {
      this.reads.delete(readContext);
      this.settleRead(pending, () => ({ ok: false, error: 'dropped', leader: null }));
    }
    this.settleRead({ waiters: this.readBatch, index: null }, () => ({ ok: false, error: 'dropped', leader: null }));
    this.readBatch = [];
  }

  /** Messages refused at the envelope since the driver started, for one reason or all together. */
  refusedCount(reason?: RefusalReason): number {
    const refused = this.refused;
    if (reason !== undefined) return refused[reason];
    return refused.otherCluster + refused.forgedSender + refused.forgedTarget + refused.notAPeer + refused.staleIncarnation;
  }

  /** What the replica did since it started (activity.ts), with its storage's synced-write times. */
  activityFigures(fsyncSeconds: HistogramFigures): ReplicaActivity {
    return this.activity.figures(this.proposals.size, fsyncSeconds);
  }

  status(): DriverStatus {
    return {
      raft: this.node.status(),
      tickWakeups: this.tickWakeups,
      clusterId: this.identity.clusterId,
      replicaId: this.identity.replicaId,
      refusedMessages: { ...this.refused },
      snapshotStream: { ...this.streams.counters },
    };
  }

  // ---- ticks ------------------------------------------------------------------------------------------------------

  /**
   * Before each input to the core: the ticks whose time has come, short of the one that acts (the timer's). They
   * only count, so they need no processing loop; but a message must find the counts as the clock has them.
   */
  private catchUpTicks(): void {
    this.applyTicks(this.ticks.beforeInput(this.node.ticksUntilDue()));
  }

  /**
   * Ticks the core `count` times. The driver sleeps through ticks that only count, so it checks that they did:
   * a tick before the due one that produced work would mean the core and its ticksUntilDue() disagree.
   */
  private applyTicks(count: number): void {
    if (count > 0) this.sendStream(this.streams.tick(count));
    for (let tick = 0; tick < count; tick += 1) {
      const due = this.node.ticksUntilDue();
      const quiet = !this.node.hasReady();
      this.node.tick();
      if (due > 1 && quiet && this.node.hasReady()) {
        throw new Error(`${this.name}: the core acted on a tick ${due - 1} before the one ticksUntilDue() named`);
      }
    }
  }

  /**
   * After each processing loop: arms the timer for the next tick that acts, unless one is armed for that time or
   * earlier. One armed for a time more than two ticks past counts as lost (a full mailbox drops timer messages)
   * and is armed again.
   */
  armTickTimer(): void {
    if (this.stopped) return;
    const nowMs = this.time.nowMs();
    const dueAtMs = this.ticks.dueAtMs(this.node.ticksUntilDue());
    if (dueAtMs >= this.tickTimerAtMs && this.tickTimerAtMs > nowMs - 2 * this.options.tickMs) return;
    this.tickTimerAtMs = dueAtMs;
    this.time.armTick(Math.max(0, Math.ceil(dueAtMs - nowMs)));
  }

  // ---- the loop ---------------------------------------------------------------------------------------------------

  /** Runs the processing loop after the current turn, so one turn's proposals share one fsync. */
  scheduleFlush(): void {
    if (this.flushScheduled || this.stopped) return;
    this.flushScheduled = true;
    this.time.defer(this.deferredFlush);
  }

  /** Made once: scheduling a flush happens on every input, and needs no new closure each time. */
  private readonly deferredFlush = (): void => {
    this.flushScheduled = false;
    this.flush();
  };

  /**
   * Persist, then send (a leader may send first), then apply, then serve reads, then advance; until the core has
   * nothing more. A failed disk write throws out of here before anything it was to back is sent.
   */
  flush(): void {
    if (this.stopped) return;
    this.startReadRound();
    try {
      for (let round = 0; round < readyRoundsPerFlushMax; round += 1) {
        this.maybeBuildImage();
        if (!this.node.hasReady()) break;
        this.processReady(this.node.ready());
      }
    } catch (error) {
      this.logDiskFault(error);
      throw error;
    }
    this.serveReads();
    this.maybeCompact();
    this.maybeBuildImage();
    if (this.node.hasReady()) this.scheduleFlush();
    this.armTickTimer();
  }

  private processReady(ready: Ready): void {
    // A leader's messages may leave before its own write, so its fsync and its followers' overlap (see
    // core/send-order.ts for why that is safe); everything else is written first.
    const role = (ready.softState ?? this.softStateNow).role;
    const sendFirst = sendsBeforePersist(role, ready, this.storage.hardState);
    if (sendFirst) this.send(ready.messages);
    // A Ready that only moves the commit index is recorded in the same transaction as the entries it applies.
    const applyStartedMs = this.time.nowMs();
    const appliedWithCommit = this.storage.persistCommitAndApply(ready, ready.committedEntries);
    if (appliedWithCommit !== null && ready.committedEntries.length > 0) this.activity.applySeconds.observe((this.time.nowMs() - applyStartedMs) / 1_000);
    const syncing = appliedWithCommit === null && this.persist(ready);
    if (!syncing) {
      this.hooks.persisted?.(ready);
      if (!sendFirst) this.send(ready.messages);
    }
    // Committed entries are on disk on a majority already (the core counts its own write only once advanced), so
    // they are applied, and their proposers answered, without waiting for this replica's own fsync.
    if (appliedWithCommit === null) this.apply(ready.committedEntries);
    else this.applied(ready.committedEntries, appliedWithCommit);
    this.hooks.appliedReady?.(ready);
    this.collectReads(ready);
    if (ready.softState !== null) this.changeSoftState(ready.softState);
    if (syncing) this.unsynced = { ready, sentFirst: sendFirst };
    else this.node.advance(ready);
  }

  /** Writes the Ready's durable part; true when its fsync is still running (storage.persistThen). */
  private persist(ready: Ready): boolean {
    if (ready.snapshot === null && ready.entries.length === 0 && ready.hardState === null) return false;
    const part = { snapshot: ready.snapshot, entries: ready.entries, hardState: ready.hardState };
    if (ready.snapshot === null && this.storage.persistThen !== undefined) return this.storage.persistThen(part, this.durable);
    const startedMs = this.time.nowMs();
    const snapshot = ready.snapshot;
    // A file image is copied into the tables in another thread where the storage can: for millions of rows that
    // takes longer than a replica's thread may stay silent. Otherwise (rare: a text image) the synchronous path.
    const install = this.options.images.install;
    if (snapshot !== null && install !== undefined && this.storage.installThen !== undefined) {
      const started = this.storage.installThen(part, install, (error) => {
        this.imageInstalling = false;
        if (error === null) this.snapshotInstalled(snapshot, startedMs, 'in another thread');
        this.durable(error);
      });
      this.imageInstalling = started;
      if (started) return true;
    }
    this.storage.persist(part);
    if (snapshot !== null) this.snapshotInstalled(snapshot, startedMs, 'on its thread');
    return false;
  }

  /** A snapshot from the leader is in the tables now: a file image's staging file goes; the install is timed. */
  private snapshotInstalled(snapshot: NonNullable<Ready['snapshot']>, startedMs: number, where: string): void {
    const file = parseImageFileReference(snapshot.data);
    if (file !== null) rmSync(file.path, { force: true });
    const seconds = (this.time.nowMs() - startedMs) / 1_000;
    this.activity.imageInstallSeconds.observe(seconds);
    this.log.info({ replica: this.name, index: snapshot.meta.index, seconds, event: 'imageInstalled' },
      `${this.name} installed a snapshot at index ${snapshot.meta.index} from the leader in ${seconds.toFixed(2)} s (${where})`);
  }

  /** Made once: the storage calls it when the write of the outstanding Ready is on disk. */
  private readonly durable = (error: Error | null): void => {
    const unsynced = this.unsynced;
    if (this.stopped || unsynced === null) return;
    this.unsynced = null;
    if (error !== null) {
      this.logDiskFault(error);
      throw error;
    }
    this.hooks.persisted?.(unsynced.ready);
    if (!unsynced.sentFirst) this.send(unsynced.ready.messages);
    this.node.advance(unsynced.ready);
    this.flush();
  };

  private logDiskFault(error: unknown): void {
    if (!(error instanceof StorageWriteError)) return;
    this.log.error(
      { replica: this.name, code: error.code, event: 'diskFault' },
      `${this.name} stops: a disk write failed (${error.code}); it acknowledges nothing it could not make durable`,
    );
  }

  private send(messages: readonly Message[]): void {
    for (const message of messages) {
      // An image goes in bounded chunks beside the core's messages, never in one envelope.
      if (message.type === 'installSnapshot') this.sendStream(this.streams.offer(message));
      else this.options.transport.send(message.to, this.identity.wrap(message));
    }
  }

  private apply(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const startedMs = this.time.nowMs();
    const results = this.storage.apply(entries);
    this.activity.applySeconds.observe((this.time.nowMs() - startedMs) / 1_000);
    this.applied(entries, results);
  }

  /** After entries were applied in storage: answer their proposers and tell the application. */
  private applied(entries: readonly Entry[], results: readonly AppliedResult[]): void {
    for (let position = 0; position < entries.length; position += 1) {
      const entry = entries[position]!;
      const result = results[position]!.result;
      const pending = this.proposals.get(entry.index);
      if (pending !== undefined) {
        this.proposals.delete(entry.index);
        if (pending.term === entry.term) this.activity.proposalsCommitted += 1;
        else this.activity.proposalsFailed += 1;
        if (pending.term === entry.term) pending.answer({ ok: true, index: entry.index, result });
        else pending.answer({ ok: false, error: 'dropped', leader: this.softStateNow.leader });
      }
      if (entry.type === 'normal') this.hooks.applied?.(entry, result);
    }
  }

  // ---- reads ------------------------------------------------------------------------------------------------------

  /** Starts one ReadIndex round for the reads gathered since the last one. */
  private startReadRound(): void {
    if (this.readBatch.length === 0) return;
    this.readCounter += 1;
    const readContext = `${this.name}:${this.options.bootId}:${this.readCounter}`;
    this.reads.set(readContext, { waiters: this.readBatch, index: null });
    this.readBatch = [];
    this.catchUpTicks();
    this.node.readIndex(readContext);
  }

  private settleRead(pending: PendingRead, answer: (query: unknown) => ReadAnswer): void {
    this.readsWaiting -= pending.waiters.length;
    for (const waiter of pending.waiters) waiter.answer(answer(waiter.query));
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
      const leader = this.softStateNow.leader;
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

  // ---- roles ------------------------------------------------------------------------------------------------------

  private changeSoftState(softState: SoftState): void {
    const previous = this.softStateNow;
    this.softStateNow = softState;
    if (softState.leader !== previous.leader && softState.leader !== null) this.activity.leaderChanges += 1;
    const term = this.node.status().term;
    if (softState.role === 'leader' && previous.role !== 'leader') {
      const voters = this.node.membership().voters.length;
      const votes = `${Math.floor(voters / 2) + 1}/${voters}`;
      this.log.info({ replica: this.name, term, event: 'leader' }, `${this.name} became leader for term ${term} with at least ${votes} votes`);
    } else if (previous.role === 'leader' && softState.role !== 'leader') {
      this.log.info({ replica: this.name, term, event: 'stepDown' }, `${this.name} stepped down in term ${term}`);
      this.failProposals('notLeader');
      this.streams.dropOutgoing();
    } else if (softState.leader !== previous.leader && softState.leader !== null) {
      this.log.debug({ replica: this.name, term, leader: softState.leader }, `${this.name} follows ${softState.leader} in term ${term}`);
    }
    this.hooks.softState?.(softState);
  }

  /**
   * A former leader's proposals may still commit under the next leader, but this replica can no longer tell the
   * proposer when: answer "notLeader" so the proposer retries through the new leader (commands are idempotent).
   */
  private failProposals(error: ReplicaRefusal): void {
    for (const [index, pending] of this.proposals) {
      this.proposals.delete(index);
      this.activity.proposalsFailed += 1;
      pending.answer({ ok: false, error, leader: this.softStateNow.leader });
    }
  }

  // ---- compaction and images ----------------------------------------------------------------------------------------

  /**
   * Compacts the log once it holds snapshotEntriesInterval applied entries past the last compaction, keeping what
   * followers behind still need up to logRetainBytesMax (compaction.ts). Held back for a follower, the decision
   * is taken again only after a quarter of an interval more is applied: measuring the log's bytes walks it.
   */
  private maybeCompact(): void {
    // While a write waits for its fsync the core has not yet heard what was applied with it (advance).
    if (this.unsynced !== null) return;
    const snapshotIndex = this.node.snapshotIndex;
    const lastApplied = this.storage.lastApplied;
    const interval = this.options.snapshotEntriesInterval;
    if (lastApplied - snapshotIndex < interval || lastApplied < this.compactionRecheckAt) return;
    let index = compactionTarget({
      lastApplied, snapshotIndex, intervalEntries: interval, followerMatches: this.node.followerMatches(),
      logBytes: (after, to) => this.node.logBytes(after, to, entryOverheadBytes),
      retainBytesMax: this.options.logRetainBytesMax ?? retainBytesMaxDefault,
    });
    const base = lastApplied - Math.floor(interval / 2);
    this.compactionRecheckAt = index !== null && index >= base ? 0 : lastApplied + Math.max(1, Math.floor(interval / 4));
    if (index === null) return;
    // While an image is being built, keep the entries after the state it reads: compacted past them, the image
    // would be refused when it arrives, and a large state can take longer to encode than the log takes to grow.
    if (this.imageFloor !== null) index = Math.min(index, this.imageFloor);
    if (index <= snapshotIndex) return;
    this.compactTo(index);
  }

  private compactTo(index: number): void {
    const membership = this.node.membershipAt(index);
    this.storage.compact(index, membership.voters, membership.learners, membership.configIndex);
    this.node.compact(index);
    this.log.debug({ replica: this.name, index }, `${this.name} compacted its log up to index ${index}`);
  }

  /** The leader needs an image for a follower behind its log: start building one. */
  private maybeBuildImage(): void {
    if (this.imageFloor !== null || this.unsynced !== null || !this.node.snapshotWanted()) return;
    this.imageFloor = this.storage.lastApplied;
    let settled = false;
    const buildStartedMs = this.time.nowMs();
    const started = this.options.images.start((result) => {
      if (settled) return;
      settled = true;
      this.imageFloor = null;
      if (result.ok) this.imageBuilt(buildStartedMs, result.data.length);
      if (!this.stopped) this.builtImage(result);
    });
    if (!started && !settled) {
      this.imageFloor = null;
      const image = this.storage.image();
      this.imageBuilt(buildStartedMs, image.data.length);
      this.offerImage(image);
    }
  }

  private imageBuilt(startedMs: number, units: number): void {
    this.activity.imageBuildSeconds.observe((this.time.nowMs() - startedMs) / 1_000);
    this.activity.imageUnitsBuilt += units;
  }

  private builtImage(result: ImageResult): void {
    if (!result.ok) {
      this.log.warn({ replica: this.name, error: result.error }, `${this.name}: building an image failed (${result.error}); building it here`);
      this.offerImage(this.storage.image());
      return;
    }
    this.offerImage(result, result.where);
  }

  /**
   * Hands a built image to the core, which sends it to the followers that need it. One the log was compacted past
   * while it was built is refused, and the core asks again.
   */
  private offerImage(image: BuiltImage, where?: string): void {
    const term = this.node.termAt(image.index);
    if (term !== undefined && term !== image.term) {
      throw new Error(`${this.name}: image at ${image.index} has term ${image.term}, the log has ${term}`);
    }
    const offered = this.node.offerSnapshot(image.index, image.data);
    this.hooks.imageOffered?.(image.index, offered);
    if (!offered) return;
    const bytes = parseImageFileReference(image.data)?.bytes ?? image.data.length;
    this.log.info(
      { replica: this.name, index: image.index, bytes },
      `${this.name} built an image of its state at index ${image.index} (${where ?? `${bytes} code units`}) for a follower behind its log`,
    );
    this.scheduleFlush();
  }

  // ---- refusals -----------------------------------------------------------------------------------------------------

  private refuse(reason: RefusalReason, detail: string): void {
    this.refused[reason] += 1;
    const nowMs = this.time.nowMs();
    if (nowMs - this.refusalLoggedAtMs < this.options.refusalLogIntervalMs) {
      this.refusalsUnlogged += 1;
      return;
    }
    const unlogged = this.refusalsUnlogged;
    this.refusalLoggedAtMs = nowMs;
    this.refusalsUnlogged = 0;
    this.log.warn(
      { replica: this.name, reason, refused: { ...this.refused }, event: 'raftMessageRefused' },
      `${this.name} refused a Raft message (${reason}: ${detail})${unlogged > 0 ? `; ${unlogged} more refused since the last such line` : ''}`,
    );
  }
}

/**
 * A message from a sender that addressed an earlier incarnation of this replica: a heartbeat's commit index is
 * drawn from what the sender believed this replica's log held, which went with the old disk, so it is dropped (an
 * append's commit is checked against the entries it carries, and stays).
 */
function withoutUnverifiedCommit(message: Message): Message {
  return message.type === 'heartbeat' ? { ...message, commit: 0 } : message;
}
