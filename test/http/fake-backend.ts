// An in-memory Backend for the gateway tests: the initial catalog of DESIGN.md §1, a cache that misses once per
// key (served by "catalog-2") and hits afterwards, orders idempotent by id, and switches that make every call
// unavailable, slower than any deadline, or fail unexpectedly.

import {
  UnavailableError,
  UnknownActorError,
  type ActorAction,
  type Backend,
  type ClusterStatus,
  type Item,
  type ItemChange,
  type ItemChangeResult,
  type GroupBackup,
  type Order,
  type OrdersPage,
  type OrdersPageRequest,
  type OrderOutcome,
  type ReadAnswer,
  type RequestDeadline,
  type Topic,
} from '../../src/http/backend.js';

export type FakeMode = 'normal' | 'unavailable' | 'hang' | 'broken';

export const initialTopics: Topic[] = [
  { id: 1, name: 'Distributed systems' },
  { id: 2, name: 'Graduate School' },
];

export function initialItems(): Item[] {
  // Keys deliberately out of contract order: the gateway must not depend on them.
  return [
    { topic: 1, price: 19.9, stock: 10, name: 'How to get a good grade in 677 in 20 minutes a day', id: 1 },
    { name: 'RPCs for Dummies', id: 2, stock: 20, price: 29.9, topic: 1 },
    { id: 3, name: 'Xen and the Art of Surviving Graduate School', stock: 25, price: 9.9, topic: 2 },
    { id: 4, name: 'Cooking for the Impatient Graduate Student', stock: 15, price: 30.9, topic: 2 },
  ];
}

export class FakeBackend implements Backend {
  mode: FakeMode = 'normal';
  readyAnswer = true;
  private itemsNow = initialItems();
  /** Stands for the catalog's Raft index: it moves with every change to the items. */
  private version = 1;

  get items(): Item[] {
    return this.itemsNow;
  }

  set items(items: Item[]) {
    this.itemsNow = items;
    this.version += 1;
  }
  readonly cached = new Set<string>();
  readonly orders = new Map<string, Order>();
  readonly orderCalls: Array<{ item: number; amount: number; orderId: string }> = [];
  readonly actorCalls: Array<{ name: string; action: ActorAction }> = [];
  readonly updates: Array<{ id: number; change: ItemChange }> = [];
  readonly invalidations: number[] = [];
  /** Signals of calls that were left hanging, to check that the deadline aborts them. */
  readonly hungSignals: AbortSignal[] = [];
  /** The time remaining each call's deadline gave when the call began. */
  readonly remainingMsSeen: number[] = [];

  private async gate(deadline: RequestDeadline | null): Promise<void> {
    if (deadline !== null) this.remainingMsSeen.push(deadline.remainingMs());
    const signal = deadline?.signal ?? null;
    switch (this.mode) {
      case 'normal':
        return;
      case 'unavailable':
        throw new UnavailableError('no quorum in the catalog group');
      case 'broken':
        throw new TypeError('simulated bug in the backend');
      case 'hang':
        if (signal !== null) this.hungSignals.push(signal);
        // Never settles: the gateway's own deadline must answer. Nothing is left pending after the test,
        // since a promise with no timer behind it holds no handle.
        return new Promise<void>(() => undefined);
    }
  }

  private read<T>(key: string, result: T, topics: Topic[]): ReadAnswer<T> {
    const hit = this.cached.has(key);
    this.cached.add(key);
    return { result, topics, index: this.version, cache: hit ? 'HIT' : 'MISS', servedBy: hit ? null : 'catalog-2' };
  }

  /** Every knownIndex a list or search named, in order (undefined when none). */
  readonly knownIndexes: Array<number | undefined> = [];
  /** Answers `unchanged` at this index whatever was named: a broken cache, to see the gateway refuse it. */
  unchangedAtIndex: number | null = null;

  /** As the cache actor answers: unchanged, without items, when the caller holds the answer at this index. */
  private readItems(key: string, result: Item[], topics: Topic[], knownIndex: number | undefined): ReadAnswer<Item[]> {
    this.knownIndexes.push(knownIndex);
    const answer = this.read(key, result, topics);
    if (this.unchangedAtIndex !== null) return { ...answer, result: [], topics: [], index: this.unchangedAtIndex, unchanged: true };
    if (knownIndex !== answer.index) return answer;
    return { ...answer, result: [], topics: [], unchanged: true };
  }

  private topicsOf(items: Item[]): Topic[] {
    return initialTopics.filter((topic) => items.some((item) => item.topic === topic.id));
  }

  async lookup(id: number, deadline: RequestDeadline): Promise<ReadAnswer<Item | null>> {
    await this.gate(deadline);
    const item = this.items.find((candidate) => candidate.id === id) ?? null;
    return this.read(`lookup/${id}`, item, item === null ? [] : this.topicsOf([item]));
  }

  async list(deadline: RequestDeadline, knownIndex?: number): Promise<ReadAnswer<Item[]>> {
    await this.gate(deadline);
    return this.readItems('list', [...this.items], initialTopics, knownIndex);
  }

  async search(topic: string, deadline: RequestDeadline, knownIndex?: number): Promise<ReadAnswer<Item[]>> {
    await this.gate(deadline);
    const topics = initialTopics.filter((candidate) => candidate.name.toLowerCase().includes(topic.toLowerCase()));
    const items = this.items.filter((item) => topics.some((match) => match.id === item.topic));
    return this.readItems(`search/${topic.toLowerCase()}`, items, topics, knownIndex);
  }

  async order(item: number, amount: number, orderId: string, deadline: RequestDeadline): Promise<OrderOutcome> {
    await this.gate(deadline);
    this.orderCalls.push({ item, amount, orderId });
    const existing = this.orders.get(orderId);
    if (existing !== undefined && (existing.item !== item || existing.amount !== amount)) {
      return { bought: false, orderId, firstRequest: { item: existing.item, amount: existing.amount } };
    }
    if (existing !== undefined && existing.reason !== null) return { bought: false, orderId, reason: existing.reason };
    if (existing !== undefined) return { bought: existing.status === 'committed', orderId };
    const target = this.items.find((candidate) => candidate.id === item);
    const bought = target !== undefined && target.stock >= amount;
    if (target !== undefined && bought) {
      this.items = this.items.map((candidate) =>
        candidate.id === item ? { ...candidate, stock: candidate.stock - amount } : candidate,
      );
    }
    const total = bought && target !== undefined ? Math.round(target.price * amount * 100) / 100 : 0;
    const status = bought ? 'committed' : 'rejected';
    const reason = bought ? null : target === undefined ? 'unknownItem' : 'insufficient';
    this.orders.set(orderId, { id: orderId, item, amount, total, status, reason, createdAt: 1_700_000_000_000 });
    return reason === null ? { bought, orderId } : { bought, orderId, reason };
  }

  async getOrder(orderId: string, deadline: RequestDeadline): Promise<Order | null> {
    await this.gate(deadline);
    return this.orders.get(orderId) ?? null;
  }

  /** Pages in creation order: the sequence of an order is its position in the map (insertion order). */
  async ordersOfItem(item: number, page: OrdersPageRequest, deadline: RequestDeadline): Promise<OrdersPage> {
    await this.gate(deadline);
    const listed = [...this.orders.values()].map((order, sequence) => ({ order, sequence }))
      .filter(({ order, sequence }) => order.item === item && (page.after === null || sequence > page.after.sequence));
    const orders = listed.slice(0, page.limit);
    const last = orders.at(-1);
    const next = listed.length > page.limit && last !== undefined ? { sequence: last.sequence, id: last.order.id } : null;
    return { orders: orders.map(({ order }) => order), next };
  }

  async cluster(): Promise<ClusterStatus> {
    await this.gate(null);
    return {
      actors: [
        {
          name: 'catalog-1', group: 'catalog', node: 'local', alive: true, role: 'leader',
          term: 3, commitIndex: 42, lastApplied: 41, restarts: 2,
        },
        {
          name: 'cache', group: 'cache', node: 'local', alive: true, role: null,
          term: null, commitIndex: null, lastApplied: null, restarts: 0,
        },
      ],
      leaders: { catalog: 'catalog-1', order: null },
    };
  }

  async ready(): Promise<boolean> {
    await this.gate(null);
    return this.readyAnswer;
  }

  async actorAction(name: string, action: ActorAction): Promise<void> {
    await this.gate(null);
    if (!/^(catalog|order)-[1-3]$|^cache$/.test(name)) throw new UnknownActorError(name);
    this.actorCalls.push({ name, action });
  }

  async updateItem(id: number, change: ItemChange, deadline: RequestDeadline): Promise<ItemChangeResult> {
    await this.gate(deadline);
    const item = this.items.find((candidate) => candidate.id === id);
    if (item === undefined) return { ok: false, reason: 'unknownItem' };
    // As the catalog refuses a restock past its stock bound (10^9).
    if (change.restock !== undefined && item.stock + change.restock > 1_000_000_000) return { ok: false, reason: 'refused', detail: 'restock would pass 1000000000' };
    this.updates.push({ id, change });
    return { ok: true };
  }

  async invalidateItem(id: number, _deadline: RequestDeadline): Promise<void> {
    await this.gate(null);
    this.invalidations.push(id);
    this.cached.delete(`lookup/${id}`);
  }

  /** Directories asked for a backup; it writes no file, so the answer holds the manifest line alone. */
  readonly backups: string[] = [];

  async backup(directory: string): Promise<readonly GroupBackup[]> {
    await this.gate(null);
    this.backups.push(directory);
    return [];
  }
}
