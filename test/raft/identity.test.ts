// Identity of a replica (src/raft/identity.ts) over an in-memory store and marker: how a replica knows it lost its
// disk (its marker, or a peer that knew it under another replica id), the pins of peers' replica ids, and the
// refusal of envelopes from another cluster or with a forged from/to. Each case states what it would miss if
// the rule were gone.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  clusterIdFor, establishIdentity, IdentityGuard, IdentityMismatchError,
  type IdentityStore, type MarkerContents, type MemberMarker, type RaftEnvelope, type StoredIdentity,
} from '../../src/raft/identity.js';
import type { Message } from '../../src/raft/types.js';

class MemoryStore implements IdentityStore {
  stored: StoredIdentity | null = null;
  pins = new Map<string, string>();
  empty = true;
  writes = 0;
  isEmpty() { return this.empty; }
  identity() { return this.stored; }
  recordIdentity(identity: StoredIdentity) { this.stored = identity; this.writes += 1; }
  recordNonVoter() { this.stored = { ...this.stored!, voter: false }; this.writes += 1; }
  peerReplicas() { return new Map(this.pins); }
  pinPeerReplica(peer: string, replicaId: string) { if (!this.pins.has(peer)) this.pins.set(peer, replicaId); this.writes += 1; }
}

class MemoryMarker implements MemberMarker {
  contents: MarkerContents | null = null;
  read() { return this.contents; }
  write(contents: MarkerContents) { this.contents = contents; }
}

const peers = ['a', 'b', 'c'];
const cluster = clusterIdFor('pygmy', peers);
let counter = 0;
const establish = (store: MemoryStore, marker: MemoryMarker, clusterId = cluster) =>
  establishIdentity({ store, marker, clusterId, newReplicaId: () => `r${++counter}`, nowIso: () => '2026-01-01T00:00:00.000Z' });

const heartbeat = (from: string, to: string): Message => ({ type: 'heartbeat', from, to, term: 1, commit: 0, context: null });
const envelope = (message: Message, replica: string, toReplica: string | null = null, voter = true, clusterId = cluster): RaftEnvelope =>
  ({ type: 'raft', cluster: clusterId, replica, toReplica, voter, message });

test('cluster ids: the same name and members give the same id on every host, another name or group another', () => {
  assert.is(clusterIdFor('pygmy', ['c', 'a', 'b']), cluster);
  assert.is.not(clusterIdFor('other', peers), cluster);
  assert.is.not(clusterIdFor('pygmy', ['a', 'b', 'd']), cluster);
});

test('establish: bootstrap, reload, lost database (marker left), upgrade of a database without identity', () => {
  const store = new MemoryStore();
  const marker = new MemoryMarker();
  const first = establish(store, marker);
  assert.is(first.verdict.kind, 'bootstrapped');
  assert.ok(first.identity.voter);
  assert.equal(marker.contents, { clusterId: cluster, replicaId: first.identity.replicaId, voter: true });
  store.empty = false;
  assert.is(establish(store, marker).verdict.kind, 'loaded');
  assert.is(establish(store, marker).identity.replicaId, first.identity.replicaId);
  // The database is deleted; the marker beside it stays.
  const wiped = new MemoryStore();
  const lost = establish(wiped, marker);
  assert.equal(lost.verdict, { kind: 'lostDisk', previousReplicaId: first.identity.replicaId });
  assert.is(lost.identity.voter, false);
  assert.is(wiped.stored!.voter, false, 'recorded durably');
  assert.is(marker.contents!.voter, false, 'the marker keeps saying so');
  const again = establish(new MemoryStore(), marker);
  assert.is(again.verdict.kind, 'lostDisk', 'deleting the database again does not restore the vote');
  const legacy = new MemoryStore();
  legacy.empty = false;
  assert.is(establish(legacy, new MemoryMarker()).verdict.kind, 'upgraded');
  assert.ok(legacy.stored!.voter, 'a database with its history keeps its vote');
});

test('establish: a database or marker of another cluster is refused', () => {
  const store = new MemoryStore();
  const marker = new MemoryMarker();
  establish(store, marker);
  assert.throws(() => establish(store, marker, clusterIdFor('other', peers)), (error: unknown) => error instanceof IdentityMismatchError);
  assert.throws(() => establish(new MemoryStore(), marker, clusterIdFor('other', peers)), (error: unknown) => error instanceof IdentityMismatchError);
});

function guardFor(self: string, store = new MemoryStore()) {
  const identity = establish(store, new MemoryMarker()).identity;
  const events: string[] = [];
  const guard = new IdentityGuard(self, (name) => peers.includes(name), identity, store, {
    peerLostDisk: (peer, why) => events.push(`peer ${peer}: ${why}`),
    peerReincarnated: (peer) => events.push(`reincarnated ${peer}`),
    lostDisk: (why) => events.push(`self: ${why}`),
  });
  return { guard, events, store, identity };
}

test('envelopes: another cluster, a forged from or to, or a stranger are refused and never pin', () => {
  const { guard, store } = guardFor('a');
  assert.equal(guard.admit(envelope(heartbeat('b', 'a'), 'rb', null, true, clusterIdFor('x', peers)), 'b'), { ok: false, reason: 'otherCluster', detail: `cluster ${clusterIdFor('x', peers)}, not ${cluster}` });
  assert.is((guard.admit(envelope(heartbeat('c', 'a'), 'rb'), 'b') as { reason: string }).reason, 'forgedSender');
  assert.is((guard.admit(envelope(heartbeat('b', 'a'), 'rb'), null) as { reason: string }).reason, 'forgedSender');
  assert.is((guard.admit(envelope(heartbeat('b', 'c'), 'rb'), 'b') as { reason: string }).reason, 'forgedTarget');
  assert.is((guard.admit(envelope(heartbeat('z', 'a'), 'rz'), 'z') as { reason: string }).reason, 'notAPeer');
  assert.is(store.pins.size, 0);
  assert.equal(guard.admit(envelope(heartbeat('b', 'a'), 'rb'), 'b'), { ok: true, staleView: false });
  assert.equal([...store.pins], [['b', 'rb']]);
});

test('pins: a peer back under another replica id, or saying it may not vote, is reported once as lost', () => {
  const { guard, events } = guardFor('a');
  guard.admit(envelope(heartbeat('b', 'a'), 'rb'), 'b');
  guard.admit(envelope(heartbeat('c', 'a'), 'rc'), 'c');
  assert.equal(events, []);
  guard.admit(envelope(heartbeat('b', 'a'), 'rb-new'), 'b');
  guard.admit(envelope(heartbeat('b', 'a'), 'rb-new'), 'b');
  guard.admit(envelope(heartbeat('c', 'a'), 'rc', null, false), 'c');
  assert.equal(events, ['reincarnated b', 'peer b: it was replica rb and came back as replica rb-new', 'peer c: it says it lost what it promised']);
  assert.is(guard.wrap(heartbeat('a', 'b')).toReplica, 'rb-new', 'the envelope names the receiver as last seen');
  assert.is((guard.admit(envelope(heartbeat('b', 'a'), 'rb'), 'b') as { reason: string }).reason, 'staleIncarnation', 'a late message of the old incarnation is refused');
});

test('self: a replica told it was known under another replica id becomes a non-voter, durably, once', () => {
  const { guard, events, store, identity } = guardFor('a');
  assert.equal(guard.admit(envelope(heartbeat('b', 'a'), 'rb', identity.replicaId), 'b'), { ok: true, staleView: false });
  assert.equal(events, [], 'its own id: nothing to learn');
  assert.equal(guard.admit(envelope(heartbeat('b', 'a'), 'rb', 'an-older-id'), 'b'), { ok: true, staleView: true }, 'the sender addressed an earlier self');
  guard.admit(envelope(heartbeat('b', 'a'), 'rb', 'an-older-id'), 'b');
  assert.is(events.length, 1);
  assert.match(events[0]!, /self: b knew this replica as replica an-older-id/);
  assert.is(store.stored!.voter, false);
  assert.is(guard.voter, false);
  assert.is(guard.wrap(heartbeat('a', 'b')).voter, false, 'its envelopes say so');
});

test('wouldRecord: true exactly for the envelopes whose admission writes to the store', () => {
  const { guard, store, identity } = guardFor('a');
  const admitSaying = (message: RaftEnvelope) => {
    const predicted = guard.wouldRecord(message);
    const writes = store.writes;
    guard.admit(message, message.message.from);
    assert.is(store.writes > writes, predicted, JSON.stringify(message));
  };
  admitSaying(envelope(heartbeat('b', 'a'), 'rb')); // a first pin
  admitSaying(envelope(heartbeat('b', 'a'), 'rb', identity.replicaId)); // pinned, addressed to this self
  admitSaying(envelope(heartbeat('b', 'a'), 'rb-new')); // another incarnation: reported, not written
  admitSaying(envelope(heartbeat('b', 'a'), 'rb-new', 'an-older-id')); // told it lost its disk: written once
  admitSaying(envelope(heartbeat('b', 'a'), 'rb-new', 'an-older-id')); // already a non-voter: nothing more
  admitSaying(envelope(heartbeat('c', 'a'), 'rc', 'an-older-id')); // a first pin again
});

test.run();
