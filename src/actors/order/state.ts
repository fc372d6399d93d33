// The order group's replicated state machine: the durable log of the order saga (DESIGN.md §3).
//
// Owns the table order_orders. An order is created `pending` by the order leader, then moves once to `committed`
// (with the total the catalog charged) or `rejected` (with the catalog's reason); nothing else ever changes it.
// Promises: exactly-once orders (a repeated `pending` for a known orderId returns the existing order, whatever its
// status, and creates nothing); transitions only from pending, a repeat of the same transition is a no-op, any
// other transition is answered with badCommand and changes nothing; same commands → same hash on every replica.
// Needs: the caller's transaction around apply() and restore() (StateMachine contract), one thread.
import { createHash } from 'node:crypto';
import type Database from 'better-sqlite3';
import type { StateMachine } from '../../raft/state-machine.js';

function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(`order state machine: ${message}`);
}

function assertNever(value: never): never {
  throw new Error(`order state machine: unexpected ${JSON.stringify(value)}`);
}

export const orderLimits = {
  orderIdLengthMax: 128,
  reasonLengthMax: 200,
  amountMax: 1_000_000,
  /** Largest total of one order: amountMax copies at the catalog's priceMax. */
  totalMax: 1_000_000 * 1_000_000,
} as const;

export type OrderStatus = 'pending' | 'committed' | 'rejected';

/** Key order is the gateway's: id, item, amount, total, status, createdAt. */
export interface Order {
  readonly id: string;
  readonly item: number;
  readonly amount: number;
  readonly total: number | null;
  readonly status: OrderStatus;
  readonly createdAt: number;
}

export type OrderCommand =
  | { readonly type: 'pending'; readonly orderId: string; readonly item: number; readonly amount: number; readonly createdAt: number }
  | { readonly type: 'committed'; readonly orderId: string; readonly total: number }
  | { readonly type: 'rejected'; readonly orderId: string; readonly reason: string };

export type OrderResult =
  | { readonly ok: true; readonly order: Order; readonly created: boolean }
  | { readonly ok: true; readonly order: Order; readonly transitioned: boolean }
  | { readonly ok: false; readonly reason: 'badCommand'; readonly detail: string };

export type OrderQuery =
  | { readonly type: 'get'; readonly orderId: string }
  | { readonly type: 'byItem'; readonly item: number }
  | { readonly type: 'pending' }
  | { readonly type: 'committedTotals' };

/** Per item, the copies sold by committed orders (the conservation promise compares it with the catalog). */
export interface CommittedTotal {
  readonly item: number;
  readonly amount: number;
  readonly orders: number;
}

export interface OrderBadQuery {
  readonly ok: false;
  readonly reason: 'badQuery';
  readonly detail: string;
}

export function encodeOrderCommand(command: OrderCommand): string {
  return JSON.stringify(command);
}

type Decoded = { readonly ok: true; readonly command: OrderCommand } | { readonly ok: false; readonly detail: string };

function isOrderId(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= orderLimits.orderIdLengthMax;
}

function isPositiveInteger(value: unknown, max: number): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value > 0 && value <= max;
}

export function decodeOrderCommand(data: string): Decoded {
  let parsed: unknown;
  try {
    parsed = JSON.parse(data);
  } catch {
    return { ok: false, detail: 'not JSON' };
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return { ok: false, detail: 'not a JSON object' };
  const record = parsed as Record<string, unknown>;
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
      if (typeof createdAt !== 'number' || !Number.isSafeInteger(createdAt) || createdAt < 0) {
        return { ok: false, detail: 'createdAt must be a non-negative integer of milliseconds' };
      }
      return { ok: true, command: { type: 'pending', orderId, item: record.item, amount: record.amount, createdAt } };
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
      return { ok: true, command: { type: 'rejected', orderId, reason } };
    }
    default:
      return { ok: false, detail: `unknown command type ${JSON.stringify(record.type)?.slice(0, 50)}` };
  }
}

const schema = `
  CREATE TABLE IF NOT EXISTS order_orders (
    id TEXT PRIMARY KEY, item INTEGER NOT NULL, amount INTEGER NOT NULL, total REAL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'committed', 'rejected')),
    created_at INTEGER NOT NULL, reason TEXT
  ) STRICT;
  CREATE INDEX IF NOT EXISTS order_orders_by_item ON order_orders (item, created_at, id);
  CREATE INDEX IF NOT EXISTS order_orders_by_status ON order_orders (status, created_at, id);
`;

const orderColumns = 'id, item, amount, total, status, created_at AS createdAt';
const snapshotVersion = 1;

type Statements = ReturnType<typeof prepareStatements>;

function prepareStatements(database: Database.Database) {
  return {
    get: database.prepare<[string], Order>(`SELECT ${orderColumns} FROM order_orders WHERE id = ?`),
    byItem: database.prepare<[number], Order>(`SELECT ${orderColumns} FROM order_orders WHERE item = ? ORDER BY created_at, id`),
    pending: database.prepare<[], Order>(
      `SELECT ${orderColumns} FROM order_orders WHERE status = 'pending' ORDER BY created_at, id`,
    ),
    committedTotals: database.prepare<[], CommittedTotal>(
      `SELECT item, SUM(amount) AS amount, COUNT(*) AS orders FROM order_orders
       WHERE status = 'committed' GROUP BY item ORDER BY item`,
    ),
    insert: database.prepare<[string, number, number, number | null, string, number, string | null]>(
      'INSERT INTO order_orders (id, item, amount, total, status, created_at, reason) VALUES (?, ?, ?, ?, ?, ?, ?)',
    ),
    commit: database.prepare<[number, string]>(`UPDATE order_orders SET status = 'committed', total = ? WHERE id = ?`),
    reject: database.prepare<[string, string]>(`UPDATE order_orders SET status = 'rejected', reason = ? WHERE id = ?`),
    dump: database
      .prepare<[], unknown[]>('SELECT id, item, amount, total, status, created_at, reason FROM order_orders ORDER BY id')
      .raw(),
  };
}

function badCommand(detail: string): OrderResult {
  return { ok: false, reason: 'badCommand', detail };
}

export class OrderStateMachine implements StateMachine {
  private database: Database.Database | null = null;
  private statements: Statements | null = null;

  open(database: Database.Database): void {
    assert(this.database === null, 'open() called twice');
    database.exec(schema);
    this.database = database;
    this.statements = prepareStatements(database);
  }

  private ready(): Statements {
    assert(this.statements !== null, 'used before open()');
    return this.statements;
  }

  apply(data: string, index: number): OrderResult {
    assert(Number.isSafeInteger(index) && index > 0, `apply at index ${index}`);
    const decoded = decodeOrderCommand(data);
    if (!decoded.ok) return badCommand(decoded.detail);
    const command = decoded.command;
    switch (command.type) {
      case 'pending':
        return this.pending(command);
      case 'committed':
      case 'rejected':
        return this.finish(command);
      default:
        return assertNever(command);
    }
  }

  private pending(command: Extract<OrderCommand, { type: 'pending' }>): OrderResult {
    const statements = this.ready();
    const existing = statements.get.get(command.orderId);
    if (existing !== undefined) return { ok: true, order: existing, created: false };
    statements.insert.run(command.orderId, command.item, command.amount, null, 'pending', command.createdAt, null);
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
    if (command.type === 'committed') statements.commit.run(command.total, command.orderId);
    else statements.reject.run(command.reason, command.orderId);
    const order = statements.get.get(command.orderId);
    assert(order !== undefined && order.status === command.type, `order ${command.orderId} did not become ${command.type}`);
    return { ok: true, order, transitioned: true };
  }

  query(query: unknown): Order | Order[] | CommittedTotal[] | null | OrderBadQuery {
    if (typeof query !== 'object' || query === null) return badQuery('a query must be an object');
    const record = query as Record<string, unknown>;
    const statements = this.ready();
    switch (record.type) {
      case 'get':
        if (!isOrderId(record.orderId)) return badQuery('get needs an orderId');
        return statements.get.get(record.orderId) ?? null;
      case 'byItem':
        if (!isPositiveInteger(record.item, Number.MAX_SAFE_INTEGER)) return badQuery('byItem needs a positive integer item');
        return statements.byItem.all(record.item);
      case 'pending':
        return statements.pending.all();
      case 'committedTotals':
        return statements.committedTotals.all();
      default:
        return badQuery(`unknown query type ${JSON.stringify(record.type)?.slice(0, 50)}`);
    }
  }

  snapshot(): string {
    return JSON.stringify({ version: snapshotVersion, orders: this.ready().dump.all() });
  }

  restore(data: string): void {
    const image = JSON.parse(data) as { version?: unknown; orders?: unknown };
    assert(image.version === snapshotVersion, `snapshot version ${String(image.version)} is not ${snapshotVersion}`);
    assert(Array.isArray(image.orders), 'snapshot orders is not an array');
    const database = this.database;
    assert(database !== null, 'restore() before open()');
    database.exec('DELETE FROM order_orders');
    const statements = this.ready();
    for (const row of image.orders as unknown[]) {
      assert(Array.isArray(row) && row.length === 7, 'snapshot order row is malformed');
      statements.insert.run(...(row as [string, number, number, number | null, string, number, string | null]));
    }
  }

  hash(): string {
    return createHash('sha256').update(this.snapshot()).digest('hex');
  }
}

function badQuery(detail: string): OrderBadQuery {
  return { ok: false, reason: 'badQuery', detail };
}
