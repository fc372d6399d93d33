// The gateway's Backend, implemented with the actors: the cache actor for catalog reads, the order group for
// orders, the catalog group for item updates, and the supervisor for cluster status.
// The statuses are read into the cluster's shapes by src/http/cluster-status.ts; the cache client
// (src/actors/cache/client.ts) owns everything about the cache. The admin calls of the contract (actions on an
// actor, membership, backup) are forwarded by src/http/admin-forwarding.ts, which this file hands its group
// clients and the cache client's guard.
//
// Promises beyond the Backend contract:
// - Read-your-writes: before `order` or `updateItem` returns, the cache has confirmed the write's catalog index
//   (the cache client, src/actors/cache/client.ts, owns that and trust in the cache; an unconfirmed write makes
//   reads go straight to the catalog group until the cache is cleared).
// - Reads keep working without the cache: when the cache actor is down or isolated, a read goes to the catalog
//   group directly (a linearizable ReadIndex read, reported as a MISS). With the cache switched off
//   (`readThroughCache: false`) every read goes there.
// - Near cache (option `nearCache`, only when the cache actor runs in this process): lookups the cache actor held
//   are mirrored in this thread and served without a message (the cache client's mirror).
// - Orders are retried through the order group's next leader with the same order id; the saga makes that
//   exactly-once.
import { performance } from 'node:perf_hooks';
import { nanoid } from 'nanoid';
import { CacheClient, type CacheQuery } from '../actors/cache/client.js';
import type { MirrorStats } from '../actors/cache/mirror.js';
import type { CatalogMachine, CatalogQuery, CatalogResult, ItemsAnswer, LookupAnswer } from '../actors/catalog/commands.js';
import type { OrderCalls } from '../actors/order/actor.js';
import type { Order as StoredOrder, OrderMachine } from '../actors/order/state.js';
import { assertNever } from '../assert.js';
import { GroupClient } from '../raft/client.js';
import { EpisodeLog, foldedSuffix } from '../runtime/log-episodes.js';
import type { ActorWatcher } from '../runtime/system.js';
import { AdminForwarding, gatewayError, isUnavailable, type AdminOptions } from './admin-forwarding.js';
import { clusterStatus } from './cluster-status.js';
import { prepareLookup, type PreparedLookup } from './prepared-lookup.js';
import { timeoutsDefault, type Timeouts } from './timeouts.js';
import {
  UnavailableError,
  type ActorAction,
  type Backend,
  type BackupOptions,
  type ClusterStatus,
  type GroupBackup,
  type GroupMembers,
  type Item,
  type ItemChange,
  type ItemChangeResult,
  type Order,
  type OrderOutcome,
  type OrdersPage,
  type OrdersPageRequest,
  type ReadAnswer,
  type ReplicaGroup,
  type RequestDeadline,
  type Topic,
} from './backend.js';

export type { ActorPort } from './admin-forwarding.js';

/** The admin calls' options (src/http/admin-forwarding.ts), and those of reads and orders. */
export interface ActorBackendOptions extends AdminOptions {
  readonly cacheName: string;
  /** Attempts on one replica (src/http/timeouts.ts; checked against the request deadline at start-up). */
  readonly timeouts?: Pick<Timeouts, 'catalogAttemptMs' | 'orderAttemptMs'>;
  /**
   * Mirror the cache actor's lookups in this thread. Only for a cache actor in this process: `watch` is the
   * runtime's hook on it (ActorSystem.watchActor), which feeds the mirror its notices and revokes it when it goes.
   */
  readonly nearCache?: {
    readonly capacity: number;
    readonly now?: () => number;
    readonly watch: (name: string, watcher: ActorWatcher) => () => void;
  } | null;
  /**
   * False when the cache is switched off: reads go straight to the catalog group (a linearizable read on a
   * replica) instead of through a cache actor that would only pass them on. Default true.
   */
  readonly readThroughCache?: boolean;
}

/** A failover line per group is written at most once per this interval, with a count of those folded into it. */
const failoverLogIntervalMs = 10_000;

/** The query itself, for the replicas: knownIndex is between the asker and the cache. */
function catalogQueryOf(read: CacheQuery): Extract<CatalogQuery, { type: 'lookup' | 'list' | 'search' }> {
  switch (read.type) {
    case 'lookup':
      return { type: 'lookup', id: read.id };
    case 'list':
      return { type: 'list' };
    case 'search':
      return { type: 'search', topic: read.topic };
    default:
      return assertNever(read, 'catalog read');
  }
}

/** The catalog's answer to a price or restock as the gateway's refusal: unknown item (404) or refused (409). */
function changeResult(result: CatalogResult, what: string): ItemChangeResult {
  if (result.ok) return { ok: true };
  if (result.reason === 'unknownItem') return { ok: false, reason: 'unknownItem' };
  if (result.reason === 'badCommand') return { ok: false, reason: 'refused', detail: `${what} refused: ${result.detail}` };
  return { ok: false, reason: 'refused', detail: `${what} refused: ${result.reason}` };
}

function toOrder(order: StoredOrder): Order {
  const total = order.status === 'pending' ? null : (order.total ?? 0);
  return { id: order.id, item: order.item, amount: order.amount, total, status: order.status, reason: order.reason, createdAt: order.createdAt };
}

export class ActorBackend implements Backend {
  private readonly options: ActorBackendOptions;
  private readonly catalog: GroupClient<CatalogMachine>;
  private readonly orders: GroupClient<OrderMachine, OrderCalls>;
  private readonly cache: CacheClient<PreparedLookup>;
  private readonly admin: AdminForwarding;

  constructor(options: ActorBackendOptions) {
    this.options = options;
    const ask = (target: string, message: unknown, timeoutMs: number) => options.actors.ask(target, message, { timeoutMs });
    const near = options.nearCache ?? null;
    this.cache = new CacheClient<PreparedLookup>({
      ask, cacheName: options.cacheName, log: options.log, readThrough: options.readThroughCache ?? true,
      nearCache: near === null ? null : { ...near, prepare: prepareLookup },
    });
    // One line per episode and group: when a replica is slow, every request tried on it would otherwise write one.
    const onFailover = (group: string) => {
      const episodes = new EpisodeLog(failoverLogIntervalMs);
      return (from: string, _to: string | null, reason: string) => {
        const note = episodes.note(performance.now());
        if (!note.write) return;
        options.log.info({ group, from, reason, event: 'failover' }, `gateway: ${from} did not answer (${reason}); trying the next ${group} replica${foldedSuffix(note)}`);
      };
    };
    // The request deadline is on the gateway's monotonic clock: the group clients count time on the same one.
    const now = () => performance.now();
    const timeouts = options.timeouts ?? timeoutsDefault;
    this.catalog = new GroupClient<CatalogMachine>({ group: 'catalog', members: options.catalogMembers, ask, isUnavailable, now, attemptTimeoutMs: timeouts.catalogAttemptMs, onFailover: onFailover('catalog') });
    this.orders = new GroupClient<OrderMachine, OrderCalls>({ group: 'order', members: options.orderMembers, ask, isUnavailable, now, attemptTimeoutMs: timeouts.orderAttemptMs, onFailover: onFailover('order') });
    this.admin = new AdminForwarding(options, {
      catalog: this.catalog, orders: this.orders,
      aroundAction: (name, cutsOff, perform) => this.cache.aroundAction(name, cutsOff, perform),
    });
  }

  /** The request's deadline on the group clients' clock (the gateway's monotonic clock, this thread's). */
  private deadlineAt(deadline: RequestDeadline): number {
    return performance.now() + deadline.remainingMs();
  }

  /** A lookup the near cache can answer now, prepared for writing; undefined when it cannot (or is off). */
  nearLookup(id: number): PreparedLookup | undefined {
    return this.cache.nearLookup(id);
  }

  nearCacheStats(): MirrorStats | null {
    return this.cache.nearCacheStats();
  }

  /**
   * The catalog group's members as this gateway knows them now (it follows every configuration the replicas
   * answer with): what an actor that needs the catalog starts from when it is restarted.
   */
  catalogMembersNow(): readonly string[] {
    return this.catalog.configuration.members;
  }

  /** Stops listening to the cache actor (the near cache's notices). */
  close(): void {
    this.cache.close();
  }

  /** Settles once no background attempt to trust the cache again is in flight. */
  cacheSettled(): Promise<void> {
    return this.cache.settled();
  }

  lookup(id: number, deadline: RequestDeadline): Promise<ReadAnswer<Item | null>> {
    return this.read({ type: 'lookup', id }, deadline, (result) => {
      const answer = result as LookupAnswer;
      return { result: answer.item, topics: answer.topics };
    }) as Promise<ReadAnswer<Item | null>>;
  }

  list(deadline: RequestDeadline, knownIndex?: number): Promise<ReadAnswer<Item[]>> {
    return this.read({ type: 'list', ...(knownIndex === undefined ? {} : { knownIndex }) }, deadline, (result) => {
      const answer = result as ItemsAnswer;
      return { result: answer.items, topics: answer.topics };
    }) as Promise<ReadAnswer<Item[]>>;
  }

  search(topic: string, deadline: RequestDeadline, knownIndex?: number): Promise<ReadAnswer<Item[]>> {
    return this.read({ type: 'search', topic, ...(knownIndex === undefined ? {} : { knownIndex }) }, deadline, (result) => {
      const answer = result as ItemsAnswer;
      return { result: answer.items, topics: answer.topics };
    }) as Promise<ReadAnswer<Item[]>>;
  }

  /** Through the cache when it is trusted and up; straight to the catalog group otherwise. */
  private async read(
    query: CacheQuery,
    deadline: RequestDeadline,
    shape: (result: LookupAnswer | ItemsAnswer) => { result: unknown; topics: readonly Topic[] },
  ): Promise<ReadAnswer<unknown>> {
    const answer = await this.cache.read(query, deadline.remainingMs()).catch((error: unknown) => { throw gatewayError(error); });
    if (answer !== null && answer.unchanged === true) {
      return { result: [], topics: [], index: answer.index, cache: answer.cache, servedBy: answer.servedBy, unchanged: true };
    }
    if (answer !== null) {
      return { result: answer.result, topics: answer.topics as Topic[], index: answer.index, cache: answer.cache, servedBy: answer.servedBy };
    }
    if (deadline.signal.aborted) throw new UnavailableError('request deadline passed');
    try {
      // The replicas answer the query itself; knownIndex is for the cache.
      const answer = await this.catalog.read(catalogQueryOf(query), this.deadlineAt(deadline));
      const shaped = shape(answer.result);
      return { result: shaped.result, topics: [...shaped.topics], index: answer.index, cache: 'MISS', servedBy: answer.servedBy };
    } catch (error) {
      throw gatewayError(error);
    }
  }

  async order(item: number, amount: number, orderId: string, deadline: RequestDeadline): Promise<OrderOutcome> {
    let answer;
    try {
      answer = await this.orders.leaderCall({ type: 'order', orderId, item, amount, createdAt: Date.now() }, this.deadlineAt(deadline));
    } catch (error) {
      throw gatewayError(error);
    }
    const outcome = answer.result;
    if (outcome.kind === 'keyReused') return { bought: false, orderId, firstRequest: { item: outcome.first.item, amount: outcome.first.amount } };
    if (outcome.bought) await this.cache.confirmWrite(outcome.catalogIndex > 0 ? outcome.catalogIndex : await this.catalogIndexNow(deadline), deadline.remainingMs());
    const reason = outcome.order.reason;
    return outcome.bought || reason === null ? { bought: outcome.bought, orderId } : { bought: false, orderId, reason };
  }

  /**
   * A repeated order (decided earlier, perhaps by an attempt whose answer was lost) does not say at which catalog
   * index its deduct applied; a linearizable read's index is at least that, so invalidating there is safe.
   */
  private async catalogIndexNow(deadline: RequestDeadline): Promise<number> {
    try {
      return (await this.catalog.read({ type: 'changeIndex' }, this.deadlineAt(deadline))).index;
    } catch (error) {
      throw gatewayError(error);
    }
  }

  async getOrder(orderId: string, deadline: RequestDeadline): Promise<Order | null> {
    try {
      const answer = await this.orders.read({ type: 'get', orderId }, this.deadlineAt(deadline));
      return answer.result === null ? null : toOrder(answer.result);
    } catch (error) {
      throw gatewayError(error);
    }
  }

  async ordersOfItem(item: number, page: OrdersPageRequest, deadline: RequestDeadline): Promise<OrdersPage> {
    try {
      const answer = await this.orders.read({ type: 'itemPage', item, after: page.after, limit: page.limit }, this.deadlineAt(deadline));
      const stored = answer.result;
      return { orders: stored.orders.map(toOrder), next: stored.next };
    } catch (error) {
      throw gatewayError(error);
    }
  }

  async updateItem(id: number, change: ItemChange, deadline: RequestDeadline): Promise<ItemChangeResult> {
    let outcome: ItemChangeResult = { ok: true };
    let lastIndex = 0;
    try {
      if (change.price !== undefined) {
        const answer = await this.catalog.propose({ type: 'setPrice', requestId: nanoid(), item: id, price: change.price }, this.deadlineAt(deadline));
        outcome = changeResult(answer.result, 'price');
        lastIndex = answer.index;
      }
      if (outcome.ok && change.restock !== undefined) {
        const answer = await this.catalog.propose({ type: 'restock', requestId: nanoid(), item: id, amount: change.restock }, this.deadlineAt(deadline));
        outcome = changeResult(answer.result, change.price === undefined ? 'restock' : 'restock (the price was set)');
        lastIndex = answer.index;
      }
    } catch (error) {
      throw gatewayError(error);
    }
    // A price set before a refused restock is a change the cache must see too.
    if (lastIndex > 0 && (outcome.ok || change.price !== undefined)) await this.cache.confirmWrite(lastIndex, deadline.remainingMs());
    return outcome;
  }

  invalidateItem(id: number, deadline: RequestDeadline): Promise<void> {
    return this.cache.invalidateItem(id, deadline.remainingMs());
  }

  async cluster(): Promise<ClusterStatus> {
    return clusterStatus(await this.options.actors.status(), this.options.nodeOf);
  }

  async ready(): Promise<boolean> {
    const status = await this.cluster();
    return status.leaders.catalog !== null && status.leaders.order !== null;
  }

  actorAction(name: string, action: ActorAction): Promise<void> {
    return this.admin.actorAction(name, action);
  }

  members(group: ReplicaGroup): Promise<GroupMembers> {
    return this.admin.members(group);
  }

  removeMember(group: ReplicaGroup, name: string): Promise<GroupMembers> {
    return this.admin.removeMember(group, name);
  }

  addMember(group: ReplicaGroup, request: { readonly name: string; readonly node: string | null; readonly promote: boolean }): Promise<GroupMembers> {
    return this.admin.addMember(group, request);
  }

  backup(directory: string, options?: BackupOptions): Promise<readonly GroupBackup[]> {
    return this.admin.backup(directory, options);
  }
}
