// The gateway's Backend, implemented with the actors: the cache actor for catalog reads, the order group for
// orders, the catalog group for item updates, and the supervisor for status and fault injection.
//
// Promises beyond the Backend contract:
// - Read-your-writes: before `order` or `updateItem` returns, the cache has applied the write's invalidation
//   (item, index). If the cache cannot confirm it, the gateway stops trusting the cache (reads go straight to the
//   catalog group) until a full invalidation of the cache succeeds.
// - Reads keep working without the cache: when the cache actor is down or isolated, a read goes to the catalog
//   group directly (a linearizable ReadIndex read, reported as a MISS). With the cache switched off
//   (`readThroughCache: false`) every read goes there.
// - Near cache (option `nearCache`, only when the cache actor runs in this process): lookups the cache actor held
//   are mirrored in this thread (src/http/mirror.ts) and served without a message; the write invalidation above is
//   applied to the mirror synchronously too, a distrusted cache bypasses and clears it, and killing, stopping or
//   isolating the cache actor through actorAction revokes it at once.
// - Orders are retried through the order group's next leader with the same order id; the saga makes that
//   exactly-once.
import { nanoid } from 'nanoid';
import type { CacheAnswer } from '../actors/cache/actor.js';
import type { ItemsAnswer, LookupAnswer } from '../actors/catalog/commands.js';
import { encodeCatalogCommand, type CatalogResult } from '../actors/catalog/commands.js';
import type { OrderOutcome as SagaOutcome } from '../actors/order/actor.js';
import type { ItemPage, Order as StoredOrder } from '../actors/order/state.js';
import { GroupClient, GroupUnavailableError } from '../raft/client.js';
import type { ReplicaStatus } from '../raft/replica.js';
import type { Logger } from '../runtime/actor.js';
import { isRuntimeError } from '../runtime/errors.js';
import { isThreadFigures } from '../runtime/thread-metrics.js';
import { EpisodeLog, foldedSuffix } from '../runtime/log-episodes.js';
import { CacheMirror, type MirrorStats, type PreparedLookup } from './mirror.js';
import type { ActorStatus as RuntimeActorStatus } from '../runtime/system.js';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { BackupAnswer } from '../raft/replica.js';
import {
  BackupFailedError,
  UnavailableError,
  UnknownActorError,
  type GroupBackup,
  MembershipRefusedError,
  type GroupMembers,
  type ReplicaGroup,
  type ActorAction,
  type ActorStatus,
  type Backend,
  type ActorFigures,
  type ClusterStatus,
  type Item,
  type ItemChange,
  type ItemChangeResult,
  type Order,
  type OrderOutcome,
  type OrdersPage,
  type OrdersPageRequest,
  type ReadAnswer,
  type ReplicaFigures,
  type Topic,
} from './backend.js';

/** How long one replica may take to copy its group's state (a 2,000,000-order database takes seconds). */
export const backupTimeoutMs = 10 * 60_000;
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
  readonly deadlineMs?: number;
  readonly log: Logger;
  /**
   * Mirror the cache actor's lookups in this thread. Only for a cache actor in this process: the caller must pass
   * its notices to receiveCacheNotice() and call revokeNearCache() when it crashes, restarts or exits.
   */
  readonly nearCache?: { readonly capacity: number; readonly now?: () => number } | null;
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
  readonly memberNodeProblem?: (node: string | null) => string | null;
}

const isUnavailable = (error: unknown) => isRuntimeError(error, 'ACTOR_UNAVAILABLE');

const count = (value: unknown): number => (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 ? value : 0);

function imageFigures(value: unknown): Pick<ReplicaFigures, 'imageStreamsStalled' | 'imageChunksRefused' | 'imagesInstalled'> {
  const counters = (typeof value === 'object' && value !== null ? value : {}) as Record<string, unknown>;
  return {
    imageStreamsStalled: count(counters.streamsStalled),
    imageChunksRefused: count(counters.chunksRefusedChecksum) + count(counters.chunksRefusedGap) + count(counters.chunksRefusedSize),
    imagesInstalled: count(counters.imagesInstalled),
  };
}

/** The runtime figures of one actor's status, checked field by field (a remote node's status crossed a socket). */
function figuresOf(status: RuntimeActorStatus, replica: Partial<ReplicaStatus> | null): ActorFigures {
  const replicaFigures: ReplicaFigures | null =
    replica === null
      ? null
      : { leader: typeof replica.leader === 'string' ? replica.leader : null, lastIndex: count(replica.lastIndex), snapshotIndex: count(replica.snapshotIndex), fsyncs: count(replica.fsyncs),
        ...imageFigures(replica.snapshotStream) };
  return {
    mailboxDepth: count(status.mailboxDepth),
    refused: count(status.refused),
    deadLetters: count(status.deadLetters),
    dropped: count(status.dropped),
    processed: count(status.processed),
    thread: status.alive && isThreadFigures(status.thread) ? status.thread : null,
    replica: replicaFigures,
  };
}

/** A failover line per group is written at most once per this interval, with a count of those folded into it. */
const failoverLogIntervalMs = 10_000;

/** Whose view of a group's configuration to report: a leader's, then the most recent configuration. */
function rankOf(status: Partial<ReplicaStatus>): number {
  // A leader of the highest term first; among followers, the most recent configuration.
  return status.role === 'leader' ? 2 ** 40 + (status.term ?? 0) : Math.min(status.configIndex ?? 0, 2 ** 39);
}

function groupOf(name: string): string {
  const dash = name.lastIndexOf('-');
  return dash > 0 ? name.slice(0, dash) : name;
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
  private readonly catalog: GroupClient;
  /** The order group's members as this gateway last learned them. */
  private orderNames: readonly string[];
  private readonly orders: GroupClient;
  private readonly deadlineMs: number;
  /** Set when an invalidation could not be confirmed: the cache may hold a stale entry until fully cleared. */
  private cacheDistrusted = false;
  private readonly mirror: CacheMirror | null;
  private readonly readThroughCache: boolean;

  constructor(options: ActorBackendOptions) {
    this.options = options;
    this.readThroughCache = options.readThroughCache ?? true;
    this.orderNames = [...options.orderMembers];
    this.deadlineMs = options.deadlineMs ?? 3_000;
    const near = options.nearCache ?? null;
    this.mirror = near === null ? null : new CacheMirror({ capacity: near.capacity, now: near.now ?? Date.now });
    const ask = (target: string, message: unknown, timeoutMs: number) => options.actors.ask(target, message, { timeoutMs });
    // One line per episode and group: when a replica is slow, every request tried on it would otherwise write one.
    const onFailover = (group: string) => {
      const episodes = new EpisodeLog(failoverLogIntervalMs);
      return (from: string, _to: string | null, reason: string) => {
        const note = episodes.note(performance.now());
        if (!note.write) return;
        options.log.info({ group, from, reason, event: 'failover' }, `gateway: ${from} did not answer (${reason}); trying the next ${group} replica${foldedSuffix(note)}`);
      };
    };
    this.catalog = new GroupClient({ group: 'catalog', members: options.catalogMembers, ask, isUnavailable, attemptTimeoutMs: 1_000, onFailover: onFailover('catalog') });
    this.orders = new GroupClient({ group: 'order', members: options.orderMembers, ask, isUnavailable, attemptTimeoutMs: 2_500, onFailover: onFailover('order') });
  }

  private deadline(): number {
    return Date.now() + this.deadlineMs;
  }

  /** A lookup the near cache can answer now, prepared for writing; undefined when it cannot (or is off). */
  nearLookup(id: number): PreparedLookup | undefined {
    if (this.mirror === null || this.cacheDistrusted) return undefined;
    return this.mirror.lookup(id);
  }

  /** A notice the cache actor told '$system'; false when it is not one (the caller may handle it otherwise). */
  receiveCacheNotice(body: unknown): boolean {
    return this.mirror?.apply(body) ?? false;
  }

  /** The cache actor went down, restarted or was cut off: the near cache serves nothing until it grants again. */
  revokeNearCache(): void {
    this.mirror?.revoke();
  }

  nearCacheStats(): MirrorStats | null {
    return this.mirror?.stats() ?? null;
  }

  lookup(id: number, signal: AbortSignal): Promise<ReadAnswer<Item | null>> {
    return this.read({ type: 'lookup', id }, signal, (result) => {
      const answer = result as LookupAnswer;
      return { result: answer.item, topics: answer.topics };
    }) as Promise<ReadAnswer<Item | null>>;
  }

  list(signal: AbortSignal, knownIndex?: number): Promise<ReadAnswer<Item[]>> {
    return this.read({ type: 'list', ...(knownIndex === undefined ? {} : { knownIndex }) }, signal, (result) => {
      const answer = result as ItemsAnswer;
      return { result: answer.items, topics: answer.topics };
    }) as Promise<ReadAnswer<Item[]>>;
  }

  search(topic: string, signal: AbortSignal, knownIndex?: number): Promise<ReadAnswer<Item[]>> {
    return this.read({ type: 'search', topic, ...(knownIndex === undefined ? {} : { knownIndex }) }, signal, (result) => {
      const answer = result as ItemsAnswer;
      return { result: answer.items, topics: answer.topics };
    }) as Promise<ReadAnswer<Item[]>>;
  }

  /** Through the cache when it is trusted and up; straight to the catalog group otherwise. */
  private async read(
    query: { readonly type: string; readonly id?: number; readonly topic?: string; readonly knownIndex?: number },
    signal: AbortSignal,
    shape: (result: unknown) => { result: unknown; topics: readonly Topic[] },
  ): Promise<ReadAnswer<unknown>> {
    if (this.readThroughCache && !this.cacheDistrusted) {
      try {
        const answer = await this.options.actors.ask<CacheAnswer>(this.options.cacheName, query, { timeoutMs: this.deadlineMs });
        // Checked again after the wait: an invalidation that failed meanwhile makes the cache's answers untrusted.
        if (this.mirror !== null && query.type === 'lookup' && query.id !== undefined && !this.cacheDistrusted) {
          this.mirror.fill(query.id, { result: answer.result as Item | null, topics: answer.topics, index: answer.index, held: answer.held === true });
        }
        if (answer.unchanged === true) {
          return { result: [], topics: [], index: answer.index, cache: answer.cache, servedBy: answer.servedBy, unchanged: true };
        }
        return { result: answer.result, topics: answer.topics as Topic[], index: answer.index, cache: answer.cache, servedBy: answer.servedBy };
      } catch (error) {
        if (!isUnavailable(error)) throw this.translate(error);
        this.options.log.debug({ query }, 'gateway: cache unavailable, reading from the catalog group');
      }
    }
    if (signal.aborted) throw new UnavailableError('request deadline passed');
    try {
      // The replicas answer the query itself; knownIndex is for the cache.
      const { knownIndex: _known, ...catalogQuery } = query;
      const answer = await this.catalog.read(catalogQuery, this.deadline());
      const shaped = shape(answer.result);
      return { result: shaped.result, topics: [...shaped.topics], index: answer.index, cache: 'MISS', servedBy: answer.servedBy };
    } catch (error) {
      throw this.translate(error);
    }
  }

  async order(item: number, amount: number, orderId: string, _signal: AbortSignal): Promise<OrderOutcome> {
    let answer;
    try {
      answer = await this.orders.leaderCall({ type: 'order', orderId, item, amount, createdAt: Date.now() }, this.deadline());
    } catch (error) {
      throw this.translate(error);
    }
    const outcome = answer.result as SagaOutcome;
    if (outcome.kind === 'keyReused') return { bought: false, orderId, firstRequest: { item: outcome.first.item, amount: outcome.first.amount } };
    if (outcome.bought) await this.invalidate([item], outcome.catalogIndex > 0 ? outcome.catalogIndex : await this.catalogIndexNow());
    const reason = outcome.order.reason;
    return outcome.bought || reason === null ? { bought: outcome.bought, orderId } : { bought: false, orderId, reason };
  }

  /**
   * A repeated order (decided earlier, perhaps by an attempt whose answer was lost) does not say at which catalog
   * index its deduct applied; a linearizable read's index is at least that, so invalidating there is safe.
   */
  private async catalogIndexNow(): Promise<number> {
    try {
      return (await this.catalog.read({ type: 'changeIndex' }, this.deadline())).index;
    } catch (error) {
      throw this.translate(error);
    }
  }

  async getOrder(orderId: string, _signal: AbortSignal): Promise<Order | null> {
    try {
      const answer = await this.orders.read({ type: 'get', orderId }, this.deadline());
      return answer.result === null ? null : toOrder(answer.result as StoredOrder);
    } catch (error) {
      throw this.translate(error);
    }
  }

  async ordersOfItem(item: number, page: OrdersPageRequest, _signal: AbortSignal): Promise<OrdersPage> {
    try {
      const answer = await this.orders.read({ type: 'itemPage', item, after: page.after, limit: page.limit }, this.deadline());
      const stored = answer.result as ItemPage;
      return { orders: stored.orders.map(toOrder), next: stored.next };
    } catch (error) {
      throw this.translate(error);
    }
  }

  async updateItem(id: number, change: ItemChange, _signal: AbortSignal): Promise<ItemChangeResult> {
    let outcome: ItemChangeResult = { ok: true };
    let lastIndex = 0;
    try {
      if (change.price !== undefined) {
        const answer = await this.catalog.propose(encodeCatalogCommand({ type: 'setPrice', requestId: nanoid(), item: id, price: change.price }), this.deadline());
        outcome = changeResult(answer.result as CatalogResult, 'price');
        lastIndex = answer.index;
      }
      if (outcome.ok && change.restock !== undefined) {
        const answer = await this.catalog.propose(encodeCatalogCommand({ type: 'restock', requestId: nanoid(), item: id, amount: change.restock }), this.deadline());
        outcome = changeResult(answer.result as CatalogResult, change.price === undefined ? 'restock' : 'restock (the price was set)');
        lastIndex = answer.index;
      }
    } catch (error) {
      throw this.translate(error);
    }
    // A price set before a refused restock is a change the cache must see too.
    if (lastIndex > 0 && (outcome.ok || change.price !== undefined)) await this.invalidate([id], lastIndex);
    return outcome;
  }

  async invalidateItem(id: number): Promise<void> {
    await this.invalidate([id], 0);
  }

  /** Makes the cache apply an invalidation before a write is acknowledged; on failure, stop trusting the cache. */
  private async invalidate(items: number[], index: number): Promise<void> {
    // The mirror first and synchronously: from here on no answer older than `index` for these items is served.
    this.mirror?.invalidate(items, index);
    try {
      await this.options.actors.ask(this.options.cacheName, { type: 'invalidate', items, index }, { timeoutMs: 1_000 });
      if (this.cacheDistrusted) {
        await this.options.actors.ask(this.options.cacheName, { type: 'invalidateAll' }, { timeoutMs: 1_000 });
        this.mirror?.revoke();
        this.cacheDistrusted = false;
        this.options.log.info({ event: 'cacheTrusted' }, 'gateway: cache cleared and trusted again');
      }
    } catch (error) {
      if (!this.cacheDistrusted) {
        this.options.log.warn({ error: String(error), event: 'cacheDistrusted' }, 'gateway: cache did not confirm an invalidation; reading around it until it is cleared');
      }
      this.cacheDistrusted = true;
      this.mirror?.revoke();
    }
  }

  async cluster(): Promise<ClusterStatus> {
    const statuses = await this.options.actors.status();
    const actors: ActorStatus[] = statuses.map((status) => {
      const replica = (status.alive ? status.custom : null) as Partial<ReplicaStatus> | null;
      const isReplica = replica !== null && typeof replica === 'object' && typeof replica.term === 'number';
      return {
        name: status.name,
        group: groupOf(status.name),
        node: this.options.nodeOf?.(status.name) ?? 'local',
        alive: status.alive && !status.isolated,
        role: isReplica ? (replica.role ?? null) : null,
        term: isReplica ? (replica.term ?? null) : null,
        commitIndex: isReplica ? (replica.commitIndex ?? null) : null,
        lastApplied: isReplica ? (replica.lastApplied ?? null) : null,
        restarts: status.restarts,
        figures: figuresOf(status, isReplica ? replica : null),
      };
    });
    const leaders: Record<string, string | null> = { catalog: null, order: null };
    for (const actor of actors) {
      if (actor.role !== 'leader' || !actor.alive) continue;
      const current = leaders[actor.group];
      const currentTerm = actors.find((other) => other.name === current)?.term ?? -1;
      if (current === null || current === undefined || (actor.term ?? 0) > currentTerm) leaders[actor.group] = actor.name;
    }
    return { actors, leaders };
  }

  /**
   * One group after the other, order first: every catalog deduct an order the order file holds depends on is then
   * in the catalog file (docs/operations.md, "Why two indexes agree"). In each group a follower is asked first, so
   * the leader's thread keeps serving; the leader only when no follower could.
   */
  async backup(directory: string): Promise<readonly GroupBackup[]> {
    const statuses = await this.cluster();
    // The catalog prunes no deduct record from before the order copy until the catalog copy is done.
    await this.holdPrunes(Date.now() + backupPruneHoldMs);
    try {
      const backups: GroupBackup[] = [];
      for (const [group, members] of [['order', this.options.orderMembers], ['catalog', this.options.catalogMembers]] as const) {
        backups.push(await this.backupGroup(group, members, statuses, directory));
      }
      return backups;
    } finally {
      await this.holdPrunes(0).catch((error: unknown) => this.options.log.warn({ event: 'backup' },
        `backup: the hold on dedupe pruning was not released (${error instanceof Error ? error.message : String(error)}); it ends by its lease`));
    }
  }

  private async holdPrunes(untilMs: number): Promise<void> {
    try {
      await this.catalog.propose(encodeCatalogCommand({ type: 'holdPrunes', untilMs }), Date.now() + 5_000);
    } catch (error) {
      throw new BackupFailedError(`the catalog group could not hold dedupe pruning for the backup (${error instanceof Error ? error.message : String(error)})`);
    }
  }

  private async backupGroup(group: GroupBackup['group'], members: readonly string[], statuses: ClusterStatus, directory: string): Promise<GroupBackup> {
    const role = (name: string) => statuses.actors.find((actor) => actor.name === name);
    const candidates = members
      .filter((name) => role(name)?.alive === true)
      .sort((left, right) => Number(role(left)?.role === 'leader') - Number(role(right)?.role === 'leader'));
    const file = `${group}.db`;
    const destination = join(directory, file);
    const failures: string[] = [];
    for (const member of candidates) {
      let answer: BackupAnswer;
      try {
        answer = await this.options.actors.ask<BackupAnswer>(member, { type: 'backup', destination }, { timeoutMs: backupTimeoutMs });
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
        failures.push(`${member} wrote its copy on its own host, not beside the gateway (backups over the network between hosts are not built)`);
        continue;
      }
      const { member: _member, ok: _ok, ...record } = answer;
      return { group, file, member, ...record, capturedAt: new Date().toISOString() };
    }
    throw new BackupFailedError(`no ${group} replica could take a backup (${failures.join('; ') || 'none is alive'})`);
  }

  async ready(): Promise<boolean> {
    const status = await this.cluster();
    return status.leaders.catalog !== null && status.leaders.order !== null;
  }

  async actorAction(name: string, action: ActorAction): Promise<void> {
    const known = (await this.options.actors.status()).some((status) => status.name === name);
    if (!known) throw new UnknownActorError(name);
    const cutsCache = name === this.options.cacheName && (action === 'kill' || action === 'stop' || action === 'isolate');
    // Before and after: a grant still in flight while the action takes effect must not outlive it.
    if (cutsCache) this.mirror?.revoke();
    try {
      await this.performAction(name, action);
    } finally {
      if (cutsCache) this.mirror?.revoke();
    }
  }

  async members(group: ReplicaGroup): Promise<GroupMembers> {
    const statuses = await this.options.actors.status();
    let best: { name: string; status: Partial<ReplicaStatus> } | null = null;
    for (const status of statuses) {
      if (groupOf(status.name) !== group || !status.alive || status.isolated) continue;
      const replica = status.custom as Partial<ReplicaStatus> | null;
      if (replica === null || typeof replica !== 'object' || !Array.isArray(replica.voters)) continue;
      if (best === null || rankOf(replica) > rankOf(best.status)) best = { name: status.name, status: replica };
    }
    if (best === null) throw new UnavailableError(`no ${group} replica answered with its configuration`);
    const view = best.status;
    return {
      voters: view.voters ?? [], learners: view.learners ?? [], configIndex: view.configIndex ?? 0,
      leader: view.role === 'leader' ? best.name : (view.leader ?? null),
    };
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
      await this.options.actors.stop(name);
      this.options.retireDatabase?.(name);
    }
    this.options.log.info({ group, member: name, event: 'memberRemoved' }, `gateway: ${name} removed from the ${group} group; its actor stopped, its database kept`);
    return this.followMembers(group, await this.members(group));
  }

  async addMember(group: ReplicaGroup, request: { readonly name: string; readonly node: string | null; readonly promote: boolean }): Promise<GroupMembers> {
    const startMember = this.options.startMember;
    if (startMember === undefined) throw new MembershipRefusedError('this gateway cannot start new members');
    const name = request.name;
    if (!name.startsWith(`${group}-`)) throw new MembershipRefusedError(`a ${group} member's name starts with "${group}-", got ${name}`);
    const nodeProblem = this.options.memberNodeProblem?.(request.node) ?? null;
    if (nodeProblem !== null) throw new MembershipRefusedError(nodeProblem);
    const before = await this.members(group);
    if (before.voters.includes(name) || before.learners.includes(name)) throw new MembershipRefusedError(`${name} is already a member of the ${group} group`);
    if ((await this.options.actors.status()).some((status) => status.name === name)) {
      throw new MembershipRefusedError(`an actor named ${name} exists already; a new member needs a name never used`);
    }
    await this.proposeChange(group, { type: 'addLearner', node: name });
    await startMember(group, name, request.node);
    if (!request.promote) return this.followMembers(group, await this.members(group));
    // Promoted once it is within the leader's bound; refused (learnerBehind) until then, so try again, bounded.
    const deadline = Date.now() + this.deadlineMs;
    for (let attempt = 0; ; attempt += 1) {
      const answer = await this.proposeChange(group, { type: 'promote', node: name }, true);
      if (answer === 'done') break;
      if (Date.now() > deadline) throw new UnavailableError(`${name} joined as a learner but did not catch up in ${this.deadlineMs} ms; it stays a learner`);
      await new Promise((resolve) => setTimeout(resolve, Math.min(200, 20 * (attempt + 1))));
    }
    this.options.log.info({ group, member: name, event: 'memberAdded' }, `gateway: ${name} added to the ${group} group`);
    return this.followMembers(group, await this.members(group));
  }

  /**
   * After a change: this gateway's group client tries the new members, and so do the order replicas' catalog
   * clients (told with {type:'catalogMembers'}). An order replica that restarts later starts from its bootstrap list.
   */
  private followMembers(group: ReplicaGroup, view: GroupMembers): GroupMembers {
    const members = [...view.voters, ...view.learners];
    if (group === 'catalog') {
      this.catalog.setMembers(members);
      for (const order of this.orderNames) {
        void this.options.actors.ask(order, { type: 'catalogMembers', members }, { timeoutMs: 1_000 }).catch(() => undefined);
      }
    } else {
      this.orders.setMembers(members);
      this.orderNames = members;
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
