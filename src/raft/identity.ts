// Who a replica is, and whether it may vote: cluster ids, replica ids, and the check of every Raft envelope.
//
// Owns: the identity of one replica (the cluster id of its group, its own replica id, whether it may vote), how it
// is established when the replica opens its storage, and the envelope a Raft message travels in:
//   { type:'raft', cluster, replica, toReplica, voter, message }
// `cluster` is the sender's cluster id, `replica` the sender's replica id, `toReplica` the replica id the sender
// first saw for the receiver (null before it saw one), `voter` whether the sender may vote.
// Promises (see core/README.md, "Identity", for why these are enough):
// - a replica whose storage is empty while its marker file says it was a member starts as a non-voter, durably;
// - a message from another cluster, or whose from/to differ from the envelope's sender/receiver, or from a name
//   outside the group, is refused (the caller counts and logs it) and never reaches the core;
// - the replica id first seen from each peer is pinned durably; a peer that shows another one, or says it is a
//   non-voter, is marked non-voter in the core (its votes and acknowledgements stop counting);
// - a replica that learns from a peer that it was known under another replica id (it lost its disk and the marker
//   with it) records that it is a non-voter and tells the core.
// Needs: an IdentityStore (the replica's storage) and a MemberMarker (a file beside it), both injected, so that the
// simulator runs this same code over its simulated disk.
import { createHash } from 'node:crypto';
import type { NodeId } from './types.js';
import type { WireMessage } from './snapshot-stream.js';

export interface StoredIdentity {
  readonly clusterId: string;
  readonly replicaId: string;
  readonly voter: boolean;
  readonly createdAt: string;
}

/** What identity needs from the replica's durable storage. Every write is durable when it returns. */
export interface IdentityStore {
  isEmpty(): boolean;
  identity(): StoredIdentity | null;
  recordIdentity(identity: StoredIdentity): void;
  recordNonVoter(): void;
  peerReplicas(): Map<NodeId, string>;
  pinPeerReplica(peer: NodeId, replicaId: string): void;
}

/** What the marker beside the database records: this name was a member of that cluster. */
export interface MarkerContents {
  readonly clusterId: string;
  readonly replicaId: string;
  readonly voter: boolean;
}

/** The marker file written beside the database at bootstrap; it survives the loss of the database file alone. */
export interface MemberMarker {
  read(): MarkerContents | null;
  write(contents: MarkerContents): void;
}

export type IdentityVerdict =
  /** The storage held an identity: the replica continues as it was. */
  | { readonly kind: 'loaded' }
  /** Empty storage and no marker: a new member of a new group. */
  | { readonly kind: 'bootstrapped' }
  /** Storage from before identities were recorded: it keeps its history, so it keeps its vote. */
  | { readonly kind: 'upgraded' }
  /** Empty storage, but the marker says this name was a member: it forgot what it promised. */
  | { readonly kind: 'lostDisk'; readonly previousReplicaId: string };

export class IdentityMismatchError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'IdentityMismatchError';
  }
}

export interface EstablishOptions {
  readonly store: IdentityStore;
  readonly marker: MemberMarker;
  readonly clusterId: string;
  readonly newReplicaId: () => string;
  readonly nowIso: () => string;
}

/** Loads or creates the identity of a replica as its storage opens. */
export function establishIdentity(options: EstablishOptions): { readonly identity: StoredIdentity; readonly verdict: IdentityVerdict } {
  const { store, marker, clusterId } = options;
  const stored = store.identity();
  if (stored !== null) {
    if (stored.clusterId !== clusterId) {
      throw new IdentityMismatchError(`this database belongs to cluster ${stored.clusterId}, but the replica is configured for cluster ${clusterId}`);
    }
    writeMarkerIfStale(marker, stored);
    return { identity: stored, verdict: { kind: 'loaded' } };
  }
  const previous = marker.read();
  // A marker that cannot be read names no cluster (''): it still says a member lived here, the safe reading.
  if (previous !== null && previous.clusterId !== '' && previous.clusterId !== clusterId) {
    throw new IdentityMismatchError(`the member marker says this replica belonged to cluster ${previous.clusterId}, but it is configured for cluster ${clusterId}`);
  }
  let verdict: IdentityVerdict;
  if (!store.isEmpty()) verdict = { kind: 'upgraded' };
  else if (previous !== null) verdict = { kind: 'lostDisk', previousReplicaId: previous.replicaId };
  else verdict = { kind: 'bootstrapped' };
  const identity: StoredIdentity = {
    clusterId,
    replicaId: options.newReplicaId(),
    voter: verdict.kind !== 'lostDisk',
    createdAt: options.nowIso(),
  };
  // The database first, then the marker: a crash between them leaves a database that names itself, and the next
  // start rewrites the marker from it. The other order could leave a marker without a database, and a replica
  // that never promised anything would come back as one that forgot.
  store.recordIdentity(identity);
  writeMarkerIfStale(marker, identity);
  return { identity, verdict };
}

function writeMarkerIfStale(marker: MemberMarker, identity: StoredIdentity): void {
  const current = marker.read();
  if (current !== null && current.clusterId === identity.clusterId && current.replicaId === identity.replicaId && current.voter === identity.voter) return;
  marker.write({ clusterId: identity.clusterId, replicaId: identity.replicaId, voter: identity.voter });
}

/**
 * The id of a group: the same on every host that is given the same cluster name, members and generation. The
 * generation is null for a bootstrapped cluster, and random for one `pygmy restore` made (storage/generation.ts).
 */
export function clusterIdFor(clusterName: string, members: readonly NodeId[], generation: string | null = null): string {
  const named = `pygmy-cluster-v1\n${clusterName}\n${[...members].sort().join(',')}`;
  const text = generation === null ? named : `${named}\nrestored ${generation}`;
  return createHash('sha256').update(text).digest('hex').slice(0, 16);
}

export interface RaftEnvelope {
  readonly type: 'raft';
  readonly cluster: string;
  readonly replica: string;
  readonly toReplica: string | null;
  readonly voter: boolean;
  readonly message: WireMessage;
}

export type RefusalReason = 'otherCluster' | 'forgedSender' | 'forgedTarget' | 'notAPeer' | 'staleIncarnation';

export type EnvelopeVerdict =
  /**
   * `staleView`: the sender addressed an earlier incarnation of this replica (toReplica is another id), so what it
   * believes of this replica's log — the commit index of a heartbeat, drawn from its match index — may be false.
   */
  | { readonly ok: true; readonly staleView: boolean }
  | { readonly ok: false; readonly reason: RefusalReason; readonly detail: string };

/** What the guard tells the core and the log; the driver implements it. */
export interface IdentityEvents {
  /** `peer` forgot what it promised: the core must stop counting it (RaftNode.markNonVoter). */
  peerLostDisk(peer: NodeId, why: string): void;
  /** `peer` came back under another replica id: what a leader knew of its log is void (RaftNode.peerReincarnated). */
  peerReincarnated(peer: NodeId): void;
  /** This replica forgot what it promised (a peer knew it under another replica id): RaftNode.becomeNonVoter. */
  lostDisk(why: string): void;
}

const idPattern = /^[0-9a-zA-Z_-]{1,64}$/;
/** Retired replica ids remembered per peer: one per disk it lost while this replica ran; past it, the oldest stay. */
const retiredIdsPerPeerMax = 16;

/** Shape check of an envelope from the wire (the message itself is checked by validate.ts). */
export function isEnvelopeHeader(value: Record<string, unknown>): boolean {
  return typeof value.cluster === 'string' && idPattern.test(value.cluster)
    && typeof value.replica === 'string' && idPattern.test(value.replica)
    && (value.toReplica === null || (typeof value.toReplica === 'string' && idPattern.test(value.toReplica)))
    && typeof value.voter === 'boolean';
}

/**
 * The identity of one live replica and the check of every envelope it sends or receives. One instance per
 * replica incarnation; the pins it learns are written to the store before the message that taught them is stepped.
 */
export class IdentityGuard {
  /** The replica id first seen from each peer, durable: the one whose promises count. */
  private readonly pins: Map<NodeId, string>;
  /** The replica id last seen from each peer (this incarnation's memory): what envelopes name as toReplica. */
  private readonly latest = new Map<NodeId, string>();
  /** Replica ids a peer has been seen to leave behind: their late messages describe a disk that is gone. */
  private readonly retired = new Map<NodeId, Set<string>>();
  private readonly peersLost = new Set<NodeId>();
  private identity: StoredIdentity;

  constructor(
    private readonly self: NodeId,
    /** Whether a name belongs to the group (the configuration in use, or a name the host was told of). */
    private readonly isPeer: (name: NodeId) => boolean,
    identity: StoredIdentity,
    private readonly store: IdentityStore,
    private readonly events: IdentityEvents,
  ) {
    this.identity = identity;
    this.pins = store.peerReplicas();
  }

  get clusterId(): string {
    return this.identity.clusterId;
  }

  get replicaId(): string {
    return this.identity.replicaId;
  }

  get voter(): boolean {
    return this.identity.voter;
  }

  /** The envelope for an outgoing message. */
  wrap(message: WireMessage): RaftEnvelope {
    const identity = this.identity;
    const toReplica = this.latest.get(message.to) ?? this.pins.get(message.to) ?? null;
    return { type: 'raft', cluster: identity.clusterId, replica: identity.replicaId, toReplica, voter: identity.voter, message };
  }

  /**
   * Whether admitting `envelope` would write to the store (a peer's first replica id, or this replica learning it
   * may not vote): a caller whose storage takes no writes for a while (an image installing from another thread)
   * drops such an envelope unadmitted, as if lost, instead.
   */
  wouldRecord(envelope: RaftEnvelope): boolean {
    const from = envelope.message.from;
    if (!this.pins.has(from)) return true;
    return this.identity.voter && envelope.toReplica !== null && envelope.toReplica !== this.identity.replicaId;
  }

  /**
   * Checks an incoming envelope, whose transport says it came from `sender`; on `ok` the message may be stepped.
   * Learns pins and non-voters on the way (see the file's contract).
   */
  admit(envelope: RaftEnvelope, sender: NodeId | null): EnvelopeVerdict {
    const message = envelope.message;
    if (envelope.cluster !== this.identity.clusterId) {
      return { ok: false, reason: 'otherCluster', detail: `cluster ${envelope.cluster}, not ${this.identity.clusterId}` };
    }
    if (message.from !== sender) return { ok: false, reason: 'forgedSender', detail: `from ${message.from} inside a message sent by ${sender ?? 'nobody'}` };
    if (message.to !== this.self) return { ok: false, reason: 'forgedTarget', detail: `to ${message.to} inside a message delivered to ${this.self}` };
    if (message.from === this.self || !this.isPeer(message.from)) {
      return { ok: false, reason: 'notAPeer', detail: `${message.from} is not a member of this group` };
    }
    if (this.retired.get(message.from)?.has(envelope.replica) === true) {
      return { ok: false, reason: 'staleIncarnation', detail: `${message.from} was replica ${envelope.replica} before it came back as ${this.latest.get(message.from)}` };
    }
    this.learnPeer(message.from, envelope);
    this.learnSelf(message.from, envelope);
    return envelope.toReplica !== null && envelope.toReplica !== this.identity.replicaId ? admittedStale : admitted;
  }

  private learnPeer(peer: NodeId, envelope: RaftEnvelope): void {
    const pinned = this.pins.get(peer);
    if (pinned === undefined) {
      this.store.pinPeerReplica(peer, envelope.replica);
      this.pins.set(peer, envelope.replica);
    }
    const latest = this.latest.get(peer);
    if (latest !== envelope.replica) {
      this.latest.set(peer, envelope.replica);
      if (latest !== undefined) {
        let retired = this.retired.get(peer);
        if (retired === undefined) this.retired.set(peer, (retired = new Set()));
        if (retired.size < retiredIdsPerPeerMax) retired.add(latest);
        this.events.peerReincarnated(peer);
      }
    }
    if (this.peersLost.has(peer)) return;
    if (pinned !== undefined && pinned !== envelope.replica) {
      this.peersLost.add(peer);
      this.events.peerLostDisk(peer, `it was replica ${pinned} and came back as replica ${envelope.replica}`);
    } else if (!envelope.voter) {
      this.peersLost.add(peer);
      this.events.peerLostDisk(peer, 'it says it lost what it promised');
    }
  }

  private learnSelf(peer: NodeId, envelope: RaftEnvelope): void {
    if (!this.identity.voter || envelope.toReplica === null || envelope.toReplica === this.identity.replicaId) return;
    this.store.recordNonVoter();
    this.identity = { ...this.identity, voter: false };
    this.events.lostDisk(`${peer} knew this replica as replica ${envelope.toReplica}, but it is replica ${this.identity.replicaId} now`);
  }
}

/** The two answers of an admitted envelope, made once: admit() runs for every message. */
const admitted: EnvelopeVerdict = Object.freeze({ ok: true, staleView: false });
const admittedStale: EnvelopeVerdict = Object.freeze({ ok: true, staleView: true });

/** The one log line of a replica that may not vote, naming the repair. */
export function nonVoterNotice(name: NodeId, why: string): string {
  return `${name} will not vote: it lost its disk (${why}), so it may have forgotten votes it cast and entries it `
    + `acknowledged. It follows and replicates, but counts towards no quorum. Repair: remove ${name} from its group `
    + `(pygmy member remove --group GROUP ${name}) and add a new member under a new name; until it is removed, its `
    + `group needs every other member to make progress`;
}
