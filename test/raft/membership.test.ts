// Membership changes in the pure Raft core (Raft thesis §4.1–§4.2.3, core/config-change.ts): one change at a time,
// learners that replicate and never count, promotion within a bound, removal of a follower and of the leader, the
// configuration in use being the latest in the log (committed or not) and reverting when that entry is truncated,
// and the configuration carried by snapshots. Driven by hand through an in-memory network, as core.test.ts does.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { applyChange, decodeMembership, MembershipLog } from '../../src/raft/core/config-change.js';
import { RaftNode, standardRules, type RaftConfig } from '../../src/raft/core/node.js';
import type { Entry, Message, NodeId, PersistedState } from '../../src/raft/types.js';
import { deliverAll, drainReady, persistedFrom, persistReady, type MemoryDisk } from './fixtures/hand-driver.js';

interface Member {
  raft: RaftNode;
  bootstrap: NodeId[];
  disk: MemoryDisk;
  applied: Entry[];
}

type Overrides = Partial<Omit<RaftConfig, 'id' | 'peers'>>;

function configFor(id: NodeId, peers: NodeId[], overrides: Overrides): RaftConfig {
  const offset = Number(id.slice(1)) - 1; // n1 times out first (after 10 ticks), the others later
  return {
    id, peers, electionTicks: 10, heartbeatTicks: 1, random: () => Math.min(0.99, offset * 0.15), preVote: true,
    checkQuorum: true, maxEntriesPerAppend: 64, maxInflightAppends: 4, maxUncommittedEntries: 100, ...overrides,
  };
}

const emptyState = (): PersistedState => ({ hardState: { term: 0, vote: null, commit: 0 }, snapshot: null, entries: [] });

class Network {
  readonly members = new Map<NodeId, Member>();
  queue: Message[] = [];
  readonly isolated = new Set<NodeId>();
  dropWhen: (message: Message) => boolean = () => false;

  constructor(peers: NodeId[], readonly overrides: Overrides = {}) {
    for (const id of peers) this.add(id, peers);
  }

  /** Starts a node with an empty log and `bootstrap` as the configuration it knows (it need not be in it). */
  add(id: NodeId, bootstrap: NodeId[]): Member {
    const member: Member = {
      raft: new RaftNode(configFor(id, bootstrap, this.overrides), emptyState()), bootstrap,
      disk: { hardState: { term: 0, vote: null, commit: 0 }, snapshot: null, entries: [] }, applied: [],
    };
    this.members.set(id, member);
    return member;
  }

  member(id: NodeId): Member {
    return this.members.get(id)!;
  }

  restart(id: NodeId): void {
    const member = this.member(id);
    const persisted = persistedFrom(member.disk);
    member.raft = new RaftNode({ ...configFor(id, member.bootstrap, this.overrides), applied: 0 }, persisted);
    member.applied = [];
  }

  drain(): void {
    for (const [id, member] of this.members) {
      drainReady(id, member.raft, (ready) => {
        persistReady(member.disk, ready);
        for (const message of ready.messages) this.queue.push(message);
        member.applied.push(...ready.committedEntries);
      });
    }
  }

  stabilize(roundsMax = 5000): void {
    this.drain();
    deliverAll(this.queue, roundsMax, (message) => {
      if (this.isolated.has(message.from) || this.isolated.has(message.to) || this.dropWhen(message)) return;
      const target = this.members.get(message.to);
      if (target === undefined) return;
      target.raft.step(message);
      this.drain();
    });
  }

  tickAll(times: number): void {
    for (let count = 0; count < times; count += 1) {
      for (const member of this.members.values()) member.raft.tick();
      this.stabilize();
    }
  }

  electFirst(): void {
    for (let count = 0; count < 20; count += 1) this.member('n1').raft.tick();
    this.stabilize();
    assert.is(this.member('n1').raft.status().role, 'leader');
    this.tickAll(1); // the no-op of its term commits
  }

  leaders(): NodeId[] {
    return [...this.members.keys()].filter((id) => this.member(id).raft.status().role === 'leader');
  }

  commitOf(id: NodeId): number {
    return this.member(id).raft.status().commitIndex;
  }
}

const three = ['n1', 'n2', 'n3'];

/** Three nodes, n1 leading, after n3's removal was proposed and two ticks went by (enough to commit it). */
function n3Removed(): { network: Network; leader: RaftNode } {
  const network = new Network(three);
  network.electFirst();
  const leader = network.member('n1').raft;
  assert.ok(leader.proposeMembershipChange({ type: 'remove', node: 'n3' }).ok);
  network.tickAll(2);
  return { network, leader };
}

/** Three nodes whose leader, n1, is then cut off from both followers: nothing it proposes can commit. */
function leaderCutOff(): { network: Network; leader: RaftNode } {
  const network = new Network(three);
  network.electFirst();
  network.isolated.add('n2');
  network.isolated.add('n3');
  return { network, leader: network.member('n1').raft };
}

test('config-change: one change moves at most one voter; bad changes and bad data are refused', () => {
  const base = { voters: ['a', 'b', 'c'], learners: [] };
  assert.equal(applyChange(base, { type: 'addLearner', node: 'd' }), { voters: ['a', 'b', 'c'], learners: ['d'] });
  assert.type(applyChange(base, { type: 'addLearner', node: 'a' }), 'string');
  assert.type(applyChange(base, { type: 'promote', node: 'd' }), 'string', 'only a learner is promoted');
  assert.type(applyChange({ voters: ['a'], learners: [] }, { type: 'remove', node: 'a' }), 'string', 'the last voter stays');
  assert.type(applyChange(base, { type: 'remove', node: 'z' }), 'string');
  assert.is(decodeMembership('{"voters":[],"learners":[]}'), null);
  assert.is(decodeMembership('{"voters":["a","a"],"learners":[]}'), null);
  assert.is(decodeMembership('{"voters":["a"],"learners":["a"]}'), null);
  assert.is(decodeMembership('not json'), null);
  const history = new MembershipLog(0, base, () => 'test');
  history.record(5, 2, '{"voters":["a","b","c"],"learners":["d"]}');
  history.record(7, 2, '{"voters":["a","b","c","d"],"learners":[]}');
  assert.equal(history.at(6).learners, ['d']);
  assert.is(history.latestIndex(), 7);
  history.forget((index) => (index <= 6 ? 2 : 3)); // index 7 now holds another term: it was truncated and replaced
  assert.is(history.latestIndex(), 5);
});

test('learner: it replicates but never counts towards a commit (thesis §4.2.1)', () => {
  const network = new Network(three);
  network.electFirst();
  network.add('n4', three);
  const leader = network.member('n1').raft;
  const added = leader.proposeMembershipChange({ type: 'addLearner', node: 'n4' });
  assert.ok(added.ok, JSON.stringify(added));
  network.tickAll(3);
  assert.equal(network.member('n4').raft.status().learners, ['n4']);
  assert.is(network.commitOf('n4'), network.commitOf('n1'), 'the learner caught up');
  // With two voters cut off, the leader and the learner are two of four members but only one of three voters.
  network.isolated.add('n2');
  network.isolated.add('n3');
  const proposed = leader.propose('x');
  assert.ok(proposed.ok);
  network.stabilize();
  assert.ok(network.member('n4').raft.status().lastIndex >= proposed.index, 'the learner holds the entry');
  assert.ok(network.commitOf('n1') < proposed.index, 'a learner\'s acknowledgement committed an entry');
  // A learner never campaigns, whatever it hears.
  network.isolated.clear();
  network.isolated.add('n1');
  for (let count = 0; count < 60; count += 1) network.member('n4').raft.tick();
  network.stabilize();
  assert.is(network.member('n4').raft.status().role, 'follower');
});

test('promotion: a learner that never answered is refused even when the whole log is within the lag bound', () => {
  // A short log (a handful of entries) is within the default bound of 64 of a learner at match 0: only holding the
  // configuration that names it shows the learner follows this leader.
  const network = new Network(three);
  network.electFirst();
  network.add('n4', three);
  const leader = network.member('n1').raft;
  network.dropWhen = (message) => message.to === 'n4' || message.from === 'n4';
  assert.ok(leader.proposeMembershipChange({ type: 'addLearner', node: 'n4' }).ok);
  network.tickAll(3);
  assert.ok(leader.status().lastIndex < 64, 'the log is within the bound');
  const silent = leader.proposeMembershipChange({ type: 'promote', node: 'n4' });
  assert.is(silent.ok ? 'accepted' : silent.error, 'learnerBehind');
  network.dropWhen = () => false;
  network.tickAll(3);
  const promoted = leader.proposeMembershipChange({ type: 'promote', node: 'n4' });
  assert.ok(promoted.ok, JSON.stringify(promoted));
});

test('promotion: refused while the learner is behind, accepted within the bound; then four voters need three', () => {
  const network = new Network(three, { learnerLagEntriesMax: 2 });
  network.electFirst();
  network.add('n4', three);
  const leader = network.member('n1').raft;
  network.dropWhen = (message) => message.to === 'n4';
  assert.ok(leader.proposeMembershipChange({ type: 'addLearner', node: 'n4' }).ok);
  for (let count = 0; count < 5; count += 1) assert.ok(leader.propose(`w${count}`).ok);
  network.tickAll(2);
  const behind = leader.proposeMembershipChange({ type: 'promote', node: 'n4' });
  assert.is(behind.ok ? 'accepted' : behind.error, 'learnerBehind');
  network.dropWhen = () => false;
  network.tickAll(3);
  const promoted = leader.proposeMembershipChange({ type: 'promote', node: 'n4' });
  assert.ok(promoted.ok, JSON.stringify(promoted));
  network.tickAll(2);
  assert.equal(leader.status().voters, ['n1', 'n2', 'n3', 'n4']);
  // Four voters: two (the leader and one) are not a majority.
  network.isolated.add('n3');
  network.isolated.add('n4');
  const proposed = leader.propose('y');
  assert.ok(proposed.ok);
  network.stabilize();
  assert.ok(network.commitOf('n1') < proposed.index, 'two of four voters committed an entry');
  network.isolated.delete('n4');
  network.tickAll(1);
  assert.ok(network.commitOf('n1') >= proposed.index, 'three of four voters did not commit');
});

test('one change at a time: a second change is refused while the first is uncommitted (thesis §4.1)', () => {
  const { network, leader } = leaderCutOff();
  assert.ok(leader.proposeMembershipChange({ type: 'addLearner', node: 'n4' }).ok);
  const second = leader.proposeMembershipChange({ type: 'addLearner', node: 'n5' });
  assert.is(second.ok ? 'accepted' : second.error, 'changeInProgress');
  network.isolated.clear();
  network.tickAll(2);
  assert.ok(leader.proposeMembershipChange({ type: 'addLearner', node: 'n5' }).ok, 'refused once the first committed');

  const buggy = new Network(three, { rules: { ...standardRules, mayChangeMembershipWhileChangeUncommitted: true } });
  buggy.electFirst();
  buggy.isolated.add('n2');
  buggy.isolated.add('n3');
  assert.ok(buggy.member('n1').raft.proposeMembershipChange({ type: 'addLearner', node: 'n4' }).ok);
  assert.ok(buggy.member('n1').raft.proposeMembershipChange({ type: 'addLearner', node: 'n5' }).ok, 'the broken rule lets a second change through');
});

test('a new leader proposes no change before an entry of its own term commits (the fix to §4.1)', () => {
  const network = new Network(three);
  for (let count = 0; count < 20; count += 1) network.member('n1').raft.tick();
  // Deliver the election but not the no-op's acknowledgements.
  network.dropWhen = (message) => message.type === 'appendResponse';
  network.stabilize();
  const leader = network.member('n1').raft;
  assert.is(leader.status().role, 'leader');
  const early = leader.proposeMembershipChange({ type: 'addLearner', node: 'n4' });
  assert.is(early.ok ? 'accepted' : early.error, 'leaderNotReady');
  network.dropWhen = () => false;
  network.tickAll(2);
  assert.ok(leader.proposeMembershipChange({ type: 'addLearner', node: 'n4' }).ok);
});

test('remove a follower: it never counts again and its campaigns do not disturb the group (§4.2.3)', () => {
  const { network, leader } = n3Removed();
  assert.equal(leader.status().voters, ['n1', 'n2']);
  // The leader replicates to the members of its latest configuration only: n3 may never hear of its removal.
  // Two voters need both: an acknowledgement from n3 (here a late one, planted) is not enough.
  network.isolated.add('n2');
  const proposed = leader.propose('x');
  assert.ok(proposed.ok);
  network.stabilize();
  leader.step({ type: 'appendResponse', from: 'n3', to: 'n1', term: leader.status().term, reject: false, index: proposed.index, hintIndex: 0, hintTerm: 0 });
  network.stabilize();
  assert.ok(network.commitOf('n1') < proposed.index, 'a removed member\'s acknowledgement counted');
  network.isolated.clear();
  network.tickAll(1);
  assert.ok(network.commitOf('n1') >= proposed.index);
  const termBefore = leader.status().term;
  for (let count = 0; count < 60; count += 1) network.member('n3').raft.tick();
  network.stabilize();
  // n3 never heard of its removal and campaigns; the members do not listen to a stranger's campaign.
  assert.is(leader.status().term, termBefore);
  assert.equal(network.leaders(), ['n1']);
});

test('remove the leader: it leads without counting itself until the change commits, then hands over (§4.2.2)', () => {
  const { network, leader } = leaderCutOff();
  const removal = leader.proposeMembershipChange({ type: 'remove', node: 'n1' });
  assert.ok(removal.ok);
  network.stabilize();
  assert.is(leader.status().role, 'leader', 'it leads while its removal is uncommitted');
  network.isolated.delete('n2');
  network.stabilize();
  // {n2, n3} is the new configuration: n1 and n2 are not a majority of it without n1 counting... n2 alone is one of two.
  assert.ok(network.commitOf('n1') < removal.index, 'the leader counted itself towards its own removal');
  network.isolated.clear();
  network.tickAll(3);
  assert.ok(network.commitOf('n2') >= removal.index);
  assert.is(leader.status().role, 'follower', 'the removed leader did not step down');
  network.tickAll(30);
  const leaders = network.leaders();
  assert.is(leaders.length, 1);
  assert.ok(leaders[0] === 'n2' || leaders[0] === 'n3', `leader ${leaders[0]}`);
  const newLeader = network.member(leaders[0]!).raft;
  const after = newLeader.propose('after');
  assert.ok(after.ok);
  network.tickAll(2);
  assert.ok(network.commitOf('n2') >= after.index && network.commitOf('n3') >= after.index);
});

test('the latest configuration in the log is in use, committed or not, and reverts when it is truncated', () => {
  const network = new Network(three);
  network.electFirst();
  const leader = network.member('n1').raft;
  network.dropWhen = (message) => message.type === 'append' && message.to === 'n3';
  const change = leader.proposeMembershipChange({ type: 'addLearner', node: 'n4' });
  assert.ok(change.ok);
  // Only n2 hears of it, and does not answer: uncommitted, yet in use at n2.
  network.dropWhen = (message) => message.to === 'n3' || message.from === 'n2' || message.to === 'n1';
  network.stabilize();
  assert.equal(network.member('n2').raft.status().learners, ['n4']);
  assert.is(network.member('n2').raft.status().configIndex, change.index);
  // n1 goes away; n3 leads a new term without the change, and its entries replace n2's uncommitted suffix.
  network.isolated.add('n1');
  network.dropWhen = () => false;
  for (let count = 0; count < 60 && network.member('n3').raft.status().role !== 'leader'; count += 1) {
    network.member('n3').raft.tick();
    network.stabilize();
  }
  // n2's log is longer (it holds the change), so n3 cannot win; n2 wins instead and keeps the change, or n3 wins.
  const leaders = network.leaders().filter((id) => id !== 'n1');
  if (leaders[0] === 'n3') {
    assert.ok(network.member('n3').raft.propose('x').ok);
    network.tickAll(2);
    assert.equal(network.member('n2').raft.status().learners, [], 'the truncated configuration is still in use');
  } else {
    for (let count = 0; count < 60 && network.leaders().filter((id) => id !== 'n1').length === 0; count += 1) network.tickAll(1);
    const next = network.leaders().filter((id) => id !== 'n1');
    assert.equal(next, ['n2'], 'n2, holding the newest log, leads');
    assert.equal(network.member('n3').raft.status().learners, ['n4'], 'the new leader\'s configuration reached n3');
  }
});

test('a truncated configuration entry is forgotten: planted conflicting suffix', () => {
  // n2 holds a configuration entry of term 1 at index 3 that the leader of term 2 never had.
  const bootstrap = three;
  const config = configFor('n2', bootstrap, {});
  const planted: PersistedState = {
    hardState: { term: 1, vote: 'n1', commit: 1 },
    snapshot: null,
    entries: [
      { index: 1, term: 1, type: 'noop', data: '' },
      { index: 2, term: 1, type: 'config', data: '{"voters":["n1","n2","n3"],"learners":["n9"]}' },
    ],
  };
  const node = new RaftNode(config, planted);
  assert.equal(node.status().learners, ['n9'], 'the configuration of the log is used at restart, uncommitted');
  node.step({ type: 'append', from: 'n3', to: 'n2', term: 2, prevIndex: 1, prevTerm: 1, commit: 1,
    entries: [{ index: 2, term: 2, type: 'noop', data: '' }] });
  assert.equal(node.status().learners, [], 'the truncated configuration is still in use');
  assert.is(node.status().configIndex, 0);
});

test('snapshots carry the configuration: a compacted leader brings a new member up to date, and restarts keep it', () => {
  const { network, leader } = n3Removed();
  for (let count = 0; count < 4; count += 1) assert.ok(leader.propose(`w${count}`).ok);
  network.tickAll(2);
  const applied = leader.status().appliedIndex;
  leader.compact(applied);
  assert.equal(leader.membershipAt(applied).voters, ['n1', 'n2']);
  network.add('n4', three); // bootstraps with an old configuration: the snapshot must set it right
  assert.ok(leader.proposeMembershipChange({ type: 'addLearner', node: 'n4' }).ok);
  network.tickAll(2);
  assert.ok(leader.snapshotWanted());
  assert.ok(leader.offerSnapshot(applied, 'image'));
  network.tickAll(3);
  const learner = network.member('n4').raft.status();
  assert.ok(learner.snapshotIndex >= applied, 'n4 did not install the snapshot');
  assert.equal(learner.voters, ['n1', 'n2']);
  assert.equal(learner.learners, ['n4']);
  assert.equal(network.member('n4').disk.snapshot?.meta.peers, ['n1', 'n2']);
  network.restart('n4');
  assert.equal(network.member('n4').raft.status().learners, ['n4'], 'the configuration was lost at restart');
});

test('the configuration index is that of the entry that set it, through compaction, an image and a restart', () => {
  // A learner is added at index c, the log grows past it and the leader compacts: configIndex stays c, the
  // image it offers says c, and a node started from a snapshot record with configIndex c reports c.
  const network = new Network(three);
  network.electFirst();
  const leader = network.member('n1').raft;
  assert.ok(leader.proposeMembershipChange({ type: 'addLearner', node: 'n4' }).ok);
  network.tickAll(2);
  const configIndex = leader.status().configIndex;
  assert.ok(configIndex > 0);
  for (let count = 0; count < 4; count += 1) assert.ok(leader.propose(`w${count}`).ok);
  network.tickAll(2);
  const applied = leader.status().appliedIndex;
  assert.ok(applied > configIndex);
  leader.compact(applied);
  assert.is(leader.status().configIndex, configIndex, 'compaction moved the configuration index');
  assert.equal(leader.membershipAt(applied), { voters: three, learners: ['n4'], configIndex });
  assert.ok(leader.offerSnapshot(applied, 'image'));
  const restarted = new RaftNode(configFor('n2', three, {}), {
    hardState: { term: 1, vote: 'n1', commit: applied },
    snapshot: { index: applied, term: 1, peers: three, learners: ['n4'], configIndex },
    entries: [],
  });
  assert.is(restarted.status().configIndex, configIndex);
  assert.equal(restarted.status().learners, ['n4']);
});

test('groups of one and of seven voters elect and commit', () => {
  const single = new Network(['n1']);
  single.electFirst();
  const proposed = single.member('n1').raft.propose('alone');
  assert.ok(proposed.ok);
  single.tickAll(1);
  assert.ok(single.commitOf('n1') >= proposed.index);
  let served: number | null = null;
  single.member('n1').raft.readIndex('alone-read');
  for (let rounds = 0; single.member('n1').raft.hasReady(); rounds += 1) {
    const ready = single.member('n1').raft.ready();
    for (const read of ready.readStates) if (read.context === 'alone-read') served = read.index;
    single.member('n1').raft.advance(ready);
  }
  assert.is(served, single.commitOf('n1'), 'a group of one did not serve its own read');
  const seven = ['n1', 'n2', 'n3', 'n4', 'n5', 'n6', 'n7'];
  const big = new Network(seven);
  big.electFirst();
  for (const id of ['n5', 'n6', 'n7']) big.isolated.add(id);
  const four = big.member('n1').raft.propose('four of seven');
  assert.ok(four.ok);
  big.tickAll(1);
  assert.ok(big.commitOf('n1') >= four.index);
  big.isolated.add('n4');
  const three = big.member('n1').raft.propose('three of seven');
  assert.ok(three.ok);
  big.stabilize();
  assert.ok(big.commitOf('n1') < three.index, 'three of seven committed');
});

test.run();
