// The replica driver (src/raft/driver.ts) by hand, over simulated storage: one follower and the envelopes it sends.
// - A read forwarded by a follower before it restarted must never answer a read made after the restart: the
//   leader's late answer to the old read carries an index from before writes the new read must see. (Read
//   contexts once restarted at 1 with every start, so the two collided; they now carry the start's boot id.)
// - A heartbeat addressed to an earlier incarnation of the follower (it lost its disk) carries a commit index
//   drawn from a log that is gone; the follower must not take it (the core would trip "commit beyond last index").
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ReplicaDriver, type ReadAnswer } from '../../src/raft/driver.js';
import { clusterIdFor, establishIdentity, type RaftEnvelope } from '../../src/raft/identity.js';
import { SimDisk, SimMarker, SimStorage, type SimApplier } from '../../src/raft/sim/storage.js';
import type { Message } from '../../src/raft/types.js';

const peers = ['n1', 'n2', 'n3'];
const cluster = clusterIdFor('test', peers);
const applier: SimApplier = { apply: (_state, entry) => ({ state: entry.index, result: null }), restore: () => 0, image: () => '', query: (_state, applied) => applied };

function follower(disk: SimDisk, bootId: string, replicaId: string) {
  const storage = new SimStorage('n2', disk, applier);
  const loaded = storage.load();
  const { identity } = establishIdentity({ store: storage, marker: new SimMarker(disk), clusterId: cluster, newReplicaId: () => replicaId, nowIso: () => 'now' });
  const sent: RaftEnvelope[] = [];
  const deferred: Array<() => void> = [];
  const silent = (): void => {};
  const driver = new ReplicaDriver({
    name: 'n2', peers, persisted: loaded.persisted, identity, storage,
    raft: { electionTicks: 10, heartbeatTicks: 1, random: () => 0.5, preVote: true, checkQuorum: true, maxEntriesPerAppend: 64, maxInflightAppends: 4, maxUncommittedEntries: 64 },
    time: { nowMs: () => 0, armTick: silent, defer: (task) => deferred.push(task) },
    transport: { send: (_to, envelope) => sent.push(envelope) },
    images: { start: () => false, cancel: silent },
    log: { debug: silent, info: silent, warn: silent, error: silent },
    tickMs: 1, bootId, snapshotEntriesInterval: Number.POSITIVE_INFINITY, readsPendingMax: 16, proposalsPendingMax: 16, refusalLogIntervalMs: 0,
  });
  const run = () => { while (deferred.length > 0) deferred.shift()!(); };
  const fromLeader = (message: Message, toReplica: string | null = null) => {
    driver.receive({ type: 'raft', cluster, replica: 'leader-1', toReplica, voter: true, message }, message.from);
    run();
  };
  return { driver, sent, run, fromLeader };
}

const heartbeat = (commit: number): Message => ({ type: 'heartbeat', from: 'n1', to: 'n2', term: 1, commit, context: null });

test('a read forwarded before a restart never answers a read made after it', () => {
  const disk = new SimDisk();
  const before = follower(disk, 'boot-a', 'r2');
  before.fromLeader(heartbeat(0));
  before.driver.read('q', () => {});
  before.run();
  const oldRead = before.sent.map((envelope) => envelope.message).find((message) => message.type === 'readIndex');
  assert.ok(oldRead !== undefined && oldRead.type === 'readIndex', 'the follower forwarded its read');
  disk.crash(disk.deferred.length, false);
  const after = follower(disk, 'boot-b', 'r2');
  after.fromLeader(heartbeat(0));
  const answers: ReadAnswer[] = [];
  after.driver.read('q', (answer) => answers.push(answer));
  after.run();
  const newRead = after.sent.map((envelope) => envelope.message).find((message) => message.type === 'readIndex');
  assert.ok(newRead !== undefined && newRead.type === 'readIndex');
  assert.is.not(newRead.context, oldRead.context, 'contexts differ across starts');
  // The leader's answer to the read of the earlier start arrives now.
  after.fromLeader({ type: 'readIndexResponse', from: 'n1', to: 'n2', term: 1, context: oldRead.context, index: 0, reject: false });
  assert.equal(answers, [], 'the new read is not answered by the old read\'s index');
});

test('a heartbeat addressed to an earlier incarnation does not move the commit index of an empty log', () => {
  const wiped = follower(new SimDisk(), 'boot-a', 'r2-new');
  wiped.fromLeader(heartbeat(7), 'r2-old');
  const status = wiped.driver.status();
  assert.is(status.raft.commitIndex, 0);
  assert.is(status.raft.voter, false, 'it learned that it lost its disk');
  assert.is(status.raft.leader, 'n1', 'it follows the leader');
  assert.throws(() => follower(new SimDisk(), 'boot-b', 'r2-x').fromLeader(heartbeat(7), 'r2-x'), /commit 7 beyond last index 0/,
    'addressed to this incarnation, the same heartbeat is trusted (and the core stops on it): the guard is what protects');
});

test.run();
