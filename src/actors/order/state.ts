// The order group's replicated state machine: the durable log of the order saga (DESIGN.md §3).
//
// Owns the table order_orders. An order is created `pending` by the order leader, with a deadline the leader chose
// (its clock, carried in the entry), then moves once to `committed` (with the total the catalog charged) or
// `rejected` (with the catalog's reason, or `timeout`); nothing else ever changes it.
// Promises: exactly-once orders (a repeated `pending` for a known orderId with the same item and amount returns the
// existing order, whatever its status, and creates nothing); a key belongs to one request (the same orderId with
// another item or amount is answered `keyReused` with the first order, and changes nothing); transitions only from
// pending, a repeat of the same transition is a no-op, any other transition is answered with badCommand and changes
// nothing; a `timeout` rejection is refused before the order's deadline by the time in its own entry (apply reads
// no clock); same commands → same hash on every replica. Queries are bounded: the sweep reads pages of at most
// `sweepPageMax` rows, by deadline or by a cursor over the pending orders; an item's orders come in pages of at most
// `itemPageMax` in log order (seq: the index of the order's pending entry), so that an order created while a client
// pages lands after its cursor and each order is listed once.
// Needs: the caller's transaction around apply() and restore() (StateMachine contract), one thread.
import { createHash } from 'node:crypto';
import type Database from 'better-sqlite3';
import { encodeCommand, type DecodedCommand, type ParsedQuery, type StateMachine } from '../../raft/state-machine.js';
import { assert, assertNever } from '../../assert.js';
import { catalogLimits } from '../catalog/catalog.js';
import { commandObjectProblems, parseJsonObject } from '../json-object.js';

export const orderLimits = {
  /** Every order id becomes the key of a catalog deduct, so the catalog's key bound is the order id's. */
  orderIdLengthMax: catalogLimits.keyLengthMax,
  reasonLengthMax: 200,
  /** An order's amount is deducted whole, so it is bounded by the catalog's amount of one deduct. */
  amountMax: catalogLimits.amountMax,
  /** Largest total of one order: amountMax copies at the catalog's priceMax. */
  totalMax: catalogLimits.amountMax * catalogLimits.priceMax,
  /** Most rows one sweep query returns. */
  sweepPageMax: 1_024,
  /** Most orders one page of an item's orders holds (GET /orders?item=N&limit=L). */
  itemPageMax: 1_000,
} as const;

/** The deadline of a pending entry written before deadlines were carried in entries (and of such snapshots). */
export const legacyDeadlineMs = 30_000;

/** The reason of a rejection by the deadline: the catalog was fenced for the order before any deduct landed. */
export const timeoutReason = 'timeout';

export type OrderStatus = 'pending' | 'committed' | 'rejected';

/** Key order is the gateway's: id, item, amount, total, status, createdAt. */
export interface Order {
  readonly id: string;
  readonly item: number;
  readonly amount: number;
  readonly total: number | null;
  readonly status: OrderStatus;
  readonly createdAt: number;
  /** Why a rejected order was rejected (insufficient, unknownItem, timeout); null otherwise. */
  readonly reason: string | null;
  /** Milliseconds since the epoch, by the clock of the leader that created it: after it, the order may time out. */
  readonly deadlineAt: number;
  /** The log index of the order's pending entry (0 for orders made before it was kept): pages and the watermark. */
  readonly sequence: number;
}

export type OrderCommand =
  | {
      readonly type: 'pending'; readonly orderId: string; readonly item: number; readonly amount: number;
      readonly createdAt: number; readonly deadlineAt: number;
    }
  | { readonly type: 'committed'; readonly orderId: string; readonly total: number }
  /** `atMs`: the proposing leader's clock; required for a `timeout`, which it must not precede the deadline. */
  | { readonly type: 'rejected'; readonly orderId: string; readonly reason: string; readonly atMs?: number };

export type OrderResult =
  | { readonly ok: true; readonly order: Order; readonly created: boolean }
  | { readonly ok: true; readonly order: Order; readonly transitioned: boolean }
  | { readonly ok: false; readonly reason: 'keyReused'; readonly first: Order }
  | { readonly ok: false; readonly reason: 'badCommand'; readonly detail: string };

/** Where a scan of the pending orders stands: after this (createdAt, id). */
export interface PendingCursor {
  readonly createdAt: number;
  readonly id: string;
}

/** Where a page of an item's orders stands: after the order created at log index `sequence` with this id. */
export interface ItemCursor {
  readonly sequence: number;
  readonly id: string;
}

/** One page of an item's orders; `next` is null after the last one. */
export interface ItemPage {
  readonly orders: readonly Order[];
  readonly next: ItemCursor | null;
}

export type OrderQuery =
  | { readonly type: 'get'; readonly orderId: string }
  | { readonly type: 'byItem'; readonly item: number }
  /** An item's orders in the order they were created (log order), after `after`, at most `limit`. */
  | { readonly type: 'itemPage'; readonly item: number; readonly after: ItemCursor | null; readonly limit: number }
  /** Pending orders whose deadline is at or before `nowMs` (the reader's clock), earliest deadline first. */
  | { readonly type: 'expired'; readonly nowMs: number; readonly limit: number }
  /** Pending orders after `after` in (createdAt, id) order, at most `limit`. */
  | { readonly type: 'pendingPage'; readonly after: PendingCursor | null; readonly limit: number }
  | { readonly type: 'committedTotals' }
  /**
   * The watermark the order group publishes to the catalog: every order whose pending entry is below it has its
   * outcome in this log (the lowest sequence of a pending order; with none pending, one past the highest).
   */
  | { readonly type: 'watermark' };

/** Per item, the copies sold by committed orders (the conservation promise compares it with the catalog). */
export interface CommittedTotal {
  readonly item: number;
  readonly amount: number;
  readonly orders: number;
}

/** What each kind of order query is answered with. */
export type OrderAnswer = {
  readonly get: Order | null;
  readonly byItem: Order[];
  readonly itemPage: ItemPage;
  readonly expired: Order[];
  readonly pendingPage: Order[];
  readonly committedTotals: CommittedTotal[];
  readonly watermark: number;
};

/** The order group's state machine, as its replicas and clients name it. */
export type OrderMachine = StateMachine<OrderCommand, OrderResult, OrderQuery, OrderAnswer>;

export function encodeOrderCommand(command: OrderCommand): string {
  return encodeCommand(command);
}

type Decoded = DecodedCommand<OrderCommand>;

function isOrderId(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= orderLimits.orderIdLengthMax;
}

function isMilliseconds(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function isPositiveInteger(value: unknown, max: number): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value > 0 && value <= max;
}

export function decodeOrderCommand(data: string): Decoded {
  const parsed = parseJsonObject(data, commandObjectProblems);
  if (!parsed.ok) return parsed;
  const record = parsed.fields;
  if (!isOrderId(record.orderId)) {
    return { ok: false, detail: `orderId must be a string of 1 to ${orderLimits.orderIdLengthMax} characters` };
  }
  const orderId = record.orderId;
  switch (record.type) {
    case 'pending': {
      if (!isPositiveInteger(record.item, Number.MAX_SAFE_INTEGER)) return { ok: false, detail: 'item must be a positive integer' };
      if (!isPositiveInteger(record.amount, orderLimits.amountMax)) {
        return { ok: false, detail: `amount must be an integer from 1 to ${orderLimits.amountMax}` };
      }
      const createdAt = record.createdAt;
      if (!isMilliseconds(createdAt)) return { ok: false, detail: 'createdAt must be a non-negative integer of milliseconds' };
      // Entries written before deadlines travelled in them get the deadline they had then.
      const deadlineAt = record.deadlineAt === undefined ? createdAt + legacyDeadlineMs : record.deadlineAt;
      if (!isMilliseconds(deadlineAt)) return { ok: false, detail: 'deadlineAt must be a non-negative integer of milliseconds' };
      return { ok: true, command: { type: 'pending', orderId, item: record.item, amount: record.amount, createdAt, deadlineAt } };
    }
    case 'committed': {
      const total = record.total;
      if (typeof total !== 'number' || !Number.isFinite(total) || total < 0 || total > orderLimits.totalMax) {
        return { ok: false, detail: 'total must be a non-negative finite number' };
      }
      return { ok: true, command: { type: 'committed', orderId, total } };
    }
    case 'rejected': {
      const reason = record.reason;
      if (typeof reason !== 'string' || reason.length === 0 || reason.length > orderLimits.reasonLengthMax) {
        return { ok: false, detail: `reason must be a string of 1 to ${orderLimits.reasonLengthMax} characters` };
      }
      if (record.atMs === undefined) {
        if (reason === timeoutReason) return { ok: false, detail: 'a timeout rejection needs atMs, the time it was decided' };
        return { ok: true, command: { type: 'rejected', orderId, reason } };
      }
      if (!isMilliseconds(record.atMs)) return { ok: false, detail: 'atMs must be a non-negative integer of milliseconds' };
      return { ok: true, command: { type: 'rejected', orderId, reason, atMs: record.atMs } };
    }
    default:
      return { ok: false, detail: `unknown command type ${JSON.stringify(record.type)?.slice(0, 50)}` };
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function parsePendingCursor(after: unknown): ParsedQuery<PendingCursor | null> {
  if (after === null || after === undefined) return { ok: true, query: null };
  if (!isRecord(after) || !isMilliseconds(after.createdAt) || !isOrderId(after.id)) return { ok: false, detail: 'after must be {createdAt, id} or null' };
  return { ok: true, query: { createdAt: after.createdAt, id: after.id } };
}

function parseItemCursor(after: unknown): ParsedQuery<ItemCursor | null> {
  if (after === null || after === undefined) return { ok: true, query: null };
  if (!isRecord(after) || !isMilliseconds(after.sequence) || !isOrderId(after.id)) return { ok: false, detail: 'after must be {sequence, id} or null' };
  return { ok: true, query: { sequence: after.sequence, id: after.id } };
}

function parsePageQuery(record: Record<string, unknown>): ParsedQuery<OrderQuery> {
  if (record.type === 'pendingPage') {
    if (!isPositiveInteger(record.limit, orderLimits.sweepPageMax)) return { ok: false, detail: `limit must be 1 to ${orderLimits.sweepPageMax}` };
    const after = parsePendingCursor(record.after);
    return after.ok ? { ok: true, query: { type: 'pendingPage', after: after.query, limit: record.limit } } : after;
  }
  if (!isPositiveInteger(record.item, Number.MAX_SAFE_INTEGER)) return { ok: false, detail: 'itemPage needs a positive integer item' };
  if (!isPositiveInteger(record.limit, orderLimits.itemPageMax)) return { ok: false, detail: `limit must be 1 to ${orderLimits.itemPageMax}` };
  const after = parseItemCursor(record.after);
  return after.ok ? { ok: true, query: { type: 'itemPage', item: record.item, after: after.query, limit: record.limit } } : after;
}

/** A query from the wire, checked: only the fields of its kind are kept. Never throws. */
export function parseOrderQuery(value: unknown): ParsedQuery<OrderQuery> {
  if (!isRecord(value)) return { ok: false, detail: 'a query must be an object' };
  switch (value.type) {
    case 'get':
      return isOrderId(value.orderId) ? { ok: true, query: { type: 'get', orderId: value.orderId } } : { ok: false, detail: 'get needs an orderId' };
    case 'byItem':
      return isPositiveInteger(value.item, Number.MAX_SAFE_INTEGER) ? { ok: true, query: { type: 'byItem', item: value.item } }
        : { ok: false, detail: 'byItem needs a positive integer item' };
    case 'itemPage':
    case 'pendingPage':
      return parsePageQuery(value);
    case 'expired':
      if (!isMilliseconds(value.nowMs)) return { ok: false, detail: 'expired needs nowMs, milliseconds since the epoch' };
      if (!isPositiveInteger(value.limit, orderLimits.sweepPageMax)) return { ok: false, detail: `limit must be 1 to ${orderLimits.sweepPageMax}` };
      return { ok: true, query: { type: 'expired', nowMs: value.nowMs, limit: value.limit } };
    case 'committedTotals':
    case 'watermark':
      return { ok: true, query: { type: value.type } };
    default:
      return { ok: false, detail: `unknown query type ${JSON.stringify(value.type)?.slice(0, 50)}` };
  }
}

const schema = `
  CREATE TABLE IF NOT EXISTS order_orders (
    id TEXT PRIMARY KEY, item INTEGER NOT NULL, amount INTEGER NOT NULL, total REAL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'committed', 'rejected')),
    created_at INTEGER NOT NULL, reason TEXT, deadline_at INTEGER NOT NULL, seq INTEGER NOT NULL DEFAULT 0
  ) STRICT;
`;

/** Indexes made after any column migration, since one of them names deadline_at. */
const indexes = `
  CREATE INDEX IF NOT EXISTS order_orders_by_item ON order_orders (item, created_at, id);
  CREATE INDEX IF NOT EXISTS order_orders_by_status ON order_orders (status, created_at, id);
  CREATE INDEX IF NOT EXISTS order_orders_by_deadline ON order_orders (status, deadline_at, id);
  CREATE INDEX IF NOT EXISTS order_orders_by_item_seq ON order_orders (item, seq, id);
  CREATE INDEX IF NOT EXISTS order_orders_by_status_seq ON order_orders (status, seq);
  CREATE INDEX IF NOT EXISTS order_orders_by_seq ON order_orders (seq);
`;

const orderColumns = 'id, item, amount, total, status, created_at AS createdAt, reason, deadline_at AS deadlineAt, seq AS sequence';
/**
 * Version 3 rows carry seq (the log index of the order's pending entry; 0 for orders made before it was kept);
 * version 2 rows get seq 0; version 1 rows also get createdAt + legacyDeadlineMs.
 */
const snapshotVersion = 3;

type OrderRow = [string, number, number, number | null, string, number, string | null, number, number];

type Statements = ReturnType<typeof prepareStatements>;

function prepareStatements(database: Database.Database) {
  return {
    get: database.prepare<[string], Order>(`SELECT ${orderColumns} FROM order_orders WHERE id = ?`),
    byItem: database.prepare<[number], Order>(`SELECT ${orderColumns} FROM order_orders WHERE item = ? ORDER BY created_at, id`),
    itemFirst: database.prepare<[number, number], Order>(
      `SELECT ${orderColumns} FROM order_orders WHERE item = ? ORDER BY seq, id LIMIT ?`,
    ),
    itemAfter: database.prepare<[number, number, number, string, number], Order>(
      `SELECT ${orderColumns} FROM order_orders WHERE item = ? AND (seq > ? OR (seq = ? AND id > ?))
       ORDER BY seq, id LIMIT ?`,
    ),
    expired: database.prepare<[number, number], Order>(
      `SELECT ${orderColumns} FROM order_orders WHERE status = 'pending' AND deadline_at <= ? ORDER BY deadline_at, id LIMIT ?`,
    ),
    pendingFirst: database.prepare<[number], Order>(
      `SELECT ${orderColumns} FROM order_orders WHERE status = 'pending' ORDER BY created_at, id LIMIT ?`,
    ),
    pendingAfter: database.prepare<[number, number, string, number], Order>(
      `SELECT ${orderColumns} FROM order_orders WHERE status = 'pending' AND (created_at > ? OR (created_at = ? AND id > ?))
       ORDER BY created_at, id LIMIT ?`,
    ),
    lowestPending: database.prepare<[], { sequence: number | null }>(
      "SELECT MIN(seq) AS sequence FROM order_orders WHERE status = 'pending' AND seq > 0",
    ),
    highest: database.prepare<[], { sequence: number | null }>('SELECT MAX(seq) AS sequence FROM order_orders'),
    committedTotals: database.prepare<[], CommittedTotal>(
      `SELECT item, SUM(amount) AS amount, COUNT(*) AS orders FROM order_orders
       WHERE status = 'committed' GROUP BY item ORDER BY item`,
    ),
    insert: database.prepare<OrderRow>(
      'INSERT INTO order_orders (id, item, amount, total, status, created_at, reason, deadline_at, seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
    ),
    commit: database.prepare<[number, string]>(`UPDATE order_orders SET status = 'committed', total = ? WHERE id = ?`),
    reject: database.prepare<[string, string]>(`UPDATE order_orders SET status = 'rejected', reason = ? WHERE id = ?`),
    dump: database
      .prepare<[], unknown[]>('SELECT id, item, amount, total, status, created_at, reason, deadline_at, seq FROM order_orders ORDER BY id')
      .raw(),
  };
}

function badCommand(detail: string): OrderResult {
  return { ok: false, reason: 'badCommand', detail };
}

export class OrderStateMachine implements OrderMachine {
  private database: Database.Database | null = null;
  private statements: Statements | null = null;

  open(database: Database.Database): void {
    assert(this.database === null, 'open() called twice');
    database.exec(schema);
    migrate(database);
    database.exec(indexes);
    this.database = database;
    this.statements = prepareStatements(database);
  }

  private ready(): Statements {
    assert(this.statements !== null, 'used before open()');
    return this.statements;
  }

  decodeCommand(data: string): Decoded {
    return decodeOrderCommand(data);
  }

  apply(data: string, index: number): OrderResult {
    assert(Number.isSafeInteger(index) && index > 0, `apply at index ${index}`);
    const decoded = decodeOrderCommand(data);
    if (!decoded.ok) return badCommand(decoded.detail);
    const command = decoded.command;
    switch (command.type) {
      case 'pending':
        return this.pending(command, index);
      case 'committed':
      case 'rejected':
        return this.finish(command);
      default:
        return assertNever(command);
    }
  }

  private pending(command: Extract<OrderCommand, { type: 'pending' }>, index: number): OrderResult {
    const statements = this.ready();
    const existing = statements.get.get(command.orderId);
    if (existing !== undefined) {
      if (existing.item !== command.item || existing.amount !== command.amount) return { ok: false, reason: 'keyReused', first: existing };
      return { ok: true, order: existing, created: false };
    }
    statements.insert.run(command.orderId, command.item, command.amount, null, 'pending', command.createdAt, null, command.deadlineAt, index);
    const order = statements.get.get(command.orderId);
    assert(order !== undefined && order.status === 'pending', `order ${command.orderId} not stored`);
    return { ok: true, order, created: true };
  }

  private finish(command: Extract<OrderCommand, { type: 'committed' | 'rejected' }>): OrderResult {
    const statements = this.ready();
    const existing = statements.get.get(command.orderId);
    if (existing === undefined) return badCommand(`order ${command.orderId} is unknown`);
    if (existing.status === command.type) return { ok: true, order: existing, transitioned: false };
    if (existing.status !== 'pending') {
      return badCommand(`order ${command.orderId} is ${existing.status}; it cannot become ${command.type}`);
    }
    if (command.type === 'rejected' && command.reason === timeoutReason && (command.atMs ?? 0) < existing.deadlineAt) {
      return badCommand(`order ${command.orderId} cannot time out at ${command.atMs}, before its deadline ${existing.deadlineAt}`);
    }
    if (command.type === 'committed') statements.commit.run(command.total, command.orderId);
    else statements.reject.run(command.reason, command.orderId);
    const order = statements.get.get(command.orderId);
    assert(order !== undefined && order.status === command.type, `order ${command.orderId} did not become ${command.type}`);
    return { ok: true, order, transitioned: true };
  }

  /** A checked query (parseOrderQuery: the replica checks what arrives from the wire). */
  query(query: OrderQuery): OrderAnswer[OrderQuery['type']] {
    const statements = this.ready();
    switch (query.type) {
      case 'get':
        return statements.get.get(query.orderId) ?? null;
      case 'byItem':
        return statements.byItem.all(query.item);
      case 'itemPage':
        return this.itemPage(query.item, query.after, query.limit);
      case 'expired':
        return statements.expired.all(query.nowMs, query.limit);
      case 'pendingPage':
        return query.after === null ? statements.pendingFirst.all(query.limit)
          : statements.pendingAfter.all(query.after.createdAt, query.after.createdAt, query.after.id, query.limit);
      case 'committedTotals':
        return statements.committedTotals.all();
      case 'watermark': {
        // What the order group publishes to the catalog: every order whose pending entry is below it has its
        // outcome in this log (the lowest sequence of a pending order; with none pending, one past the highest).
        const lowest = statements.lowestPending.get()?.sequence ?? null;
        return lowest ?? (statements.highest.get()?.sequence ?? 0) + 1;
      }
      default:
        return assertNever(query, 'order query');
    }
  }

  /**
   * A page of an item's orders in log order. An order created while a client pages has a larger sequence than
   * every order before it, so it lands after the cursor: each order is listed on exactly one page.
   */
  private itemPage(item: number, after: ItemCursor | null, limit: number): ItemPage {
    const statements = this.ready();
    const rows = after === null ? statements.itemFirst.all(item, limit + 1)
      : statements.itemAfter.all(item, after.sequence, after.sequence, after.id, limit + 1);
    const more = rows.length > limit;
    const page = more ? rows.slice(0, limit) : rows;
    const last = page.at(-1);
    const next = more && last !== undefined ? { sequence: last.sequence, id: last.id } : null;
    return { orders: page, next };
  }

  snapshot(): string {
    return JSON.stringify({ version: snapshotVersion, orders: this.ready().dump.all() });
  }

  restore(data: string): void {
    const image = JSON.parse(data) as { version?: unknown; orders?: unknown };
    assert(image.version === snapshotVersion || image.version === 2 || image.version === 1, `snapshot version ${String(image.version)} is not 1 to ${snapshotVersion}`);
    const width = image.version === 1 ? 7 : image.version === 2 ? 8 : 9;
    assert(Array.isArray(image.orders), 'snapshot orders is not an array');
    const database = this.database;
    assert(database !== null, 'restore() before open()');
    database.exec('DELETE FROM order_orders');
    const statements = this.ready();
    for (const row of image.orders as unknown[]) {
      assert(Array.isArray(row) && row.length === width, 'snapshot order row is malformed');
      const cells = row as unknown[];
      if (width === 7) cells.push((cells[5] as number) + legacyDeadlineMs);
      if (width < 9) cells.push(0);
      statements.insert.run(...(cells as OrderRow));
    }
  }

  /** The digest of snapshot()'s text, fed row by row: no memory in proportion to the number of orders. */
  hash(): string {
    const digest = createHash('sha256').update(`{"version":${snapshotVersion},"orders":[`);
    let first = true;
    for (const row of this.ready().dump.iterate()) {
      digest.update(first ? JSON.stringify(row) : `,${JSON.stringify(row)}`);
      first = false;
    }
    return digest.update(']}').digest('hex');
  }
}

/**
 * A database made before deadlines gets the column, each pending order the deadline it would have had then
 * (createdAt + legacyDeadlineMs): the same on every replica, since it depends only on the rows.
 */
function migrate(database: Database.Database): void {
  const columns = database.prepare<[], { name: string }>('PRAGMA table_info(order_orders)').all();
  if (!columns.some((column) => column.name === 'deadline_at')) {
    database.exec(`ALTER TABLE order_orders ADD COLUMN deadline_at INTEGER NOT NULL DEFAULT 0;
      UPDATE order_orders SET deadline_at = created_at + ${legacyDeadlineMs};`);
  }
  // Orders made before the sequence was kept get 0: they list first, by id, the same on every replica.
  if (!columns.some((column) => column.name === 'seq')) database.exec('ALTER TABLE order_orders ADD COLUMN seq INTEGER NOT NULL DEFAULT 0');
}

