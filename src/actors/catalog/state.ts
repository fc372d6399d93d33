// The catalog's replicated state machine: topics, items and their stock in SQLite tables of the replica's database.
//
// Owns the tables catalog_meta, catalog_topics, catalog_items, catalog_deducts (the first outcome of every deduct
// or abort, by orderId, with the order's sequence) and catalog_requests (the first outcome of every restock or
// price change, by requestId). Deduct records are bounded: `prune` (the order group's watermark, see
// src/actors/order/README.md) drops those of orders already decided in the order log, and a deduct or abort below
// the watermark with no record is refused `settled` and changes nothing — never applied a second time. A backup's
// `holdPrunes` stops prunes until its lease ends, so a backup's two copies agree (docs/operations.md).
// Promises (DESIGN.md §2): stock never goes below zero; a deduct, abort, restock or price change with a key already
// seen returns the first outcome and changes nothing (so after an abort no deduct for that order takes stock, and
// an abort after a deduct answers the deduct's outcome: exactly one of the two decides an order); the same commands in the same order give the same hash on every
// replica; initialStock + restocked - deducted = stock for every item, at every index.
// Needs: the caller's transaction around apply() and restore() (StateMachine contract), one thread.
import { createHash } from 'node:crypto';
import type Database from 'better-sqlite3';
import { catalogLimits, type Catalog, type Item, type Topic } from './catalog.js';
import {
  decodeCatalogCommand,
  type BadCommandResult,
  type CatalogAnswer,
  type CatalogCommand,
  type CatalogMachine,
  type CatalogQuery,
  type CatalogResult,
  type DeductResult,
  type ItemsAnswer,
  type LookupAnswer,
  type PruneResult,
  type HoldPrunesResult,
  type RestockResult,
  type SetPriceResult,
  type StockRecord,
} from './commands.js';
import { assert, assertNever } from '../../assert.js';

/** Version 2 deduct rows carry seq (null: no sequence); version 1 rows get null. */
const snapshotVersion = 2;

/** catalog_meta key of the order group's watermark last applied (prune). */
const watermarkKey = 'deductWatermark';
/** catalog_meta key of a backup's hold on pruning (holdPrunes): the untilMs of the hold, absent when none. */
export const pruneHoldKey = 'pruneHoldUntilMs';

const schema = `
  CREATE TABLE IF NOT EXISTS catalog_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;
  CREATE TABLE IF NOT EXISTS catalog_topics (id INTEGER PRIMARY KEY, name TEXT NOT NULL) STRICT;
  CREATE TABLE IF NOT EXISTS catalog_items (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL, stock INTEGER NOT NULL CHECK (stock >= 0), price REAL NOT NULL,
    topic INTEGER NOT NULL, initial_stock INTEGER NOT NULL, restocked INTEGER NOT NULL, deducted INTEGER NOT NULL
  ) STRICT;
  CREATE INDEX IF NOT EXISTS catalog_items_by_topic ON catalog_items (topic, id);
  CREATE TABLE IF NOT EXISTS catalog_deducts (
    order_id TEXT PRIMARY KEY, item INTEGER NOT NULL, amount INTEGER NOT NULL, outcome TEXT NOT NULL, seq INTEGER
  ) STRICT;
  CREATE TABLE IF NOT EXISTS catalog_requests (request_id TEXT PRIMARY KEY, outcome TEXT NOT NULL) STRICT;
`;

const itemColumns = 'id, name, stock, price, topic';

type Statements = ReturnType<typeof prepareStatements>;

function prepareStatements(database: Database.Database) {
  return {
    // Column order matters: rows become Item objects with keys id, name, stock, price, topic.
    itemById: database.prepare<[number], Item>(`SELECT ${itemColumns} FROM catalog_items WHERE id = ?`),
    itemsAll: database.prepare<[], Item>(`SELECT ${itemColumns} FROM catalog_items ORDER BY id`),
    itemsOfTopics: database.prepare<[string], Item>(
      `SELECT ${itemColumns} FROM catalog_items WHERE topic IN (SELECT value FROM json_each(?)) ORDER BY id`,
    ),
    topicsAll: database.prepare<[], Topic>('SELECT id, name FROM catalog_topics ORDER BY id'),
    stockAll: database.prepare<[], StockRecord>(
      `SELECT id, stock, initial_stock AS initialStock, restocked, deducted FROM catalog_items ORDER BY id`,
    ),
    deductStock: database.prepare<{ amount: number; id: number }>(
      'UPDATE catalog_items SET stock = stock - @amount, deducted = deducted + @amount WHERE id = @id',
    ),
    restockStock: database.prepare<{ amount: number; id: number }>(
      'UPDATE catalog_items SET stock = stock + @amount, restocked = restocked + @amount WHERE id = @id',
    ),
    updatePrice: database.prepare<[number, number]>('UPDATE catalog_items SET price = ? WHERE id = ?'),
    deductOutcome: database.prepare<[string], { outcome: string }>('SELECT outcome FROM catalog_deducts WHERE order_id = ?'),
    insertDeduct: database.prepare<[string, number, number, string, number | null]>(
      'INSERT INTO catalog_deducts (order_id, item, amount, outcome, seq) VALUES (?, ?, ?, ?, ?)',
    ),
    pruneDeducts: database.prepare<[number]>('DELETE FROM catalog_deducts WHERE seq IS NOT NULL AND seq < ?'),
    deductsHeld: database.prepare<[], { count: number }>('SELECT COUNT(*) AS count FROM catalog_deducts'),
    requestOutcome: database.prepare<[string], { outcome: string }>(
      'SELECT outcome FROM catalog_requests WHERE request_id = ?',
    ),
    insertRequest: database.prepare<[string, string]>('INSERT INTO catalog_requests (request_id, outcome) VALUES (?, ?)'),
    metaGet: database.prepare<[string], { value: string }>('SELECT value FROM catalog_meta WHERE key = ?'),
    metaSet: database.prepare<[string, string]>('INSERT OR REPLACE INTO catalog_meta (key, value) VALUES (?, ?)'),
    metaDelete: database.prepare<[string]>('DELETE FROM catalog_meta WHERE key = ?'),
    insertTopic: database.prepare<[number, string]>('INSERT INTO catalog_topics (id, name) VALUES (?, ?)'),
    insertItem: database.prepare<[number, string, number, number, number, number, number, number]>(
      `INSERT INTO catalog_items (id, name, stock, price, topic, initial_stock, restocked, deducted)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    dumpMeta: database.prepare<[], unknown[]>('SELECT key, value FROM catalog_meta ORDER BY key').raw(),
    dumpTopics: database.prepare<[], unknown[]>('SELECT id, name FROM catalog_topics ORDER BY id').raw(),
    dumpItems: database
      .prepare<[], unknown[]>(
        'SELECT id, name, stock, price, topic, initial_stock, restocked, deducted FROM catalog_items ORDER BY id',
      )
      .raw(),
    dumpDeducts: database
      .prepare<[], unknown[]>('SELECT order_id, item, amount, outcome, seq FROM catalog_deducts ORDER BY order_id')
      .raw(),
    dumpRequests: database.prepare<[], unknown[]>('SELECT request_id, outcome FROM catalog_requests ORDER BY request_id').raw(),
  };
}

interface SnapshotImage {
  readonly version: number;
  readonly meta: unknown[][];
  readonly topics: unknown[][];
  readonly items: unknown[][];
  readonly deducts: unknown[][];
  readonly requests: unknown[][];
}

function rowsOf(value: unknown, width: number, what: string): unknown[][] {
  assert(Array.isArray(value), `snapshot ${what} is not an array`);
  for (const row of value) assert(Array.isArray(row) && row.length === width, `snapshot ${what} row is malformed`);
  return value as unknown[][];
}

function parseSnapshot(data: string): SnapshotImage {
  const parsed = JSON.parse(data) as Record<string, unknown>;
  assert(typeof parsed === 'object' && parsed !== null, 'snapshot is not an object');
  assert(parsed.version === snapshotVersion || parsed.version === 1, `snapshot version ${String(parsed.version)} is not 1 or ${snapshotVersion}`);
  if (parsed.version === 1) {
    const deducts = rowsOf(parsed.deducts, 4, 'deducts').map((row) => [...row, null]);
    return { ...parseSnapshot(JSON.stringify({ ...parsed, version: snapshotVersion, deducts })) };
  }
  return {
    version: snapshotVersion,
    meta: rowsOf(parsed.meta, 2, 'meta'),
    topics: rowsOf(parsed.topics, 2, 'topics'),
    items: rowsOf(parsed.items, 8, 'items'),
    deducts: rowsOf(parsed.deducts, 5, 'deducts'),
    requests: rowsOf(parsed.requests, 2, 'requests'),
  };
}

/** Total price in whole cents, so that 3 × 19.9 is 59.7 on every replica rather than 59.699999999999996. */
function totalOf(price: number, amount: number): number {
  return Math.round(price * 100 * amount) / 100;
}

/**
 * A command applied before under the same order or request id answers its first outcome again, marked repeated and
 * changing nothing (the stored row); null when the id is new.
 */
function repeatOf<Result extends { readonly changed: readonly number[]; readonly repeated: boolean }>(earlier: { readonly outcome: string } | undefined): Result | null {
  return earlier === undefined ? null : { ...(JSON.parse(earlier.outcome) as Result), changed: [], repeated: true };
}

/** catalog_meta key of the index of the latest entry that changed an item. */
const changeIndexKey = 'lastChangeIndex';

/** A restock or price refused because the item does not exist (stored, so a repeat answers the same). */
type UnknownItemResult = Extract<SetPriceResult, { readonly ok: false }>;

export class CatalogStateMachine implements CatalogMachine {
  private database: Database.Database | null = null;
  private statements: Statements | null = null;
  /** Topics never change after seeding, so they live in memory for lookups and searches. */
  private topicsById = new Map<number, Topic>();
  private topicsSorted: Topic[] = [];
  private topicNamesLower: string[] = [];
  /**
   * The full item list, kept between reads because building 10,000 row objects costs milliseconds. Any command
   * that may change an item drops it, and it is only built outside transactions, so a rollback cannot leave it
   * showing rows that were never committed.
   * Frozen, because every reader shares it.
   */
  private itemsListMemo: readonly Item[] | null = null;
  /** The latest change index as last committed; null when it must be read again (after an apply or a restore). */
  private changeIndexMemo: number | null = null;

  constructor(private readonly initialCatalog: Catalog) {
    assert(initialCatalog.items.length <= catalogLimits.itemsMax, 'initial catalog has too many items');
    assert(initialCatalog.topics.length <= catalogLimits.topicsMax, 'initial catalog has too many topics');
  }

  open(database: Database.Database): void {
    assert(this.database === null, 'open() called twice');
    database.exec(schema);
    migrate(database);
    database.exec('CREATE INDEX IF NOT EXISTS catalog_deducts_by_seq ON catalog_deducts (seq)');
    this.database = database;
    this.statements = prepareStatements(database);
    const statements = this.statements;
    if (statements.metaGet.get('seeded') === undefined) {
      // A nested transaction() becomes a savepoint, so this is safe inside a caller's transaction as well.
      database.transaction(() => this.seed(statements))();
    }
    this.loadTopics();
  }

  private seed(statements: Statements): void {
    for (const topic of this.initialCatalog.topics) statements.insertTopic.run(topic.id, topic.name);
    for (const item of this.initialCatalog.items) {
      statements.insertItem.run(item.id, item.name, item.stock, item.price, item.topic, item.stock, 0, 0);
    }
    statements.metaSet.run('seeded', 'true');
  }

  private loadTopics(): void {
    this.topicsSorted = this.ready().topicsAll.all();
    for (const topic of this.topicsSorted) Object.freeze(topic);
    this.topicsById = new Map(this.topicsSorted.map((topic) => [topic.id, topic]));
    this.topicNamesLower = this.topicsSorted.map((topic) => topic.name.toLowerCase());
  }

  private itemsList(): readonly Item[] {
    // Inside an open transaction the rows may yet be rolled back, so they are read but never kept.
    if (this.database?.inTransaction === true) return this.ready().itemsAll.all();
    if (this.itemsListMemo === null) {
      const items = this.ready().itemsAll.all();
      for (const item of items) Object.freeze(item);
      this.itemsListMemo = Object.freeze(items);
    }
    return this.itemsListMemo;
  }

  private ready(): Statements {
    assert(this.statements !== null, 'used before open()');
    return this.statements;
  }

  decodeCommand(data: string): ReturnType<typeof decodeCatalogCommand> {
    return decodeCatalogCommand(data);
  }

  apply(data: string, index: number): CatalogResult {
    assert(Number.isSafeInteger(index) && index > 0, `apply at index ${index}`);
    const decoded = decodeCatalogCommand(data);
    this.itemsListMemo = null;
    this.changeIndexMemo = null;
    if (!decoded.ok) return { ok: false, reason: 'badCommand', detail: decoded.detail, changed: [], repeated: false };
    const result = this.applyCommand(decoded.command);
    if (result.changed.length === 0) return result;
    // Chain the changes: each names the index of the change before it, so a cache that missed an invalidation
    // notices the gap at the next one (or at the next read, which reports the latest change index).
    const previousChangeIndex = this.changeIndex();
    assert(previousChangeIndex < index, `change at index ${index} after a change at ${previousChangeIndex}`);
    this.ready().metaSet.run(changeIndexKey, String(index));
    return { ...result, previousChangeIndex };
  }

  /** Index of the latest applied entry that changed an item (0 before any): what a fresh cache must have seen. */
  changeIndex(): number {
    if (this.changeIndexMemo !== null) return this.changeIndexMemo;
    const row = this.ready().metaGet.get(changeIndexKey);
    const index = row === undefined ? 0 : Number(row.value);
    // Kept only when read outside a transaction: a value read inside one may yet be rolled back.
    if (this.database?.inTransaction !== true) this.changeIndexMemo = index;
    return index;
  }

  private applyCommand(command: CatalogCommand): CatalogResult {
    switch (command.type) {
      case 'deduct':
        return this.deduct(command.orderId, command.item, command.amount, command.sequence ?? null);
      case 'abort':
        return this.abort(command.orderId, command.item, command.amount, command.sequence ?? null);
      case 'restock':
        return this.restock(command.requestId, command.item, command.amount);
      case 'setPrice':
        return this.setPrice(command.requestId, command.item, command.price);
      case 'prune':
        return this.prune(command.watermark, command.nowMs ?? 0);
      case 'holdPrunes':
        return this.holdPrunes(command.untilMs);
      default:
        return assertNever(command);
    }
  }

  /** The order group's watermark as last pruned (0 before any). */
  private watermark(): number {
    const row = this.ready().metaGet.get(watermarkKey);
    return row === undefined ? 0 : Number(row.value);
  }

  /** A deduct or abort of an order below the watermark whose record is gone: decided in the order log already. */
  private settledBelowWatermark(sequence: number | null): DeductResult | null {
    if (sequence === null) return null;
    const watermark = this.watermark();
    return sequence < watermark ? { ok: false, reason: 'settled', watermark, changed: [], repeated: true } : null;
  }

  private prune(watermark: number, nowMs: number): PruneResult {
    const current = this.watermark();
    if (watermark <= current) return { ok: true, watermark: current, pruned: 0, changed: [], repeated: true };
    const hold = this.ready().metaGet.get(pruneHoldKey);
    if (hold !== undefined && nowMs < Number(hold.value)) return { ok: true, watermark: current, pruned: 0, held: true, changed: [], repeated: false };
    const pruned = this.ready().pruneDeducts.run(watermark).changes;
    this.ready().metaSet.run(watermarkKey, String(watermark));
    return { ok: true, watermark, pruned, changed: [], repeated: false };
  }

  private holdPrunes(untilMs: number): HoldPrunesResult {
    const statements = this.ready();
    if (untilMs === 0) statements.metaDelete.run(pruneHoldKey);
    else statements.metaSet.run(pruneHoldKey, String(untilMs));
    return { ok: true, untilMs, watermark: this.watermark(), changed: [], repeated: false };
  }

  private deduct(orderId: string, itemId: number, amount: number, sequence: number | null): DeductResult {
    const statements = this.ready();
    const repeated = repeatOf<DeductResult>(statements.deductOutcome.get(orderId));
    if (repeated !== null) return repeated;
    const settled = this.settledBelowWatermark(sequence);
    if (settled !== null) return settled;
    const item = statements.itemById.get(itemId);
    let outcome: DeductResult;
    if (item === undefined) {
      outcome = { ok: false, reason: 'unknownItem', changed: [], repeated: false };
    } else if (item.stock < amount) {
      outcome = { ok: false, reason: 'insufficient', stock: item.stock, changed: [], repeated: false };
    } else {
      statements.deductStock.run({ amount, id: itemId });
      const stock = item.stock - amount;
      assert(stock >= 0, `deduct of ${amount} from item ${itemId} would leave ${stock}`);
      const total = totalOf(item.price, amount);
      outcome = { ok: true, price: item.price, total, stock, changed: [itemId], repeated: false };
    }
    // Every first outcome is kept (until pruned), refusals too: a retried order gets the same answer, never a second try.
    statements.insertDeduct.run(orderId, itemId, amount, JSON.stringify(outcome), sequence);
    return outcome;
  }

  private abort(orderId: string, itemId: number, amount: number, sequence: number | null): DeductResult {
    const statements = this.ready();
    const repeated = repeatOf<DeductResult>(statements.deductOutcome.get(orderId));
    if (repeated !== null) return repeated;
    const settled = this.settledBelowWatermark(sequence);
    if (settled !== null) return settled;
    const outcome: DeductResult = { ok: false, reason: 'aborted', changed: [], repeated: false };
    statements.insertDeduct.run(orderId, itemId, amount, JSON.stringify(outcome), sequence);
    return outcome;
  }

  private restock(requestId: string, itemId: number, amount: number): RestockResult | BadCommandResult {
    return this.itemRequest<Extract<RestockResult, { readonly ok: true }>, BadCommandResult>(requestId, itemId, (item) => {
      if (item.stock + amount > catalogLimits.stockMax) {
        const detail = `restock of ${amount} would take item ${itemId} past ${catalogLimits.stockMax}`;
        return { ok: false, reason: 'badCommand', detail, changed: [], repeated: false };
      }
      this.ready().restockStock.run({ amount, id: itemId });
      return { ok: true, stock: item.stock + amount, changed: [itemId], repeated: false };
    });
  }

  private setPrice(requestId: string, itemId: number, price: number): SetPriceResult {
    return this.itemRequest<Extract<SetPriceResult, { readonly ok: true }>>(requestId, itemId, (item) => {
      if (item.price !== price) this.ready().updatePrice.run(price, itemId);
      return { ok: true, price, changed: item.price === price ? [] : [itemId], repeated: false };
    });
  }

  /**
   * A change to one item under a request id (a restock, a price): a repeat answers its first outcome; an unknown
   * item is refused; otherwise `change` applies it to the item as read. Every outcome is kept for a repeat except a
   * bad command's: it changed nothing and has no outcome to repeat.
   */
  private itemRequest<Done extends { readonly ok: true; readonly changed: readonly number[]; readonly repeated: boolean }, Refused extends BadCommandResult = never>(
    requestId: string,
    itemId: number,
    change: (item: Item) => Done | Refused,
  ): Done | UnknownItemResult | Refused {
    const statements = this.ready();
    const repeated = repeatOf<Done | UnknownItemResult>(statements.requestOutcome.get(requestId));
    if (repeated !== null) return repeated;
    const item = statements.itemById.get(itemId);
    const outcome: Done | UnknownItemResult | Refused = item === undefined ? { ok: false, reason: 'unknownItem', changed: [], repeated: false } : change(item);
    if (!outcome.ok && outcome.reason === 'badCommand') return outcome;
    statements.insertRequest.run(requestId, JSON.stringify(outcome));
    return outcome;
  }

  /** A checked query (parseCatalogQuery: the replica checks what arrives from the wire). */
  query(query: CatalogQuery): CatalogAnswer[CatalogQuery['type']] {
    const statements = this.ready();
    switch (query.type) {
      case 'lookup':
        return this.lookup(query.id);
      case 'list':
        return { items: this.itemsList(), topics: this.topicsSorted, changeIndex: this.changeIndex() };
      case 'search':
        return this.search(query.topic);
      case 'stock':
        return statements.stockAll.all();
      case 'changeIndex':
        return this.changeIndex();
      case 'deductsHeld':
        return statements.deductsHeld.get()?.count ?? 0;
      case 'deductWatermark':
        return this.watermark();
      case 'deductOutcome': {
        const row = statements.deductOutcome.get(query.orderId);
        return row === undefined ? null : (JSON.parse(row.outcome) as DeductResult);
      }
      default:
        return assertNever(query, 'catalog query');
    }
  }

  private lookup(id: number): LookupAnswer {
    const item = this.ready().itemById.get(id) ?? null;
    const topic = item === null ? undefined : this.topicsById.get(item.topic);
    return { item, topics: topic === undefined ? [] : [topic], changeIndex: this.changeIndex() };
  }

  private search(topicText: string): ItemsAnswer {
    const needle = topicText.toLowerCase();
    const topics = this.topicsSorted.filter((_, position) => this.topicNamesLower[position]!.includes(needle));
    const changeIndex = this.changeIndex();
    if (topics.length === 0) return { items: [], topics: [], changeIndex };
    if (topics.length === this.topicsSorted.length) return { items: this.itemsList(), topics, changeIndex };
    const items = this.ready().itemsOfTopics.all(JSON.stringify(topics.map((topic) => topic.id)));
    return { items, topics, changeIndex };
  }

  snapshot(): string {
    const statements = this.ready();
    const image: SnapshotImage = {
      version: snapshotVersion,
      meta: statements.dumpMeta.all(),
      topics: statements.dumpTopics.all(),
      items: statements.dumpItems.all(),
      deducts: statements.dumpDeducts.all(),
      requests: statements.dumpRequests.all(),
    };
    return JSON.stringify(image);
  }

  restore(data: string): void {
    const image = parseSnapshot(data);
    const database = this.database;
    assert(database !== null, 'restore() before open()');
    database.exec(
      'DELETE FROM catalog_meta; DELETE FROM catalog_topics; DELETE FROM catalog_items; ' +
        'DELETE FROM catalog_deducts; DELETE FROM catalog_requests;',
    );
    const statements = this.ready();
    for (const row of image.meta) statements.metaSet.run(...(row as [string, string]));
    for (const row of image.topics) statements.insertTopic.run(...(row as [number, string]));
    for (const row of image.items) {
      statements.insertItem.run(...(row as [number, string, number, number, number, number, number, number]));
    }
    for (const row of image.deducts) statements.insertDeduct.run(...(row as [string, number, number, string, number | null]));
    for (const row of image.requests) statements.insertRequest.run(...(row as [string, string]));
    this.itemsListMemo = null;
    this.changeIndexMemo = null;
    this.loadTopics();
  }

  tablesReplaced(): void {
    this.itemsListMemo = null;
    this.changeIndexMemo = null;
    this.loadTopics();
  }

  hash(): string {
    // The snapshot is canonical: every table dumped in primary-key order, as arrays, by one JSON encoder. The
    // digest is that of snapshot()'s text, fed row by row, so it needs no memory in proportion to the state.
    const statements = this.ready();
    const digest = createHash('sha256').update(`{"version":${snapshotVersion}`);
    const sections = [['meta', statements.dumpMeta], ['topics', statements.dumpTopics], ['items', statements.dumpItems],
      ['deducts', statements.dumpDeducts], ['requests', statements.dumpRequests]] as const;
    for (const [key, dump] of sections) {
      digest.update(`,"${key}":[`);
      let first = true;
      for (const row of dump.iterate()) {
        digest.update(first ? JSON.stringify(row) : `,${JSON.stringify(row)}`);
        first = false;
      }
      digest.update(']');
    }
    return digest.update('}').digest('hex');
  }
}

/** A database made before sequences gets the column, null in every row (never pruned). */
function migrate(database: Database.Database): void {
  const columns = database.prepare<[], { name: string }>('PRAGMA table_info(catalog_deducts)').all();
  if (!columns.some((column) => column.name === 'seq')) database.exec('ALTER TABLE catalog_deducts ADD COLUMN seq INTEGER');
}
