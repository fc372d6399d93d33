// The catalog as data: the shapes of topics and items, their bounds, and the validation of a catalog that arrives
// from outside (a `--catalog FILE.json`, a generated catalog, a snapshot).
//
// Owns: the Item and Topic shapes in the exact key order the gateway serializes (item: id, name, stock, price,
// topic; topic: id, name), and every numeric bound of the catalog. Promises: parseCatalog either returns a fresh,
// fully checked catalog whose objects have that key order, or throws a CatalogError naming the first bad field.
// Needs nothing.

export interface Topic {
  readonly id: number;
  readonly name: string;
}

export interface Item {
  readonly id: number;
  readonly name: string;
  readonly stock: number;
  readonly price: number;
  readonly topic: number;
}

export interface Catalog {
  readonly topics: readonly Topic[];
  readonly items: readonly Item[];
}

/** Bounds of one catalog: checked on load and by every command, so no value can grow without limit. */
export const catalogLimits = {
  itemsMax: 1_000_000,
  topicsMax: 10_000,
  nameLengthMax: 500,
  /** Stock of one item; a restock that would pass it is refused. Far below 2^53, so sums stay exact. */
  stockMax: 1_000_000_000,
  /** Price of one copy in currency units, with at most two decimals (cents). */
  priceMax: 1_000_000,
  /** Copies in one deduct or restock. */
  amountMax: 1_000_000,
  /** Length of an order id or request id: the Idempotency-Key's bound everywhere (gateway, order and catalog groups). */
  keyLengthMax: 128,
} as const;

export class CatalogError extends Error {
  override readonly name = 'CatalogError';
}

export function isPositiveId(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value > 0;
}

/** True for a finite, non-negative amount of money with at most two decimals, within priceMax. */
export function isPrice(value: unknown): value is number {
  if (typeof value !== 'number' || !Number.isFinite(value)) return false;
  if (value < 0 || value > catalogLimits.priceMax) return false;
  // Prices are whole cents; anything finer would make totals depend on rounding order.
  return Math.round(value * 100) / 100 === value;
}

export function isStock(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 && value <= catalogLimits.stockMax;
}

export function isName(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= catalogLimits.nameLengthMax;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function parseTopic(value: unknown, path: string): Topic {
  if (!isRecord(value)) throw new CatalogError(`${path} must be an object`);
  if (!isPositiveId(value.id)) throw new CatalogError(`${path}.id must be a positive integer, got ${String(value.id)}`);
  if (!isName(value.name)) {
    throw new CatalogError(`${path}.name must be a string of 1 to ${catalogLimits.nameLengthMax} characters`);
  }
  return { id: value.id, name: value.name };
}

function parseItem(value: unknown, path: string, topicIds: ReadonlySet<number>): Item {
  if (!isRecord(value)) throw new CatalogError(`${path} must be an object`);
  if (!isPositiveId(value.id)) throw new CatalogError(`${path}.id must be a positive integer, got ${String(value.id)}`);
  if (!isName(value.name)) {
    throw new CatalogError(`${path}.name must be a string of 1 to ${catalogLimits.nameLengthMax} characters`);
  }
  if (!isStock(value.stock)) {
    throw new CatalogError(`${path}.stock must be an integer from 0 to ${catalogLimits.stockMax}, got ${String(value.stock)}`);
  }
  if (!isPrice(value.price)) {
    throw new CatalogError(
      `${path}.price must be a number from 0 to ${catalogLimits.priceMax} in whole cents, got ${String(value.price)}`,
    );
  }
  if (!isPositiveId(value.topic)) throw new CatalogError(`${path}.topic must be a positive integer`);
  if (!topicIds.has(value.topic)) throw new CatalogError(`${path}.topic ${value.topic} is not a topic of the catalog`);
  return { id: value.id, name: value.name, stock: value.stock, price: value.price, topic: value.topic };
}

function parseList<T>(value: unknown, path: string, countMax: number, parseOne: (one: unknown, at: string) => T): T[] {
  if (!Array.isArray(value)) throw new CatalogError(`${path} must be an array`);
  if (value.length > countMax) throw new CatalogError(`${path} has ${value.length} entries, more than ${countMax}`);
  return value.map((one, position) => parseOne(one, `${path}[${position}]`));
}

function assertUniqueIds(list: readonly { id: number }[], path: string): void {
  const seen = new Set<number>();
  for (const entry of list) {
    if (seen.has(entry.id)) throw new CatalogError(`${path} has the id ${entry.id} twice`);
    seen.add(entry.id);
  }
}

/** Validates a catalog from outside; returns a fresh copy with topics and items sorted by id. */
export function parseCatalog(json: unknown): Catalog {
  if (!isRecord(json)) throw new CatalogError('a catalog must be an object with "topics" and "items"');
  const topics = parseList(json.topics, 'topics', catalogLimits.topicsMax, parseTopic);
  assertUniqueIds(topics, 'topics');
  const topicIds = new Set(topics.map((topic) => topic.id));
  const items = parseList(json.items, 'items', catalogLimits.itemsMax, (one, at) => parseItem(one, at, topicIds));
  assertUniqueIds(items, 'items');
  return {
    topics: topics.sort((left, right) => left.id - right.id),
    items: items.sort((left, right) => left.id - right.id),
  };
}
