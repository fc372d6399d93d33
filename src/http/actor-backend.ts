// The gateway's Backend, implemented with the actors: the cache actor for catalog reads, the order group for
// orders, the catalog group for item updates, and the supervisor for status and fault injection.
// The statuses are read into the cluster's shapes by src/http/cluster-status.ts; the cache client
// (src/actors/cache/client.ts) owns everything about the cache.
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
import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { ByteRate } from '../raft/storage/byte-rate.js';
import { backupChunkBytes, type BackupChunk } from '../raft/staged-backups.js';
import { nanoid } from 'nanoid';
import { CacheClient, type CacheQuery } from '../actors/cache/client.js';
import type { CatalogMachine, CatalogQuery, CatalogResult, ItemsAnswer, LookupAnswer } from '../actors/catalog/commands.js';
import { assertNever } from '../assert.js';
import type { OrderCalls, OrderOutcome as SagaOutcome } from '../actors/order/actor.js';
import type { ItemPage, Order as StoredOrder, OrderMachine } from '../actors/order/state.js';
import { GroupClient, GroupUnavailableError } from '../raft/client.js';
import type { Logger } from '../runtime/actor.js';
import { isRuntimeError } from '../runtime/errors.js';
import { EpisodeLog, foldedSuffix } from '../runtime/log-episodes.js';
import type { MirrorStats } from '../actors/cache/mirror.js';
import type { ActorStatus as RuntimeActorStatus, ActorWatcher } from '../runtime/system.js';
import { clusterStatus, membersView } from './cluster-status.js';
import { prepareLookup, type PreparedLookup } from './prepared-lookup.js';
import { timeoutsDefault, type Timeouts } from './timeouts.js';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { BackupAnswer } from '../raft/replica.js';
import {
  BackupFailedError,
  UnavailableError,
  UnknownActorError,
  type GroupBackup,
  type BackupOptions,
  MembershipRefusedError,
  type GroupMembers,
  type ReplicaGroup,
  type ActorAction,
  type Backend,
  type ClusterStatus,
  type Item,
  type ItemChange,
  type ItemChangeResult,
  type Order,
  type OrderOutcome,
  type OrdersPage,
  type OrdersPageRequest,
  type ReadAnswer,
  type RequestDeadline,
  type Topic,
} from './backend.js';

/** How long one replica may take to copy its group's state (a 2,000,000-order database takes seconds). */
export const backupTimeoutMs = 60 * 60_000;
/** How long a backup holds the catalog's dedupe pruning at most (a lease, should the gateway die mid-backup). */
export const backupPruneHoldMs = 3 * backupTimeoutMs;

/** What the backend needs of the actor system: satisfied by ActorSystem, and by the multi-host node. */
export interface ActorPort {
  ask<R = unknown>(target: string, message: unknown, options?: { timeoutMs?: number }): Promise<R>;
  status(): Promise<RuntimeActorStatus[]>;
  kill(name: string): Promise<void>;
  stop(name: string): Promise<void>;
  startActor(name: string): Promise<void>;
  isolate(name: string): Promise<void>;
  heal(name: string): Promise<void>;
}

export interface ActorBackendOptions {
  readonly actors: ActorPort;
  readonly catalogMembers: readonly string[];
  readonly orderMembers: readonly string[];
  readonly cacheName: string;
  /** Which node each actor runs on, for /cluster; "local" when absent. */
  readonly nodeOf?: (actor: string) => string;
  /** The gateway's own node, to tell replicas beside it from those on other hosts (backups); absent: one process. */
  readonly localNode?: string;
  /**
   * The bound of the operations calls that come with no request deadline (membership changes); a request's own
   * calls take its deadline's time remaining instead.
   */
  readonly deadlineMs?: number;
  /** Attempts on one replica (src/http/timeouts.ts; checked against the request deadline at start-up). */
  readonly timeouts?: Pick<Timeouts, 'catalogAttemptMs' | 'orderAttemptMs'>;
  readonly log: Logger;
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
  /** Keeps a removed member's database under another name (never deletes it); absent: left where it is. */
  readonly retireDatabase?: (name: string) => void;
  /** Starts a new member's replica actor (its own thread and database); absent: members cannot be added here. */
  readonly startMember?: (group: ReplicaGroup, name: string, node: string | null) => Promise<void>;
  /** Why a new member cannot be started on `node` (null: it can); asked before anything is proposed. */
  readonly memberNodeProblem?: (node: string | null) => string | null | Promise<string | null>;
}

const isUnavailable = (error: unknown) => isRuntimeError(error, 'ACTOR_UNAVAILABLE');

/** A failover line per group is written at most once per this interval, with a count of those folded into it. */
const failoverLogIntervalMs = 10_000;

/** The catalog's answer to a price or restock as the gateway's refusal: unknown item (404) or refused (409). */
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
  /** The order group's members as this gateway last learned them. */
  private orderNames: readonly string[];
  /** The catalog members as of the last change this gateway made (told to every order replica). */
  private catalogNames: readonly string[];
  private readonly orders: GroupClient<OrderMachine, OrderCalls>;
  private readonly deadlineMs: number;
  private readonly cache: CacheClient<PreparedLookup>;

  constructor(options: ActorBackendOptions) {
    this.options = options;
    this.orderNames = [...options.orderMembers];
    this.catalogNames = [...options.catalogMembers];
    this.deadlineMs = options.deadlineMs ?? 3_000;
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

  /** Stops listening to the cache actor (the near cache's notices). */
  close(): void {
    this.cache.close();
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
    const answer = await this.cache.read(query, deadline.remainingMs()).catch((error: unknown) => { throw this.translate(error); });
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
      throw this.translate(error);
    }
  }

  async order(item: number, amount: number, orderId: string, deadline: RequestDeadline): Promise<OrderOutcome> {
    let answer;
    try {
      answer = await this.orders.leaderCall({ type: 'order', orderId, item, amount, createdAt: Date.now() }, this.deadlineAt(deadline));
    } catch (error) {
      throw this.translate(error);
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
      throw this.translate(error);
    }
  }

  async getOrder(orderId: string, deadline: RequestDeadline): Promise<Order | null> {
    try {
      const answer = await this.orders.read({ type: 'get', orderId }, this.deadlineAt(deadline));
      return answer.result === null ? null : toOrder(answer.result);
    } catch (error) {
      throw this.translate(error);
    }
  }

  async ordersOfItem(item: number, page: OrdersPageRequest, deadline: RequestDeadline): Promise<OrdersPage> {
    try {
      const answer = await this.orders.read({ type: 'itemPage', item, after: page.after, limit: page.limit }, this.deadlineAt(deadline));
      const stored = answer.result;
      return { orders: stored.orders.map(toOrder), next: stored.next };
    } catch (error) {
      throw this.translate(error);
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
      throw this.translate(error);
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

  /**
   * One group after the other, order first: every catalog deduct an order the order file holds depends on is then
   * in the catalog file (docs/operations.md, "Why two indexes agree"). In each group a follower is asked first, so
   * the leader's thread keeps serving; the leader only when no follower could.
   */
  async backup(directory: string, options: BackupOptions = { bytesPerSecond: null }): Promise<readonly GroupBackup[]> {
    const statuses = await this.cluster();
    // The catalog prunes no deduct record from before the order copy until the catalog copy is done.
    await this.holdPrunes(Date.now() + backupPruneHoldMs);
    try {
      const backups: GroupBackup[] = [];
      for (const [group, members] of [['order', this.orderNames], ['catalog', this.catalogNames]] as const) {
        backups.push(await this.backupGroup(group, members, statuses, directory, options));
      }
      return backups;
    } finally {
      await this.holdPrunes(0).catch((error: unknown) => this.options.log.warn({ event: 'backup' },
        `backup: the hold on dedupe pruning was not released (${error instanceof Error ? error.message : String(error)}); it ends by its lease`));
    }
  }

  private async holdPrunes(untilMs: number): Promise<void> {
    try {
      await this.catalog.propose({ type: 'holdPrunes', untilMs }, performance.now() + 5_000);
    } catch (error) {
      throw new BackupFailedError(`the catalog group could not hold dedupe pruning for the backup (${error instanceof Error ? error.message : String(error)})`);
    }
  }

  private async backupGroup(group: GroupBackup['group'], members: readonly string[], statuses: ClusterStatus, directory: string, options: BackupOptions): Promise<GroupBackup> {
    const role = (name: string) => statuses.actors.find((actor) => actor.name === name);
    const candidates = members
      .filter((name) => role(name)?.alive === true)
      .sort((left, right) => Number(role(left)?.role === 'leader') - Number(role(right)?.role === 'leader'));
    const file = `${group}.db`;
    const destination = join(directory, file);
    const failures: string[] = [];
    for (const member of candidates) {
      // A replica on this node writes its copy here; one on another node stages it there and it is read over the
      // transport in checked chunks.
      const local = this.isOnThisNode(member);
      let answer: BackupAnswer;
      try {
        answer = await this.options.actors.ask<BackupAnswer>(member, { type: 'backup', destination: local ? destination : null, bytesPerSecond: options.bytesPerSecond }, { timeoutMs: backupTimeoutMs });
        if (answer.ok && answer.staged !== undefined) await fetchStagedCopy(this.options.actors, member, answer.staged, destination, answer, options.bytesPerSecond);
      } catch (error) {
        failures.push(`${member}: ${error instanceof Error ? error.message : String(error)}`);
        rmSync(destination, { force: true });
        continue;
      }
      if (!answer.ok) {
        failures.push(`${member}: ${answer.error}`);
        continue;
      }
      if (!existsSync(destination)) {
        failures.push(`${member} wrote its copy on its own host, not beside the gateway`);
        continue;
      }
      const { member: _member, ok: _ok, ...record } = answer;
      return { group, file, member, ...record, capturedAt: new Date().toISOString() };
    }
    throw new BackupFailedError(`no ${group} replica could take a backup (${failures.join('; ') || 'none is alive'})`);
  }

  /** True when `member` runs on the gateway's own node (always, without a node map: one process). */
  private isOnThisNode(member: string): boolean {
    const nodeOf = this.options.nodeOf;
    const localNode = this.options.localNode;
    return nodeOf === undefined || localNode === undefined || nodeOf(member) === localNode;
  }

  async ready(): Promise<boolean> {
    const status = await this.cluster();
    return status.leaders.catalog !== null && status.leaders.order !== null;
  }

  async actorAction(name: string, action: ActorAction): Promise<void> {
    const known = (await this.options.actors.status()).some((status) => status.name === name);
    if (!known) throw new UnknownActorError(name);
    const cutsOff = action === 'kill' || action === 'stop' || action === 'isolate';
    await this.cache.aroundAction(name, cutsOff, () => this.performAction(name, action));
  }

  async members(group: ReplicaGroup): Promise<GroupMembers> {
    return membersView(await this.options.actors.status(), group);
  }

  async removeMember(group: ReplicaGroup, name: string): Promise<GroupMembers> {
    const before = await this.members(group);
    if (!before.voters.includes(name) && !before.learners.includes(name)) {
      throw new MembershipRefusedError(`${name} is not a member of the ${group} group (voters ${before.voters.join(', ')}; learners ${before.learners.join(', ') || 'none'})`);
    }
    if (before.leader === null) throw new UnavailableError(`the ${group} group has no leader`);
    const answer = await this.options.actors.ask(before.leader, { type: 'changeMembership', change: { type: 'remove', node: name } }, { timeoutMs: this.deadlineMs })
      .catch((error: unknown) => { throw this.translate(error); }) as { ok: boolean; reason?: string; error?: string };
    if (!answer.ok) {
      if (answer.error === 'notLeader' || answer.error === 'dropped' || answer.error === 'busy') throw new UnavailableError(`the ${group} leader moved: ${answer.reason ?? answer.error}`);
      throw new MembershipRefusedError(`the ${group} leader refused to remove ${name}: ${answer.reason ?? answer.error ?? 'no reason'}`);
    }
    // The change committed: the removed member's actor stops (if it runs here) and its database is kept aside.
    const known = (await this.options.actors.status()).some((status) => status.name === name);
    if (known) {
      // A member on a host that is gone (the reason it is removed) cannot be stopped: it is out of the group anyway.
      const stopped = await this.options.actors.stop(name).then(() => true, (error: unknown) => {
        if (!isUnavailable(error)) throw error;
        this.options.log.warn({ group, member: name, event: 'memberUnreachable' }, `gateway: ${name} is removed but its node did not answer; it was not stopped`);
        return false;
      });
      if (stopped) this.options.retireDatabase?.(name);
    }
    this.options.log.info({ group, member: name, event: 'memberRemoved' }, `gateway: ${name} removed from the ${group} group; its actor stopped, its database kept`);
    return this.followMembers(group, await this.members(group));
  }

  async addMember(group: ReplicaGroup, request: { readonly name: string; readonly node: string | null; readonly promote: boolean }): Promise<GroupMembers> {
    const startMember = this.options.startMember;
    if (startMember === undefined) throw new MembershipRefusedError('this gateway cannot start new members');
    const name = request.name;
    if (!name.startsWith(`${group}-`)) throw new MembershipRefusedError(`a ${group} member's name starts with "${group}-", got ${name}`);
    const nodeProblem = (await this.options.memberNodeProblem?.(request.node)) ?? null;
    if (nodeProblem !== null) throw new MembershipRefusedError(nodeProblem);
    const before = await this.members(group);
    const running = (await this.options.actors.status()).some((status) => status.name === name && status.alive);
    if (before.learners.includes(name) && running) {
      // The same add again, after one answered 503 while the learner caught up (or to promote a kept learner):
      // it goes on from where it is.
      if (!request.promote) return this.followMembers(group, before);
    } else {
      if (before.voters.includes(name) || before.learners.includes(name)) throw new MembershipRefusedError(`${name} is already a member of the ${group} group`);
      if ((await this.options.actors.status()).some((status) => status.name === name)) {
        throw new MembershipRefusedError(`an actor named ${name} exists already; a new member needs a name never used`);
      }
      await this.proposeChange(group, { type: 'addLearner', node: name });
      await startMember(group, name, request.node);
      if (!request.promote) return this.followMembers(group, await this.members(group));
    }
    // Promoted once it is within the leader's bound; refused (learnerBehind) until then, so try again, bounded.
    const deadline = Date.now() + this.deadlineMs;
    for (let attempt = 0; ; attempt += 1) {
      const answer = await this.proposeChange(group, { type: 'promote', node: name }, true);
      if (answer === 'done') break;
      if (Date.now() > deadline) {
        throw new UnavailableError(`${name} joined as a learner but did not catch up in ${this.deadlineMs} ms; it stays a learner until the same add is sent again`);
      }
      await new Promise((resolve) => setTimeout(resolve, Math.min(200, 20 * (attempt + 1))));
    }
    this.options.log.info({ group, member: name, event: 'memberAdded' }, `gateway: ${name} added to the ${group} group`);
    return this.followMembers(group, await this.members(group));
  }

  /**
   * After a change: this gateway's group client tries the new members, and so do the order replicas' catalog
   * clients (told with {type:'catalogMembers'}, also a new order member, which starts from its node's list).
   * An order replica that restarts later starts from its bootstrap list.
   */
  private followMembers(group: ReplicaGroup, view: GroupMembers): GroupMembers {
    const members = [...view.voters, ...view.learners];
    if (group === 'catalog') {
      this.catalog.setMembers(members);
      this.catalogNames = members;
    } else {
      this.orders.setMembers(members);
      this.orderNames = members;
    }
    for (const order of this.orderNames) {
      void this.options.actors.ask(order, { type: 'catalogMembers', members: this.catalogNames }, { timeoutMs: 1_000 }).catch(() => undefined);
    }
    return view;
  }


  /** One membership change through the group's leader; `retryBehind`: a learnerBehind refusal answers 'behind'. */
  private async proposeChange(group: ReplicaGroup, change: { type: 'addLearner' | 'promote' | 'remove'; node: string }, retryBehind = false): Promise<'done' | 'behind'> {
    const view = await this.members(group);
    if (view.leader === null) throw new UnavailableError(`the ${group} group has no leader`);
    const answer = await this.options.actors.ask(view.leader, { type: 'changeMembership', change }, { timeoutMs: this.deadlineMs })
      .catch((error: unknown) => { throw this.translate(error); }) as { ok: boolean; reason?: string; error?: string };
    if (answer.ok) return 'done';
    if (retryBehind && (answer.error === 'learnerBehind' || answer.error === 'changeInProgress')) return 'behind';
    if (answer.error === 'notLeader' || answer.error === 'dropped' || answer.error === 'busy' || answer.error === 'leaderNotReady') {
      throw new UnavailableError(`the ${group} leader could not take the change now: ${answer.reason ?? answer.error}`);
    }
    throw new MembershipRefusedError(`the ${group} leader refused to ${change.type} ${change.node}: ${answer.reason ?? answer.error ?? 'no reason'}`);
  }

  private performAction(name: string, action: ActorAction): Promise<void> {
    switch (action) {
      case 'kill':
        return this.options.actors.kill(name);
      case 'stop':
        return this.options.actors.stop(name);
      case 'start':
        return this.options.actors.startActor(name);
      case 'isolate':
        return this.options.actors.isolate(name);
      case 'heal':
        return this.options.actors.heal(name);
    }
  }

  private translate(error: unknown): unknown {
    if (error instanceof GroupUnavailableError) return new UnavailableError(error.message);
    if (isRuntimeError(error, 'ASK_TIMEOUT') || isRuntimeError(error, 'MAILBOX_FULL') || isUnavailable(error)) {
      return new UnavailableError(error instanceof Error ? error.message : String(error));
    }
    return error;
  }
}

/** Attempts at one chunk of a staged copy whose checksum did not match (or whose ask failed) before giving up. */
const chunkAttemptsMax = 3;
const chunkTimeoutMs = 30_000;

/**
 * Reads a copy `member` staged on its own host into `destination`, chunk by chunk (staged-backups.ts): each
 * chunk's sha256 is checked, a bad one asked again (at most chunkAttemptsMax times), and the whole file's size
 * and sha256 must be the record's. The staged copy is dropped afterwards, whatever happened. Paced as the copy was.
 */
async function fetchStagedCopy(actors: ActorPort, member: string, staged: string, destination: string, record: { readonly bytes: number; readonly sha256: string }, bytesPerSecond: number | null): Promise<void> {
  const rate = new ByteRate(bytesPerSecond, performance.now());
  const file = await open(destination, 'wx');
  const digest = createHash('sha256');
  let offset = 0;
  try {
    for (;;) {
      const chunk = await readChunk(actors, member, staged, offset);
      const bytes = Buffer.from(chunk.data, 'base64');
      await file.write(bytes, 0, bytes.length, offset);
      digest.update(bytes);
      offset += bytes.length;
      if (offset > record.bytes) throw new Error(`the staged copy on ${member} is longer than its record (${record.bytes} bytes)`);
      if (chunk.end) break;
      const waitMs = rate.take(bytes.length, performance.now());
      if (waitMs > 0) await new Promise((resolve) => setTimeout(resolve, waitMs));
    }
    await file.sync();
  } finally {
    await file.close();
    void actors.ask(member, { type: 'backupDrop', staged }, { timeoutMs: chunkTimeoutMs }).catch(() => undefined);
  }
  const sha256 = digest.digest('hex');
  if (offset !== record.bytes || sha256 !== record.sha256) {
    throw new Error(`the copy read from ${member} is ${offset} bytes with sha256 ${sha256}, its record says ${record.bytes} bytes and ${record.sha256}`);
  }
}

async function readChunk(actors: ActorPort, member: string, staged: string, offset: number): Promise<Extract<BackupChunk, { ok: true }>> {
  let problem = '';
  for (let attempt = 1; attempt <= chunkAttemptsMax; attempt += 1) {
    const chunk = await actors.ask<BackupChunk>(member, { type: 'backupRead', staged, offset }, { timeoutMs: chunkTimeoutMs }).catch((error: unknown) => ({ ok: false as const, error: error instanceof Error ? error.message : String(error) }));
    if (!chunk.ok) {
      problem = chunk.error;
      continue;
    }
    const bytes = typeof chunk.data === 'string' ? Buffer.from(chunk.data, 'base64') : null;
    if (bytes !== null && chunk.offset === offset && bytes.length <= backupChunkBytes && (bytes.length > 0 || chunk.end) && createHash('sha256').update(bytes).digest('hex') === chunk.sha256) return chunk;
    problem = `chunk at ${offset} failed its checksum`;
  }
  throw new Error(`reading the staged copy at offset ${offset}: ${problem} (${chunkAttemptsMax} attempts)`);
}
