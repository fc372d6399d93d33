// The deterministic simulator: the production replica driver (../driver.ts) — the same loop, identity checks,
// read batching, compaction, images and hand-over the replica actor runs — over simulated storage (./storage.ts:
// deferred writes lost on crash, torn last writes, the whole disk or the database alone lost), simulated time
// (one tick a millisecond; the driver's own tick timer and catch-up), and a simulated network (loss,
// duplication, delay and reordering, symmetric and one-way partitions, misdelivered messages). Replicas crash at
// chosen points of a write, pause (no ticks, no messages, then resume with the clock jumped), hand leadership over
// and stop gracefully; for the figure8 family, leaders are doomed to crash soon after they append and appends of
// the sender's own term are lost more often than older ones. One seed decides everything; the same seed always
// gives the same run.
//
// Checks after every step: Election Safety, Log Matching, Leader Completeness, State Machine Safety (the state
// hash at every index), that every ReadIndex read saw every write acknowledged before the read began, that no write
// acknowledged to a client is ever lost or replaced, that a misdelivered message is refused and a proper one is
// not. Then a liveness phase heals the network, restarts every node and requires a new proposal to commit within
// a bound.
import type { WireMessage } from '../snapshot-stream.js';
import { ReplicaDriver, type ImageBuilder, type ImageResult } from '../driver.js';
import { clusterIdFor, establishIdentity, type RaftEnvelope } from '../identity.js';
import type { MembershipChange } from '../core/config-change.js';
import type { Entry, Message, NodeId, Ready } from '../types.js';
import { DrainGate } from '../../runtime/drain-gate.js';
import { SimLink, simLinkHeldMax, simLinkInFlightMax } from './network.js';
import { SeededRandom } from './random.js';
import { rulesWith } from './core-bugs.js';
import type { Scenario } from './scenario.js';
import { SimDisk, SimMarker, SimStorage, SimulatedCrash, type CrashStage, type SimApplier } from './storage.js';

export interface SimulationResult {
  readonly violation: string | null;
  /** The last events before the end (all of them when verbose). */
  readonly trace: readonly string[];
  readonly ticks: number;
  readonly committed: number;
  readonly readsServed: number;
  /** Leadership hand-overs started (transfers and graceful stops), and those whose target led the next term. */
  readonly handOversStarted: number;
  readonly handOversCompleted: number;
  /** Writes acknowledged to clients. */
  readonly acknowledged: number;
  /** Faults injected: disks lost (whole, or the database alone), torn writes, pauses, misdelivered messages. */
  readonly faults: Readonly<FaultCounts>;
}

export interface FaultCounts {
  disksLost: number;
  tornWrites: number;
  pauses: number;
  misdeliveries: number;
}

interface SimNode {
  readonly id: NodeId;
  driver: ReplicaDriver | null;
  storage: SimStorage | null;
  disk: SimDisk;
  downUntilTick: number;
  /** A leader doomed after appending crashes at this tick; -1 when no crash is scheduled. */
  crashAtTick: number;
  /** A paused process: no ticks, no deliveries until this tick. */
  pausedUntilTick: number;
  /** When the driver's tick timer fires; +Infinity when none is armed. */
  timerAtTick: number;
  /** Off-thread fsyncs running (scenario.syncTicksMax), each with the tick it returns at. */
  syncs: { readonly doneAtTick: number; readonly complete: () => void }[];
  /** An image being built since the leader asked for one: the state read then, and when it is done. */
  imageBuild: { readonly readyAtTick: number; readonly image: ImageResult; readonly done: (result: ImageResult) => void } | null;
  /** Ever lost its disk (counted against the group's tolerance of non-voters). */
  wiped: boolean;
  /** Ever started: the bootstrap members, and spares once a membership change added them. */
  started: boolean;
  /** When it last lost its disk (-Infinity: never). */
  diskLostAtTick: number;
  /** The running replica's links to each peer, behind the gate that holds while one is busy; new at each start. */
  links: Map<NodeId, DrainGate>;
}

/** A copy of a message on the wire: its envelope, the link it travels on, and (misdelivered) the node it wrongly reaches. */
interface InTransit {
  readonly envelope: RaftEnvelope;
  readonly link: SimLink;
  readonly misdeliveredTo: NodeId | null;
}

class Violation extends Error {}

const traceLengthMax = 30;
/** A replica that lost its disk this recently may have acknowledged entries it no longer holds. */
const commitQuorumGraceTicks = 100;

/** The application's state on the simulated disk: a hash over every applied entry. */
const hashApplier: SimApplier = {
  apply: (state, entry) => ({ state: mixHash(state, entry.index, entry.data), result: entry.index }),
  restore: (data) => Number(data),
  image: (state) => String(state),
  query: (_state, lastApplied) => lastApplied,
};

export class Simulation {
  private readonly random: SeededRandom;
  private readonly nodes: SimNode[];
  private readonly nodeById = new Map<NodeId, SimNode>();
  /** Every name of the run: the bootstrap voters, then the spares. */
  private readonly peers: readonly NodeId[];
  private readonly bootstrapVoters: readonly NodeId[];
  private readonly clusterId: string;
  /** Per leader name and term: the commit index last checked against its configuration's quorum. */
  private readonly checkedCommit = new Map<string, number>();
  private membershipChanges = 0;
  private readonly inTransit = new Map<number, InTransit[]>();
  private readonly cutLinks = new Set<string>();
  private deferred: { readonly node: SimNode; readonly driver: ReplicaDriver; readonly task: () => void }[] = [];
  private healPartitionAtTick = -1;
  private tickNow = 0;
  private faultsOn = true;
  private readonly trace: string[] = [];
  private readonly leaderByTerm = new Map<number, NodeId>();
  /** index → "term:data" of the entry applied there by the first node that applied it. */
  private readonly appliedEntries = new Map<number, string>();
  private readonly appliedTerms = new Map<number, number>();
  private readonly hashAtIndex = new Map<number, number>();
  /** Writes acknowledged to a client: index → data. */
  private readonly acknowledged = new Map<number, string>();
  private ackedIndexMax = 0;
  private writeCounter = 0;
  private readCounter = 0;
  private readsServed = 0;
  private handOversStarted = 0;
  private handOversCompleted = 0;
  private readonly faults: FaultCounts = { disksLost: 0, tornWrites: 0, pauses: 0, misdeliveries: 0 };
  /** Envelopes the replicas' gates hold now for busy links, and those refused past simLinkHeldMax (lost). */
  private readonly networkCounts = { held: 0, refused: 0 };
  private incarnations = 0;
  private boots = 0;
  /** The hand-over in progress: it completes when `target` is the first leader of a term after `term`. */
  private handOver: { readonly target: NodeId; readonly term: number } | null = null;

  constructor(private readonly scenario: Scenario, private readonly verbose: ((line: string) => void) | null = null) {
    this.random = new SeededRandom(scenario.seed);
    this.nodes = [];
    for (let number = 1; number <= scenario.nodeCount + scenario.spareNodeCount; number += 1) {
      this.nodes.push({ id: `n${number}`, driver: null, storage: null, disk: new SimDisk(), downUntilTick: 0, crashAtTick: -1, links: new Map(),
        pausedUntilTick: 0, timerAtTick: Number.POSITIVE_INFINITY, syncs: [], imageBuild: null, wiped: false, started: number <= scenario.nodeCount, diskLostAtTick: Number.NEGATIVE_INFINITY });
    }
    this.peers = this.nodes.map((node) => node.id);
    this.bootstrapVoters = this.peers.slice(0, scenario.nodeCount);
    for (const node of this.nodes) this.nodeById.set(node.id, node);
    this.clusterId = clusterIdFor('sim', this.bootstrapVoters);
    for (const node of this.nodes) if (node.started) this.start(node);
  }

  run(): SimulationResult {
    let violation: string | null = null;
    try {
      for (; this.tickNow < this.scenario.safetyTicks; this.tickNow += 1) this.stepTick();
      this.enterLiveness();
      this.runLiveness();
    } catch (error) {
      const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      violation = error instanceof Violation ? error.message : `driver or core threw ${text}`;
      this.record(`VIOLATION ${violation}`);
    }
    return { violation, trace: [...this.trace], ticks: this.tickNow, committed: this.appliedEntries.size, readsServed: this.readsServed,
      handOversStarted: this.handOversStarted, handOversCompleted: this.handOversCompleted, acknowledged: this.acknowledged.size,
      faults: { ...this.faults } };
  }

  // ---- one tick ---------------------------------------------------------------------------------------------------

  private stepTick(): void {
    if (this.faultsOn) this.injectFaults();
    for (const node of this.nodes) {
      if (!this.running(node)) continue;
      if (node.timerAtTick <= this.tickNow) {
        node.timerAtTick = Number.POSITIVE_INFINITY;
        this.guarded(node, (driver) => driver.onTickTimer());
      }
      this.finishImage(node);
      this.finishSyncs(node);
    }
    this.deliverDue();
    if (this.faultsOn) this.clientTraffic();
    this.checkLeaders();
    this.checkCommitQuorums();
    if (this.tickNow % 10 === 0) this.checkLogMatching();
  }

  private running(node: SimNode): boolean {
    return node.driver !== null && node.pausedUntilTick <= this.tickNow;
  }

  /**
   * Runs one input on a node's driver, then the work the drivers deferred to the end of the turn. A SimulatedCrash
   * thrown by a storage takes its node down there; anything else thrown is a violation (the core or driver asserted).
   */
  private guarded(node: SimNode, input: (driver: ReplicaDriver) => void): void {
    const driver = node.driver;
    if (driver === null) return;
    try {
      input(driver);
    } catch (error) {
      this.crashed(error);
    }
    this.runDeferred();
  }

  private crashed(error: unknown): void {
    if (!(error instanceof SimulatedCrash)) throw error;
    const owner = this.nodeById.get(error.owner)!;
    if (owner.driver !== null) this.crash(owner, error.stage);
  }

  private runDeferred(): void {
    for (let rounds = 0; this.deferred.length > 0; rounds += 1) {
      if (rounds > 100_000) throw new Violation('deferred work without end');
      const { node, driver, task } = this.deferred.shift()!;
      if (node.driver !== driver) continue;
      try {
        task();
      } catch (error) {
        this.crashed(error);
      }
    }
  }

  private deliverDue(): void {
    const due = this.inTransit.get(this.tickNow);
    if (due === undefined) return;
    this.inTransit.delete(this.tickNow);
    for (const transit of due) {
      const misdelivered = transit.misdeliveredTo !== null;
      const envelope = transit.envelope;
      const target = this.nodeById.get(transit.misdeliveredTo ?? envelope.message.to)!;
      const driver = target.driver;
      if (target.pausedUntilTick > this.tickNow && driver !== null) {
        this.enqueue(target.pausedUntilTick, transit); // a paused process reads its socket when it resumes
        continue;
      }
      transit.link.left();
      if (driver === null) continue;
      if (this.verbose !== null) this.record(`deliver ${describeMessage(envelope.message)}${misdelivered ? ` (misdelivered to ${target.id})` : ''}`);
      const refusedBefore = driver.refusedCount('forgedTarget');
      driver.receive(envelope, envelope.message.from); // the sender as the transport knows it; writes only pins
      if ((driver.refusedCount('forgedTarget') > refusedBefore) !== misdelivered) {
        throw new Violation(`${target.id} ${misdelivered ? 'accepted a misdelivered' : 'refused a proper'} ${describeMessage(envelope.message)}`);
      }
    }
    // As in production, where a replica reads what arrived before its loop runs: the messages of one tick are
    // stepped first, and each driver's deferred flush then handles them together (one write for many).
    this.runDeferred();
  }

  /** A replica's transport: the envelope goes on its link to `to`, through the gate that honours a busy link. */
  private sendFrom(node: SimNode, to: NodeId, envelope: RaftEnvelope): void {
    let gate = node.links.get(to);
    if (gate === undefined) {
      gate = new DrainGate(new SimLink(node.id, to, simLinkInFlightMax, (sent, link) => this.send(sent, link)), simLinkHeldMax, this.networkCounts);
      node.links.set(to, gate);
    }
    if (!gate.send({ kind: 'tell', from: node.id, to, body: envelope })) this.networkCounts.refused += 1;
  }

  /** Closes a stopped replica's links: what its gates held is lost with the process. */
  private closeLinks(node: SimNode): void {
    for (const gate of node.links.values()) {
      gate.close();
      gate.link.close();
    }
    node.links = new Map();
  }

  private send(envelope: RaftEnvelope, link: SimLink): void {
    const message = envelope.message;
    if (this.cutLinks.has(`${message.from}>${message.to}`)) return;
    if (this.faultsOn && this.random.chance(this.scenario.lossProbability)) return;
    if (this.faultsOn && carriesOwnTermEntry(message) && this.random.chance(this.scenario.ownTermAppendLossProbability)) {
      if (this.verbose !== null) this.record(`lost ${describeMessage(message)}`);
      return;
    }
    const copies = this.faultsOn && this.random.chance(this.scenario.duplicateProbability) ? 2 : 1;
    for (let copy = 0; copy < copies; copy += 1) {
      link.entered();
      this.enqueue(this.tickNow + this.random.integer(1, this.scenario.delayTicksMax), { envelope, link, misdeliveredTo: null });
    }
    if (this.faultsOn && this.random.chance(this.scenario.misdeliveryProbability)) {
      const wrong = this.random.pick(this.peers.filter((id) => id !== message.to));
      this.faults.misdeliveries += 1;
      link.entered();
      this.enqueue(this.tickNow + this.random.integer(1, this.scenario.delayTicksMax), { envelope, link, misdeliveredTo: wrong });
    }
  }

  private enqueue(tick: number, transit: InTransit): void {
    const bucket = this.inTransit.get(tick);
    if (bucket === undefined) this.inTransit.set(tick, [transit]);
    else bucket.push(transit);
  }

  // ---- the production driver over simulated storage, time and network -----------------------------------------

  /** The fsyncs due by now return, in the order they began. */
  private finishSyncs(node: SimNode): void {
    while (node.syncs.length > 0 && node.syncs[0]!.doneAtTick <= this.tickNow && this.running(node)) {
      const sync = node.syncs.shift()!;
      this.guarded(node, () => sync.complete());
    }
  }

  private start(node: SimNode): void {
    const syncTicksMax = this.scenario.syncTicksMax ?? (this.scenario.syncReportedEarly === true ? 3 : null);
    const later = (complete: () => void): void => {
      const doneAtTick = Math.max(this.tickNow + this.random.integer(0, syncTicksMax ?? 0), node.syncs.at(-1)?.doneAtTick ?? 0);
      node.syncs.push({ doneAtTick, complete });
    };
    const sync = syncTicksMax === null ? undefined : { later, reportedEarly: this.scenario.syncReportedEarly === true };
    const storage = new SimStorage(node.id, node.disk, hashApplier, {
      applied: (entry, state) => this.applied(node, entry, state),
      restored: (index, state) => this.restored(node, index, state),
    }, sync);
    const loaded = storage.load();
    const established = establishIdentity({
      store: storage,
      marker: new SimMarker(node.disk),
      clusterId: this.clusterId,
      // The forgetDisk bug: replica ids derived from the name, so a wiped replica comes back as the one its peers knew.
      newReplicaId: this.scenario.forgetDisk === true ? () => node.id : () => `${node.id}i${++this.incarnations}`,
      nowIso: () => `t${this.tickNow}`,
    });
    const scenario = this.scenario;
    const driver: ReplicaDriver = new ReplicaDriver({
      name: node.id,
      peers: this.bootstrapVoters,
      knownNames: this.peers,
      raft: {
        electionTicks: scenario.electionTicks, heartbeatTicks: scenario.heartbeatTicks, random: this.random.fork(),
        preVote: scenario.preVote, checkQuorum: scenario.checkQuorum, maxEntriesPerAppend: scenario.maxEntriesPerAppend,
        maxInflightAppends: scenario.maxInflightAppends, maxUncommittedEntries: 64, rules: rulesWith(scenario.bugs),
      },
      persisted: loaded.persisted,
      identity: established.identity,
      storage,
      time: {
        nowMs: () => this.tickNow,
        armTick: (delayMs) => { node.timerAtTick = this.tickNow + delayMs; },
        defer: (task) => { this.deferred.push({ node, driver, task }); },
      },
      transport: { send: (to, envelope) => this.sendFrom(node, to, envelope) },
      images: this.imageBuilder(node, storage),
      log: this.driverLog(),
      hooks: {
        persisted: (ready) => this.maybeDoomLeader(node, ready),
        softState: (softState) => {
          if (softState.role === 'leader') this.record(`${node.id} became leader in term ${driver.node.status().term}`);
        },
        imageOffered: (index, offered) => this.record(`${node.id} ${offered ? 'offered' : 'could not offer'} an image at ${index}`),
      },
      tickMs: 1,
      bootId: `b${++this.boots}`,
      snapshotEntriesInterval: scenario.compactEveryEntries,
      // Small, so that a follower behind is sometimes served from the kept log and sometimes by an image.
      logRetainBytesMax: 2_000,
      readsPendingMax: 4_096,
      proposalsPendingMax: 8_192,
      refusalLogIntervalMs: 10_000,
    });
    node.driver = driver;
    node.storage = storage;
    node.crashAtTick = -1;
    node.imageBuild = null;
    node.timerAtTick = Number.POSITIVE_INFINITY;
    driver.armTickTimer();
    const verdict = established.verdict.kind === 'loaded' ? '' : `, ${established.verdict.kind}${established.identity.voter ? '' : ', non-voter'}`;
    this.record(`${node.id} started (term ${loaded.persisted.hardState.term}, ${loaded.persisted.entries.length} entries, applied ${loaded.lastApplied}${verdict})`);
  }

  private driverLog() {
    const quiet = (): void => {};
    const verbose = this.verbose === null ? quiet : (_details: Record<string, unknown>, message: string) => this.record(message);
    return { debug: quiet, info: verbose, warn: (_details: Record<string, unknown>, message: string) => this.record(message), error: (_details: Record<string, unknown>, message: string) => this.record(message) };
  }

  /**
   * As production: when the leader wants an image for a follower behind its log, one is read from the state as
   * applied then and offered some ticks later, while entries keep committing and the log may be compacted past it
   * (then the core refuses it and asks again).
   */
  private imageBuilder(node: SimNode, storage: SimStorage): ImageBuilder {
    return {
      start: (done) => {
        const image: ImageResult = { ok: true, ...storage.image() };
        const readyAtTick = this.tickNow + this.random.integer(0, this.scenario.imageBuildTicksMax);
        if (readyAtTick > this.tickNow) node.imageBuild = { readyAtTick, image, done };
        else done(this.labelImage(storage, image));
        return true;
      },
      cancel: () => { node.imageBuild = null; },
    };
  }

  private finishImage(node: SimNode): void {
    const build = node.imageBuild;
    if (build === null || this.tickNow < build.readyAtTick) return;
    node.imageBuild = null;
    this.guarded(node, () => build.done(this.labelImage(node.storage!, build.image)));
  }

  /** The imageLabelledAtOffer bug: an image labelled with the index applied when offered, not when read. */
  private labelImage(storage: SimStorage, image: ImageResult): ImageResult {
    if (this.scenario.imageLabelledAtOffer !== true || !image.ok) return image;
    return { ...image, index: storage.lastApplied, term: storage.termAt(storage.lastApplied) };
  }

  private applied(node: SimNode, entry: Entry, state: number): void {
    const key = `${entry.term}:${entry.data}`;
    const previous = this.appliedEntries.get(entry.index);
    if (previous === undefined) {
      this.appliedEntries.set(entry.index, key);
      this.appliedTerms.set(entry.index, entry.term);
    } else if (previous !== key) {
      throw new Violation(`State Machine Safety: ${node.id} applied ${key} at index ${entry.index}, another node applied ${previous}`);
    }
    const acknowledged = this.acknowledged.get(entry.index);
    if (acknowledged !== undefined && acknowledged !== entry.data) {
      throw new Violation(`acknowledged write lost: ${acknowledged} was acknowledged at index ${entry.index}, ${node.id} applied ${key} there`);
    }
    this.checkHash(node, entry.index, state);
  }

  private restored(node: SimNode, index: number, state: number): void {
    this.checkHash(node, index, state);
    this.record(`${node.id} installed snapshot at ${index}`);
  }

  private checkHash(node: SimNode, index: number, state: number): void {
    const known = this.hashAtIndex.get(index);
    if (known === undefined) this.hashAtIndex.set(index, state);
    else if (known !== state) throw new Violation(`State Machine Safety: ${node.id} state hash differs at index ${index}`);
  }

  // ---- crashes, disk loss, pauses ---------------------------------------------------------------------------------

  /** The node goes down where it stands; its disk keeps a prefix of its deferred writes (power loss). */
  private crash(node: SimNode, stage: CrashStage | 'betweenSteps' | 'stopped'): void {
    const disk = node.disk;
    const keptDeferred = stage === 'stopped' ? disk.deferred.length : this.random.integer(0, disk.deferred.length);
    const lostDeferred = disk.deferred.length - keptDeferred;
    disk.crash(keptDeferred, stage === 'tornPersist');
    if (stage === 'tornPersist') this.faults.tornWrites += 1;
    if (lostDeferred > 0 && this.verbose !== null) this.record(`${node.id} lost ${lostDeferred} deferred writes`);
    this.record(`${node.id} crashed (${stage})`);
    node.driver = null;
    node.storage = null;
    this.closeLinks(node);
    node.crashAtTick = -1;
    node.imageBuild = null;
    node.syncs = [];
    node.timerAtTick = Number.POSITIVE_INFINITY;
    node.downUntilTick = this.tickNow + this.random.integer(1, this.scenario.downTicksMax);
  }

  /** A crash that also loses the disk: all of it, or the database alone (its member marker stays). */
  private loseDisk(node: SimNode): void {
    if (node.driver !== null) this.crash(node, 'betweenSteps');
    const whole = this.random.chance(0.5);
    if (whole) node.disk = new SimDisk();
    else node.disk.loseDatabase();
    if (!node.wiped) node.wiped = true;
    node.diskLostAtTick = this.tickNow;
    this.faults.disksLost += 1;
    this.record(`${node.id} lost ${whole ? 'its whole disk' : 'its database (its member marker stays)'}`);
  }

  /** Disks may be lost on at most this many distinct nodes: each stays a non-voter, and the rest must be a quorum. */
  private canLoseDisk(node: SimNode): boolean {
    if (node.wiped) return true;
    const wiped = this.nodes.filter((each) => each.wiped).length;
    if (wiped >= Math.floor((this.scenario.nodeCount - 1) / 2)) return false;
    // Every configuration in use keeps a majority of voters with their disks, or the group could never decide again.
    for (const each of this.nodes) {
      const voters = each.driver?.node.membership().voters;
      if (voters === undefined) continue;
      const whole = voters.filter((voter) => voter !== node.id && !this.nodeById.get(voter)!.wiped).length;
      if (whole < Math.floor(voters.length / 2) + 1) return false;
    }
    return true;
  }

  private injectFaults(): void {
    for (const node of this.nodes) {
      if (node.started && node.driver === null && this.tickNow >= node.downUntilTick) this.start(node);
      else if (node.driver !== null && node.crashAtTick >= 0 && this.tickNow >= node.crashAtTick) this.crash(node, 'betweenSteps');
    }
    if (this.random.chance(this.scenario.transferProbability)) this.startHandOver();
    if (this.scenario.membershipChangeProbability > 0 && this.random.chance(this.scenario.membershipChangeProbability)) this.changeMembership();
    if (this.random.chance(this.scenario.crashProbability)) this.chooseCrash(this.random.pick(this.nodes));
    if (this.random.chance(this.scenario.pauseProbability)) {
      const node = this.random.pick(this.nodes);
      if (this.running(node)) {
        node.pausedUntilTick = this.tickNow + this.random.integer(1, this.scenario.pauseTicksMax);
        this.faults.pauses += 1;
        this.record(`${node.id} paused until t${node.pausedUntilTick}`);
      }
    }
    if (this.tickNow === this.healPartitionAtTick) this.heal();
    if (this.cutLinks.size === 0 && this.random.chance(this.scenario.partitionProbability)) this.partition();
  }

  private chooseCrash(node: SimNode): void {
    if (node.driver === null || node.storage === null || node.storage.crashAt !== null) return;
    if (this.random.chance(this.scenario.diskLossShare) && this.canLoseDisk(node)) {
      this.loseDisk(node);
      return;
    }
    if (this.random.chance(0.5)) {
      this.crash(node, 'betweenSteps');
      return;
    }
    const torn = this.random.chance(this.scenario.tornWriteShare);
    node.storage.crashAt = torn ? 'tornPersist' : this.random.pick(['beforePersist', 'beforeSend', 'beforeApply'] as const);
  }

  private partition(): void {
    const ids = this.peers;
    const side = new Set(ids.filter(() => this.random.chance(0.5)));
    const kind = this.random.pick(['symmetric', 'oneWay', 'isolate'] as const);
    if (kind === 'isolate') {
      side.clear();
      side.add(this.random.pick(ids));
    }
    for (const source of ids) {
      for (const target of ids) {
        if (side.has(source) === side.has(target)) continue;
        if (kind === 'oneWay' && !side.has(source)) continue;
        this.cutLinks.add(`${source}>${target}`);
      }
    }
    this.healPartitionAtTick = this.tickNow + this.random.integer(5, this.scenario.partitionTicksMax);
    this.record(`partition ${kind}: {${[...side].join(',')}} ${kind === 'oneWay' ? '→ cut to' : '| cut from'} the rest`);
  }

  /** A leader that just persisted entries it appended may be doomed to crash soon (the figure8 family). */
  private maybeDoomLeader(node: SimNode, ready: Ready): void {
    if (!this.faultsOn || ready.entries.length === 0 || node.crashAtTick >= 0) return;
    if (node.driver?.softState.role !== 'leader' && ready.softState?.role !== 'leader') return;
    if (!this.random.chance(this.scenario.leaderCrashAfterAppendProbability)) return;
    node.crashAtTick = this.tickNow + this.random.integer(1, this.scenario.leaderCrashDelayTicksMax);
    this.record(`${node.id} will crash at t${node.crashAtTick} (leader after appending up to ${ready.entries[ready.entries.length - 1]!.index})`);
  }

  /**
   * The leader hands over: either an ordinary transfer to a random follower, or a graceful stop as the replica
   * actor does it (the driver's urgent transfer to the best-placed follower, then the old leader stops cleanly).
   */
  private startHandOver(): void {
    const leader = this.nodes.find((node) => this.running(node) && node.driver!.softState.role === 'leader');
    if (leader === undefined) return;
    const driver = leader.driver!;
    const term = driver.node.status().term;
    if (this.random.chance(this.scenario.gracefulStopShare)) {
      const target = driver.node.transferTarget();
      if (target === null) return;
      this.guarded(leader, (each) => {
        if (each.transferLeadershipAway()) this.noteHandOver(target, term);
      });
      this.record(`${leader.id} stops gracefully, handing over to ${target}`);
      if (leader.driver !== null) {
        leader.driver.close();
        this.crash(leader, 'stopped');
      }
      return;
    }
    const target = this.random.pick(this.nodes.filter((node) => node !== leader)).id;
    this.guarded(leader, (each) => {
      if (each.node.transferLeadership(target)) {
        this.noteHandOver(target, term);
        this.record(`${leader.id} transfers leadership to ${target}`);
      }
      each.flush();
    });
  }

  /**
   * The leader proposes a membership change: a spare joins as a learner, a learner is promoted, or a member (a
   * follower, a learner, the leader itself) is removed. Half the time a second change follows at once, which a
   * correct core refuses while the first is uncommitted (the concurrentMembershipChanges bug lets it through).
   * The draws do not depend on the answers, so a seed makes the same choices with and without the bug.
   */
  private changeMembership(): void {
    const leader = this.nodes.find((node) => this.running(node) && node.driver!.softState.role === 'leader');
    if (leader === undefined) return;
    const count = this.random.chance(0.5) ? 2 : 1;
    for (let attempt = 0; attempt < count && leader.driver !== null; attempt += 1) this.proposeChange(leader);
  }

  private proposeChange(leader: SimNode): void {
    const { voters, learners } = leader.driver!.node.membership();
    const kind = this.random.pick(['addLearner', 'promote', 'remove'] as const);
    const spare = this.nodes.find((node) => !node.started);
    const learner = learners.length === 0 ? undefined : this.random.pick(learners);
    const member = this.random.pick([...voters, ...learners]);
    let change: MembershipChange | null = null;
    if (kind === 'addLearner' && spare !== undefined) change = { type: 'addLearner', node: spare.id };
    else if (kind === 'promote' && learner !== undefined && !this.nodeById.get(learner)!.wiped && voters.length < 7) change = { type: 'promote', node: learner };
    else if (kind === 'remove' && this.stillLive(voters, member)) change = { type: 'remove', node: member };
    if (change === null) return;
    const proposed = change;
    let returned = false;
    let refusedAtOnce = false;
    this.guarded(leader, (driver) => {
      driver.changeMembership(proposed, (answer) => {
        if (!returned && !answer.ok) refusedAtOnce = true;
        this.record(`${leader.id}: ${proposed.type} ${proposed.node} ${answer.ok ? `committed at ${answer.index}` : `refused: ${answer.error}`}`);
      });
      returned = true;
    });
    if (refusedAtOnce) return;
    this.membershipChanges += 1;
    this.record(`${leader.id} proposed ${proposed.type} ${proposed.node} (voters were ${voters.join(',')}, learners ${learners.join(',') || '-'})`);
    // The entry is in the leader's log even if the leader crashed right after: the new member must exist.
    if (proposed.type === 'addLearner' && spare !== undefined) {
      spare.started = true;
      this.start(spare);
    }
  }

  /** Whether removing `member` leaves at least two voters, a majority of them with their disks (liveness only). */
  private stillLive(voters: readonly NodeId[], member: NodeId): boolean {
    const remaining = voters.filter((voter) => voter !== member);
    if (remaining.length < 2) return false;
    const whole = remaining.filter((voter) => !this.nodeById.get(voter)!.wiped).length;
    return whole >= Math.floor(remaining.length / 2) + 1;
  }

  /**
   * Every commit a leader makes is held, on disk, by a majority of the voters of the configuration it uses (a
   * learner, or a member it removed, never makes up that majority).
   */
  private checkCommitQuorums(): void {
    for (const node of this.nodes) {
      const driver = node.driver;
      if (driver === null || driver.node.currentRole !== 'leader') continue;
      const status = driver.node.status();
      const key = `${node.id}@${status.term}`;
      if ((this.checkedCommit.get(key) ?? 0) >= status.commitIndex) continue;
      this.checkedCommit.set(key, status.commitIndex);
      const index = status.commitIndex;
      const term = driver.node.termAt(index);
      if (term === undefined || term !== status.term) continue; // only entries of its own term are committed by counting
      const holders = status.voters.filter((voter) => this.holdsOnDisk(voter, index, term));
      if (holders.length < Math.floor(status.voters.length / 2) + 1) {
        throw new Violation(`commit quorum: leader ${node.id} of term ${status.term} committed ${index}, held on disk by ${holders.join(',') || 'nobody'} of voters ${status.voters.join(',')}`);
      }
    }
  }

  private holdsOnDisk(id: NodeId, index: number, term: number): boolean {
    const node = this.nodeById.get(id)!;
    // An acknowledgement may still be on its way from a replica whose disk was lost since: it counted rightly.
    if (this.tickNow - node.diskLostAtTick <= commitQuorumGraceTicks) return true;
    const disk = node.disk;
    if ((disk.live.snapshot?.index ?? 0) >= index) return true;
    // A write whose fsync has not returned holds nothing yet: what is on disk is what was there before it.
    const entries = disk.unsynced === null ? disk.entries : disk.unsynced.entriesBefore;
    return entries.some((entry) => entry.index === index && entry.term === term);
  }

  private noteHandOver(target: NodeId, term: number): void {
    this.handOversStarted += 1;
    this.handOver = { target, term };
  }

  private heal(): void {
    this.cutLinks.clear();
    this.record('partition healed');
  }

  // ---- clients ------------------------------------------------------------------------------------------------------

  private clientTraffic(): void {
    if (this.random.chance(this.scenario.proposeProbability)) {
      const node = this.random.pick(this.nodes);
      if (this.running(node)) this.propose(node, null);
    }
    if (this.random.chance(this.scenario.readProbability)) {
      const node = this.random.pick(this.nodes);
      if (this.running(node)) this.read(node);
    }
  }

  private read(node: SimNode): void {
    const ackedIndexAtStart = this.ackedIndexMax;
    const read = ++this.readCounter;
    if (this.verbose !== null) this.record(`${node.id} read r${read} begins (acknowledged up to ${ackedIndexAtStart})`);
    this.guarded(node, (driver) => driver.read(null, (answer) => {
      if (this.verbose !== null) this.record(`${node.id} read r${read} ${answer.ok ? `served at ${answer.index}` : `failed: ${answer.error}`}`);
      if (!answer.ok) return;
      this.readsServed += 1;
      if (answer.index < ackedIndexAtStart) {
        throw new Violation(`linearizable read: ${node.id} served a read at applied ${answer.index} but a write acknowledged before the read is at ${ackedIndexAtStart}`);
      }
    }));
  }

  /** Proposes a new write through `node`; `acknowledgedInto` collects its name once acknowledged. */
  private propose(node: SimNode, acknowledgedInto: Set<string> | null): void {
    const data = `w${++this.writeCounter}`;
    if (this.scenario.acknowledgeOnPropose === true && node.driver !== null) {
      // The planted client bug: a write taken as acknowledged once a leader accepted it, before it committed.
      const accepted = node.driver.node.propose(data);
      if (accepted.ok) {
        this.acknowledged.set(accepted.index, data);
        acknowledgedInto?.add(data);
      }
      this.guarded(node, (driver) => driver.flush());
      return;
    }
    this.guarded(node, (driver) => driver.propose(data, (answer) => {
      if (!answer.ok) return;
      this.acknowledged.set(answer.index, data);
      this.ackedIndexMax = Math.max(this.ackedIndexMax, answer.index);
      acknowledgedInto?.add(data);
      this.record(`${node.id} acknowledged ${data} at ${answer.index}`);
    }));
  }

  // ---- liveness -------------------------------------------------------------------------------------------------

  private enterLiveness(): void {
    this.faultsOn = false;
    this.heal();
    for (const node of this.nodes) {
      if (!node.started) continue;
      node.pausedUntilTick = 0;
      if (node.driver !== null) {
        node.driver.close();
        this.crash(node, 'stopped');
      }
      this.start(node);
    }
    this.record('liveness phase: network healed, every node restarted');
  }

  private runLiveness(): void {
    const deadline = this.tickNow + this.scenario.livenessTicksMax;
    let proposedAtTick = -Infinity;
    const acknowledgedNow = new Set<string>();
    for (; this.tickNow < deadline; this.tickNow += 1) {
      this.stepTick();
      if (acknowledgedNow.size > 0) return this.checkAcknowledgedKept();
      const leader = this.nodes.find((node) => node.driver?.softState.role === 'leader');
      // A leader that lost its office may never acknowledge; propose again, at most once per three election timeouts.
      if (leader !== undefined && this.tickNow - proposedAtTick > 3 * this.scenario.electionTicks) {
        this.propose(leader, acknowledgedNow);
        proposedAtTick = this.tickNow;
      }
    }
    throw new Violation(`liveness: no new proposal committed within ${this.scenario.livenessTicksMax} ticks of healing`);
  }

  /** After the liveness commit: every write ever acknowledged is applied, at its index, as acknowledged. */
  private checkAcknowledgedKept(): void {
    for (const [index, data] of this.acknowledged) {
      const applied = this.appliedEntries.get(index);
      if (applied === undefined || applied.slice(applied.indexOf(':') + 1) !== data) {
        throw new Violation(`acknowledged write lost: ${data} at index ${index}, applied there: ${applied ?? 'nothing'}`);
      }
    }
  }

  // ---- safety checks --------------------------------------------------------------------------------------------

  private checkLeaders(): void {
    for (const node of this.nodes) {
      if (node.driver === null || node.driver.node.currentRole !== 'leader') continue;
      const status = node.driver.node.status();
      const known = this.leaderByTerm.get(status.term);
      if (known === undefined) {
        this.leaderByTerm.set(status.term, node.id);
        this.checkLeaderCompleteness(node);
        if (this.handOver !== null && status.term > this.handOver.term) {
          if (this.handOver.target === node.id) this.handOversCompleted += 1;
          this.handOver = null;
        }
      } else if (known !== node.id) {
        throw new Violation(`Election Safety: ${known} and ${node.id} are both leaders of term ${status.term}`);
      }
    }
  }

  /** Every entry applied anywhere (so committed) must be in the log of every leader elected afterwards. */
  private checkLeaderCompleteness(leader: SimNode): void {
    const raft = leader.driver!.node;
    const status = raft.status();
    for (let index = status.snapshotIndex + 1; this.appliedTerms.has(index); index += 1) {
      const term = raft.termAt(index);
      if (term !== this.appliedTerms.get(index)) {
        throw new Violation(`Leader Completeness: leader ${leader.id} of term ${status.term} has term ${term} at committed index ${index} (committed term ${this.appliedTerms.get(index)})`);
      }
    }
  }

  /** If two logs hold an entry with the same index and term, they are identical up to it. */
  private checkLogMatching(): void {
    const live = this.nodes.filter((node) => node.driver !== null);
    for (let left = 0; left < live.length; left += 1) {
      for (let right = left + 1; right < live.length; right += 1) this.compareLogs(live[left]!, live[right]!);
    }
  }

  private compareLogs(left: SimNode, right: SimNode): void {
    const leftRaft = left.driver!.node;
    const rightRaft = right.driver!.node;
    const leftStatus = leftRaft.status();
    const rightStatus = rightRaft.status();
    const low = Math.max(leftStatus.snapshotIndex, rightStatus.snapshotIndex) + 1;
    let index = Math.min(leftStatus.lastIndex, rightStatus.lastIndex);
    while (index >= low && leftRaft.termAt(index) !== rightRaft.termAt(index)) index -= 1;
    if (index < low) return;
    const leftEntries = leftRaft.entriesBetween(low, index);
    const rightEntries = rightRaft.entriesBetween(low, index);
    for (let position = 0; position < leftEntries.length; position += 1) {
      const leftEntry = leftEntries[position]!;
      const rightEntry = rightEntries[position]!;
      if (leftEntry.term !== rightEntry.term || leftEntry.data !== rightEntry.data) {
        throw new Violation(`Log Matching: ${left.id} and ${right.id} agree at index ${index} but differ at ${leftEntry.index}`);
      }
    }
  }

  private record(event: string): void {
    const line = `t${this.tickNow} ${event}`;
    if (this.verbose !== null) this.verbose(line);
    this.trace.push(line);
    if (this.trace.length > traceLengthMax) this.trace.shift();
  }
}

function carriesOwnTermEntry(message: WireMessage): boolean {
  return message.type === 'append' && message.entries.some((entry) => entry.term === message.term);
}

function mixHash(hash: number, index: number, data: string): number {
  let mixed = Math.imul(hash ^ index, 2654435761) >>> 0;
  for (let position = 0; position < data.length; position += 1) mixed = Math.imul(mixed ^ data.charCodeAt(position), 16777619) >>> 0;
  return mixed;
}

export function describeMessage(message: WireMessage): string {
  const head = `${message.type} ${message.from}→${message.to} t${message.term}`;
  switch (message.type) {
    case 'append':
      return `${head} prev=${message.prevIndex}/${message.prevTerm} n=${message.entries.length} commit=${message.commit}`;
    case 'appendResponse':
      return `${head} ${message.reject ? 'reject' : 'ok'} index=${message.index} hint=${message.hintIndex}/${message.hintTerm}`;
    case 'vote':
    case 'preVote':
      return `${head} last=${message.lastLogIndex}/${message.lastLogTerm}`;
    case 'voteResponse':
    case 'preVoteResponse':
      return `${head} ${message.reject ? 'reject' : 'grant'}`;
    case 'heartbeat':
      return `${head} commit=${message.commit} ctx=${message.context}`;
    case 'installSnapshot':
      return `${head} at=${message.snapshot.meta.index}/${message.snapshot.meta.term}`;
    case 'readIndexResponse':
      return `${head} ${message.context} index=${message.index} ${message.reject ? 'reject' : 'ok'}`;
    case 'snapshotChunk':
      return `${head} at=${message.index}/${message.snapshotTerm} offset=${message.offset} n=${message.data.length} of ${message.length}`;
    case 'snapshotChunkAck':
      return `${head} at=${message.index}/${message.snapshotTerm} offset=${message.offset}${message.refused === null ? '' : ` refused=${message.refused}`}`;
    default:
      return head;
  }
}

export function runSimulation(scenario: Scenario, verbose: ((line: string) => void) | null = null): SimulationResult {
  return new Simulation(scenario, verbose).run();
}
