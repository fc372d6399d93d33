// The vocabulary shared by the Raft core, its storage and the replica adapter.
//
// Owns: the shapes of log entries, hard state, snapshots, wire messages, and the Ready batch the core hands to
// its driver. Knows nothing of the application: an entry's `data` is an opaque string the application encodes.
// Everything here is plain data (structured-clone and JSON safe), so it crosses MessagePorts and TCP unchanged.

export type NodeId = string;

/**
 * A group's configuration as a member tells it to a client of the group (client.ts): the voters and learners the
 * `config` entry at `index` set (0: the bootstrap configuration). An answer to a `propose`, a `read` or a leader-only
 * request carries it, as `configuration`, only when the ask named an older `knownConfigIndex`.
 */
export interface GroupConfiguration {
  readonly index: number;
  readonly voters: readonly NodeId[];
  readonly learners: readonly NodeId[];
}

/** `config`: the data is a group configuration (core/config-change.ts), in force from the moment it is in a log. */
export type EntryType = 'normal' | 'noop' | 'config';

export interface Entry {
  readonly index: number;
  readonly term: number;
  readonly type: EntryType;
  /** Opaque application command (for example JSON text); empty for a no-op. */
  readonly data: string;
}

/** What must be durable before the node speaks: written and fsynced before any message of the same Ready. */
export interface HardState {
  readonly term: number;
  readonly vote: NodeId | null;
  readonly commit: number;
}

export interface SnapshotMeta {
  /** Index of the last entry the snapshot covers. */
  readonly index: number;
  /** Term of that entry. */
  readonly term: number;
  /** Voting members of the group at that point. */
  readonly peers: readonly NodeId[];
  /** Non-voting members (learners) at that point; absent means none. */
  readonly learners?: readonly NodeId[];
  /** Index of the `config` entry that set that configuration (0: the bootstrap one); absent means `index`. */
  readonly configIndex?: number;
}

export interface Snapshot {
  readonly meta: SnapshotMeta;
  /** The application's state machine image, produced by StateMachine.snapshot(). */
  readonly data: string;
}

export type Role = 'follower' | 'preCandidate' | 'candidate' | 'leader';

interface MessageBase {
  readonly from: NodeId;
  readonly to: NodeId;
  readonly term: number;
}

export type Message =
  | (MessageBase & { readonly type: 'preVote'; readonly lastLogIndex: number; readonly lastLogTerm: number })
  | (MessageBase & { readonly type: 'preVoteResponse'; readonly reject: boolean })
  | (MessageBase & {
      readonly type: 'vote';
      readonly lastLogIndex: number;
      readonly lastLogTerm: number;
      /** Set during leadership transfer: lets the candidate bypass the leader-lease check of the voters. */
      readonly transfer: boolean;
    })
  | (MessageBase & { readonly type: 'voteResponse'; readonly reject: boolean })
  | (MessageBase & {
      readonly type: 'append';
      readonly prevIndex: number;
      readonly prevTerm: number;
      readonly entries: readonly Entry[];
      readonly commit: number;
    })
  | (MessageBase & {
      readonly type: 'appendResponse';
      readonly reject: boolean;
      /** On success: the highest index now known to match the leader. On reject: the prevIndex refused. */
      readonly index: number;
      /** On reject: a hint for fast back-off, the follower's last index and the term at the conflict. */
      readonly hintIndex: number;
      readonly hintTerm: number;
    })
  | (MessageBase & { readonly type: 'heartbeat'; readonly commit: number; readonly context: string | null })
  | (MessageBase & { readonly type: 'heartbeatResponse'; readonly context: string | null })
  | (MessageBase & { readonly type: 'installSnapshot'; readonly snapshot: Snapshot })
  | (MessageBase & { readonly type: 'readIndex'; readonly context: string })
  | (MessageBase & { readonly type: 'readIndexResponse'; readonly context: string; readonly index: number; readonly reject: boolean })
  | (MessageBase & { readonly type: 'timeoutNow' });

/** A read that is now safe to serve once the local state machine has applied up to `index`. */
export interface ReadState {
  readonly index: number;
  readonly context: string;
}

/** A read that can no longer be served by this node (it lost leadership, or the leader refused it). */
export interface ReadFailure {
  readonly context: string;
  readonly reason: 'notLeader' | 'leaderUnknown' | 'dropped';
}

export interface SoftState {
  readonly leader: NodeId | null;
  readonly role: Role;
}

/**
 * One batch of work for the driver, in the manner of etcd's raft.Ready. Act on it in this order:
 * 1. persist `snapshot` (if any), then `entries` (replacing any stored entries at or after entries[0].index),
 *    then `hardState` (if any), and fsync once;
 * 2. send `messages` (they may promise what step 1 made durable);
 * 3. apply `committedEntries` in order, then serve `readStates` whose index is applied, fail `readFailures`;
 * 4. call `advance(ready)`.
 */
export interface Ready {
  readonly softState: SoftState | null;
  readonly hardState: HardState | null;
  readonly snapshot: Snapshot | null;
  readonly entries: readonly Entry[];
  readonly messages: readonly Message[];
  readonly committedEntries: readonly Entry[];
  readonly readStates: readonly ReadState[];
  readonly readFailures: readonly ReadFailure[];
}

/** What a node restores from its own disk when it starts. */
export interface PersistedState {
  readonly hardState: HardState;
  readonly snapshot: SnapshotMeta | null;
  /** Entries after the snapshot, in index order, contiguous. */
  readonly entries: readonly Entry[];
}

/** A random source in [0, 1), injected so that runs are reproducible from a seed. */
export type Random = () => number;
