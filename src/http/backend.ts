// The contract between the HTTP gateway and the rest of Pygmy.
//
// Owns: the shapes the gateway reads and writes (items, topics, orders, cluster status) and the named errors it
// turns into HTTP answers. Promises nothing by itself: the integration implements `Backend` with actors (cache,
// catalog and order groups, supervisor), and the tests implement it in memory.
// What an implementation must do:
// - honour the RequestDeadline it is given: the request's one deadline, made by the gateway. Every ask it makes
//   for the request takes `remainingMs()` as its time (never a deadline of its own); the gateway answers 503 at
//   the deadline anyway, so work still running after it is wasted, never visible;
// - throw `UnavailableError` when no replica or no quorum answered in time (the gateway answers 503 with
//   Retry-After), `UnknownActorError` for an actor name it does not know (404);
// - make `order` idempotent by `orderId`: the same id never buys twice and returns the first outcome.

import type { ReplicaActivity } from '../raft/activity.js';
import type { ThreadFigures } from '../runtime/thread-metrics.js';
import type { Item, Topic } from '../actors/catalog/catalog.js';
import type { ItemCursor, OrderStatus } from '../actors/order/state.js';

// The gateway serves the catalog's own shapes (their key order is the one it serializes).
export type { Item, Topic } from '../actors/catalog/catalog.js';
export type { OrderStatus } from '../actors/order/state.js';

export type CacheOutcome = 'HIT' | 'MISS';

/**
 * A request's one deadline, made by the gateway when the request starts (src/http/deadlines.ts): `signal` is
 * aborted when it passes; `remainingMs()` is the time left, on the gateway's monotonic clock, and is what every
 * ask made for the request carries.
 */
export interface RequestDeadline {
  readonly signal: AbortSignal;
  remainingMs(): number;
}

/** A catalog read as the gateway serves it: the result, the topics it refers to, and where it came from. */
export interface ReadAnswer<T> {
  readonly result: T;
  readonly topics: readonly Topic[];
  /**
   * The catalog Raft index the answer reflects: the catalog's state after applying that entry. The same query
   * answered at the same index has the same result and topics.
   */
  readonly index: number;
  readonly cache: CacheOutcome;
  /** The replica that answered a miss (for example "catalog-2"); null on a hit. */
  readonly servedBy: string | null;
  /**
   * True when the caller named the index of an answer it already holds (`knownIndex`) and the answer is still at
   * that index: result and topics are then empty, and the caller's own copy is the answer.
   */
  readonly unchanged?: boolean;
}

/** An answer ready to write as is (a near-cache hit): status, body and headers are built once and reused. */
export interface PreparedAnswer {
  readonly status: 200 | 404;
  readonly body: string;
  /** Includes content-length, so the answer goes out in one write without copying the headers. */
  readonly headers: Readonly<Record<string, string | number>>;
}

export interface OrdersPageRequest {
  readonly limit: number;
  readonly after: ItemCursor | null;
}

export interface OrdersPage {
  readonly orders: readonly Order[];
  readonly next: ItemCursor | null;
}

export interface Order {
  readonly id: string;
  readonly item: number;
  readonly amount: number;
  /** amount × price when committed; 0 when rejected; null while pending. */
  readonly total: number | null;
  readonly status: OrderStatus;
  /** Why it was rejected (insufficient, unknownItem, timeout); null unless rejected. */
  readonly reason: string | null;
  /** Milliseconds since the Unix epoch, from the gateway's clock. */
  readonly createdAt: number;
}

export interface OrderOutcome {
  readonly bought: boolean;
  readonly orderId: string;
  /** Why it was not bought (insufficient, unknownItem, timeout), when the backend knows. */
  readonly reason?: string;
  /** Set when the order id is the key of another request (another item or amount): nothing was done. */
  readonly firstRequest?: { readonly item: number; readonly amount: number };
}

export interface ActorStatus {
  readonly name: string;
  /** "catalog", "order" or "cache". */
  readonly group: string;
  /** The host (node) the actor runs on. */
  readonly node: string;
  readonly alive: boolean;
  /** Raft role; null for actors outside a Raft group (the cache). */
  readonly role: string | null;
  readonly term: number | null;
  readonly commitIndex: number | null;
  readonly lastApplied: number | null;
  readonly restarts: number;
  /** Runtime figures for /metrics and the dashboard; absent where the actor's node did not report them. */
  readonly figures?: ActorFigures;
}

/** What an actor's worker reports on the control plane, read at each scrape (never per request). */
export interface ActorFigures {
  readonly mailboxDepth: number;
  /** Messages refused because the mailbox was full. */
  readonly refused: number;
  readonly deadLetters: number;
  /** Messages dropped on purpose: full mailbox, isolation, or an ask already past its deadline. */
  readonly dropped: number;
  readonly processed: number;
  /** The actor's thread; null until it has reported. */
  readonly thread: ThreadFigures | null;
  /** Raft replicas only (null for the cache). */
  readonly replica: ReplicaFigures | null;
}

/** What src/raft's ReplicaStatus tells of a replica beyond role, term, commit and applied. */
export interface ReplicaFigures {
  /** The leader this replica knows of, or null while it knows none. */
  readonly leader: string | null;
  readonly lastIndex: number;
  readonly snapshotIndex: number;
  readonly fsyncs: number;
  /** Image streams (src/raft/snapshot-stream.ts) since the replica started: stalled ones, refused chunks, installs. */
  readonly imageStreamsStalled: number;
  readonly imageChunksRefused: number;
  readonly imagesInstalled: number;
  /** Leader changes, proposals, fsync and apply times, images (src/raft/activity.ts); null when not reported. */
  readonly activity: ReplicaActivity | null;
}

export interface ClusterStatus {
  readonly actors: readonly ActorStatus[];
  /** Group name → name of its leader, or null while it has none. */
  readonly leaders: Readonly<Record<string, string | null>>;
}

export type ActorAction = 'kill' | 'stop' | 'start' | 'isolate' | 'heal';

export const actorActions: readonly ActorAction[] = ['kill', 'stop', 'start', 'isolate', 'heal'];

/** A validated change to one item: at least one field is present. */
export interface ItemChange {
  readonly price?: number;
  readonly restock?: number;
}

export type ItemChangeResult =
  | { readonly ok: true }
  | { readonly ok: false; readonly reason: 'unknownItem' }
  | { readonly ok: false; readonly reason: 'refused'; readonly detail: string };

export interface Backend {
  /** One item and its topic; result null (with no topics) when the id is unknown. */
  lookup(id: number, deadline: RequestDeadline): Promise<ReadAnswer<Item | null>>;
  /**
   * Optional: a lookup answered at once from a coherent near cache, with no I/O; undefined when it cannot be.
   * Its answer is a cache HIT and must keep every promise a `lookup` does.
   */
  nearLookup?(id: number): PreparedAnswer | undefined;
  /**
   * Every item by id, every topic by id. `knownIndex`: the index of the answer the caller holds; an answer still at
   * it may come back `unchanged`, without its items.
   */
  list(deadline: RequestDeadline, knownIndex?: number): Promise<ReadAnswer<Item[]>>;
  /** Items of the topics whose name contains `topic` (case-insensitive); the matching topics. `knownIndex`: as for list. */
  search(topic: string, deadline: RequestDeadline, knownIndex?: number): Promise<ReadAnswer<Item[]>>;
  /**
   * Buys `amount` of `item` under `orderId` (the Idempotency-Key, or an id the gateway made). An id already used
   * for another item or amount buys nothing and answers `firstRequest`.
   */
  order(item: number, amount: number, orderId: string, deadline: RequestDeadline): Promise<OrderOutcome>;
  getOrder(orderId: string, deadline: RequestDeadline): Promise<Order | null>;
  /** One page of an item's orders in the order they were created; `next` is null after the last page. */
  ordersOfItem(item: number, page: OrdersPageRequest, deadline: RequestDeadline): Promise<OrdersPage>;
  cluster(): Promise<ClusterStatus>;
  /** True when both groups have a leader and reads and orders can be served. */
  ready(): Promise<boolean>;
  /** Throws UnknownActorError for a name it does not know. */
  actorAction(name: string, action: ActorAction): Promise<void>;
  /**
   * A replicated update that invalidates caches. Refused as unknownItem (the gateway's 404), or `refused` with the
   * catalog's reason (409: the change conflicts with the item's state, such as a restock past the stock bound).
   */
  updateItem(id: number, change: ItemChange, deadline: RequestDeadline): Promise<ItemChangeResult>;
  /** Drops the item, and every list and search result, from the cache. */
  invalidateItem(id: number, deadline: RequestDeadline): Promise<void>;
  /** The group's configuration; absent on a backend without replica groups. */
  members?(group: ReplicaGroup): Promise<GroupMembers>;
  /**
   * Removes `name` from the group (a membership change through its leader), then stops its actor; its database
   * is kept under another name. Throws MembershipRefusedError or UnavailableError (no leader).
   */
  removeMember?(group: ReplicaGroup, name: string): Promise<GroupMembers>;
  /**
   * Starts a new member's replica and adds it as a learner; unless `promote` is false, promotes it once it is
   * within the leader's bound, and answers when it is a voter. Throws MembershipRefusedError or UnavailableError.
   */
  addMember?(group: ReplicaGroup, request: { readonly name: string; readonly node: string | null; readonly promote: boolean }): Promise<GroupMembers>;
  /**
   * Optional: an online backup of both groups into `directory` (which exists and is empty): one file per group,
   * `order.db` then `catalog.db`, each at one committed index (see docs/operations.md for why in that order).
   * Throws BackupFailedError saying why when a group has no replica that can take one.
   */
  backup?(directory: string, options?: BackupOptions): Promise<readonly GroupBackup[]>;
}

export interface BackupOptions {
  /** The pace of each replica's copy and checksum (src/raft/storage/byte-rate.ts); null: unpaced. */
  readonly bytesPerSecond: number | null;
}

/** One group's file in a backup, as the replica that wrote it describes it. */
export interface GroupBackup {
  readonly group: 'order' | 'catalog';
  readonly file: string;
  readonly member: string;
  readonly clusterId: string;
  readonly index: number;
  /** The index of the ReadIndex read the copy followed: every write acknowledged before it is in the copy. */
  readonly readIndex: number;
  readonly term: number;
  readonly stateHash: string;
  readonly items: number;
  readonly orders: number;
  readonly bytes: number;
  readonly sha256: string;
  readonly capturedAt: string;
}

export class BackupFailedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BackupFailedError';
  }
}

/** A group's configuration as its leader (or, without one, its most recent member) sees it. */
export interface GroupMembers {
  readonly voters: readonly string[];
  readonly learners: readonly string[];
  readonly leader: string | null;
  readonly configIndex: number;
}

export type ReplicaGroup = 'catalog' | 'order';

/** A membership change the group's leader refused (the reason says why: not a member, a change in progress…). */
export class MembershipRefusedError extends Error {
  override readonly name = 'MembershipRefusedError';
}

/** No replica or no quorum answered within the deadline: the client may retry later. */
export class UnavailableError extends Error {
  override readonly name = 'UnavailableError';
}

export class UnknownActorError extends Error {
  override readonly name = 'UnknownActorError';
  constructor(readonly actorName: string) {
    super(`unknown actor "${actorName}"`);
  }
}

/** The gateway's own deadline for a request passed before the backend answered. */
export class DeadlineExceededError extends Error {
  override readonly name = 'DeadlineExceededError';
  constructor(readonly deadlineMs: number) {
    super(`no answer within the request deadline of ${deadlineMs} ms`);
  }
}
