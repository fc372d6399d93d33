// The replica actor: a thin adapter that runs one ReplicaDriver (driver.ts: the processing loop, proposals, reads,
// compaction, images, hand-over) inside one actor of the runtime, over its SQLite storage, the actor's timers and
// its mailbox.
//
// Owns: opening the storage and establishing the replica's identity (identity.ts), the thread that builds images,
// the process that runs the full check of its file after open (storage/integrity.ts), and the replica's wire protocol:
//   {type:'raft', cluster, replica, toReplica, voter, message}   a peer's Raft message in its envelope (tell)
//   {type:'tick'}                     the replica's own timer (armed for the next tick that acts, see
//                                     tick-schedule.ts; an idle follower sleeps through its election timeout)
//   {type:'propose', data, knownConfigIndex?}  ask → {ok:true, index, result} | {ok:false, error, leader}
//   {type:'read', query, knownConfigIndex?}    ask → linearizable (ReadIndex) read → {ok:true, index, result} | {ok:false, …};
//                                     a query the application's parseQuery refuses → {ok:false, error:'badQuery', detail}
//                                     Either answer also carries `configuration` (types.ts) when this replica's latest
//                                     configuration is newer than the asker's knownConfigIndex (withConfiguration): a
//                                     group client follows the group's members from it (client.ts). An application's
//                                     leader-only requests answer the same way by calling it (the order replica's do).
//   {type:'status'}                   ask → ReplicaStatus
//   {type:'hash'}                     ask → {index, hash}: the state digest at the applied index
//   {type:'backup', destination, bytesPerSecond?}  ask → BackupAnswer: after a ReadIndex read, a copy of the state machine at
//                                     one applied index ≥ the read's, written to `destination` from another
//                                     thread while this replica keeps applying (storage/backup.ts)
//   {type:'transferLeadership', to?}  ask → boolean
//   {type:'peerGone', peer}           from the runtime: a peer's thread ended; if it was the leader, campaign soon
//   {type:'changeMembership', change} ask → {ok:true, index, membership} once committed | {ok:false, error, reason, leader}
// Anything else goes to the application's own `receive` hook (the catalog's subscriptions, the order saga), or, for
// the messages of hooks a test asked for at construction (`testHooks`), to those hooks (test-hooks.ts).
// Promises: those of the driver; a failed disk write crashes the actor rather than acknowledging (the supervisor
// restarts it and it reloads from its own disk); a file the full check finds damaged stops the replica and is
// refused at every later start; a replica that lost its disk while its group lived on does not vote, and says so
// in one log line.
// Types: the replica is generic in its state machine (state-machine.ts): propose takes the machine's Command and
// answers its Result, read takes its Query and answers the Answer of that kind. The driver and the storage below
// carry results as opaque values; this file is where they get their types back (resultOf, answerOf).
// Needs: the runtime's ActorContext, a StateMachine, and a data directory.

import { isStagedName, StagedBackups } from './staged-backups.js';
import { parseBytesPerSecond } from './storage/byte-rate.js';
import type { ReplicaActivity } from './activity.js';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { basename, dirname, isAbsolute, join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { spawn, type ChildProcess } from 'node:child_process';
import { setPriority } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import type { ActorContext, ActorDefinition, Reply } from '../runtime/actor.js';
import type { MembershipChange, RaftNode, RaftStatus } from './core/node.js';
import { assertNever } from '../assert.js';
import { ReplicaDriver, type DriverStatus, type ImageBuilder, type ImageResult, type MembershipAnswer, type ProposeAnswer, type ReadAnswer, type ReplicaRefused } from './driver.js';
import { clusterIdFor, establishIdentity, isEnvelopeHeader, nonVoterNotice, type RaftEnvelope } from './identity.js';
import { encodeCommand, type AnswerTo, type AnyStateMachine, type CommandOf, type ParsedQuery, type QueryOf, type ResultOf } from './state-machine.js';
import { FileMemberMarker } from './storage/marker.js';
import { readClusterGeneration } from './storage/generation.js';
import type { StateMachineFactory } from './storage/snapshot-builder.js';
import { imageFileReference, type BuiltImageFile } from './storage/image-file.js';
import type { ImageBuildTask } from './storage/image-worker.js';
import { recordDamage } from './storage/integrity.js';
import { StorageCorruptionError } from './storage/errors.js';
import type { ImageInstaller } from './storage/image-install.js';
import type { BackupCaptureRequest, BackupCaptureResult } from './storage/backup.js';
import { RaftStorage } from './storage/storage.js';
import { isTestHookMessage, replicaTestHooks, type ReplicaTestHooks, type ReplicaTestHooksSpec, type TestHookMessage } from './test-hooks.js';
import type { Entry, GroupConfiguration, NodeId, SoftState } from './types.js';
import { isRaftMessage } from './validate.js';
import { isValidSnapshotStreamMessage } from './snapshot-stream.js';
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
  /**
   * Default 4: a follower campaigns after 4–8 ticks (200–400 ms at 50 ms) without hearing from a leader, so a
   * leader cut off with no death notice is replaced in about 300 ms. Pre-vote and check-quorum keep one slow
   * follower from deposing a healthy leader; a leader itself starved past 200 ms is replaced (bench: leader changes).
   */
  readonly electionTicks?: number;
  /**
   * Default 1 (50 ms at 50 ms a tick): four heartbeats per shortest election timeout. Replication and ReadIndex
   * rounds do not wait for heartbeats.
   */
  readonly heartbeatTicks?: number;
  /**
   * Compact the log once it holds this many applied entries past the last compaction (default 10,000; at least
   * 2), keeping the newest half (see compactionIndex). The state itself lives in the database's tables, so
   * compacting writes no image; an image is built only when a follower needs entries that are gone.
   */
  readonly snapshotEntriesInterval?: number;
  /** Bytes of log a leader keeps for followers behind it, past the interval (compaction.ts; default 32 MiB). */
  readonly logRetainBytesMax?: number;
  /** Files larger than this get their full check after open, not at open (storage/integrity.ts; default 64 MiB). */
  readonly wholeFileCheckAtOpenBytesMax?: number;
  /** Seed of the election-timeout randomness; defaults to one derived from the name. */
  readonly seed?: number;
  /** Hooks a test injects (test-hooks.ts); absent in production. */
  readonly testHooks?: ReplicaTestHooksSpec;
}

/** The driver's figures (tick wake-ups, identity, refused messages, image streams) and the replica's own. */
export interface ReplicaStatus extends Omit<DriverStatus, 'raft'> {
  readonly name: NodeId;
  readonly role: RaftStatus['role'];
  readonly term: number;
  readonly leader: NodeId | null;
  readonly commitIndex: number;
  readonly lastApplied: number;
  readonly lastIndex: number;
  readonly snapshotIndex: number;
  readonly fsyncs: number;
  /** Leader changes, proposals, fsync and apply times, images (activity.ts). */
  readonly activity: ReplicaActivity;
  /** False when this replica lost its disk while its group lived on: it may not vote (identity.ts). */
  readonly voter: boolean;
  /** The group's configuration this replica uses (the latest in its log) and the index that set it. */
  readonly voters: readonly NodeId[];
  readonly learners: readonly NodeId[];
  readonly configIndex: number;
}

export type ReplicaMessage =
  | RaftEnvelope
  | { readonly type: 'tick' }
  | { readonly type: 'propose'; readonly data: string; readonly knownConfigIndex?: number }
  | { readonly type: 'read'; readonly query: unknown; readonly knownConfigIndex?: number }
  | { readonly type: 'status' }
  | { readonly type: 'hash' }
  | { readonly type: 'backup'; readonly destination: string | null; readonly bytesPerSecond?: number | null }
  | { readonly type: 'backupRead'; readonly staged: string; readonly offset: number }
  | { readonly type: 'backupDrop'; readonly staged: string }
  | { readonly type: 'transferLeadership'; readonly to?: NodeId }
  | { readonly type: 'peerGone'; readonly peer: NodeId }
  | { readonly type: 'changeMembership'; readonly change: MembershipChange };

const replicaMessageTypes = new Set<string>(['raft', 'tick', 'propose', 'read', 'status', 'hash', 'backup', 'backupRead', 'backupDrop', 'transferLeadership', 'peerGone', 'changeMembership']);

/** A backup's answer: the file's record, or why there is none (the ReadIndex read was refused, or the copy failed). */
export type BackupAnswer =
  | (Extract<BackupCaptureResult, { ok: true }> & { readonly member: NodeId; readonly readIndex: number; readonly staged?: string })
  | { readonly ok: false; readonly error: string; readonly leader?: NodeId | null };
const membershipChangeTypes = new Set<string>(['addLearner', 'promote', 'remove']);

/** A read whose query the application's parseQuery refused: no member would answer it, so it is not retried. */
export interface BadQueryRefused {
  readonly ok: false;
  readonly error: 'badQuery';
  readonly detail: string;
  readonly leader: NodeId | null;
}

/** The answer of the `read` message: the driver's, or a refusal of the query itself. */
export type WireReadAnswer<Answer = unknown> = ReadAnswer<Answer> | BadQueryRefused;

export { compactionIndex, type ProposeAnswer, type ReadAnswer, type ReplicaRefused, type ReplicaRefusal } from './driver.js';

/** The defaults of ReplicaArgs.electionTicks and heartbeatTicks (see there). */
export const electionTicksDefault = 4;
export const heartbeatTicksDefault = 1;
export const readsPendingMax = 4_096;
/** At most one log line per this many milliseconds about refused Raft messages (the rest are counted). */
export const refusalLogIntervalMs = 10_000;
export const proposalsPendingMax = 8_192;


/** The application side of a replica: its state machine and its reactions to what the replica applies. */
export interface ReplicaApplication<App, AppMessage extends { type: string }, Args extends ReplicaArgs, Machine extends AnyStateMachine> {
  createStateMachine(args: Args): Machine;
  /** Checks the query of a `read` that came over the wire; never throws. */
  parseQuery(value: unknown): ParsedQuery<QueryOf<Machine>>;
  /**
   * Where a snapshot builder in another thread finds `createStateMachine` (a module URL and the name of the
   * export; it is called with the replica's args). With it, the images a leader sends to followers behind its
   * log are built off the replica's thread, as files of its tables (storage/image-file.ts); without it, on the replica's thread.
   */
  readonly stateMachineModule?: { readonly url: string; readonly exportName: string };
  init?(replica: Replica<Machine>, args: Args, context: ActorContext): App;
  /** Called for each applied entry with the state machine's result, on every replica. */
  onApplied?(app: App, replica: Replica<Machine>, entry: Entry, result: ResultOf<Machine>, context: ActorContext): void;
  /** Called when this replica's role or known leader changes. */
  onSoftState?(app: App, replica: Replica<Machine>, softState: SoftState, context: ActorContext): void;
  isMessage?(message: unknown): message is AppMessage;
  receive?(app: App, replica: Replica<Machine>, message: AppMessage, context: ActorContext): unknown;
  stop?(app: App, replica: Replica<Machine>, context: ActorContext): void;
}

/** The live replica: the actor's side of the driver, and what the application's hooks may call. */
export class Replica<Machine extends AnyStateMachine = AnyStateMachine> {
  readonly name: NodeId;
  readonly peers: readonly NodeId[];
  readonly storage: RaftStorage;
  readonly driver: ReplicaDriver;
  private readonly context: ActorContext;
  private readonly images: PooledImageBuilder;
  /** The full check of a file too large to check whole at open; null when open did. */
  private readonly integrity: WholeFileCheck | null;
  /** What a test injected at construction (noTestHooks in production). */
  readonly testHooks: ReplicaTestHooks;
  private readonly snapshotFactory: StateMachineFactory | null;
  /** At most one backup at a time per replica. */
  private backupRunning = false;
  private readonly stateMachine: Machine;
  /** Copies staged here for a gateway on another host to read in chunks (staged-backups.ts). */
  readonly stagedBackups: StagedBackups;
  /** Hooks the application installs; the driver calls them from its processing loop. */
  onApplied: (entry: Entry, result: ResultOf<Machine>) => void = () => {};
  onSoftState: (softState: SoftState) => void = () => {};

  constructor(args: ReplicaArgs, stateMachine: Machine, context: ActorContext, snapshotFactory: StateMachineFactory | null = null) {
    this.name = args.name;
    this.stateMachine = stateMachine;
    this.peers = [...args.peers];
    this.context = context;
    this.snapshotFactory = snapshotFactory;
    mkdirSync(args.dataDir, { recursive: true });
    this.testHooks = replicaTestHooks(args.testHooks);
    const faults = this.testHooks.storageFaults;
    this.storage = RaftStorage.open({
      path: join(args.dataDir, `${args.name}.db`),
      stateMachine,
      logger: { warn: (details, message) => context.log.warn(details, `${args.name}: ${message}`) },
      ...(args.wholeFileCheckAtOpenBytesMax === undefined ? {} : { wholeFileCheckAtOpenBytesMax: args.wholeFileCheckAtOpenBytesMax }),
      ...(faults === null ? {} : { faults }),
    });
    const loaded = this.storage.load();
    const established = establishIdentity({
      store: this.storage,
      marker: new FileMemberMarker(join(args.dataDir, `${args.name}.identity`)),
      clusterId: clusterIdFor(args.clusterName ?? 'pygmy', args.peers, readClusterGeneration(args.dataDir)),
      newReplicaId: () => randomBytes(8).toString('hex'),
      nowIso: () => new Date(context.now()).toISOString(),
    });
    this.images = new PooledImageBuilder(this.storage, snapshotFactory, context);
    this.stagedBackups = new StagedBackups(this.storage.path, () => context.now());
    this.driver = new ReplicaDriver({
      name: args.name,
      peers: args.peers,
      raft: {
        electionTicks: args.electionTicks ?? electionTicksDefault,
        heartbeatTicks: args.heartbeatTicks ?? heartbeatTicksDefault,
        random: randomFor(args),
        preVote: true,
        checkQuorum: true,
        maxEntriesPerAppend: 256,
        maxInflightAppends: 64,
        maxUncommittedEntries: 16_384,
        maxPendingReads: readsPendingMax,
      },
      persisted: loaded.persisted,
      identity: established.identity,
      storage: this.storage,
      time: {
        nowMs: () => performance.now(),
        // A millisecond late rather than early: the timers' clock is coarser than performance.now().
        armTick: (delayMs) => context.setTimer('tick', { type: 'tick' }, delayMs + 1),
        defer: (task) => setImmediate(task),
      },
      transport: { send: (to, envelope) => context.tell(to, envelope) },
      images: this.images,
      log: context.log,
      hooks: {
        applied: (entry, result) => this.onApplied(entry, resultOf<Machine>(result)),
        softState: (softState) => this.onSoftState(softState),
      },
      tickMs: args.tickMs ?? 50,
      bootId: randomBytes(6).toString('hex'),
      snapshotEntriesInterval: args.snapshotEntriesInterval ?? 10_000,
      snapshotStream: { incomingImagePath: (identity) => incomingImagePath(this.storage.path, identity) },
      ...(args.logRetainBytesMax === undefined ? {} : { logRetainBytesMax: args.logRetainBytesMax }),
      readsPendingMax,
      proposalsPendingMax,
      refusalLogIntervalMs,
    });
    context.log.info(
      { replica: args.name, term: loaded.persisted.hardState.term, lastApplied: loaded.lastApplied, entries: loaded.persisted.entries.length },
      `${args.name} loaded from disk: term ${loaded.persisted.hardState.term}, applied ${loaded.lastApplied}, ${loaded.persisted.entries.length} log entries`,
    );
    logIdentity(args.name, established, context);
    this.integrity = this.storage.checkedWholeFile ? null : new WholeFileCheck(this.storage.path, context, args.name);
  }

  get node(): RaftNode {
    return this.driver.node;
  }

  get lastApplied(): number {
    return this.storage.lastApplied;
  }

  get isLeader(): boolean {
    return this.driver.softState.role === 'leader';
  }

  get leader(): NodeId | null {
    return this.driver.softState.leader;
  }

  /** Proposes a command; resolves once it is committed and applied here (or refused). */
  propose(command: CommandOf<Machine>): Promise<ProposeAnswer<ResultOf<Machine>>> {
    return this.proposeEncoded(encodeCommand(command));
  }

  /** Proposes a command already encoded (as the `propose` message carries it). */
  proposeEncoded(data: string): Promise<ProposeAnswer<ResultOf<Machine>>> {
    return new Promise((resolve) => this.driver.propose(data, (answer) => resolve(answer.ok ? { ...answer, result: resultOf<Machine>(answer.result) } : answer)));
  }

  /** Proposes one membership change; resolves once it is committed and applied here, or refused with the reason. */
  changeMembership(change: MembershipChange): Promise<MembershipAnswer> {
    return new Promise((resolve) => this.driver.changeMembership(change, resolve));
  }

  /** A linearizable read through ReadIndex; resolves with the state machine's answer (see ReplicaDriver.read). */
  read<Q extends QueryOf<Machine>>(query: Q): Promise<ReadAnswer<AnswerTo<Machine, Q>>> {
    return new Promise((resolve) => this.driver.read(query, (answer) => resolve(answer.ok ? { ...answer, result: answerOf<Machine, Q>(answer.result) } : answer)));
  }

  /** A read of this replica's own applied state, now: not linearizable (a follower's may be behind). */
  readLocal<Q extends QueryOf<Machine>>(query: Q): AnswerTo<Machine, Q> {
    return answerOf<Machine, Q>(this.stateMachine.query(query));
  }

  /** A linearizable read of a query that came over the wire: checked first by the application's parseQuery. */
  readUnchecked(query: unknown, parseQuery: (value: unknown) => ParsedQuery<QueryOf<Machine>>): Promise<WireReadAnswer> {
    const parsed = parseQuery(query);
    if (!parsed.ok) return Promise.resolve({ ok: false, error: 'badQuery', detail: parsed.detail, leader: this.leader });
    return this.read(parsed.query);
  }

  /**
   * `answer` as sent to an asker that named the index of the configuration it holds (`knownConfigIndex`): with this
   * replica's latest configuration added when that is newer, so the asker's group client can follow it; as it is
   * otherwise, and to an asker that named none. Only then does an answer grow: not on every answer of the hot path.
   */
  withConfiguration<Answer extends object>(answer: Answer, knownConfigIndex: number | undefined): Answer | (Answer & { readonly configuration: GroupConfiguration }) {
    if (knownConfigIndex === undefined || this.driver.node.configIndex() <= knownConfigIndex) return answer;
    const membership = this.driver.node.membership();
    return { ...answer, configuration: { index: membership.index, voters: [...membership.voters], learners: [...membership.learners] } };
  }

  /** A read wanted only for its index: a linearizable point that serves nothing (the answer is null). */
  private readPoint(): Promise<ReadAnswer<null>> {
    return new Promise((resolve) => this.driver.read(null, (answer) => resolve(answer.ok ? { ...answer, result: null } : answer)));
  }

  /**
   * A backup of the state machine into `destination` (an absolute path that does not exist yet): a ReadIndex read
   * first (its answer is not used, only its index: the query is null), then the copy in a thread of its own at an
   * index ≥ that read's (storage/backup.ts). Followers serve it as well as the leader.
   */
  async backup(asked: string | null, bytesPerSecond: number | null = null): Promise<BackupAnswer> {
    if (this.snapshotFactory === null) return { ok: false, error: 'this replica has no state machine module to read a copy with' };
    if (asked !== null && !isAbsolute(asked)) return { ok: false, error: `backup destination must be an absolute path, got ${asked}` };
    if (this.backupRunning) return { ok: false, error: `${this.name} is already taking a backup` };
    this.backupRunning = true;
    // No destination: the copy is staged beside the database, for a gateway on another host to read in chunks.
    const staged = asked === null ? this.stagedBackups.stage() : null;
    const destination = staged?.path ?? asked!;
    try {
      const point = await this.readPoint();
      if (!point.ok) {
        if (staged !== null) this.stagedBackups.abandon(staged.name);
        return { ok: false, error: `no linearizable point: ${point.error}`, leader: point.leader };
      }
      const request: BackupCaptureRequest = {
        kind: 'pygmyBackupCapture', sourcePath: this.storage.path, destinationPath: destination, minimumIndex: point.index, factory: this.snapshotFactory,
        bytesPerSecond,
      };
      const result = await runBackupWorker(request);
      if (!result.ok) {
        if (staged !== null) this.stagedBackups.abandon(staged.name);
        return result;
      }
      this.context.log.info({ replica: this.name, index: result.index, bytes: result.bytes }, `${this.name}: backup at index ${result.index} written to ${destination}`);
      return { ...result, member: this.name, readIndex: point.index, ...(staged === null ? {} : { staged: staged.name }) };
    } finally {
      this.backupRunning = false;
    }
  }

  status(): ReplicaStatus {
    const status = this.driver.status();
    const storageStats = this.storage.stats();
    return {
      name: this.name,
      role: status.raft.role,
      term: status.raft.term,
      leader: status.raft.leader,
      commitIndex: status.raft.commitIndex,
      lastApplied: this.storage.lastApplied,
      lastIndex: status.raft.lastIndex,
      snapshotIndex: status.raft.snapshotIndex,
      fsyncs: storageStats.fsyncs,
      activity: this.driver.activityFigures(storageStats.fsyncSeconds),
      tickWakeups: status.tickWakeups,
      clusterId: status.clusterId,
      replicaId: status.replicaId,
      voter: status.raft.voter,
      refusedMessages: status.refusedMessages,
      snapshotStream: status.snapshotStream,
      voters: status.raft.voters,
      learners: status.raft.learners,
      configIndex: status.raft.configIndex,
    };
  }

  /** A peer's Raft message in its envelope, delivered by the runtime from `sender` (see ReplicaDriver.receive). */
  step(envelope: RaftEnvelope, sender: NodeId | null): void {
    this.driver.receive(envelope, sender);
  }

  tick(): void {
    this.driver.onTickTimer();
  }

  /** Arms the first tick timer once the actor started (later ones are armed by the driver after each loop). */
  armTickTimer(): void {
    this.driver.armTickTimer();
  }

  peerGone(peer: NodeId): void {
    this.driver.peerGone(peer);
  }

  transferLeadershipAway(): boolean {
    return this.driver.transferLeadershipAway();
  }

  close(): void {
    this.integrity?.close();
    this.driver.close();
    this.images.close();
    this.storage.close();
  }
}

/**
 * The full quick_check of a replica's file that open did not check whole (storage/integrity.ts: a large one), started
 * once the replica is open: a check that reads every page stays off the start-up path. It runs in a process of its
 * own (storage/integrity-process.ts) at a low CPU priority, so it neither slows the replicas much nor holds up their
 * stop (close kills it). Damage found
 * is recorded beside the file (so the restarted replica refuses to start) and crashes the replica with
 * StorageCorruptionError; a check that could not run is logged as an error.
 */
class WholeFileCheck {
  private child: ChildProcess | null;

  constructor(path: string, context: ActorContext, replica: NodeId) {
    const startedMs = performance.now();
    const child = spawn(process.execPath, [fileURLToPath(integrityProcessUrl), path], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    try {
      if (child.pid !== undefined) setPriority(child.pid, integrityCheckNice);
    } catch {
      // A priority that cannot be set leaves the check at the normal one: slower start-ups, not a wrong answer.
    }
    // The answer is on stdout; stderr only explains a failure (a Node warning there must not hide the answer).
    let output = '';
    let errors = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output = (output + chunk).slice(-integrityOutputCharsMax)));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (errors = (errors + chunk).slice(-integrityOutputCharsMax)));
    child.once('error', (error) => this.finish(context, replica, path, null, error.message));
    child.once('exit', (code, signal) => {
      const problems = code === 0 ? parseProblems(output) : null;
      this.finish(context, replica, path, problems, problems === null ? `exit ${code ?? signal}: ${(errors || output).trim().slice(-500)}` : '', startedMs);
    });
  }

  private finish(context: ActorContext, replica: NodeId, path: string, problems: string[] | null, failure: string, startedMs = 0): void {
    if (this.child === null) return;
    this.child = null;
    if (problems === null) {
      context.log.error({ replica, path, error: failure }, `${replica}: the full check of ${path} could not run (${failure})`);
      return;
    }
    if (problems.length === 0) {
      context.log.info({ replica, seconds: (performance.now() - startedMs) / 1_000 }, `${replica}: the full check of ${path} found no damage`);
      return;
    }
    recordDamage(path, problems, new Date(context.now()).toISOString());
    context.log.error({ replica, path, problems }, `${replica}: the full check found its file damaged; stopping, and refusing to start on it`);
    // Thrown outside any handler: the worker host crashes the actor (as a failed fsync does).
    const error = new StorageCorruptionError('database disk image is malformed', { path, quickCheck: problems, scope: 'full check after open' });
    setImmediate(() => {
      throw error;
    });
  }

  close(): void {
    const child = this.child;
    this.child = null;
    child?.kill('SIGKILL');
  }
}

function parseProblems(output: string): string[] | null {
  try {
    const parsed = JSON.parse(output.trim().split('\n').pop() ?? '') as { problems?: unknown };
    return Array.isArray(parsed.problems) ? parsed.problems.map(String) : null;
  } catch {
    return null;
  }
}

function logIdentity(name: NodeId, established: ReturnType<typeof establishIdentity>, context: ActorContext): void {
  const { identity, verdict } = established;
  if (verdict.kind === 'lostDisk') {
    context.log.error(
      { replica: name, event: 'nonVoter', previousReplicaId: verdict.previousReplicaId },
      nonVoterNotice(name, `its database is empty, but its member marker says it was replica ${verdict.previousReplicaId} of cluster ${identity.clusterId}`),
    );
  } else if (!identity.voter) {
    context.log.error({ replica: name, event: 'nonVoter' }, nonVoterNotice(name, 'it recorded so earlier'));
  }
}

/**
 * Builds file images (storage/image-file.ts) in a piscina pool of one thread, from a consistent read of the
 * database, when the application says how to make its state machine elsewhere (it opts in to images built off its
 * thread); otherwise, or after a build failed, the driver builds text images on the replica's thread. The pool's
 * thread ends when idle (idleTimeout) and with the replica (close). Keeps the two latest files (a stream of the
 * previous image may still be reading it; snapshot-stream.ts drops a stream whose file is gone) and deletes the
 * others, and at start whatever an earlier run left.
 */
class PooledImageBuilder implements ImageBuilder {
  private pool: Piscina | null = null;
  private abort: AbortController | null = null;
  private failed = false;
  private readonly files: string[] = [];
  private sequence = 0;

  constructor(private readonly storage: RaftStorage, private readonly factory: StateMachineFactory | null, private readonly context: ActorContext) {
    removeImageFiles(storage.path);
    this.install = factory === null ? undefined : (task) => this.threads().run(task, { name: 'install' }) as Promise<void>;
  }

  /**
   * Copies a file image from a leader into the database in the image thread (storage/image-install.ts). Only for
   * an application whose state lives entirely in its tables (it gives a factory), as for builds.
   */
  readonly install: ImageInstaller | undefined;

  private threads(): Piscina {
    this.pool ??= new Piscina({ filename: imageWorkerUrl.href, minThreads: 0, maxThreads: 1, idleTimeout: imageWorkerIdleMs, resourceLimits: { maxOldGenerationSizeMb: imageWorkerHeapMb } });
    return this.pool;
  }

  start(done: (result: ImageResult) => void): boolean {
    if (this.factory === null || this.failed) return false;
    const pool = this.threads();
    this.sequence += 1;
    const task: ImageBuildTask = { sourcePath: this.storage.path, destinationPath: `${this.storage.path}${leaderImageInfix}${this.sequence}` };
    const abort = new AbortController();
    this.abort = abort;
    pool.run(task, { signal: abort.signal }).then(
      (built: BuiltImageFile) => {
        if (this.abort === abort) this.abort = null;
        this.keep(built.path);
        done({ ok: true, index: built.index, term: built.term, data: imageFileReference(built), where: `a file of ${built.bytes} bytes, in another thread` });
      },
      (error: unknown) => {
        if (this.abort === abort) this.abort = null;
        if (abort.signal.aborted) return;
        this.failed = true;
        const message = error instanceof Error ? error.message : String(error);
        this.context.log.warn({ error: message }, `building an image in another thread failed (${message}); building them on the replica's thread from now on`);
        done({ ok: false, error: message });
      },
    );
    return true;
  }

  private keep(path: string): void {
    this.files.push(path);
    while (this.files.length > 2) rmSync(this.files.shift()!, { force: true });
  }

  cancel(): void {
    this.abort?.abort();
    this.abort = null;
  }

  close(): void {
    this.cancel();
    void this.pool?.destroy();
    this.pool = null;
    removeImageFiles(this.storage.path);
  }
}

/** Leader image files are `<db>.image-N`; a follower stages an incoming one as `<db>.incoming-image-INDEX-TERM`. */
const leaderImageInfix = '.image-';
const incomingImageInfix = '.incoming-image-';
const imageWorkerIdleMs = 10_000;
/** The image thread's heap: it copies inside SQLite, so rows never pass through it. */
const imageWorkerHeapMb = 64;

export function incomingImagePath(databasePath: string, identity: { readonly index: number; readonly snapshotTerm: number }): string {
  return `${databasePath}${incomingImageInfix}${identity.index}-${identity.snapshotTerm}`;
}

function removeImageFiles(databasePath: string): void {
  const directory = dirname(databasePath);
  const base = basename(databasePath);
  for (const name of readdirSync(directory)) {
    if (name.startsWith(`${base}${leaderImageInfix}`) || name.startsWith(`${base}${incomingImageInfix}`)) rmSync(join(directory, name), { force: true });
  }
}

const imageWorkerUrl = new URL('./storage/image-worker.js', import.meta.url);
const integrityProcessUrl = new URL('./storage/integrity-process.js', import.meta.url);
/** A low CPU priority (the lowest is 19): the replicas come first, yet a busy machine does not starve the check. */
const integrityCheckNice = 10;
/** What is kept of each of the check's two outputs: its one line of problems (at most 8), or an error's tail. */
const integrityOutputCharsMax = 16_384;
const backupWorkerUrl = new URL('./storage/backup.js', import.meta.url);
/** The backup worker's old-generation heap, in MiB; a worker that needs more dies and the backup says so. */
const backupWorkerHeapMb = 64;

/** Runs one backup capture in a worker of its own; any way the worker ends becomes an answer. */
function runBackupWorker(request: BackupCaptureRequest): Promise<BackupCaptureResult> {
  return new Promise((resolve) => {
    // Its heap is bounded: the copy, the hash and the checksum keep no more than a batch of rows or a chunk alive.
    const worker = new Worker(backupWorkerUrl, { workerData: request, resourceLimits: { maxOldGenerationSizeMb: backupWorkerHeapMb } });
    let settled = false;
    const settle = (result: BackupCaptureResult): void => {
      if (settled) return;
      settled = true;
      void worker.terminate();
      resolve(result);
    };
    worker.once('message', (result: BackupCaptureResult) => settle(result));
    worker.once('error', (error) => settle({ ok: false, error: error.message }));
    worker.once('exit', (code) => settle({ ok: false, error: `the backup worker exited with code ${code}` }));
  });
}

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

/**
 * The driver and the storage carry the state machine's results and answers as opaque values. They come from this
 * replica's own Machine (its apply and query), so they have its types: these two functions are where the types
 * are given back, the one place they are asserted rather than checked.
 */
function resultOf<Machine extends AnyStateMachine>(value: unknown): ResultOf<Machine> {
  return value as ResultOf<Machine>;
}

function answerOf<Machine extends AnyStateMachine, Q extends QueryOf<Machine>>(value: unknown): AnswerTo<Machine, Q> {
  return value as AnswerTo<Machine, Q>;
}

interface ReplicaActorState<App, Machine extends AnyStateMachine> {
  readonly replica: Replica<Machine>;
  readonly app: App;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

function isReplicaMessage(message: unknown): message is ReplicaMessage {
  if (!isRecord(message)) return false;
  const type = message.type;
  if (typeof type !== 'string' || !replicaMessageTypes.has(type)) return false;
  switch (type) {
    case 'raft':
      return isEnvelopeHeader(message) && (isRaftMessage(message.message) || isValidSnapshotStreamMessage(message.message));
    case 'propose':
      return typeof message.data === 'string' && isKnownConfigIndex(message.knownConfigIndex);
    case 'read':
      return isKnownConfigIndex(message.knownConfigIndex);
    case 'peerGone':
      return typeof message.peer === 'string';
    case 'backup': {
      const pace = message.bytesPerSecond;
      const destination = message.destination;
      return (typeof destination === 'string' || destination === null)
        && (pace === undefined || pace === null || (typeof pace === 'number' && parseBytesPerSecond(String(pace)).ok));
    }
    case 'backupRead': {
      const offset = message.offset;
      return isStagedName(message.staged) && typeof offset === 'number' && Number.isSafeInteger(offset) && offset >= 0;
    }
    case 'backupDrop':
      return isStagedName(message.staged);
    case 'changeMembership': {
      const change = message.change;
      return isRecord(change) && typeof change.type === 'string' && membershipChangeTypes.has(change.type)
        && typeof change.node === 'string' && change.node.length > 0 && change.node.length <= 64;
    }
    default:
      return true;
  }
}

/** The `knownConfigIndex` an ask may name (see Replica.withConfiguration): absent, or an index. */
export function isKnownConfigIndex(value: unknown): value is number | undefined {
  return value === undefined || (Number.isSafeInteger(value) && (value as number) >= 0);
}

/** One of the replica's own messages (isMessage checked it), not the application's. */
function isOwnMessage<AppMessage extends { type: string }>(message: ReplicaMessage | AppMessage): message is ReplicaMessage {
  return replicaMessageTypes.has(message.type);
}

function answerLater<T>(context: ActorContext, promise: Promise<T>): void {
  const reply: Reply = context.deferReply();
  promise.then((value) => reply.resolve(value), (error: unknown) => reply.reject(error instanceof Error ? error : new Error(String(error))));
}

/** Builds the actor definition of a replicated state machine; an actor module default-exports the result. */
export function defineReplicaActor<App, AppMessage extends { type: string }, Args extends ReplicaArgs, Machine extends AnyStateMachine>(
  application: ReplicaApplication<App, AppMessage, Args, Machine>,
): ActorDefinition<ReplicaActorState<App, Machine>, ReplicaMessage | AppMessage | TestHookMessage, Args> {
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
    isMessage(message: unknown): message is ReplicaMessage | AppMessage | TestHookMessage {
      if (isReplicaMessage(message) || isTestHookMessage(message)) return true;
      return application.isMessage ? application.isMessage(message) : false;
    },
    receive(state, message, context) {
      const { replica } = state;
      if (isTestHookMessage(message)) return replica.testHooks.receive(message);
      if (!isOwnMessage(message)) return application.receive ? application.receive(state.app, replica, message, context) : undefined;
      const replicaMessage = message;
      switch (replicaMessage.type) {
        case 'raft':
          replica.step(replicaMessage, context.sender);
          return undefined;
        case 'tick':
          replica.tick();
          return undefined;
        case 'propose': {
          const known = replicaMessage.knownConfigIndex;
          answerLater(context, replica.proposeEncoded(replicaMessage.data).then((answer) => replica.withConfiguration(answer, known)));
          return undefined;
        }
        case 'read': {
          const known = replicaMessage.knownConfigIndex;
          answerLater(context, replica.readUnchecked(replicaMessage.query, application.parseQuery).then((answer) => replica.withConfiguration(answer, known)));
          return undefined;
        }
        case 'status':
          return replica.status();
        case 'hash':
          return { index: replica.lastApplied, hash: replica.storage.stateHash() };
        case 'backup':
          answerLater(context, replica.backup(replicaMessage.destination, replicaMessage.bytesPerSecond ?? null));
          return undefined;
        case 'backupRead':
          answerLater(context, replica.stagedBackups.read(replicaMessage.staged, replicaMessage.offset));
          return undefined;
        case 'backupDrop':
          replica.stagedBackups.drop(replicaMessage.staged);
          return { ok: true };
        case 'transferLeadership':
          return replica.transferLeadershipAway();
        case 'peerGone':
          replica.peerGone(replicaMessage.peer);
          return undefined;
        case 'changeMembership':
          answerLater(context, replica.changeMembership(replicaMessage.change));
          return undefined;
        default:
          return assertNever(replicaMessage, 'replica message');
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
