// Unit tests of the pure Raft core, driven by hand through an in-memory network that can drop and isolate.
// The harness plays the driver exactly as the Ready contract says (persist, then send, then apply, then advance) and
// checks, for every message it sends, that what the message promises is already on the simulated disk.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { RaftConfigError } from '../../src/raft/core/errors.js';
import { RaftNode, standardRules, type RaftConfig } from '../../src/raft/core/node.js';
import type { Entry, Message, NodeId, PersistedState, ReadFailure, ReadState } from '../../src/raft/types.js';
import { deliverAll, drainReady, persistedFrom, persistReady, type MemoryDisk } from './fixtures/hand-driver.js';

interface Member {
  raft: RaftNode;
  disk: MemoryDisk;
  applied: Entry[];
  readStates: ReadState[];
  readFailures: ReadFailure[];
  snapshotsInstalled: number;
}

type Overrides = Partial<Omit<RaftConfig, 'id' | 'peers'>>;

function baseConfig(id: NodeId, peers: NodeId[], overrides: Overrides): RaftConfig {
  // Distinct constant randomness per node: n1 times out first (after 10 ticks), the others later.
  const offset = Number(id.slice(1)) - 1;
  return {
    id, peers, electionTicks: 10, heartbeatTicks: 1, random: () => Math.min(0.99, offset * 0.3), preVote: true,
    checkQuorum: true, maxEntriesPerAppend: 64, maxInflightAppends: 4, maxUncommittedEntries: 100, ...overrides,
  };
}

class Network {
  readonly members = new Map<NodeId, Member>();
  readonly queue: Message[] = [];
  readonly isolated = new Set<NodeId>();
  /** Every message sent, in order, for assertions on traffic. */
  readonly sent: Message[] = [];
  dropWhen: (message: Message) => boolean = () => false;

  constructor(readonly peers: NodeId[], readonly overrides: Overrides = {}, persisted: Record<NodeId, PersistedState> = {}) {
    for (const id of peers) {
      const state = persisted[id] ?? { hardState: { term: 0, vote: null, commit: 0 }, snapshot: null, entries: [] };
      const disk = { hardState: state.hardState, snapshot: null, entries: [...state.entries] };
      this.members.set(id, { raft: new RaftNode(baseConfig(id, peers, overrides), state), disk, applied: [], readStates: [], readFailures: [], snapshotsInstalled: 0 });
    }
  }

  member(id: NodeId): Member {
    return this.members.get(id)!;
  }

  restart(id: NodeId): void {
    const member = this.member(id);
    const persisted = persistedFrom(member.disk);
    member.raft = new RaftNode(baseConfig(id, this.peers, this.overrides), persisted);
    member.applied = [];
  }

  /** Processes every pending Ready of every node (the driver loop). */
  drain(): void {
    for (const [id, member] of this.members) {
      drainReady(id, member.raft, (ready) => {
        persistReady(member.disk, ready);
        for (const message of ready.messages) this.send(member, message);
        if (ready.snapshot !== null) member.snapshotsInstalled += 1;
        member.applied.push(...ready.committedEntries);
        member.readStates.push(...ready.readStates);
        member.readFailures.push(...ready.readFailures);
      });
    }
  }

  /** Persist before speaking: a vote grant or an append ack must already be backed by the disk. */
  private send(member: Member, message: Message): void {
    const disk = member.disk;
    if (message.type === 'voteResponse' && !message.reject) {
      assert.is(disk.hardState.vote, message.to, `${message.from} granted a vote not yet on disk`);
      assert.is(disk.hardState.term, message.term, `${message.from} granted a vote in a term not yet on disk`);
    }
    if (message.type === 'appendResponse' && !message.reject && message.index > 0) {
      const lastOnDisk = disk.entries.length > 0 ? disk.entries[disk.entries.length - 1]!.index : (disk.snapshot?.meta.index ?? 0);
      assert.ok(lastOnDisk >= message.index, `${message.from} acked ${message.index} with only ${lastOnDisk} on disk`);
    }
    this.sent.push(message);
    this.queue.push(message);
  }

  /** Delivers queued messages (and those they cause) until the network is quiet; bounded. */
  stabilize(roundsMax = 1000): void {
    this.drain();
    deliverAll(this.queue, roundsMax, (message) => {
      if (this.isolated.has(message.from) || this.isolated.has(message.to) || this.dropWhen(message)) return;
      this.member(message.to).raft.step(message);
      this.drain();
    });
  }

  tick(id: NodeId, times = 1): void {
    for (let count = 0; count < times; count += 1) this.member(id).raft.tick();
    this.drain();
  }

  tickAll(times: number): void {
    for (let count = 0; count < times; count += 1) {
      for (const id of this.peers) this.member(id).raft.tick();
      this.stabilize();
    }
  }

  /** Lets n1 time out and win the election. */
  electFirst(): void {
    this.tick('n1', 20);
    this.stabilize();
    assert.is(this.member('n1').raft.status().role, 'leader');
  }

  leaders(): NodeId[] {
    return this.peers.filter((id) => this.member(id).raft.status().role === 'leader');
  }
}

const three = ['n1', 'n2', 'n3'];

function entry(index: number, term: number, data = `e${index}`): Entry {
  return { index, term, type: 'normal', data };
}

test('election: a node that times out pre-votes, then campaigns and wins with a majority (§5.2)', () => {
  // Checks "A candidate wins an election if it receives votes from a majority of the servers in the full cluster
  // for the same term" and that pre-vote leaves the term unchanged until a majority would vote.
  const network = new Network(three);
  network.tick('n1', 20);
  assert.is(network.member('n1').raft.status().role, 'preCandidate');
  assert.is(network.member('n1').raft.status().term, 0, 'a pre-vote must not raise the term');
  network.stabilize();
  assert.equal(network.leaders(), ['n1']);
  for (const id of three) assert.is(network.member(id).raft.status().term, 1);
  assert.is(network.member('n2').raft.status().leader, 'n1');
});

test('replication: proposals reach every node and apply in the same order, after the leader\'s no-op', () => {
  // Checks that committed entries come out of Ready.committedEntries identically on all nodes, and that a new leader
  // first commits a no-op of its term (§8: "each leader commit a blank no-op entry into the log at the start of its term").
  const network = new Network(three);
  network.electFirst();
  for (const data of ['a', 'b', 'c']) assert.ok(network.member('n1').raft.propose(data).ok);
  network.stabilize();
  network.tickAll(2);
  for (const id of three) {
    const applied = network.member(id).applied;
    assert.equal(applied.map((each) => each.type), ['noop', 'normal', 'normal', 'normal'], id);
    assert.equal(applied.map((each) => each.data), ['', 'a', 'b', 'c'], id);
  }
  const refused = network.member('n2').raft.propose('x');
  assert.equal(refused, { ok: false, error: 'notLeader', leader: 'n1' });
});

test('conflicting logs: the follower\'s divergent suffix is replaced, with fast back-off instead of one index per round', () => {
  // Checks §5.3 "the leader must find the latest log entry where the two logs agree, delete any entries in the
  // follower's log after that point": n2 holds 30 entries of term 2 that never committed; n1 wins term 4.
  const n2Entries = [entry(1, 1), ...Array.from({ length: 30 }, (_, offset) => entry(offset + 2, 2, `stale${offset}`))];
  const network = new Network(three, {}, {
    n1: { hardState: { term: 3, vote: 'n1', commit: 1 }, snapshot: null, entries: [entry(1, 1), entry(2, 3), entry(3, 3)] },
    n2: { hardState: { term: 3, vote: 'n1', commit: 1 }, snapshot: null, entries: n2Entries },
    n3: { hardState: { term: 3, vote: 'n1', commit: 1 }, snapshot: null, entries: [entry(1, 1), entry(2, 3)] },
  });
  network.electFirst();
  network.stabilize();
  network.tickAll(3);
  const rejections = network.sent.filter((message) => message.type === 'appendResponse' && message.reject && message.from === 'n2');
  assert.ok(rejections.length <= 2, `fast back-off took ${rejections.length} rejections`);
  const leaderLog = network.member('n1').raft.entriesBetween(1, 100);
  assert.equal(network.member('n2').raft.entriesBetween(1, 100), leaderLog);
  assert.is(network.member('n2').raft.status().lastIndex, 4);
});

function previousTermScenario(bug: boolean): Network {
  // n1 holds index 2 of term 2 that n2 lacks; n1 becomes leader of term 4 and sends one entry per append.
  const network = new Network(three, { maxEntriesPerAppend: 1, rules: { ...standardRules, mayCommitEarlierTermByCounting: bug } }, {
    n1: { hardState: { term: 3, vote: null, commit: 1 }, snapshot: null, entries: [entry(1, 1), entry(2, 2)] },
    n2: { hardState: { term: 3, vote: null, commit: 1 }, snapshot: null, entries: [entry(1, 1)] },
    n3: { hardState: { term: 3, vote: null, commit: 1 }, snapshot: null, entries: [entry(1, 1)] },
  });
  // Appends carrying the no-op at index 3 are lost once the follower holds index 2, so index 2 alone spreads.
  network.dropWhen = (message) => message.type === 'append' && message.entries.some((each) => each.index === 3)
    && network.member(message.to).raft.termAt(2) === 2;
  network.electFirst();
  network.stabilize();
  return network;
}

test('commit rule: an entry of a previous term is not committed by counting replicas (§5.4.2)', () => {
  // Checks "Raft never commits log entries from previous terms by counting replicas. Only log entries from the
  // current term are committed by counting replicas": index 2 (term 2) sits on n1 and n2 but must stay uncommitted
  // until the no-op of term 4 reaches a majority.
  const network = previousTermScenario(false);
  assert.ok(network.member('n2').raft.termAt(2) === 2, 'index 2 reached n2');
  assert.is(network.member('n1').raft.status().commitIndex, 1);
  network.dropWhen = () => false;
  network.tickAll(2);
  assert.is(network.member('n1').raft.status().commitIndex, 3);
});

test('commit rule: the deliberate bug commits the previous-term entry, so the test above can fail', () => {
  // Checks that the testing switch really breaks §5.4.2: the same scenario commits index 2 by counting.
  const network = previousTermScenario(true);
  assert.is(network.member('n1').raft.status().commitIndex, 2);
});

test('pre-vote: a node rejoining from a partition does not depose a healthy leader', () => {
  // Checks the pre-vote rule of §9.6 of the Raft thesis: an isolated node cannot win a pre-vote, so it never raises
  // its term, and on return the leader and term are unchanged.
  const network = new Network(three);
  network.electFirst();
  network.isolated.add('n3');
  network.tickAll(100);
  assert.is(network.member('n3').raft.status().term, 1, 'the isolated node kept its term');
  network.isolated.clear();
  network.tickAll(5);
  assert.equal(network.leaders(), ['n1']);
  assert.is(network.member('n1').raft.status().term, 1);
});

/**
 * The amnesia scenario of promise 8: n1 isolated; n2 and n3 commit an entry; n3 loses its disk (a new node on an
 * empty state, `voter` as given); n2 goes away; n1 returns. Returns the entry and the two live members.
 */
function amnesia(voter: boolean): { network: Network; acknowledged: Entry } {
  const network = new Network(three);
  network.electFirst();
  network.isolated.add('n1');
  network.tickAll(40);
  const leader = network.leaders().find((id) => id !== 'n1')!;
  assert.ok(leader !== undefined, 'n2 or n3 leads without n1');
  const proposed = network.member(leader).raft.propose('acknowledged');
  assert.ok(proposed.ok);
  network.stabilize();
  const acknowledged = network.member('n2').applied.find((each) => each.data === 'acknowledged')!;
  assert.ok(acknowledged !== undefined, 'the entry committed on n2 and n3');
  const wiped = network.member('n3');
  wiped.raft = new RaftNode(baseConfig('n3', three, { voter }), { hardState: { term: 0, vote: null, commit: 0 }, snapshot: null, entries: [] });
  wiped.disk = { hardState: { term: 0, vote: null, commit: 0 }, snapshot: null, entries: [] };
  wiped.applied = [];
  network.isolated.clear();
  network.isolated.add('n2');
  network.tickAll(100);
  return { network, acknowledged };
}

test('amnesia: a replica that lost its disk and may not vote elects nobody; n1 never leads without the entry', () => {
  // Checks promise 8: "a replica whose disk was lost or wiped does not vote until it is re-admitted". Without n3's
  // vote the stale n1 cannot win, so no leader lacks the acknowledged entry; the non-voter never campaigns.
  const { network, acknowledged } = amnesia(false);
  assert.equal(network.leaders(), [], 'no leader while only n1 and the non-voter are up');
  assert.is(network.member('n3').raft.status().role, 'follower');
  assert.is(network.member('n3').raft.status().voter, false);
  network.isolated.clear();
  network.tickAll(60);
  const leader = network.leaders()[0]!;
  assert.ok(leader === 'n1' || leader === 'n2', `a voter leads once n2 is back (${leader})`);
  assert.is(network.member(leader).raft.termAt(acknowledged.index), acknowledged.term, 'the leader holds the acknowledged entry');
});

test('amnesia: the same wiped replica allowed to vote elects the stale n1, so the test above can fail', () => {
  const { network, acknowledged } = amnesia(true);
  assert.equal(network.leaders(), ['n1']);
  assert.is.not(network.member('n1').raft.termAt(acknowledged.index), acknowledged.term, 'the new leader lacks the acknowledged entry');
});

test('non-voters: a leader counts no acknowledgement of a peer marked non-voter, nor its votes', () => {
  // With n3 marked non-voter and n2 cut off, the leader's entry cannot commit (n1 + n3 is no quorum of voters);
  // once n2 answers again it commits. n3 still replicates the entry.
  const network = new Network(three);
  network.electFirst();
  const leader = network.member('n1').raft;
  assert.ok(leader.markNonVoter('n3'));
  assert.is(leader.markNonVoter('n3'), false, 'marking twice is no news');
  network.isolated.add('n2');
  const proposed = leader.propose('needs-n2');
  assert.ok(proposed.ok);
  network.stabilize();
  assert.ok(leader.status().commitIndex < proposed.index, 'not committed by the leader and a non-voter');
  assert.is(network.member('n3').raft.status().lastIndex, proposed.index, 'the non-voter replicates');
  network.isolated.clear();
  network.tickAll(3);
  assert.ok(leader.status().commitIndex >= proposed.index, 'committed once n2 answers');
  assert.equal(network.leaders(), ['n1']);
});

test('non-voters: a node told it lost its disk steps out of a campaign and never votes again', () => {
  const network = new Network(three);
  network.isolated.add('n2');
  network.isolated.add('n3');
  network.tick('n1', 20);
  assert.is(network.member('n1').raft.status().role, 'preCandidate');
  assert.ok(network.member('n1').raft.becomeNonVoter());
  assert.is(network.member('n1').raft.status().role, 'follower');
  network.isolated.clear();
  network.tickAll(80);
  assert.ok(!network.leaders().includes('n1'), 'n1 never leads');
  assert.is(network.leaders().length, 1, 'n2 and n3 elect one of them');
});

test('check-quorum: a leader that hears from no majority within an election timeout steps down', () => {
  // Checks that an isolated leader becomes a follower after electionTicks, so clients stop trusting it, and the
  // majority side elects a new leader.
  const network = new Network(three);
  network.electFirst();
  network.isolated.add('n1');
  // The first round after election counts everyone as active, so the step-down comes within two election timeouts.
  network.tick('n1', 20);
  assert.is(network.member('n1').raft.status().role, 'follower');
  network.tickAll(40);
  assert.ok(network.member('n1').raft.status().role !== 'leader');
  const leaders = network.leaders();
  assert.is(leaders.length, 1);
  assert.ok(leaders[0] !== 'n1');
});

test('leader lost: on the host\'s report the lower-ranked follower campaigns after one tick and wins, without a split', () => {
  // Checks the liveness shortcut for a killed leader: both followers are told at once; n2 (rank 0) must lead after a
  // single tick and n3 (rank 1, campaigning only after 3 ticks) must follow it in the same term. The control runs
  // the same ticks without the report and must see no election, so the test can fail.
  const control = new Network(three);
  control.electFirst();
  control.isolated.add('n1');
  control.tickAll(1);
  assert.equal(control.leaders(), ['n1'], 'without the report nobody campaigns after one tick');
  const network = new Network(three);
  network.electFirst();
  network.isolated.add('n1');
  assert.is(network.member('n2').raft.leaderLost('n3'), false, 'a report about a non-leader is ignored');
  assert.is(network.member('n1').raft.leaderLost('n2'), false, 'a leader ignores reports');
  assert.is(network.member('n2').raft.leaderLost('n1'), true);
  assert.is(network.member('n3').raft.leaderLost('n1'), true);
  network.tickAll(1);
  assert.is(network.member('n2').raft.status().role, 'leader', 'n2 leads after one tick');
  network.tickAll(3);
  assert.is(network.member('n2').raft.status().role, 'leader');
  assert.is(network.member('n3').raft.status().leader, 'n2');
  assert.is(network.member('n2').raft.status().term, 2, 'one election, no split vote');
  assert.is(network.member('n3').raft.status().term, 2);
});

test('ReadIndex: the leader confirms leadership with a heartbeat round; a follower forwards and gets the index', () => {
  // Checks §6.4 of the Raft thesis: a read is answered at the commit index once a majority acknowledged a heartbeat
  // carrying its context, and a follower gets the same index from the leader via readIndexResponse.
  const network = new Network(three);
  network.electFirst();
  network.tickAll(1);
  assert.ok(network.member('n1').raft.propose('x').ok);
  network.stabilize();
  const commit = network.member('n1').raft.status().commitIndex;
  network.member('n1').raft.readIndex('leader-read');
  network.isolated.add('n2');
  network.isolated.add('n3');
  network.stabilize();
  assert.equal(network.member('n1').readStates, [], 'no answer without a majority');
  network.isolated.clear();
  network.member('n1').raft.tick();
  network.stabilize();
  assert.equal(network.member('n1').readStates, [{ index: commit, context: 'leader-read' }]);
  network.member('n2').raft.readIndex('follower-read');
  network.stabilize();
  assert.equal(network.member('n2').readStates, [{ index: commit, context: 'follower-read' }]);
});

test('ticksUntilDue: a follower sleeps until its election timeout, a leader until its heartbeat; reads tick each time', () => {
  // A replica's driver sleeps through the ticks that only count. Checks the count in each role, that the ticks
  // before the due one leave nothing to do, and that waiting reads (which age by ticks) ask for every tick.
  const network = new Network(three, { heartbeatTicks: 3 });
  const n1 = network.member('n1').raft;
  const n2 = network.member('n2').raft;
  assert.is(n1.ticksUntilDue(), 10, 'n1 draws the shortest election timeout, 10 ticks');
  network.tick('n1', 9);
  assert.not.ok(n1.hasReady());
  assert.is(n1.status().role, 'follower');
  assert.is(n1.ticksUntilDue(), 1);
  network.tick('n1');
  assert.is(n1.status().role, 'preCandidate');
  network.stabilize();
  assert.is(n1.status().role, 'leader');
  assert.is(n1.ticksUntilDue(), 3, 'a new leader heartbeats in heartbeatTicks');
  network.tick('n1', 2);
  assert.not.ok(n1.hasReady());
  assert.is(n1.ticksUntilDue(), 1);
  network.tick('n1');
  assert.ok(network.queue.some((message) => message.type === 'heartbeat'), 'the due tick sends heartbeats');
  network.stabilize();
  assert.is(n2.ticksUntilDue(), 13, 'a follower that just heard its leader sleeps for its whole election timeout');
  n1.readIndex('leader-read');
  assert.is(n1.ticksUntilDue(), 1, 'a leader with a read waiting');
  n2.readIndex('follower-read');
  assert.is(n2.ticksUntilDue(), 1, 'a follower with a read forwarded');
  network.stabilize();
  assert.is(network.member('n1').readStates.length, 1);
  assert.is(network.member('n2').readStates.length, 1);
  assert.is(n2.ticksUntilDue(), 13);
});

test('ReadIndex: a follower with no known leader fails the read at once', () => {
  // Checks that a read that cannot be served comes out in Ready.readFailures instead of hanging.
  const network = new Network(three);
  network.member('n2').raft.readIndex('orphan');
  network.drain();
  assert.equal(network.member('n2').readFailures, [{ context: 'orphan', reason: 'leaderUnknown' }]);
});

test('leadership transfer: the target campaigns at once and wins; the old leader refuses proposals meanwhile', () => {
  // Checks the transfer of §3.10 of the Raft thesis: timeoutNow makes the up-to-date target start an election that
  // bypasses the voters' leader lease.
  const network = new Network(three);
  network.electFirst();
  network.tickAll(1);
  assert.ok(network.member('n1').raft.transferLeadership('n2'));
  assert.equal(network.member('n1').raft.propose('late'), { ok: false, error: 'transferring', leader: 'n1' });
  network.stabilize();
  assert.equal(network.leaders(), ['n2']);
  assert.is(network.member('n2').raft.status().term, 2);
  assert.is(network.member('n1').raft.transferLeadership('n3'), false, 'a follower cannot transfer');
});

test('urgent transfer by a stopping leader: the best-placed follower takes over before its ack returns', () => {
  // Checks the graceful-stop path: the leader picks the follower with the highest match index, and with urgent
  // set sends timeoutNow right behind the append still in flight, then hears nothing more (it is stopping). The
  // target receives the entry first (FIFO), so it campaigns up to date and wins; without urgent nobody takes over
  // until an election timeout.
  for (const urgent of [true, false]) {
    const network = new Network(three);
    network.electFirst();
    network.tickAll(1);
    network.isolated.add('n3');
    network.member('n1').raft.propose('only-n1-and-n2');
    network.stabilize();
    network.isolated.delete('n3');
    const leader = network.member('n1').raft;
    assert.is(leader.transferTarget(), 'n2', 'n2 matched the latest entry; n3 did not');
    leader.propose('in-flight');
    network.drain();
    assert.ok(leader.transferLeadership('n2', urgent));
    network.drain();
    network.dropWhen = (message) => message.to === 'n1';
    network.stabilize();
    const newLeaders = network.leaders().filter((id) => id !== 'n1');
    if (urgent) {
      assert.equal(newLeaders, ['n2']);
      assert.ok(network.member('n2').raft.status().lastIndex >= 3, 'n2 campaigned with the in-flight entry');
    } else {
      assert.equal(newLeaders, [], 'without urgent the stopping leader never sends timeoutNow');
    }
  }
});

/** Three nodes, n1 leading, that commit and apply `count` entries while n3 is cut off (n3 still is). */
function committedWithoutN3(count: number): { network: Network; leader: RaftNode } {
  const network = new Network(three);
  network.electFirst();
  network.isolated.add('n3');
  for (let entry = 0; entry < count; entry += 1) assert.ok(network.member('n1').raft.propose(`v${entry}`).ok);
  network.stabilize();
  network.tickAll(1);
  return { network, leader: network.member('n1').raft };
}

test('snapshots: a follower behind the compacted log catches up through installSnapshot', () => {
  // Checks §7: "the leader must occasionally send snapshots to followers that lag behind" once the entries they need
  // were discarded. Compaction needs no image; the leader asks for one (snapshotWanted) only when a follower needs
  // entries that are gone, and sends the one the application offers. The follower restores through Ready.snapshot
  // and then applies what follows.
  const { network, leader } = committedWithoutN3(10);
  const applied = leader.status().appliedIndex;
  assert.is(applied, 11);
  leader.compact(applied);
  assert.is(leader.status().snapshotIndex, 11);
  assert.not.ok(leader.snapshotWanted(), 'compaction alone asks for no image');
  assert.ok(leader.propose('after').ok);
  network.isolated.clear();
  network.tickAll(5);
  const follower = network.member('n3');
  assert.ok(leader.snapshotWanted(), 'n3 needs entries that are gone');
  assert.is(follower.snapshotsInstalled, 0, 'nothing to send before an image is offered');
  assert.not.ok(network.member('n2').raft.snapshotWanted(), 'only a leader asks');
  assert.not.ok(leader.offerSnapshot(5, 'image-at-5'), 'an image older than the compacted log is of no use');
  assert.ok(leader.snapshotWanted());
  assert.ok(leader.offerSnapshot(12, 'image-at-12'), 'an image newer than the compaction point is as good');
  assert.not.ok(leader.snapshotWanted());
  network.stabilize();
  network.tickAll(2);
  assert.is(follower.snapshotsInstalled, 1);
  assert.is(follower.disk.snapshot?.data, 'image-at-12');
  assert.is(follower.disk.snapshot?.meta.index, 12);
  assert.is(follower.raft.status().commitIndex, 12);
  assert.ok(follower.applied.every((each) => each.index <= 1), 'entries 2..12 arrived only in the image');
  assert.ok(leader.propose('later').ok);
  network.stabilize();
  network.tickAll(1);
  assert.is(follower.applied[follower.applied.length - 1]?.data, 'later');
});

test('snapshots: an image the log was compacted past is dropped, and a new one is asked for', () => {
  const { network, leader } = committedWithoutN3(5);
  leader.compact(3);
  assert.ok(leader.offerSnapshot(4, 'image-at-4'), 'an image may be offered before anyone asks');
  for (let count = 0; count < 5; count += 1) assert.ok(leader.propose(`w${count}`).ok);
  network.stabilize();
  network.tickAll(1);
  leader.compact(leader.status().appliedIndex);
  network.isolated.clear();
  network.tickAll(5);
  assert.ok(leader.snapshotWanted(), 'the image at 4 no longer continues into the log');
  assert.is(network.member('n3').snapshotsInstalled, 0);
  assert.not.ok(leader.offerSnapshot(leader.status().appliedIndex + 1, 'not applied'), 'an image of an unapplied index is refused');
});

test('restart: a node rebuilt from its PersistedState keeps term, vote and log, and catches up', () => {
  // Checks that what the driver persisted is enough to restart: the rebuilt node reports the same term, vote and
  // last index, replays committed entries, and rejoins the cluster.
  const network = new Network(three);
  network.electFirst();
  assert.ok(network.member('n1').raft.propose('kept').ok);
  network.stabilize();
  network.tickAll(1);
  const before = network.member('n2').raft.status();
  network.restart('n2');
  const after = network.member('n2').raft.status();
  assert.is(after.term, before.term);
  assert.is(after.vote, before.vote);
  assert.is(after.lastIndex, before.lastIndex);
  network.tickAll(3);
  assert.equal(network.member('n2').applied.map((each) => each.data), ['', 'kept']);
});

test('configuration: a bad configuration throws a named error at construction', () => {
  // Checks that limits are validated once, up front, with RaftConfigError.
  const empty: PersistedState = { hardState: { term: 0, vote: null, commit: 0 }, snapshot: null, entries: [] };
  assert.throws(() => new RaftNode(baseConfig('n1', ['n1', 'n2', 'n3', 'n4', 'n5', 'n6', 'n7', 'n8'], {}), empty), (error: unknown) => error instanceof RaftConfigError);
  assert.throws(() => new RaftNode(baseConfig('n1', ['n1', 'n1', 'n2'], {}), empty), (error: unknown) => error instanceof RaftConfigError);
  assert.throws(() => new RaftNode(baseConfig('n1', three, { maxInflightAppends: 0 }), empty), (error: unknown) => error instanceof RaftConfigError);
  assert.throws(() => new RaftNode(baseConfig('n1', three, { electionTicks: 1 }), empty), (error: unknown) => error instanceof RaftConfigError);
});

test.run();
