// The Raft state machine of one node: a deterministic step function with no I/O, no clock and no randomness of
// its own (time comes as tick(), randomness from config.random). See README.md beside this file for the processing
// loop and the meaning of every message.
//
// Owns: term, vote, role, the in-memory log (from the last snapshot on), the leader's view of each follower, pending
// reads and the outbox. Promises: the Ready contract of ../types.ts (a Ready's messages only promise what that
// Ready's entries/hardState/snapshot make durable, because every unstable change goes into the same Ready); Raft's
// invariants, asserted after every input. Needs: a driver that follows the Ready contract.
import type {
  Entry, Message, NodeId, ReadFailure, Ready, Role, Snapshot, PersistedState,
} from '../types.js';
import { validateConfig, type RaftConfig } from './config.js';
import { assertNever, invariant } from './errors.js';
import { RaftLog } from './log.js';
import { Progress } from './progress.js';
import { ForwardedReads, LeaderReads, type PendingRead } from './read-only.js';
import { ReadyQueue } from './ready.js';
import { standardRules, type RaftRules } from './rules.js';
import {
  MembershipLog, applyChange, encodeMembership, isMember, quorumOf, type Membership, type MembershipChange,
} from './config-change.js';

export type { RaftConfig } from './config.js';
export { standardRules, type RaftRules } from './rules.js';
export type { Membership, MembershipChange } from './config-change.js';

export type MembershipChangeResult =
  | { readonly ok: true; readonly index: number; readonly term: number; readonly membership: Membership }
  | {
      readonly ok: false;
      /**
       * notLeader / transferring / tooManyUncommitted as for propose; leaderNotReady: no entry of this leader's
       * term is committed yet; changeInProgress: an earlier change is not committed; learnerBehind: the learner is
       * further than learnerLagEntriesMax behind; invalidChange: the change does not apply (see reason).
       */
      readonly error: 'notLeader' | 'transferring' | 'tooManyUncommitted' | 'leaderNotReady' | 'changeInProgress' | 'learnerBehind' | 'invalidChange';
      readonly reason: string;
      readonly leader: NodeId | null;
    };

export type ProposeResult =
  | { readonly ok: true; readonly index: number; readonly term: number }
  | { readonly ok: false; readonly error: 'notLeader' | 'transferring' | 'tooManyUncommitted'; readonly leader: NodeId | null };

export interface RaftStatus {
  readonly id: NodeId;
  readonly role: Role;
  readonly term: number;
  readonly leader: NodeId | null;
  readonly vote: NodeId | null;
  readonly commitIndex: number;
  readonly appliedIndex: number;
  readonly lastIndex: number;
  readonly snapshotIndex: number;
  readonly transferringTo: NodeId | null;
  /** False once this node knows it lost what it promised: it may not vote or count towards a quorum. */
  readonly voter: boolean;
  /** The configuration in use: the latest in the log, committed or not. */
  readonly voters: readonly NodeId[];
  readonly learners: readonly NodeId[];
  /** Index of the entry that set it (or of the snapshot that carried it). */
  readonly configIndex: number;
}

type AppendMessage = Extract<Message, { type: 'append' }>;

/** The types of message that every role hands to the same handler (stepAnyRole); the role's step handles the others. */
const anyRoleMessageTypes = ['preVote', 'vote', 'append', 'heartbeat', 'installSnapshot'] as const satisfies readonly Message['type'][];
type AnyRoleMessage = Extract<Message, { type: (typeof anyRoleMessageTypes)[number] }>;

function isAnyRoleMessage(message: Message): message is AnyRoleMessage {
  return (anyRoleMessageTypes as readonly Message['type'][]).includes(message.type);
}

export class RaftNode {
  private readonly config: RaftConfig;
  private readonly id: NodeId;
  /** The bootstrap configuration, then every configuration entry of the log. */
  private readonly memberships: MembershipLog;
  private readonly maxPendingReads: number;
  /** The safety rules consulted where the node decides and in its invariants; standardRules unless configured. */
  private readonly rules: RaftRules;
  private readonly log: RaftLog;
  /** False: this node forgot what it promised (a wiped disk); it never campaigns nor grants a vote. */
  private voter: boolean;
  /** Peers known to have forgotten what they promised: their votes and acknowledgements count for nothing. */
  private readonly nonVoters = new Set<NodeId>();
  private term: number;
  private vote: NodeId | null;
  private role: Role = 'follower';
  /** The role's message handler and tick, swapped on every transition (etcd's step and tick). */
  private stepRole: (message: Message) => void = this.stepFollower;
  private tickRole: () => void = this.tickElection;
  private leader: NodeId | null = null;
  private electionElapsed = 0;
  private heartbeatElapsed = 0;
  private randomizedElectionTimeout = 0;
  private votes = new Map<NodeId, boolean>();
  private progress = new Map<NodeId, Progress>();
  private transferee: NodeId | null = null;
  /** Leader only: reads confirmed by a heartbeat round, and reads waiting for the first commit of this term. */
  private readonly leaderReads = new LeaderReads();
  /** Follower only: reads forwarded to the leader, by context, with their age in ticks. */
  private readonly forwardedReads = new ForwardedReads();
  /**
   * The latest image of the state (offered by the application, or received through installSnapshot), to send to
   * followers behind the compacted log; null until one is needed, and dropped once the log is compacted past it.
   */
  private latestSnapshot: Snapshot | null = null;
  /** Leader only: a follower needs entries the log no longer holds and no image is recent enough to send. */
  private imageWanted = false;
  /** What the next Ready carries (outbox, read answers, a received snapshot) and what the last one reported. */
  private readonly pending: ReadyQueue;

  constructor(config: RaftConfig, persisted: PersistedState) {
    validateConfig(config);
    this.config = config;
    this.id = config.id;
    this.maxPendingReads = config.maxPendingReads ?? 1024;
    this.rules = config.rules ?? standardRules;
    this.voter = config.voter ?? true;
    const hardState = persisted.hardState;
    this.term = hardState.term;
    this.vote = hardState.vote;
    this.log = new RaftLog(() => this.describe(), persisted.snapshot, persisted.entries, hardState.commit, config.applied ?? 0);
    const snapshot = persisted.snapshot;
    const base: Membership = snapshot === null
      ? { voters: [...config.peers], learners: [...(config.learners ?? [])] }
      : { voters: [...snapshot.peers], learners: [...(snapshot.learners ?? [])] };
    const baseConfigIndex = snapshot === null ? this.log.snapshotIndex : snapshot.configIndex ?? snapshot.index;
    this.memberships = new MembershipLog(this.log.snapshotIndex, base, () => this.describe(), baseConfigIndex);
    this.recordConfigEntries(persisted.entries);
    this.pending = new ReadyQueue(this.id, { term: this.term, vote: this.vote, commit: this.log.commit }, { leader: null, role: 'follower' });
    this.resetElectionTimeout();
    this.checkInvariants();
  }

  // ---- inputs -------------------------------------------------------------------------------------------------

  tick(): void {
    this.tickRole();
    this.ageForwardedReads();
    this.checkInvariants();
  }

  /**
   * How many ticks from now the first one that does more than count falls: a campaign, a heartbeat, the leader's
   * quorum check, or the aging of waiting reads (every tick while any wait). The ticks before it only count, so a
   * driver may sleep until then and apply them together. Any input may bring it closer; ask again after each.
   */
  ticksUntilDue(): number {
    if (this.forwardedReads.size > 0) return 1;
    if (this.role !== 'leader') return Math.max(1, this.randomizedElectionTimeout - this.electionElapsed);
    if (this.leaderReads.hasPending) return 1;
    const heartbeat = this.config.heartbeatTicks - this.heartbeatElapsed;
    const quorumCheck = this.config.electionTicks - this.electionElapsed;
    return Math.max(1, Math.min(heartbeat, quorumCheck));
  }

  step(message: Message): void {
    invariant(message.to === this.id, () => `${this.describe()}: message for ${message.to} delivered here`);
    if (message.from === this.id || !this.acceptsFrom(message)) return;
    if (this.acceptTerm(message)) this.stepRole(message);
    this.checkInvariants();
  }

  /**
   * Proposes one membership change (thesis §4.1): refused unless this leader committed an entry of its own term
   * (the fix to the single-server algorithm: a change proposed earlier could otherwise be overtaken by one of an
   * older leader's uncommitted changes) and no earlier change is still uncommitted. A promotion is refused while
   * the learner does not hold the configuration in use or is more than learnerLagEntriesMax entries behind. The new configuration is in force as soon as it
   * is in this log.
   */
  proposeMembershipChange(change: MembershipChange): MembershipChangeResult {
    const refuse = (error: Exclude<MembershipChangeResult, { ok: true }>['error'], reason: string): MembershipChangeResult =>
      ({ ok: false, error, reason, leader: this.leader });
    if (this.role !== 'leader') return refuse('notLeader', 'not the leader');
    if (this.transferee !== null) return refuse('transferring', 'leadership is being transferred');
    if (this.log.lastIndex() - this.log.commit >= this.config.maxUncommittedEntries) return refuse('tooManyUncommitted', 'too many uncommitted entries');
    if (!this.hasCommittedInTerm()) return refuse('leaderNotReady', 'no entry of this leader\'s term is committed yet');
    if (this.memberships.latestIndex() > this.log.commit && !this.rules.mayChangeMembershipWhileChangeUncommitted) {
      return refuse('changeInProgress', `the change at index ${this.memberships.latestIndex()} is not committed yet`);
    }
    const next = applyChange(this.memberships.latest(), change);
    if (typeof next === 'string') return refuse('invalidChange', next);
    if (change.type === 'promote') {
      // The learner must hold the configuration in use (the one that names it): a learner that never answered has
      // match 0, which a short log would otherwise put within the lag bound.
      const match = this.progressOf(change.node).match;
      const configIndex = this.memberships.latestIndex();
      if (match < configIndex) return refuse('learnerBehind', `${change.node} does not hold the configuration at index ${configIndex} yet (it holds ${match})`);
      const lagMax = this.config.learnerLagEntriesMax ?? 64;
      const lag = this.log.lastIndex() - match;
      if (lag > lagMax) return refuse('learnerBehind', `${change.node} is ${lag} entries behind (at most ${lagMax})`);
    }
    const entry: Entry = { index: this.log.lastIndex() + 1, term: this.term, type: 'config', data: encodeMembership(next) };
    this.log.appendOwn(entry);
    this.memberships.record(entry.index, entry.term, entry.data);
    this.membershipChanged();
    this.broadcastAppend(false);
    this.checkInvariants();
    return { ok: true, index: entry.index, term: entry.term, membership: next };
  }

  /** The configuration in use (the latest in the log) and the index that set it. */
  membership(): Membership & { readonly index: number } {
    return { ...this.memberships.latest(), index: this.memberships.latestIndex() };
  }

  /** The index of the configuration in use, without building it (asked on every answer to a group client). */
  configIndex(): number {
    return this.memberships.latestIndex();
  }

  /** The configuration in force at `index` (≥ the log's start): what a snapshot or a compaction at `index` records. */
  membershipAt(index: number): Membership & { readonly configIndex: number } {
    return { ...this.memberships.at(index), configIndex: this.memberships.indexAt(index) };
  }

  propose(data: string): ProposeResult {
    if (this.role !== 'leader') return { ok: false, error: 'notLeader', leader: this.leader };
    if (this.transferee !== null) return { ok: false, error: 'transferring', leader: this.leader };
    if (this.log.lastIndex() - this.log.commit >= this.config.maxUncommittedEntries) {
      return { ok: false, error: 'tooManyUncommitted', leader: this.leader };
    }
    const entry: Entry = { index: this.log.lastIndex() + 1, term: this.term, type: 'normal', data };
    this.log.appendOwn(entry);
    this.broadcastAppend(false);
    this.checkInvariants();
    return { ok: true, index: entry.index, term: entry.term };
  }

  /** Asks for a linearizable read; the answer comes out in Ready.readStates or Ready.readFailures under `context`. */
  readIndex(context: string): void {
    if (this.role === 'leader') this.leaderRead(context, this.id);
    else if (this.role === 'follower' && this.rules.mayFollowerReadWithoutReadIndex) {
      this.pending.readStates.push({ index: this.log.commit, context });
    } else if (this.role !== 'follower' || this.leader === null) {
      this.pending.readFailures.push({ context, reason: 'leaderUnknown' });
    } else if (this.forwardedReads.size >= this.maxPendingReads || this.forwardedReads.has(context)) {
      this.pending.readFailures.push({ context, reason: 'dropped' });
    } else {
      this.forwardedReads.add(context);
      this.send({ type: 'readIndex', from: this.id, to: this.leader, term: this.term, context });
    }
    this.checkInvariants();
  }

  /**
   * Starts handing leadership to `to`; false when this node is not the leader or `to` is not a peer.
   * `urgent` is for a leader about to stop, which will not be there to hear the append's answer: the timeoutNow
   * follows the catch-up append at once (links are FIFO, so the target has the entries when it campaigns). If the
   * target still lacks entries its campaign fails and an ordinary election follows: only liveness is at stake.
   */
  transferLeadership(to: NodeId, urgent = false): boolean {
    if (this.role !== 'leader' || to === this.id || !this.isVoter(to)) return false;
    if (this.transferee === to) return true;
    this.transferee = to;
    this.electionElapsed = 0; // the transfer is bounded by one election timeout from now
    const progress = this.progressOf(to);
    if (progress.match === this.log.lastIndex()) this.send({ type: 'timeoutNow', from: this.id, to, term: this.term });
    else {
      this.sendAppend(to, true);
      if (urgent) this.send({ type: 'timeoutNow', from: this.id, to, term: this.term });
    }
    this.checkInvariants();
    return true;
  }

  /** The follower best placed to take over: the highest match index among those heard from recently. */
  transferTarget(): NodeId | null {
    if (this.role !== 'leader') return null;
    let best: NodeId | null = null;
    let bestMatch = -1;
    for (const peer of this.memberships.latest().voters) {
      if (peer === this.id || this.nonVoters.has(peer)) continue;
      const progress = this.progressOf(peer);
      const match = progress.recentActive ? progress.match : progress.match - this.log.lastIndex() - 1;
      if (match > bestMatch) {
        best = peer;
        bestMatch = match;
      }
    }
    return best;
  }

  /**
   * The application's durable state covers `index` (≤ applied): drop the log up to it. No image of the state is
   * needed for this; the leader asks for one (snapshotWanted) only when a follower needs entries that are gone.
   */
  compact(index: number): void {
    invariant(index <= this.log.applied, () => `${this.describe()}: compact(${index}) beyond applied ${this.log.applied}`);
    if (index <= this.log.snapshotIndex) return;
    this.memberships.compactTo(index);
    this.log.compact(index);
    if (this.latestSnapshot !== null && this.latestSnapshot.meta.index < index) this.latestSnapshot = null;
    this.checkInvariants();
  }

  /**
   * Whether this leader waits for an image of the applied state (offerSnapshot) to bring back a follower that
   * needs entries the compacted log no longer holds.
   */
  snapshotWanted(): boolean {
    return this.role === 'leader' && this.imageWanted;
  }

  /**
   * An image of the application's state as of applied index `index`, built because snapshotWanted() said so (an
   * image of an older applied index is as good, as long as the log still holds everything after it). Kept, one
   * at a time, and sent to the followers that need it. Returns false, keeping nothing, when the log no longer
   * holds the entries after `index` or `index` is not applied here.
   */
  offerSnapshot(index: number, data: string): boolean {
    if (index < this.log.snapshotIndex || index > this.log.applied || index === 0) return false;
    const term = this.log.term(index);
    invariant(term !== undefined, () => `${this.describe()}: no term at offered snapshot index ${index}`);
    const membership = this.memberships.at(index);
    const configIndex = this.memberships.indexAt(index);
    this.latestSnapshot = { meta: { index, term, peers: [...membership.voters], learners: [...membership.learners], configIndex }, data };
    this.imageWanted = false;
    if (this.role === 'leader') {
      for (const peer of this.otherPeers()) {
        if (this.log.term(this.progressOf(peer).next - 1) === undefined) this.sendAppend(peer, false);
      }
    }
    this.checkInvariants();
    return true;
  }

  // ---- the Ready loop ---------------------------------------------------------------------------------------------

  hasReady(): boolean {
    return this.pending.has(this.log, this.term, this.vote, this.leader, this.role);
  }

  ready(): Ready {
    return this.pending.take(this.log, this.term, this.vote, this.leader, this.role);
  }

  /** The driver persisted, sent and applied everything in `ready`. */
  advance(ready: Ready): void {
    this.pending.accept(ready, this.log);
    if (this.role === 'leader') {
      this.progressOf(this.id).acknowledge(this.log.persistedIndex);
      if (this.maybeCommit()) this.broadcastAppend(true);
    }
    this.checkInvariants();
  }

  status(): RaftStatus {
    return {
      id: this.id, role: this.role, term: this.term, leader: this.leader, vote: this.vote,
      commitIndex: this.log.commit, appliedIndex: this.log.applied, lastIndex: this.log.lastIndex(),
      snapshotIndex: this.log.snapshotIndex, transferringTo: this.transferee, voter: this.voter,
      voters: this.memberships.latest().voters, learners: this.memberships.latest().learners, configIndex: this.memberships.latestIndex(),
    };
  }

  /** The role now (status().role without building a status: the simulator asks every tick). */
  get currentRole(): Role {
    return this.role;
  }

  /** The index the log was compacted up to (status().snapshotIndex without building a status: asked every turn). */
  get snapshotIndex(): number {
    return this.log.snapshotIndex;
  }

  /** On a leader: the highest index known to match on each other member (compaction keeps their entries); else null. */
  followerMatches(): number[] | null {
    if (this.role !== 'leader') return null;
    const matches: number[] = [];
    for (const [peer, progress] of this.progress) if (peer !== this.id) matches.push(progress.match);
    return matches;
  }

  /** Bytes of entry data in (afterIndex, toInclusive] held in memory, plus `overheadBytes` per entry (compaction). */
  logBytes(afterIndex: number, toInclusive: number, overheadBytes: number): number {
    let bytes = 0;
    for (const entry of this.log.slice(afterIndex + 1, toInclusive)) bytes += entry.data.length + overheadBytes;
    return bytes;
  }

  /** The term of the entry at `index` held in memory, or undefined (compacted or absent). For checkers and tests. */
  termAt(index: number): number | undefined {
    return this.log.term(index);
  }

  /** Entries held in memory in [from, toInclusive]. For checkers and tests. */
  entriesBetween(from: number, toInclusive: number): Entry[] {
    return this.log.slice(from, toInclusive);
  }

  // ---- terms and roles ----------------------------------------------------------------------------------------

  /**
   * The host saw the leader's process go away (for example its thread's link closed). A follower stops trusting
   * that leader — which also ends its lease, so it grants pre-votes at once — and campaigns after 1, 3, 5… ticks by
   * its rank among the other followers, instead of waiting out a whole election timeout. The ranks differ, so
   * the survivors do not split the vote. Only liveness rests on the report: a wrong one costs one election, and
   * pre-vote keeps it from raising the term of a healthy group. Returns whether the report was acted on.
   */
  leaderLost(leader: NodeId): boolean {
    if (!this.voter || this.role !== 'follower' || this.leader !== leader || leader === this.id) return false;
    if (!this.canCampaign()) return false;
    const rank = this.memberships.latest().voters.filter((peer) => peer !== leader && peer !== this.id && peer < this.id).length;
    const ticksLeft = 1 + 2 * rank;
    this.setLeader(null);
    this.electionElapsed = Math.max(this.electionElapsed, this.randomizedElectionTimeout - ticksLeft);
    return true;
  }

  /**
   * The host learned that `peer` lost what it promised (its disk was wiped; it came back under a new replica id):
   * from now on its votes and acknowledgements count towards no quorum — not a commit, not a read, not
   * check-quorum — although it may still follow and replicate. Returns whether this was news.
   */
  markNonVoter(peer: NodeId): boolean {
    if (peer === this.id || this.nonVoters.has(peer)) return false;
    this.nonVoters.add(peer);
    this.votes.delete(peer);
    if (this.transferee === peer) this.transferee = null;
    this.checkInvariants();
    return true;
  }

  /**
   * The host saw `peer` come back under another replica id (a new incarnation with another disk): what this node
   * knew of its log is void — messages for it still in the outbox are dropped, and a leader's progress for it starts
   * over (probe from the end of the log, nothing matched).
   */
  peerReincarnated(peer: NodeId): void {
    if (peer === this.id) return;
    // Messages for it not yet handed out were drawn from the old knowledge (a heartbeat's commit from the old
    // match index): dropped, as a lossy network may drop them.
    const outbox = this.pending.outbox;
    if (outbox.some((message) => message.to === peer)) this.pending.outbox = outbox.filter((message) => message.to !== peer);
    if (this.role !== 'leader' || !this.progress.has(peer)) return;
    const progress = new Progress(this.log.lastIndex() + 1, this.config.maxInflightAppends);
    progress.recentActive = true;
    this.progress.set(peer, progress);
    if (this.transferee === peer) this.transferee = null;
    this.checkInvariants();
  }

  /**
   * The host learned that this node itself lost what it promised: it stops campaigning (a candidate goes back to
   * following) and grants no vote from now on. Returns whether this was news.
   */
  becomeNonVoter(): boolean {
    if (!this.voter) return false;
    this.voter = false;
    if (this.role !== 'follower') this.becomeFollower(this.term, null);
    this.checkInvariants();
    return true;
  }

  /** Handles the term of an incoming message; returns false when the message must go no further. */
  private acceptTerm(message: Message): boolean {
    if (message.term > this.term) return this.acceptHigherTerm(message);
    if (message.term < this.term) {
      this.answerStaleTerm(message);
      return false;
    }
    return true;
  }

  private acceptHigherTerm(message: Message): boolean {
    const isCampaign = message.type === 'preVote' || (message.type === 'vote' && !message.transfer);
    const inLease = this.config.checkQuorum && this.leader !== null && this.electionElapsed < this.config.electionTicks;
    if (isCampaign && inLease) return false; // a live leader was heard recently: do not let a rejoining node depose it
    if (message.type === 'preVote') return true; // a pre-vote never changes our term
    if (message.type === 'preVoteResponse' && !message.reject) return true;
    const fromLeader = message.type === 'append' || message.type === 'heartbeat' || message.type === 'installSnapshot';
    this.becomeFollower(message.term, fromLeader ? message.from : null);
    return true;
  }

  private answerStaleTerm(message: Message): void {
    const fromStaleLeader = message.type === 'append' || message.type === 'heartbeat';
    if (fromStaleLeader && (this.config.checkQuorum || this.config.preVote)) {
      // Tell the stale leader our term, or a node isolated with a higher term could never rejoin.
      this.send({ type: 'appendResponse', from: this.id, to: message.from, term: this.term, reject: false, index: 0, hintIndex: 0, hintTerm: 0 });
    } else if (message.type === 'preVote') {
      this.send({ type: 'preVoteResponse', from: this.id, to: message.from, term: this.term, reject: true });
    }
  }

  private becomeFollower(term: number, leader: NodeId | null): void {
    invariant(term >= this.term, () => `${this.describe()}: becomeFollower to lower term ${term}`);
    if (term > this.term) {
      this.term = term;
      this.vote = null;
    }
    this.leaveLeadership();
    this.role = 'follower';
    this.stepRole = this.stepFollower;
    this.tickRole = this.tickElection;
    this.setLeader(leader);
    this.resetTimers();
  }

  private becomePreCandidate(): void {
    invariant(this.role !== 'leader', () => `${this.describe()}: leader cannot become preCandidate`);
    this.role = 'preCandidate';
    this.stepRole = this.stepCandidate;
    this.tickRole = this.tickElection;
    this.setLeader(null);
    this.votes = new Map([[this.id, true]]);
    this.resetTimers();
    for (const peer of this.otherVoters()) {
      this.send({ type: 'preVote', from: this.id, to: peer, term: this.term + 1, lastLogIndex: this.log.lastIndex(), lastLogTerm: this.log.lastTerm() });
    }
    this.tallyVotes();
  }

  private becomeCandidate(transfer: boolean): void {
    invariant(this.role !== 'leader', () => `${this.describe()}: leader cannot become candidate`);
    this.role = 'candidate';
    this.stepRole = this.stepCandidate;
    this.tickRole = this.tickElection;
    this.term += 1;
    this.vote = this.id;
    this.setLeader(null);
    this.votes = new Map([[this.id, true]]);
    this.resetTimers();
    for (const peer of this.otherVoters()) {
      this.send({ type: 'vote', from: this.id, to: peer, term: this.term, lastLogIndex: this.log.lastIndex(), lastLogTerm: this.log.lastTerm(), transfer });
    }
    this.tallyVotes();
  }

  private becomeLeader(): void {
    invariant(this.role === 'candidate', () => `${this.describe()}: only a candidate becomes leader (was ${this.role})`);
    this.role = 'leader';
    this.stepRole = this.stepLeader;
    this.tickRole = this.tickHeartbeat;
    this.setLeader(this.id);
    this.resetTimers();
    this.transferee = null;
    this.progress = new Map();
    this.syncProgress();
    this.progressOf(this.id).acknowledge(this.log.persistedIndex);
    // A no-op of the new term lets the leader commit, and so learn the commit point (§8 of the Raft paper).
    this.log.appendOwn({ index: this.log.lastIndex() + 1, term: this.term, type: 'noop', data: '' });
    this.broadcastAppend(false);
  }

  /** Fails what only a leader could finish, on the way out of leadership. */
  private leaveLeadership(): void {
    if (this.role !== 'leader') return;
    for (const read of this.leaderReads.takeAll()) this.failRead(read.context, read.requester, 'notLeader');
    this.transferee = null;
    this.imageWanted = false;
    this.progress = new Map();
  }

  private setLeader(leader: NodeId | null): void {
    if (leader !== this.leader) {
      for (const context of this.forwardedReads.takeAll()) this.pending.readFailures.push({ context, reason: 'dropped' });
    }
    this.leader = leader;
  }

  private resetTimers(): void {
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.resetElectionTimeout();
  }

  private resetElectionTimeout(): void {
    const sample = this.config.random();
    invariant(sample >= 0 && sample < 1, () => `${this.id}: random() returned ${sample}, outside [0, 1)`);
    this.randomizedElectionTimeout = this.config.electionTicks + Math.floor(sample * this.config.electionTicks);
  }

  // ---- ticks ----------------------------------------------------------------------------------------------------

  /** A follower's and a candidate's tick: campaign once the randomized election timeout passes. */
  private tickElection(): void {
    this.electionElapsed += 1;
    if (this.electionElapsed < this.randomizedElectionTimeout) return;
    this.electionElapsed = 0;
    if (!this.canCampaign()) {
      this.setLeader(null); // a non-voter stops trusting a silent leader, but never campaigns
      return;
    }
    if (this.config.preVote) this.becomePreCandidate();
    else this.becomeCandidate(false);
  }

  /** A leader's tick: check-quorum and transfer deadline every election timeout, heartbeats, aging reads. */
  private tickHeartbeat(): void {
    this.electionElapsed += 1;
    this.heartbeatElapsed += 1;
    if (this.electionElapsed >= this.config.electionTicks) {
      this.electionElapsed = 0;
      if (this.config.checkQuorum && !this.quorumRecentlyActive()) {
        this.becomeFollower(this.term, null); // check-quorum: a leader cut off from a majority steps down
        return;
      }
      this.transferee = null; // a transfer that did not finish within an election timeout is abandoned
    }
    this.leaderReads.age();
    this.expireOldReads();
    if (this.heartbeatElapsed >= this.config.heartbeatTicks) {
      this.heartbeatElapsed = 0;
      this.broadcastHeartbeat();
    }
  }

  private quorumRecentlyActive(): boolean {
    let active = 0;
    const voters = this.memberships.latest().voters;
    for (const [peer, progress] of this.progress) {
      if (voters.includes(peer) && (peer === this.id || (progress.recentActive && !this.nonVoters.has(peer)))) active += 1;
      progress.recentActive = false;
    }
    return active >= quorumOf(this.memberships.latest());
  }

  private expireOldReads(): void {
    const maxAgeTicks = 2 * this.config.electionTicks;
    for (const read of this.leaderReads.takeExpired(maxAgeTicks)) this.failRead(read.context, read.requester, 'dropped');
  }

  private ageForwardedReads(): void {
    const maxAgeTicks = 2 * this.config.electionTicks;
    for (const context of this.forwardedReads.ageAndTakeExpired(maxAgeTicks)) this.pending.readFailures.push({ context, reason: 'dropped' });
  }

  // ---- messages by role -------------------------------------------------------------------------------------------

  /**
   * The messages every role handles alike: vote requests (granted or refused by the same rule whatever the role)
   * and a leader's replication (a leader that receives one from a leader of its own term asserts).
   */
  private stepAnyRole(message: AnyRoleMessage): void {
    switch (message.type) {
      case 'preVote':
      case 'vote':
        return this.handleVoteRequest(message);
      case 'append':
        return this.handleAppend(message); // a leader asserts: two leaders in one term
      case 'heartbeat':
        return this.handleHeartbeat(message); // a leader asserts: two leaders in one term
      case 'installSnapshot':
        return this.handleInstallSnapshot(message);
      default:
        return assertNever(message, 'message type');
    }
  }

  private stepLeader(message: Message): void {
    const progress = this.progress.get(message.from);
    if (progress !== undefined) progress.recentActive = true;
    if (isAnyRoleMessage(message)) return this.stepAnyRole(message);
    switch (message.type) {
      case 'appendResponse':
        return this.handleAppendResponse(message);
      case 'heartbeatResponse':
        return this.handleHeartbeatResponse(message);
      case 'readIndex':
        return this.leaderRead(message.context, message.from);
      case 'preVoteResponse':
      case 'voteResponse':
      case 'readIndexResponse': // a leader forwards no reads
      case 'timeoutNow':
        return;
      default:
        return assertNever(message, 'message type');
    }
  }

  /** A pre-candidate's and a candidate's messages. */
  private stepCandidate(message: Message): void {
    if (isAnyRoleMessage(message)) return this.stepAnyRole(message);
    switch (message.type) {
      case 'preVoteResponse':
      case 'voteResponse':
        return this.handleVoteResponse(message);
      case 'readIndex':
        return this.refuseReadIndex(message);
      case 'timeoutNow':
        return this.handleTimeoutNow();
      case 'appendResponse':
      case 'heartbeatResponse':
      case 'readIndexResponse': // a node without a leader forwards no reads
        return;
      default:
        return assertNever(message, 'message type');
    }
  }

  private stepFollower(message: Message): void {
    if (isAnyRoleMessage(message)) return this.stepAnyRole(message);
    switch (message.type) {
      case 'readIndex':
        return this.refuseReadIndex(message);
      case 'readIndexResponse':
        return this.handleReadIndexResponse(message);
      case 'timeoutNow':
        return this.handleTimeoutNow();
      case 'preVoteResponse':
      case 'voteResponse':
      case 'appendResponse':
      case 'heartbeatResponse':
        return;
      default:
        return assertNever(message, 'message type');
    }
  }

  private handleVoteRequest(message: Extract<Message, { type: 'preVote' | 'vote' }>): void {
    const isPreVote = message.type === 'preVote';
    const mayVoteAgain = !isPreVote && this.rules.mayVoteAgainInTerm;
    const canVote = this.vote === message.from || mayVoteAgain
      || (this.vote === null && this.leader === null)
      || (isPreVote && message.term > this.term);
    const grant = canVote && this.voter && !this.nonVoters.has(message.from)
      && this.log.isUpToDate(message.lastLogIndex, message.lastLogTerm);
    const responseType = isPreVote ? 'preVoteResponse' : 'voteResponse';
    if (!grant) {
      this.send({ type: responseType, from: this.id, to: message.from, term: this.term, reject: true });
      return;
    }
    if (!isPreVote) {
      invariant(this.vote === null || this.vote === message.from || mayVoteAgain,
        () => `${this.describe()}: second vote in term ${this.term} for ${message.from} after ${this.vote}`);
      this.vote = message.from;
      this.electionElapsed = 0;
    }
    this.send({ type: responseType, from: this.id, to: message.from, term: message.term, reject: false });
  }

  private handleVoteResponse(message: Extract<Message, { type: 'preVoteResponse' | 'voteResponse' }>): void {
    const expectedRole = message.type === 'preVoteResponse' ? 'preCandidate' : 'candidate';
    if (this.role !== expectedRole || this.nonVoters.has(message.from)) return;
    this.votes.set(message.from, !message.reject);
    this.tallyVotes();
  }

  /** Counts the votes of the voters now in the configuration; a group of one elects itself at once. */
  private tallyVotes(): void {
    let granted = 0;
    let rejected = 0;
    const voters = this.memberships.latest().voters;
    for (const [voter, vote] of this.votes) {
      if (!voters.includes(voter)) continue; // a member no longer in the configuration counts for nothing
      if (vote) granted += 1;
      else rejected += 1;
    }
    const quorum = quorumOf(this.memberships.latest());
    if (granted >= quorum) {
      if (this.role === 'preCandidate') this.becomeCandidate(false);
      else this.becomeLeader();
    } else if (rejected >= quorum) {
      this.becomeFollower(this.term, null);
    }
  }

  private handleTimeoutNow(): void {
    if (!this.canCampaign()) return;
    this.becomeCandidate(true); // a transfer skips pre-vote: the old leader asked for this election
  }

  // ---- follower side of replication ---------------------------------------------------------------------------

  private followLeader(from: NodeId): void {
    if (this.role !== 'follower' || this.leader !== from) this.becomeFollower(this.term, from);
    this.electionElapsed = 0;
  }

  private handleAppend(message: AppendMessage): void {
    invariant(this.role !== 'leader', () => `${this.describe()}: two leaders in term ${this.term} (append from ${message.from})`);
    this.followLeader(message.from);
    if (message.prevIndex < this.log.commit) {
      this.sendAppendResponse(message.from, false, this.log.commit, 0, 0);
      return;
    }
    if (this.log.matchTerm(message.prevIndex, message.prevTerm)) {
      const lastNewIndex = this.log.appendAfter(message.prevIndex, message.entries);
      this.reconcileMemberships(message.entries);
      this.log.commitTo(Math.min(message.commit, lastNewIndex));
      this.sendAppendResponse(message.from, false, lastNewIndex, 0, 0);
      return;
    }
    const hintIndex = this.findConflictByTerm(Math.min(message.prevIndex, this.log.lastIndex()), message.prevTerm);
    this.sendAppendResponse(message.from, true, message.prevIndex, hintIndex, this.log.term(hintIndex) ?? 0);
  }

  /**
   * An append's answer, written as one literal: spreading a prepared reply into a literal cost followers 3.8% of
   * the process's CPU under order load (perf: V8's DefineNamedOwnIC miss path, once per append).
   */
  private sendAppendResponse(to: NodeId, reject: boolean, index: number, hintIndex: number, hintTerm: number): void {
    this.send({ type: 'appendResponse', from: this.id, to, term: this.term, reject, index, hintIndex, hintTerm });
  }

  /** The largest index ≤ `index` whose term is ≤ `term` (fast back-off: skips a whole term of conflicts at once). */
  private findConflictByTerm(index: number, term: number): number {
    let candidate = index;
    while (candidate > this.log.snapshotIndex) {
      const candidateTerm = this.log.term(candidate);
      if (candidateTerm === undefined || candidateTerm <= term) break;
      candidate -= 1;
    }
    return candidate;
  }

  private handleHeartbeat(message: Extract<Message, { type: 'heartbeat' }>): void {
    invariant(this.role !== 'leader', () => `${this.describe()}: two leaders in term ${this.term} (heartbeat from ${message.from})`);
    this.followLeader(message.from);
    this.log.commitTo(message.commit); // the leader sends min(match, commit), which this log holds
    this.send({ type: 'heartbeatResponse', from: this.id, to: message.from, term: this.term, context: message.context });
  }

  private handleInstallSnapshot(message: Extract<Message, { type: 'installSnapshot' }>): void {
    this.followLeader(message.from);
    const meta = message.snapshot.meta;
    if (meta.index <= this.log.commit) {
      this.sendAppendResponse(message.from, false, this.log.commit, 0, 0);
      return;
    }
    if (this.log.matchTerm(meta.index, meta.term)) {
      this.log.commitTo(meta.index); // the log already holds the snapshot's last entry: just fast-forward
      this.sendAppendResponse(message.from, false, meta.index, 0, 0);
      return;
    }
    this.log.restore(meta);
    this.memberships.restore(meta.index, { voters: [...meta.peers], learners: [...(meta.learners ?? [])] }, meta.configIndex);
    this.membershipChanged();
    this.latestSnapshot = message.snapshot;
    this.pending.snapshot = message.snapshot;
    this.sendAppendResponse(message.from, false, meta.index, 0, 0);
  }

  private handleReadIndexResponse(message: Extract<Message, { type: 'readIndexResponse' }>): void {
    if (!this.forwardedReads.settle(message.context)) return;
    if (message.reject) this.pending.readFailures.push({ context: message.context, reason: 'dropped' });
    else this.pending.readStates.push({ index: message.index, context: message.context });
  }

  // ---- leader side of replication ---------------------------------------------------------------------------------

  private progressOf(peer: NodeId): Progress {
    const progress = this.progress.get(peer);
    invariant(progress !== undefined, () => `${this.describe()}: no progress for ${peer}`);
    return progress;
  }

  private broadcastAppend(allowEmpty: boolean): void {
    for (const peer of this.otherPeers()) this.sendAppend(peer, allowEmpty);
  }

  private broadcastHeartbeat(): void {
    const context = this.leaderReads.newestContext();
    for (const peer of this.otherPeers()) this.sendHeartbeat(peer, context);
  }

  private sendHeartbeat(peer: NodeId, context: string | null): void {
    const progress = this.progressOf(peer);
    const commit = Math.min(progress.match, this.log.commit);
    this.send({ type: 'heartbeat', from: this.id, to: peer, term: this.term, commit, context });
  }

  /** Sends the next append to `peer` if its flow allows; returns true when something went out. */
  private sendAppend(peer: NodeId, allowEmpty: boolean): boolean {
    const progress = this.progressOf(peer);
    if (progress.isPaused()) return false;
    const prevIndex = progress.next - 1;
    const prevTerm = this.log.term(prevIndex);
    if (prevTerm === undefined) return this.sendSnapshot(peer, progress);
    const lastIndex = Math.min(this.log.lastIndex(), prevIndex + this.config.maxEntriesPerAppend);
    const entries = this.log.slice(progress.next, lastIndex);
    if (entries.length === 0 && !allowEmpty) return false;
    this.send({ type: 'append', from: this.id, to: peer, term: this.term, prevIndex, prevTerm, entries, commit: this.log.commit });
    if (entries.length > 0 || progress.state === 'probe') progress.sent(prevIndex + entries.length);
    return true;
  }

  private sendSnapshot(peer: NodeId, progress: Progress): boolean {
    const snapshot = this.latestSnapshot;
    if (snapshot === null || snapshot.meta.index < this.log.snapshotIndex) {
      this.imageWanted = true; // nothing recent enough to send yet: the application builds one (offerSnapshot)
      return false;
    }
    this.send({ type: 'installSnapshot', from: this.id, to: peer, term: this.term, snapshot });
    progress.becomeSnapshot(snapshot.meta.index);
    return true;
  }

  private handleAppendResponse(message: Extract<Message, { type: 'appendResponse' }>): void {
    const progress = this.progressOf(message.from);
    if (message.reject) return this.handleAppendRejection(message, progress);
    const grew = progress.acknowledge(message.index);
    if (progress.state === 'probe') progress.becomeReplicate();
    else if (progress.state === 'snapshot' && progress.match >= progress.pendingSnapshotIndex) progress.becomeReplicate();
    if (grew && this.maybeCommit()) this.broadcastAppend(true);
    if (this.role !== 'leader') return; // its own removal committed: it stepped down
    if (this.transferee === message.from && progress.match === this.log.lastIndex()) {
      this.send({ type: 'timeoutNow', from: this.id, to: message.from, term: this.term });
    }
    for (let sent = 0; sent < this.config.maxInflightAppends && this.sendAppend(message.from, false); sent += 1);
  }

  private handleAppendRejection(message: Extract<Message, { type: 'appendResponse' }>, progress: Progress): void {
    // A rejection of an index at or below match, or of a probe we no longer wait for, is stale: ignore it.
    if (message.index <= progress.match) return;
    if (progress.state === 'probe' && message.index !== progress.next - 1) return;
    if (progress.state === 'snapshot') return;
    const matchHint = this.findLeaderMatchHint(message.hintIndex, message.hintTerm);
    progress.becomeProbe();
    progress.next = Math.max(progress.match + 1, Math.min(message.index, matchHint + 1));
    this.sendAppend(message.from, true);
  }

  /** The largest index ≤ hintIndex whose term in our log is ≤ hintTerm: the follower cannot match beyond it. */
  private findLeaderMatchHint(hintIndex: number, hintTerm: number): number {
    let candidate = Math.min(hintIndex, this.log.lastIndex());
    while (candidate > this.log.snapshotIndex) {
      const candidateTerm = this.log.term(candidate);
      if (candidateTerm === undefined || candidateTerm <= hintTerm) break;
      candidate -= 1;
    }
    return candidate;
  }

  private handleHeartbeatResponse(message: Extract<Message, { type: 'heartbeatResponse' }>): void {
    const progress = this.progressOf(message.from);
    if (progress.state === 'probe') progress.probeSent = false;
    if (progress.match >= this.log.lastIndex()) progress.ticksWithoutProgress = 0;
    else progress.ticksWithoutProgress += 1;
    // Appends or a snapshot may have been lost: after a few heartbeats without progress, probe again.
    const stallLimit = progress.state === 'snapshot' ? Math.ceil(this.config.electionTicks / this.config.heartbeatTicks) : 3;
    if (progress.state !== 'probe' && progress.ticksWithoutProgress > stallLimit) progress.becomeProbe();
    if (progress.match < this.log.lastIndex()) this.sendAppend(message.from, true);
    if (message.context !== null) this.acknowledgeRead(message.context, message.from);
  }

  /** §5.4.2: only entries of the current term are committed by counting replicas. */
  private maybeCommit(): boolean {
    const matches: number[] = [];
    const membership = this.memberships.latest();
    const quorum = quorumOf(membership);
    for (const peer of membership.voters) if (!this.nonVoters.has(peer)) matches.push(this.progressOf(peer).match);
    if (matches.length < quorum) return false;
    matches.sort((left, right) => right - left);
    const quorumIndex = matches[quorum - 1]!;
    if (quorumIndex <= this.log.commit) return false;
    const ownTerm = this.log.term(quorumIndex) === this.term;
    if (!ownTerm && !this.rules.mayCommitEarlierTermByCounting) return false;
    const hadCommittedInTerm = this.hasCommittedInTerm();
    this.log.commitTo(quorumIndex);
    if (!hadCommittedInTerm && this.hasCommittedInTerm()) this.releaseReadsAwaitingTermCommit();
    if (this.memberships.latestIndex() <= this.log.commit && !membership.voters.includes(this.id)) {
      this.stepDownRemoved();
      return false;
    }
    return true;
  }

  /**
   * This leader's removal committed (thesis §4.2.2: it led without counting itself until then): it tells every
   * member the commit, hands over to the best-placed voter with timeoutNow, and follows.
   */
  private stepDownRemoved(): void {
    this.broadcastAppend(true);
    const target = this.transferTarget();
    if (target !== null) {
      this.sendAppend(target, true);
      this.send({ type: 'timeoutNow', from: this.id, to: target, term: this.term });
    }
    this.becomeFollower(this.term, null);
  }

  private hasCommittedInTerm(): boolean {
    return this.log.term(this.log.commit) === this.term;
  }

  // ---- linearizable reads at the leader ---------------------------------------------------------------------------

  private leaderRead(context: string, requester: NodeId): void {
    if (this.leaderReads.size >= this.maxPendingReads) {
      this.failRead(context, requester, 'dropped');
    } else if (!this.hasCommittedInTerm()) {
      // Until an entry of its term commits, a new leader does not know the commit index it must read at.
      this.leaderReads.awaitTermCommit(context, requester);
    } else {
      this.startReadRound(context, requester);
    }
  }

  private releaseReadsAwaitingTermCommit(): void {
    for (const read of this.leaderReads.takeAwaitingTermCommit()) this.startReadRound(read.context, read.requester);
  }

  private startReadRound(context: string, requester: NodeId): void {
    this.leaderReads.add(context, requester, this.log.commit, this.id);
    for (const peer of this.otherPeers()) this.sendHeartbeat(peer, context);
    this.releaseConfirmedReads(); // a group of one confirms its own leadership
  }

  /** A read forwarded to a node that is not the leader (any more): refused, the follower fails it. */
  private refuseReadIndex(message: Extract<Message, { type: 'readIndex' }>): void {
    this.send({ type: 'readIndexResponse', from: this.id, to: message.from, term: this.term, context: message.context, index: 0, reject: true });
  }

  /**
   * A heartbeat answer for `context` shows `from` still followed us after every read registered up to that one,
   * so it counts for all of them; the confirmed prefix is released in order.
   */
  private acknowledgeRead(context: string, from: NodeId): void {
    if (this.nonVoters.has(from) || !this.isVoter(from)) return;
    if (!this.leaderReads.acknowledge(context, from)) return;
    this.releaseConfirmedReads();
  }

  /** Answers the confirmed prefix of the pending reads, in order. */
  private releaseConfirmedReads(): void {
    for (const read of this.leaderReads.takeConfirmed((pending) => this.readConfirmed(pending))) {
      if (read.requester === this.id) this.pending.readStates.push({ index: read.index, context: read.context });
      else this.send({ type: 'readIndexResponse', from: this.id, to: read.requester, term: this.term, context: read.context, index: read.index, reject: false });
    }
  }

  private failRead(context: string, requester: NodeId, reason: ReadFailure['reason']): void {
    if (requester === this.id) this.pending.readFailures.push({ context, reason });
    else this.send({ type: 'readIndexResponse', from: this.id, to: requester, term: this.term, context, index: 0, reject: true });
  }

  // ---- helpers ----------------------------------------------------------------------------------------------------

  private send(message: Message): void {
    this.pending.outbox.push(message);
  }

  /** Every member but this node: the leader replicates to voters and learners alike. */
  private otherPeers(): NodeId[] {
    const { voters, learners } = this.memberships.latest();
    return [...voters, ...learners].filter((peer) => peer !== this.id);
  }

  private otherVoters(): NodeId[] {
    return this.memberships.latest().voters.filter((peer) => peer !== this.id);
  }

  private isVoter(peer: NodeId): boolean {
    return this.memberships.latest().voters.includes(peer) && !this.nonVoters.has(peer);
  }

  /** Campaigns only a voter of the latest configuration that kept what it promised. */
  private canCampaign(): boolean {
    return this.voter && this.memberships.latest().voters.includes(this.id);
  }

  /** A read is confirmed by a majority of the voters now in the configuration (this leader if it is one). */
  private readConfirmed(read: PendingRead): boolean {
    const membership = this.memberships.latest();
    let count = 0;
    for (const acknowledger of read.acknowledgers) if (membership.voters.includes(acknowledger)) count += 1;
    return count >= quorumOf(membership);
  }

  /**
   * Members of the latest configuration are heard. So is a leader's replication from anyone (a node added to the
   * group knows of its membership only once the leader's entries reach it), never a campaign from a stranger (a
   * removed member that did not learn of its removal must not disrupt the group, thesis §4.2.3).
   */
  private acceptsFrom(message: Message): boolean {
    if (isMember(this.memberships.latest(), message.from)) return true;
    return message.type === 'append' || message.type === 'heartbeat' || message.type === 'installSnapshot';
  }

  private recordConfigEntries(entries: readonly Entry[]): void {
    for (const entry of entries) if (entry.type === 'config') this.memberships.record(entry.index, entry.term, entry.data);
  }

  /** After a follower's append: drop configurations truncated away, record the new ones, act on the latest. */
  private reconcileMemberships(entries: readonly Entry[]): void {
    const before = this.memberships.latestIndex();
    this.memberships.forget((index) => this.log.term(index));
    for (const entry of entries) {
      if (entry.type === 'config' && entry.index > this.memberships.latestIndex() && this.log.matchTerm(entry.index, entry.term)) {
        this.memberships.record(entry.index, entry.term, entry.data);
      }
    }
    if (this.memberships.latestIndex() !== before) this.membershipChanged();
  }

  /** The configuration in use changed: a leader tracks every member; a node that may no longer campaign stops. */
  private membershipChanged(): void {
    if (this.role === 'leader') this.syncProgress();
    else if ((this.role === 'candidate' || this.role === 'preCandidate') && !this.canCampaign()) this.becomeFollower(this.term, null);
    if (this.transferee !== null && !this.isVoter(this.transferee)) this.transferee = null;
  }

  /** A leader's progress: one per member and itself; a new member starts probing at the end of the log. */
  private syncProgress(): void {
    const members = new Set([this.id, ...this.otherPeers()]);
    for (const peer of [...this.progress.keys()]) if (!members.has(peer)) this.progress.delete(peer);
    for (const peer of members) {
      if (this.progress.has(peer)) continue;
      const progress = new Progress(this.log.lastIndex() + 1, this.config.maxInflightAppends);
      progress.recentActive = true;
      this.progress.set(peer, progress);
    }
  }

  private describe(): string {
    return `node ${this.id} (${this.role}, term ${this.term}, commit ${this.log?.commit}, applied ${this.log?.applied}, last ${this.log?.lastIndex()}, snapshot ${this.log?.snapshotIndex})`;
  }

  private checkInvariants(): void {
    const log = this.log;
    invariant(log.commit <= log.lastIndex(), () => `${this.describe()}: commit beyond last index`);
    invariant(log.applied <= log.commit, () => `${this.describe()}: applied beyond commit`);
    const restoring = this.pending.snapshot ?? this.pending.outstandingSnapshot;
    invariant(log.snapshotIndex <= log.applied || restoring?.meta.index === log.snapshotIndex,
      () => `${this.describe()}: snapshot beyond applied`);
    const image = this.latestSnapshot?.meta;
    invariant(image === undefined || (image.index >= log.snapshotIndex && log.term(image.index) === image.term),
      () => `${this.describe()}: kept image ${image?.index}/${image?.term} does not continue into the log`);
    invariant(log.persistedIndex <= log.lastIndex(), () => `${this.describe()}: persisted index ${log.persistedIndex} beyond last index`);
    invariant(log.lastTerm() <= this.term, () => `${this.describe()}: last entry term ${log.lastTerm()} beyond current term`);
    invariant(this.role !== 'leader' || this.leader === this.id, () => `${this.describe()}: leader does not name itself`);
    invariant(this.role !== 'leader' || this.vote === this.id || this.rules.mayVoteAgainInTerm, () => `${this.describe()}: leader did not vote for itself`);
    invariant(this.role !== 'candidate' || this.vote === this.id || this.rules.mayVoteAgainInTerm, () => `${this.describe()}: candidate did not vote for itself`);
    invariant(this.voter || this.role === 'follower', () => `${this.describe()}: a non-voter left the follower role`);
    invariant((this.role !== 'candidate' && this.role !== 'preCandidate') || this.memberships.latest().voters.includes(this.id),
      () => `${this.describe()}: campaigning while not a voter of the latest configuration`);
    const reported = this.pending.reportedHardState;
    invariant(reported.term < this.term || reported.vote === null || reported.vote === this.vote
      || this.rules.mayVoteAgainInTerm, () => `${this.describe()}: vote changed within term (was ${reported.vote}, now ${this.vote})`);
  }
}
