// The replica driver over a storage that fsyncs off the thread (persistThen), by hand: what leaves, and what is
// counted, before the fsync returns. A follower's acknowledgement of entries must wait for their fsync (persist
// before speaking); a leader must not count its own unsynced entry towards commit, so with one follower's
// acknowledgement in a group of three nothing commits until the leader's fsync returns. Proposals and messages
// arriving meanwhile are taken in by the core and written together once it returns (group commit).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ReplicaDriver, type ProposeAnswer } from '../../src/raft/driver.js';
import { clusterIdFor, establishIdentity, type RaftEnvelope } from '../../src/raft/identity.js';
import { SimDisk, SimMarker, SimStorage, type SimApplier } from '../../src/raft/sim/storage.js';
import type { Message } from '../../src/raft/types.js';

const peers = ['n1', 'n2', 'n3'];
const cluster = clusterIdFor('test', peers);
const applier: SimApplier = { apply: (_state, entry) => ({ state: entry.index, result: entry.data }), restore: () => 0, image: () => '', query: (_state, applied) => applied };

/** A replica whose fsyncs return only when the test says (`completeSyncs`). */
function replica(name: string, random: number) {
  const disk = new SimDisk();
  const syncs: Array<() => void> = [];
  const storage = new SimStorage(name, disk, applier, {}, { later: (complete) => syncs.push(complete) });
  const loaded = storage.load();
  const { identity } = establishIdentity({ store: storage, marker: new SimMarker(disk), clusterId: cluster, newReplicaId: () => `${name}-r`, nowIso: () => 'now' });
  const sent: Message[] = [];
  const deferred: Array<() => void> = [];
  const silent = (): void => {};
  const driver = new ReplicaDriver({
    name, peers, persisted: loaded.persisted, identity, storage,
    raft: { electionTicks: 10, heartbeatTicks: 1, random: () => random, preVote: false, checkQuorum: false, maxEntriesPerAppend: 64, maxInflightAppends: 4, maxUncommittedEntries: 64 },
    time: { nowMs: () => 0, armTick: silent, defer: (task) => deferred.push(task) },
    transport: { send: (_to, envelope: RaftEnvelope) => sent.push(envelope.message as Message) },
    images: { start: () => false, cancel: silent },
    log: { debug: silent, info: silent, warn: silent, error: silent },
    tickMs: 1, bootId: 'boot', snapshotEntriesInterval: Number.POSITIVE_INFINITY, readsPendingMax: 16, proposalsPendingMax: 16, refusalLogIntervalMs: 0,
  });
  const run = (): void => { while (deferred.length > 0) deferred.shift()!(); };
  const completeSyncs = (): void => { while (syncs.length > 0) { syncs.shift()!(); run(); } };
  const receive = (message: Message): void => {
    driver.receive({ type: 'raft', cluster, replica: `${message.from}-r`, toReplica: `${name}-r`, voter: true, message }, message.from);
    run();
  };
  const take = (): Message[] => sent.splice(0);
  return { driver, disk, syncs, run, completeSyncs, receive, take };
}

test('a follower acknowledges entries only once their fsync returned', () => {
  // An append of two entries: written at once, but no appendResponse leaves until the test completes the fsync.
  const follower = replica('n2', 0.5);
  follower.receive({ type: 'append', from: 'n1', to: 'n2', term: 1, prevIndex: 0, prevTerm: 0, commit: 0,
    entries: [{ index: 1, term: 1, type: 'noop', data: '' }, { index: 2, term: 1, type: 'normal', data: 'x' }] });
  assert.equal(follower.take().filter((message) => message.type === 'appendResponse'), [], 'acknowledged before the fsync returned');
  assert.is(follower.syncs.length, 1, 'one fsync running');
  assert.is(follower.disk.unsynced !== null, true);
  follower.completeSyncs();
  const acks = follower.take().filter((message) => message.type === 'appendResponse');
  assert.is(acks.length, 1);
  assert.is(acks[0]!.type === 'appendResponse' && acks[0]!.index, 2);
  assert.is(follower.disk.unsynced, null);
});

test('a leader does not count its own unsynced entry: one follower\'s ack in three commits nothing until its fsync returns', () => {
  // n1 wins term 1 (vote fsync completed by hand), proposes, gets n2's ack while its own fsync still runs: the
  // proposal stays unanswered; once the leader's fsync returns, the entry commits and the proposer hears.
  const leader = replica('n1', 0);
  for (let tick = 0; tick < 30 && leader.driver.softState.role !== 'candidate'; tick += 1) { leader.driver.tickOnce(); leader.completeSyncs(); }
  assert.is(leader.driver.softState.role, 'candidate');
  leader.receive({ type: 'voteResponse', from: 'n2', to: 'n1', term: 1, reject: false });
  leader.completeSyncs();
  assert.is(leader.driver.softState.role, 'leader');
  const appendsOfNoop = leader.take().filter((message) => message.type === 'append');
  assert.ok(appendsOfNoop.length > 0, 'the leader sent its no-op');
  leader.receive({ type: 'appendResponse', from: 'n2', to: 'n1', term: 1, reject: false, index: 1, hintIndex: 0, hintTerm: 0 });
  leader.completeSyncs();
  const answers: ProposeAnswer[] = [];
  leader.driver.propose('order', (answer) => answers.push(answer));
  leader.run();
  assert.is(leader.syncs.length, 1, 'the proposal\'s write waits for its fsync');
  // Another proposal while the fsync runs: taken in, written with the next one.
  leader.driver.propose('second', (answer) => answers.push(answer));
  leader.run();
  assert.is(leader.syncs.length, 1, 'no second write while the first waits');
  leader.receive({ type: 'appendResponse', from: 'n2', to: 'n1', term: 1, reject: false, index: 2, hintIndex: 0, hintTerm: 0 });
  assert.equal(answers, [], 'committed with the leader\'s own entry unsynced');
  assert.is(leader.driver.status().raft.commitIndex, 1);
  leader.syncs.shift()!();
  leader.run();
  assert.is(leader.driver.status().raft.commitIndex, 2);
  assert.equal(answers.map((answer) => answer.ok && answer.index), [2]);
  assert.is(leader.syncs.length, 1, 'the second proposal was written once the first fsync returned');
});

test.run();
