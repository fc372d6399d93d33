// The deterministic simulator: the production Raft core driven by a faithful model of its driver, over a simulated
// network (loss, duplication, delay and reordering, symmetric and one-way partitions) with simulated crashes that
// lose everything not yet persisted, leadership transfers and graceful stops (an urgent transfer to the best
// follower, then the old leader goes down), and, for the figure8 family, leaders doomed to crash soon after they
// append and appends of the sender's own term lost more often than older ones. One seed decides everything; the
// same seed always gives the same run.
//
// Checks after every step: Election Safety, Log Matching, Leader Completeness, State Machine Safety, and that every
// ReadIndex read saw every write acknowledged before the read began. Then a liveness phase heals the network,
// restarts every node and requires a new proposal to commit within a bound.
import { RaftNode } from '../core/node.js';
import { sendsBeforePersist } from '../core/send-order.js';
import type { Entry, HardState, Message, NodeId, Ready, Snapshot } from '../types.js';
import { SeededRandom } from './random.js';
import type { Scenario } from './scenario.js';

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
}

interface Disk {
  hardState: HardState;
  snapshot: Snapshot | null;
  entries: Entry[];
}

interface SimNode {
  readonly id: NodeId;
  raft: RaftNode | null;
  readonly disk: Disk;
  appliedIndex: number;
  stateHash: number;
  downUntilTick: number;
  /** A leader doomed after appending crashes at this tick; -1 when no crash is scheduled. */
  crashAtTick: number;
  /** Set when a crash was decided: the stage of the next Ready processing at which the node dies. */
  crashStage: 'beforePersist' | 'beforeSend' | 'beforeApply' | null;
  readsWaiting: { context: string; index: number }[];
  /** An image being built since the leader asked for one (snapshotWanted): the state read then, and when it is done. */
  imageBuild: { readonly readyAtTick: number; readonly index: number; readonly data: string } | null;
}

interface ClientRead {
  readonly node: NodeId;
  readonly ackedIndexAtStart: number;
}

interface ClientWrite {
  readonly proposer: NodeId;
  readonly index: number;
  readonly term: number;
}

class Violation extends Error {}

const traceLengthMax = 30;

export class Simulation {
  private readonly random: SeededRandom;
  private readonly nodes: SimNode[];
  private readonly inTransit = new Map<number, Message[]>();
  private readonly cutLinks = new Set<string>();
  private healPartitionAtTick = -1;
  private tickNow = 0;
  private faultsOn = true;
  private readonly trace: string[] = [];
  private readonly leaderByTerm = new Map<number, NodeId>();
  /** index → "term:data" of the entry applied there by the first node that applied it. */
  private readonly appliedEntries = new Map<number, string>();
  private readonly appliedTerms = new Map<number, number>();
  private readonly hashAtIndex = new Map<number, number>();
  private readonly writes = new Map<string, ClientWrite>();
  private readonly reads = new Map<string, ClientRead>();
  private ackedIndexMax = 0;
  private writeCounter = 0;
  private readCounter = 0;
  private readsServed = 0;
  private lastAckedWrite: string | null = null;
  private handOversStarted = 0;
  private handOversCompleted = 0;
  /** The hand-over in progress: it completes when `target` is the first leader of a term after `term`. */
  private handOver: { readonly target: NodeId; readonly term: number } | null = null;

  constructor(private readonly scenario: Scenario, private readonly verbose: ((line: string) => void) | null = null) {
    this.random = new SeededRandom(scenario.seed);
    this.nodes = [];
    for (let number = 1; number <= scenario.nodeCount; number += 1) {
      const disk: Disk = { hardState: { term: 0, vote: null, commit: 0 }, snapshot: null, entries: [] };
      this.nodes.push({ id: `n${number}`, raft: null, disk, appliedIndex: 0, stateHash: 0, downUntilTick: 0, crashAtTick: -1, crashStage: null, readsWaiting: [], imageBuild: null });
    }
    for (const node of this.nodes) this.start(node);
  }

  run(): SimulationResult {
    let violation: string | null = null;
    try {
      for (; this.tickNow < this.scenario.safetyTicks; this.tickNow += 1) this.stepTick();
      this.enterLiveness();
      this.runLiveness();
    } catch (error) {
      const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      violation = error instanceof Violation ? error.message : `core threw ${text}`;
      this.record(`VIOLATION ${violation}`);
    }
    return { violation, trace: [...this.trace], ticks: this.tickNow, committed: this.appliedEntries.size, readsServed: this.readsServed,
      handOversStarted: this.handOversStarted, handOversCompleted: this.handOversCompleted };
  }

  // ---- one tick ---------------------------------------------------------------------------------------------------

  private stepTick(): void {
    if (this.faultsOn) this.injectFaults();
    for (const node of this.nodes) {
      if (node.raft === null) continue;
      this.tickChecked(node.id, node.raft);
      this.drive(node);
      this.buildImage(node);
    }
    this.deliverDue();
    if (this.faultsOn) this.clientTraffic();
    this.checkLeaders();
    if (this.tickNow % 10 === 0) this.checkLogMatching();
  }

  /**
   * Ticks a node and holds it to ticksUntilDue(): a tick before the due one must only count (no output, no change
   * of role), since the replica's driver sleeps through such ticks and applies them later together.
   */
  private tickChecked(id: NodeId, raft: RaftNode): void {
    const due = raft.ticksUntilDue();
    const quiet = !raft.hasReady();
    const role = raft.status().role;
    raft.tick();
    if (due > 1 && quiet && (raft.hasReady() || raft.status().role !== role)) {
      throw new Violation(`${id} acted on a tick ${due - 1} before the one ticksUntilDue() named`);
    }
  }

  private deliverDue(): void {
    const due = this.inTransit.get(this.tickNow);
    if (due === undefined) return;
    this.inTransit.delete(this.tickNow);
    for (const message of due) {
      const target = this.nodes.find((node) => node.id === message.to)!;
      if (target.raft === null) continue;
      if (this.verbose !== null) this.record(`deliver ${describeMessage(message)}`);
      target.raft.step(message);
      this.drive(target);
      this.buildImage(target);
    }
  }

  private send(message: Message): void {
    if (this.cutLinks.has(`${message.from}>${message.to}`)) return;
    if (this.faultsOn && this.random.chance(this.scenario.lossProbability)) return;
    if (this.faultsOn && carriesOwnTermEntry(message) && this.random.chance(this.scenario.ownTermAppendLossProbability)) {
      if (this.verbose !== null) this.record(`lost ${describeMessage(message)}`);
      return;
    }
    const copies = this.faultsOn && this.random.chance(this.scenario.duplicateProbability) ? 2 : 1;
    for (let copy = 0; copy < copies; copy += 1) {
      const deliverTick = this.tickNow + this.random.integer(1, this.scenario.delayTicksMax);
      const bucket = this.inTransit.get(deliverTick);
      if (bucket === undefined) this.inTransit.set(deliverTick, [message]);
      else bucket.push(message);
    }
  }

  // ---- the driver, modelled on the production one -----------------------------------------------------------------

  private drive(node: SimNode): void {
    for (let rounds = 0; node.raft !== null && node.raft.hasReady(); rounds += 1) {
      if (rounds > 100) throw new Violation(`${node.id} produced Ready batches without end`);
      const raft = node.raft;
      const ready = raft.ready();
      // As production: a leader sends before its write, so a crash "before persist" loses entries it has sent.
      const sendFirst = sendsBeforePersist(raft.status().role, ready, node.disk.hardState);
      if (sendFirst) for (const message of ready.messages) this.send(message);
      if (node.crashStage === 'beforePersist') return this.crash(node);
      this.persist(node, ready);
      this.maybeDoomLeader(node, ready);
      if (node.crashStage === 'beforeSend') return this.crash(node);
      if (!sendFirst) for (const message of ready.messages) this.send(message);
      if (node.crashStage === 'beforeApply') return this.crash(node);
      this.apply(node, ready);
      raft.advance(ready);
      this.serveReads(node);
      this.maybeCompact(node);
    }
  }

  private persist(node: SimNode, ready: Ready): void {
    const disk = node.disk;
    if (ready.snapshot !== null) {
      disk.snapshot = ready.snapshot;
      disk.entries = []; // an installed snapshot replaces the whole log
    }
    if (ready.entries.length > 0) {
      const firstIndex = ready.entries[0]!.index;
      disk.entries = disk.entries.filter((entry) => entry.index < firstIndex).concat(ready.entries);
    }
    if (ready.hardState !== null) disk.hardState = ready.hardState;
    if (ready.softState?.role === 'leader') this.record(`${node.id} became leader in term ${node.raft!.status().term}`);
  }

  private apply(node: SimNode, ready: Ready): void {
    if (ready.snapshot !== null) {
      const meta = ready.snapshot.meta;
      node.stateHash = Number(ready.snapshot.data);
      node.appliedIndex = meta.index;
      this.checkHash(node, meta.index);
      this.record(`${node.id} installed snapshot at ${meta.index}`);
    }
    for (const entry of ready.committedEntries) this.applyEntry(node, entry);
    for (const readState of ready.readStates) node.readsWaiting.push({ context: readState.context, index: readState.index });
    for (const failure of ready.readFailures) this.reads.delete(failure.context);
  }

  private applyEntry(node: SimNode, entry: Entry): void {
    if (entry.index !== node.appliedIndex + 1) {
      throw new Violation(`${node.id} applied index ${entry.index} after ${node.appliedIndex}`);
    }
    const key = `${entry.term}:${entry.data}`;
    const previous = this.appliedEntries.get(entry.index);
    if (previous === undefined) {
      this.appliedEntries.set(entry.index, key);
      this.appliedTerms.set(entry.index, entry.term);
    } else if (previous !== key) {
      throw new Violation(`State Machine Safety: ${node.id} applied ${key} at index ${entry.index}, another node applied ${previous}`);
    }
    node.appliedIndex = entry.index;
    node.stateHash = mixHash(node.stateHash, entry.index, entry.data);
    this.checkHash(node, entry.index);
    const write = this.writes.get(entry.data);
    if (write !== undefined && write.proposer === node.id && write.index === entry.index && write.term === entry.term) {
      this.writes.delete(entry.data);
      this.ackedIndexMax = Math.max(this.ackedIndexMax, entry.index);
      this.lastAckedWrite = entry.data;
      this.record(`${node.id} acknowledged ${entry.data} at ${entry.index}`);
    }
  }

  private checkHash(node: SimNode, index: number): void {
    const known = this.hashAtIndex.get(index);
    if (known === undefined) this.hashAtIndex.set(index, node.stateHash);
    else if (known !== node.stateHash) throw new Violation(`State Machine Safety: ${node.id} state hash differs at index ${index}`);
  }

  private serveReads(node: SimNode): void {
    const remaining: { context: string; index: number }[] = [];
    for (const waiting of node.readsWaiting) {
      if (waiting.index > node.appliedIndex) {
        remaining.push(waiting);
        continue;
      }
      const read = this.reads.get(waiting.context);
      if (read === undefined) continue;
      this.reads.delete(waiting.context);
      this.readsServed += 1;
      if (node.appliedIndex < read.ackedIndexAtStart) {
        throw new Violation(`linearizable read: ${node.id} served ${waiting.context} at applied ${node.appliedIndex} (read index ${waiting.index}) but a write acknowledged before the read is at ${read.ackedIndexAtStart}`);
      }
    }
    node.readsWaiting = remaining;
  }

  /** As production: the state stays with the application (here, on the simulated disk); the core drops its log. */
  private maybeCompact(node: SimNode): void {
    const raft = node.raft!;
    const snapshotIndex = raft.status().snapshotIndex;
    if (node.appliedIndex - snapshotIndex < this.scenario.compactEveryEntries) return;
    const term = raft.termAt(node.appliedIndex)!;
    const snapshot: Snapshot = { meta: { index: node.appliedIndex, term, peers: this.nodes.map((each) => each.id) }, data: String(node.stateHash) };
    node.disk.snapshot = snapshot;
    node.disk.entries = node.disk.entries.filter((entry) => entry.index > snapshot.meta.index);
    raft.compact(snapshot.meta.index);
  }

  /**
   * As production: when the leader wants an image for a follower behind its log, one is read from the state as
   * applied then and offered some ticks later, while entries keep committing and the log may be compacted past it
   * (then the core refuses it and asks again).
   */
  private buildImage(node: SimNode): void {
    const raft = node.raft;
    if (raft === null) return;
    if (node.imageBuild === null) {
      if (!raft.snapshotWanted()) return;
      const readyAtTick = this.tickNow + this.random.integer(0, this.scenario.imageBuildTicksMax);
      node.imageBuild = { readyAtTick, index: node.appliedIndex, data: String(node.stateHash) };
      if (readyAtTick > this.tickNow) return;
    }
    if (this.tickNow < node.imageBuild.readyAtTick) return;
    const { data } = node.imageBuild;
    const index = this.scenario.imageLabelledAtOffer === true ? node.appliedIndex : node.imageBuild.index;
    node.imageBuild = null;
    const offered = raft.offerSnapshot(index, data);
    this.record(`${node.id} ${offered ? 'offered' : 'could not offer'} an image at ${index}`);
    this.drive(node);
  }

  // ---- crashes and restarts -------------------------------------------------------------------------------------

  private start(node: SimNode): void {
    const disk = node.disk;
    const snapshotIndex = disk.snapshot?.meta.index ?? 0;
    node.raft = new RaftNode({
      id: node.id, peers: this.nodes.map((each) => each.id), electionTicks: this.scenario.electionTicks,
      heartbeatTicks: this.scenario.heartbeatTicks, random: this.random.fork(), preVote: this.scenario.preVote,
      checkQuorum: this.scenario.checkQuorum, maxEntriesPerAppend: this.scenario.maxEntriesPerAppend,
      maxInflightAppends: this.scenario.maxInflightAppends, maxUncommittedEntries: 64, testingBugs: this.scenario.bugs,
    }, { hardState: disk.hardState, snapshot: disk.snapshot?.meta ?? null, entries: [...disk.entries] });
    node.appliedIndex = snapshotIndex;
    node.stateHash = disk.snapshot === null ? 0 : Number(disk.snapshot.data);
    node.crashStage = null;
    node.crashAtTick = -1;
    node.readsWaiting = [];
    node.imageBuild = null;
    this.record(`${node.id} started (term ${disk.hardState.term}, ${disk.entries.length} entries, snapshot ${snapshotIndex})`);
  }

  private crash(node: SimNode): void {
    this.record(`${node.id} crashed (${node.crashStage ?? 'between steps'})`);
    node.raft = null;
    node.crashStage = null;
    node.crashAtTick = -1;
    node.readsWaiting = [];
    node.downUntilTick = this.tickNow + this.random.integer(1, this.scenario.downTicksMax);
  }

  private injectFaults(): void {
    for (const node of this.nodes) {
      if (node.raft === null && this.tickNow >= node.downUntilTick) this.start(node);
      else if (node.raft !== null && node.crashAtTick >= 0 && this.tickNow >= node.crashAtTick) this.crash(node);
    }
    if (this.random.chance(this.scenario.transferProbability)) this.startHandOver();
    if (this.random.chance(this.scenario.crashProbability)) {
      const node = this.random.pick(this.nodes);
      if (node.raft !== null && node.crashStage === null) {
        node.crashStage = this.random.pick(['beforePersist', 'beforeSend', 'beforeApply'] as const);
        if (!node.raft.hasReady() && this.random.chance(0.5)) this.crash(node);
      }
    }
    if (this.tickNow === this.healPartitionAtTick) this.heal();
    if (this.cutLinks.size === 0 && this.random.chance(this.scenario.partitionProbability)) this.partition();
  }

  private partition(): void {
    const ids = this.nodes.map((node) => node.id);
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
    if (node.raft!.status().role !== 'leader') return;
    if (!this.random.chance(this.scenario.leaderCrashAfterAppendProbability)) return;
    node.crashAtTick = this.tickNow + this.random.integer(1, this.scenario.leaderCrashDelayTicksMax);
    this.record(`${node.id} will crash at t${node.crashAtTick} (leader after appending up to ${ready.entries[ready.entries.length - 1]!.index})`);
  }

  /**
   * The leader hands over: either an ordinary transfer to a random follower, or a graceful stop as the replica
   * adapter does it (urgent transfer to the best-placed follower, flush, then the old leader goes down).
   */
  private startHandOver(): void {
    const leader = this.nodes.find((node) => node.raft?.status().role === 'leader');
    if (leader === undefined) return;
    const raft = leader.raft!;
    if (this.random.chance(this.scenario.gracefulStopShare)) {
      const target = raft.transferTarget();
      if (target === null) return;
      raft.transferLeadership(target, true);
      this.noteHandOver(target, raft.status().term);
      this.record(`${leader.id} stops gracefully, handing over to ${target}`);
      this.drive(leader);
      if (leader.raft !== null) this.crash(leader);
      return;
    }
    const target = this.random.pick(this.nodes.filter((node) => node !== leader)).id;
    if (raft.transferLeadership(target)) {
      this.noteHandOver(target, raft.status().term);
      this.record(`${leader.id} transfers leadership to ${target}`);
    }
    this.drive(leader);
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
      if (node.raft !== null) this.propose(node);
    }
    if (this.random.chance(this.scenario.readProbability)) {
      const node = this.random.pick(this.nodes);
      if (node.raft !== null) {
        const context = `r${++this.readCounter}`;
        this.reads.set(context, { node: node.id, ackedIndexAtStart: this.ackedIndexMax });
        node.raft.readIndex(context);
        this.drive(node);
      }
    }
  }

  private propose(node: SimNode): boolean {
    const data = `w${++this.writeCounter}`;
    const result = node.raft!.propose(data);
    if (!result.ok) return false;
    this.writes.set(data, { proposer: node.id, index: result.index, term: result.term });
    if (this.verbose !== null) this.record(`${node.id} proposed ${data} at ${result.index} term ${result.term}`);
    this.drive(node);
    return true;
  }

  // ---- liveness -------------------------------------------------------------------------------------------------

  private enterLiveness(): void {
    this.faultsOn = false;
    this.heal();
    for (const node of this.nodes) {
      if (node.raft !== null) this.crash(node);
      this.start(node);
    }
    this.record('liveness phase: network healed, every node restarted');
  }

  private runLiveness(): void {
    const deadline = this.tickNow + this.scenario.livenessTicksMax;
    let proposedAtTick = -Infinity;
    const proposals = new Set<string>();
    for (; this.tickNow < deadline; this.tickNow += 1) {
      this.stepTick();
      if (this.lastAckedWrite !== null && proposals.has(this.lastAckedWrite)) return;
      const leader = this.nodes.find((node) => node.raft?.status().role === 'leader');
      // A leader that lost its office may never acknowledge; propose again, at most once per three election timeouts.
      if (leader !== undefined && this.tickNow - proposedAtTick > 3 * this.scenario.electionTicks) {
        if (this.propose(leader)) {
          proposals.add(`w${this.writeCounter}`);
          proposedAtTick = this.tickNow;
        }
      }
    }
    throw new Violation(`liveness: no new proposal committed within ${this.scenario.livenessTicksMax} ticks of healing`);
  }

  // ---- safety checks --------------------------------------------------------------------------------------------

  private checkLeaders(): void {
    for (const node of this.nodes) {
      const status = node.raft?.status();
      if (status === undefined || status.role !== 'leader') continue;
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
    const raft = leader.raft!;
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
    const live = this.nodes.filter((node) => node.raft !== null);
    for (let left = 0; left < live.length; left += 1) {
      for (let right = left + 1; right < live.length; right += 1) this.compareLogs(live[left]!, live[right]!);
    }
  }

  private compareLogs(left: SimNode, right: SimNode): void {
    const leftStatus = left.raft!.status();
    const rightStatus = right.raft!.status();
    const low = Math.max(leftStatus.snapshotIndex, rightStatus.snapshotIndex) + 1;
    let index = Math.min(leftStatus.lastIndex, rightStatus.lastIndex);
    while (index >= low && left.raft!.termAt(index) !== right.raft!.termAt(index)) index -= 1;
    if (index < low) return;
    const leftEntries = left.raft!.entriesBetween(low, index);
    const rightEntries = right.raft!.entriesBetween(low, index);
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

function carriesOwnTermEntry(message: Message): boolean {
  return message.type === 'append' && message.entries.some((entry) => entry.term === message.term);
}

function mixHash(hash: number, index: number, data: string): number {
  let mixed = Math.imul(hash ^ index, 2654435761) >>> 0;
  for (let position = 0; position < data.length; position += 1) mixed = Math.imul(mixed ^ data.charCodeAt(position), 16777619) >>> 0;
  return mixed;
}

export function describeMessage(message: Message): string {
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
    default:
      return head;
  }
}

export function runSimulation(scenario: Scenario, verbose: ((line: string) => void) | null = null): SimulationResult {
  return new Simulation(scenario, verbose).run();
}
