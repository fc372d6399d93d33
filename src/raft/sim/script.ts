// Scenario scripts for the Raft core, in the manner of etcd's raft testdata: a text file of commands, each
// followed by `----` and the output it is expected to produce. `runScript(text)` executes the commands against real
// RaftNodes, each run by the production replica driver (../driver.ts: the same processing loop, identity checks and
// images) over simulated storage (./storage.ts) on an in-memory network, and returns the same text with the actual
// output in place of the expected one, so a test compares the two and a deliberate change of behaviour is recorded
// by writing the result back. Inputs (propose, read-index, transfer) go to the core by hand, as the commands name
// them; the driver runs the loop after each.
//
// Format: lines starting with `#` and blank lines are kept as they are. A case is a command line, a `----` line,
// and output lines up to the next blank line. Output never contains a blank line.
//
// Commands (node ids are n1..nN; `key=value` options):
//   add-nodes N [pre-vote=true] [check-quorum=true] [batch=64] [inflight=4] [election=10] [heartbeat=1] [bugs=a,b]
//       nodes time out after election+k-1 ticks for node k, so scripts decide who campaigns first.
//   tick ID [N]        tick one node N times (default 1)      tick-all [N]  tick every running node N times
//   campaign ID        tick one node until it starts a new campaign (at most three election timeouts)
//   propose ID DATA    read-index ID CONTEXT    transfer FROM TO [urgent]    compact ID (at its applied index)
//   deliver [from=ID] [to=ID] [type=T]   deliver the matching messages queued now, once (their replies wait)
//   discard [from=ID] [to=ID] [type=T]   drop the matching queued messages
//   stabilize          deliver until no message is left (bounded)
//   isolate ID...      drop every message to or from them at delivery     heal   undo every isolate
//   crash ID           stop a node (its disk stays, applied state included, as a process crash leaves it)
//   restart ID         rebuild it from its disk
//   status [ID...]     log ID
// Pure: no I/O, no clock; the same script always gives the same output.
import type { WireMessage } from '../snapshot-stream.js';
import type { RaftConfig, RaftNode } from '../core/node.js';
import { ReplicaDriver } from '../driver.js';
import { clusterIdFor, establishIdentity, type RaftEnvelope } from '../identity.js';
import type { Entry, NodeId, Ready } from '../types.js';
import { rulesWith, type CoreBug, type CoreBugs } from './core-bugs.js';
import { describeMessage } from './simulation.js';
import { SimDisk, SimMarker, SimStorage, type SimApplier } from './storage.js';

export class ScriptError extends Error {
  constructor(line: number, message: string) {
    super(`script line ${line}: ${message}`);
    this.name = 'ScriptError';
  }
}

interface ScriptNode {
  readonly id: NodeId;
  driver: ReplicaDriver | null;
  readonly disk: SimDisk;
  /** Term and vote last printed, so that a change is printed once. */
  shown: { term: number; vote: NodeId | null };
}

/** The scripts' application state: only the index applied, and images named after it. */
const indexApplier: SimApplier = {
  apply: (_state, entry) => ({ state: entry.index, result: null }),
  restore: () => 0,
  image: (_state, lastApplied) => `state@${lastApplied}`,
  query: (_state, lastApplied) => lastApplied,
};

interface Command {
  readonly name: string;
  readonly positional: readonly string[];
  readonly options: ReadonlyMap<string, string>;
  readonly line: number;
}

const stabilizeRoundsMax = 10_000;
const campaignTicksFactor = 3;
const bugNames: readonly CoreBug[] = ['voteTwice', 'commitPreviousTermByCounting', 'followerReadWithoutReadIndex'];

/** Runs every case of `text` and returns the text with each case's output replaced by what the run produced. */
export function runScript(text: string): string {
  const harness = new ScriptHarness();
  const lines = text.split('\n');
  const result: string[] = [];
  let position = 0;
  while (position < lines.length) {
    const line = lines[position]!;
    if (line.trim() === '' || line.startsWith('#')) {
      result.push(line);
      position += 1;
      continue;
    }
    if (lines[position + 1] !== '----') throw new ScriptError(position + 1, `"${line}" must be followed by a ---- line`);
    const output = harness.execute(parseCommand(line, position + 1));
    result.push(line, '----', ...(output.length === 0 ? ['ok'] : output));
    position += 2;
    while (position < lines.length && lines[position]!.trim() !== '') position += 1;
  }
  return result.join('\n');
}

function parseCommand(line: string, lineNumber: number): Command {
  const words = line.trim().split(/\s+/);
  const positional: string[] = [];
  const options = new Map<string, string>();
  for (const word of words.slice(1)) {
    const equals = word.indexOf('=');
    if (equals > 0) options.set(word.slice(0, equals), word.slice(equals + 1));
    else positional.push(word);
  }
  return { name: words[0]!, positional, options, line: lineNumber };
}

class ScriptHarness {
  private nodes: ScriptNode[] = [];
  private configOf: (id: NodeId) => RaftConfig = () => { throw new Error('no nodes yet'); };
  private queue: RaftEnvelope[] = [];
  private deferred: { readonly node: ScriptNode; readonly driver: ReplicaDriver; readonly task: () => void }[] = [];
  private clusterId = '';
  private replicaIds = 0;
  private electionTicks = 10;
  private readonly isolated = new Set<NodeId>();
  private output: string[] = [];

  execute(command: Command): string[] {
    this.output = [];
    try {
      this.dispatch(command);
    } catch (error) {
      if (error instanceof ScriptError) throw error;
      this.output.push(`error: ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`);
    }
    return this.output;
  }

  private dispatch(command: Command): void {
    const [first, second] = command.positional;
    switch (command.name) {
      case 'add-nodes': return this.addNodes(command);
      case 'tick': return this.tick(this.node(command, first), count(command, second, 1));
      case 'tick-all': return this.tickAll(count(command, first, 1));
      case 'campaign': return this.campaign(this.node(command, first));
      case 'propose': return this.propose(this.running(command, first), required(command, second, 'data'));
      case 'read-index': return this.readIndex(this.running(command, first), required(command, second, 'context'));
      case 'transfer': return this.transfer(this.running(command, first), required(command, second, 'target'), command.positional[2] === 'urgent');
      case 'compact': return this.compact(this.running(command, first));
      case 'deliver': return this.deliver(messageFilter(command));
      case 'discard': return this.discard(messageFilter(command));
      case 'stabilize': return this.stabilize(command);
      case 'isolate': return this.isolate(command);
      case 'heal': return this.heal();
      case 'crash': return this.crash(this.node(command, first));
      case 'restart': return this.restart(this.node(command, first));
      case 'status': return this.printStatus(command.positional.length === 0 ? this.nodes : command.positional.map((id) => this.node(command, id)));
      case 'log': return this.printLog(this.node(command, first));
      default: throw new ScriptError(command.line, `unknown command "${command.name}"`);
    }
  }

  // ---- set-up -----------------------------------------------------------------------------------------------------

  private addNodes(command: Command): void {
    const nodeCount = count(command, command.positional[0], 3);
    if (nodeCount !== 3 && nodeCount !== 5) throw new ScriptError(command.line, 'add-nodes takes 3 or 5');
    const peers = Array.from({ length: nodeCount }, (_, offset) => `n${offset + 1}`);
    const electionTicks = count(command, command.options.get('election'), 10);
    this.electionTicks = electionTicks;
    const flag = (name: string, fallback: boolean): boolean => (command.options.get(name) ?? String(fallback)) === 'true';
    const bugs = parseBugs(command);
    this.configOf = (id) => ({
      id, peers, electionTicks, heartbeatTicks: count(command, command.options.get('heartbeat'), 1),
      // Node k times out after electionTicks + k - 1 ticks: a fixed order that scripts can rely on.
      random: ((offset: number) => () => offset / electionTicks)(Math.min(Number(id.slice(1)) - 1, electionTicks - 1)),
      preVote: flag('pre-vote', true), checkQuorum: flag('check-quorum', true),
      maxEntriesPerAppend: count(command, command.options.get('batch'), 64), maxInflightAppends: count(command, command.options.get('inflight'), 4),
      maxUncommittedEntries: 100, rules: rulesWith(bugs),
    });
    this.queue = [];
    this.isolated.clear();
    this.clusterId = clusterIdFor('script', peers);
    this.nodes = peers.map((id) => ({ id, driver: null, disk: new SimDisk(), shown: { term: 0, vote: null } }));
    for (const node of this.nodes) this.start(node);
    this.printStatus(this.nodes);
  }

  private start(node: ScriptNode): void {
    const storage = new SimStorage(node.id, node.disk, indexApplier);
    const loaded = storage.load();
    const established = establishIdentity({
      store: storage, marker: new SimMarker(node.disk), clusterId: this.clusterId,
      newReplicaId: () => `${node.id}r${++this.replicaIds}`, nowIso: () => 'script',
    });
    const { id: _id, peers, applied: _applied, ...raft } = this.configOf(node.id);
    const silent = (): void => {};
    const driver: ReplicaDriver = new ReplicaDriver({
      name: node.id, peers, raft, persisted: loaded.persisted, identity: established.identity, storage,
      // No clock: ticks are the script's own (tickOnce), and the timer is never armed.
      time: { nowMs: () => 0, armTick: silent, defer: (task) => { this.deferred.push({ node, driver, task }); } },
      transport: { send: (_to, envelope) => { this.queue.push(envelope); } },
      images: { start: (done) => { done({ ok: true, ...storage.image() }); return true; }, cancel: silent },
      log: { debug: silent, info: silent, warn: silent, error: silent },
      hooks: {
        persisted: (ready) => this.persisted(node, ready),
        appliedReady: (ready) => this.applied(node, ready),
        imageOffered: (index, offered) => {
          this.output.push(`${node.id} ${offered ? 'built' : 'could not offer'} an image at ${index}/${driver.node.termAt(index) ?? '?'}`);
        },
      },
      tickMs: 1, bootId: 'script', snapshotEntriesInterval: Number.POSITIVE_INFINITY, readsPendingMax: 1024,
      proposalsPendingMax: 1024, refusalLogIntervalMs: 0,
    });
    node.driver = driver;
    node.shown = { term: node.disk.hardState.term, vote: node.disk.hardState.vote };
  }

  // ---- inputs -----------------------------------------------------------------------------------------------------

  private tick(node: ScriptNode, times: number): void {
    const driver = this.driverOf(node);
    for (let tick = 0; tick < times; tick += 1) {
      driver.tickOnce();
      this.drain();
    }
  }

  private tickAll(times: number): void {
    for (let tick = 0; tick < times; tick += 1) {
      for (const node of this.nodes) if (node.driver !== null) this.tick(node, 1);
    }
  }

  private campaign(node: ScriptNode): void {
    const raft = this.raftOf(node);
    const ticksMax = campaignTicksFactor * this.electionTicks;
    const before = raft.status();
    const campaigning = (): boolean => {
      const now = raft.status();
      if (now.role === 'preCandidate') return before.role !== 'preCandidate';
      return now.role === 'candidate' && now.term > before.term;
    };
    let ticks = 0;
    for (; !campaigning() && raft.status().role !== 'leader' && ticks < ticksMax; ticks += 1) {
      this.driverOf(node).tickOnce();
      this.drain();
    }
    this.output.unshift(`${node.id} ticked ${ticks} times`);
  }

  private propose(node: ScriptNode, data: string): void {
    const result = this.raftOf(node).propose(data);
    if (result.ok) this.output.push(`${node.id} proposed ${data} at ${result.index}/${result.term}`);
    else this.output.push(`${node.id} refused ${data}: ${result.error} (leader ${result.leader ?? 'unknown'})`);
    this.flush(node);
  }

  private readIndex(node: ScriptNode, context: string): void {
    this.raftOf(node).readIndex(context);
    this.flush(node);
  }

  private transfer(node: ScriptNode, target: NodeId, urgent: boolean): void {
    const started = this.raftOf(node).transferLeadership(target, urgent);
    this.output.push(`${node.id} ${started ? 'transfers' : 'cannot transfer'} leadership to ${target}${urgent ? ' (urgent)' : ''}`);
    this.flush(node);
  }

  private compact(node: ScriptNode): void {
    const driver = this.driverOf(node);
    const index = driver.lastApplied;
    const term = driver.node.termAt(index);
    if (term === undefined) throw new Error(`${node.id} cannot compact at ${index}`);
    driver.compactNow();
    this.output.push(`${node.id} compacted its log up to ${index}/${term}`);
  }

  private crash(node: ScriptNode): void {
    this.driverOf(node);
    node.driver = null;
    node.disk.crash(node.disk.deferred.length, false);
    this.output.push(`${node.id} crashed`);
  }

  private restart(node: ScriptNode): void {
    if (node.driver !== null) throw new Error(`${node.id} is running`);
    this.start(node);
    this.printStatus([node]);
  }

  // ---- the network ------------------------------------------------------------------------------------------------

  private deliver(filter: (message: WireMessage) => boolean): void {
    const chosen = this.queue.filter((envelope) => filter(envelope.message));
    this.queue = this.queue.filter((envelope) => !filter(envelope.message));
    for (const envelope of chosen) this.deliverOne(envelope);
  }

  private deliverOne(envelope: RaftEnvelope): void {
    const message = envelope.message;
    const target = this.nodes.find((node) => node.id === message.to);
    if (target === undefined) throw new Error(`message to unknown node ${message.to}`);
    if (this.isolated.has(message.from) || this.isolated.has(message.to)) {
      this.output.push(`dropped ${formatMessage(message)} (isolated)`);
      return;
    }
    if (target.driver === null) {
      this.output.push(`dropped ${formatMessage(message)} (${target.id} is down)`);
      return;
    }
    this.output.push(formatMessage(message));
    target.driver.receive(envelope, message.from);
    this.drain();
  }

  private discard(filter: (message: WireMessage) => boolean): void {
    for (const envelope of this.queue) if (filter(envelope.message)) this.output.push(`dropped ${formatMessage(envelope.message)}`);
    this.queue = this.queue.filter((envelope) => !filter(envelope.message));
  }

  private stabilize(command: Command): void {
    for (let rounds = 0; this.queue.length > 0; rounds += 1) {
      if (rounds >= stabilizeRoundsMax) throw new ScriptError(command.line, `no quiet network after ${stabilizeRoundsMax} messages`);
      this.deliverOne(this.queue.shift()!);
    }
  }

  private isolate(command: Command): void {
    for (const id of command.positional) this.isolated.add(this.node(command, id).id);
    this.output.push(`isolated: ${[...this.isolated].sort().join(' ')}`);
  }

  private heal(): void {
    this.isolated.clear();
    this.output.push('healed');
  }

  // ---- the loop is the driver's: flush it, then run what it deferred, and print what it did ---------------------

  private flush(node: ScriptNode): void {
    this.driverOf(node).flush();
    this.drain();
  }

  /** Runs the work the drivers deferred to the end of the turn, until there is none (bounded). */
  private drain(): void {
    for (let rounds = 0; this.deferred.length > 0; rounds += 1) {
      if (rounds > 1000) throw new Error('the drivers deferred work without end');
      const { node, driver, task } = this.deferred.shift()!;
      if (node.driver === driver) task();
    }
  }

  private persisted(node: ScriptNode, ready: Ready): void {
    const after = node.disk.hardState;
    if (after.term !== node.shown.term || after.vote !== node.shown.vote) {
      this.output.push(`${node.id} term ${after.term} vote ${after.vote ?? '-'}`);
      node.shown = { term: after.term, vote: after.vote };
    }
    if (ready.softState !== null) {
      const leader = ready.softState.leader === null || ready.softState.leader === node.id ? '' : ` (leader ${ready.softState.leader})`;
      this.output.push(`${node.id} is ${ready.softState.role}${leader}`);
    }
  }

  private applied(node: ScriptNode, ready: Ready): void {
    if (ready.snapshot !== null) {
      const meta = ready.snapshot.meta;
      this.output.push(`${node.id} installed snapshot ${meta.index}/${meta.term} ${ready.snapshot.data}`);
    }
    if (ready.committedEntries.length > 0) {
      this.output.push(`${node.id} applied ${ready.committedEntries.map(formatEntry).join(' ')}`);
    }
    for (const read of ready.readStates) this.output.push(`${node.id} read ${read.context} at index ${read.index}`);
    for (const failure of ready.readFailures) this.output.push(`${node.id} read ${failure.context} failed: ${failure.reason}`);
  }

  // ---- output -----------------------------------------------------------------------------------------------------

  private printStatus(nodes: readonly ScriptNode[]): void {
    for (const node of nodes) {
      if (node.driver === null) {
        this.output.push(`${node.id} down`);
        continue;
      }
      const status = node.driver.node.status();
      this.output.push(`${node.id} ${status.role} term=${status.term} vote=${status.vote ?? '-'} leader=${status.leader ?? '-'} `
        + `last=${status.lastIndex} commit=${status.commitIndex} applied=${status.appliedIndex} snapshot=${status.snapshotIndex}`
        + (status.transferringTo === null ? '' : ` transferring=${status.transferringTo}`));
    }
  }

  private printLog(node: ScriptNode): void {
    const raft = this.raftOf(node);
    const status = raft.status();
    if (status.snapshotIndex > 0) this.output.push(`snapshot ${status.snapshotIndex}/${raft.termAt(status.snapshotIndex) ?? '?'}`);
    const entries = raft.entriesBetween(status.snapshotIndex + 1, status.lastIndex);
    if (entries.length === 0) this.output.push('empty log');
    for (const entry of entries) this.output.push(formatEntry(entry) + (entry.index <= status.commitIndex ? ' committed' : ''));
  }

  // ---- arguments ----------------------------------------------------------------------------------------------------

  private node(command: Command, id: string | undefined): ScriptNode {
    const node = this.nodes.find((each) => each.id === id);
    if (node === undefined) throw new ScriptError(command.line, `unknown node "${id ?? ''}"`);
    return node;
  }

  private running(command: Command, id: string | undefined): ScriptNode {
    const node = this.node(command, id);
    this.raftOf(node);
    return node;
  }

  private driverOf(node: ScriptNode): ReplicaDriver {
    if (node.driver === null) throw new Error(`${node.id} is down`);
    return node.driver;
  }

  private raftOf(node: ScriptNode): RaftNode {
    return this.driverOf(node).node;
  }
}

function count(command: Command, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < 0) throw new ScriptError(command.line, `"${text}" is not a count`);
  return value;
}

function required(command: Command, text: string | undefined, name: string): string {
  if (text === undefined) throw new ScriptError(command.line, `${command.name} needs ${name}`);
  return text;
}

function parseBugs(command: Command): CoreBugs {
  const names = (command.options.get('bugs') ?? '').split(',').filter((name) => name !== '');
  const bugs: { [bug in CoreBug]?: boolean } = {};
  for (const name of names) {
    if (!(bugNames as readonly string[]).includes(name)) throw new ScriptError(command.line, `unknown bug "${name}"`);
    bugs[name as CoreBug] = true;
  }
  return bugs;
}

function messageFilter(command: Command): (message: WireMessage) => boolean {
  const from = command.options.get('from');
  const to = command.options.get('to');
  const type = command.options.get('type');
  return (message) => (from === undefined || message.from === from) && (to === undefined || message.to === to)
    && (type === undefined || message.type === type);
}

function formatEntry(entry: Entry): string {
  return `${entry.index}/${entry.term}${entry.type === 'noop' ? ':noop' : `:${entry.data}`}`;
}

function formatMessage(message: WireMessage): string {
  const text = describeMessage(message);
  if (message.type !== 'append' || message.entries.length === 0) return text;
  return `${text} [${message.entries.map(formatEntry).join(' ')}]`;
}
