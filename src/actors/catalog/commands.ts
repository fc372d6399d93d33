// The catalog group's replicated commands, their results, its queries and their answers: the four types of the
// catalog's state machine (src/raft/state-machine.ts), which its replicas and group clients carry to callers.
//
// Owns: the command union carried as JSON text in Raft entries, its encoder and its checking decoder, the result
// shapes, the query union with its checking parser (a query arrives from the wire), and the answer of each kind
// of query. Promises: decodeCatalogCommand and parseCatalogQuery never throw; each accepts exactly what its
// encoder (or the query union) can produce and names what is wrong with anything else.
import { encodeCommand, type DecodedCommand, type ParsedQuery, type StateMachine } from '../../raft/state-machine.js';
import { catalogLimits, isPositiveId, isPrice, type Item, type Topic } from './catalog.js';
import { commandObjectProblems, parseJsonObject } from '../json-object.js';

export type CatalogCommand =
  /**
   * `sequence`: the order-log index of the order's pending entry. A deduct or abort whose sequence is below the
   * order group's published watermark (see `prune`) concerns an order already decided in the order log: with no
   * record left for it, it is refused `settled` and changes nothing. Commands without one (written before the
   * sequence was carried) are kept forever and never refused so.
   */
  | { readonly type: 'deduct'; readonly orderId: string; readonly item: number; readonly amount: number; readonly sequence?: number }
  /**
   * The fence of an order past its deadline: the first outcome for its orderId becomes "aborted" unless a deduct
   * landed first (then that deduct's outcome is the answer). Idempotent; a deduct after it is refused "aborted".
   */
  | { readonly type: 'abort'; readonly orderId: string; readonly item: number; readonly amount: number; readonly sequence?: number }
  /**
   * The order group's watermark: every order whose pending entry is below it has its outcome recorded in the order
   * log, so no saga will deduct or abort it again. Drops the deduct records of those orders; never moves back.
   */
  /**
   * `nowMs`: the publisher's clock when it proposed the prune; a prune whose nowMs is before a hold's `untilMs`
   * (see `holdPrunes`) changes nothing. A prune without one (written before holds) counts as time 0.
   */
  | { readonly type: 'prune'; readonly watermark: number; readonly nowMs?: number }
  /**
   * A backup's fence (docs/operations.md, "Why the two indexes agree"): until `untilMs` no prune applies, so the catalog
   * keeps every deduct record it holds while the order group and then the catalog are copied. It replaces any
   * earlier hold; `untilMs` 0 releases. A lease, on the proposer's clock, so a backup that never ends cannot stop
   * pruning for good; the backup's check (cli/backup-files.ts) catches a lease that ran out before the copy.
   */
  | { readonly type: 'holdPrunes'; readonly untilMs: number }
  | { readonly type: 'restock'; readonly requestId: string; readonly item: number; readonly amount: number }
  | { readonly type: 'setPrice'; readonly requestId: string; readonly item: number; readonly price: number };

/**
 * Every result names the items whose visible data changed (`changed`), so the leader can push invalidations, and
 * says whether it is the stored answer to an earlier command with the same idempotency key (`repeated`).
 */
interface ResultBase {
  readonly changed: readonly number[];
  readonly repeated: boolean;
  /** When `changed` is not empty: the index of the previous entry that changed an item (0 if none), a chain a
   * cache follows to notice an invalidation it missed. */
  readonly previousChangeIndex?: number;
}

export type DeductResult =
  | (ResultBase & { readonly ok: true; readonly price: number; readonly total: number; readonly stock: number })
  | (ResultBase & { readonly ok: false; readonly reason: 'insufficient'; readonly stock: number })
  | (ResultBase & { readonly ok: false; readonly reason: 'unknownItem' })
  | (ResultBase & { readonly ok: false; readonly reason: 'aborted' })
  /** A deduct or abort below the watermark with no record: its order is decided in the order log; nothing changed. */
  | (ResultBase & { readonly ok: false; readonly reason: 'settled'; readonly watermark: number });

export interface PruneResult extends ResultBase {
  readonly ok: true;
  readonly watermark: number;
  readonly pruned: number;
  /** True when a hold stopped this prune: nothing changed, the publisher tries again later. */
  readonly held?: boolean;
}

export interface HoldPrunesResult extends ResultBase {
  readonly ok: true;
  readonly untilMs: number;
  /** The watermark as the hold found it: a copy taken under the hold has no record pruned at or above it. */
  readonly watermark: number;
}

export type RestockResult =
  | (ResultBase & { readonly ok: true; readonly stock: number })
  | (ResultBase & { readonly ok: false; readonly reason: 'unknownItem' });

export type SetPriceResult =
  | (ResultBase & { readonly ok: true; readonly price: number })
  | (ResultBase & { readonly ok: false; readonly reason: 'unknownItem' });

export interface BadCommandResult extends ResultBase {
  readonly ok: false;
  readonly reason: 'badCommand';
  readonly detail: string;
}

export type CatalogResult = DeductResult | RestockResult | SetPriceResult | PruneResult | HoldPrunesResult | BadCommandResult;

export type CatalogQuery =
  | { readonly type: 'lookup'; readonly id: number }
  | { readonly type: 'list' }
  | { readonly type: 'search'; readonly topic: string }
  | { readonly type: 'stock' }
  | { readonly type: 'changeIndex' }
  /** How many deduct records the catalog holds (bounded by the orders not yet below the watermark). */
  | { readonly type: 'deductsHeld' }
  /** The order-group watermark last pruned to (0 before any): the catalog holds every deduct record from it on. */
  | { readonly type: 'deductWatermark' }
  | { readonly type: 'deductOutcome'; readonly orderId: string };

export interface ItemsAnswer {
  readonly items: readonly Item[];
  readonly topics: readonly Topic[];
  /** Index of the latest entry that changed an item, as of this answer. */
  readonly changeIndex: number;
}

export interface LookupAnswer {
  readonly item: Item | null;
  readonly topics: readonly Topic[];
  readonly changeIndex: number;
}

/** One item's stock with its history, for the conservation check: initialStock + restocked - deducted = stock. */
export interface StockRecord {
  readonly id: number;
  readonly stock: number;
  readonly initialStock: number;
  readonly restocked: number;
  readonly deducted: number;
}

/** What each kind of catalog query is answered with. */
export type CatalogAnswer = {
  readonly lookup: LookupAnswer;
  readonly list: ItemsAnswer;
  readonly search: ItemsAnswer;
  readonly stock: StockRecord[];
  readonly changeIndex: number;
  readonly deductsHeld: number;
  /** The order sequence below which deduct records were pruned (0: none pruned). */
  readonly deductWatermark: number;
  /** The first outcome kept for the order id, null when none is kept (never deducted, or pruned). */
  readonly deductOutcome: DeductResult | null;
};

/** The catalog's state machine, as its replicas and clients name it. */
export type CatalogMachine = StateMachine<CatalogCommand, CatalogResult, CatalogQuery, CatalogAnswer>;

/** Longest topic text a search accepts; longer text cannot match a topic name anyway. */
export const searchTopicLengthMax = 500;

export function encodeCatalogCommand(command: CatalogCommand): string {
  return encodeCommand(command);
}

/** A query from the wire, checked: only the fields of its kind are kept. */
export function parseCatalogQuery(value: unknown): ParsedQuery<CatalogQuery> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { ok: false, detail: 'a query must be an object' };
  const record = value as Record<string, unknown>;
  switch (record.type) {
    case 'lookup':
      return isPositiveId(record.id) ? { ok: true, query: { type: 'lookup', id: record.id } } : { ok: false, detail: 'lookup id must be a positive integer' };
    case 'search':
      if (typeof record.topic !== 'string' || record.topic.length > searchTopicLengthMax) {
        return { ok: false, detail: `search topic must be a string of at most ${searchTopicLengthMax} characters` };
      }
      return { ok: true, query: { type: 'search', topic: record.topic } };
    case 'deductOutcome':
      return isIdempotencyKey(record.orderId) ? { ok: true, query: { type: 'deductOutcome', orderId: record.orderId } } : { ok: false, detail: 'deductOutcome needs an orderId' };
    default:
      if (typeof record.type === 'string' && Object.hasOwn(queriesWithoutFields, record.type)) {
        return { ok: true, query: { type: record.type as keyof typeof queriesWithoutFields } };
      }
      return { ok: false, detail: `unknown query type ${JSON.stringify(record.type)?.slice(0, 50)}` };
  }
}

/**
 * The queries that carry only their type. Every query of CatalogQuery is either parsed by a case above or listed
 * here (the `satisfies` makes a query added to the union without either a compile error, not a badQuery refusal).
 */
const queriesWithoutFields = { list: true, stock: true, changeIndex: true, deductsHeld: true, deductWatermark: true } as const satisfies
  Record<Exclude<CatalogQuery['type'], 'lookup' | 'search' | 'deductOutcome'>, true>;

export function isIdempotencyKey(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= catalogLimits.keyLengthMax;
}

export function isAmount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value > 0 && value <= catalogLimits.amountMax;
}

function checkKeyItem(record: Record<string, unknown>, keyName: 'orderId' | 'requestId'): string | null {
  if (!isIdempotencyKey(record[keyName])) {
    return `${keyName} must be a string of 1 to ${catalogLimits.keyLengthMax} characters`;
  }
  if (!isPositiveId(record.item)) return 'item must be a positive integer';
  return null;
}

function isSequence(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function checkSequence(value: unknown): string | null {
  return value === undefined || isSequence(value) ? null : 'sequence must be a non-negative integer';
}

function checkAmount(record: Record<string, unknown>): string | null {
  return isAmount(record.amount) ? null : `amount must be an integer from 1 to ${catalogLimits.amountMax}`;
}

export function decodeCatalogCommand(data: string): DecodedCommand<CatalogCommand> {
  const parsed = parseJsonObject(data, commandObjectProblems);
  if (!parsed.ok) return parsed;
  const record = parsed.fields;
  const type = record.type;
  if (type === 'deduct' || type === 'abort') {
    const problem = checkKeyItem(record, 'orderId') ?? checkAmount(record) ?? checkSequence(record.sequence);
    if (problem !== null) return { ok: false, detail: problem };
    const base = { orderId: record.orderId as string, item: record.item as number, amount: record.amount as number };
    const sequence = record.sequence === undefined ? {} : { sequence: record.sequence as number };
    return { ok: true, command: { type, ...base, ...sequence } };
  }
  if (type === 'prune') {
    if (!isSequence(record.watermark)) return { ok: false, detail: 'watermark must be a non-negative integer' };
    if (record.nowMs !== undefined && !isSequence(record.nowMs)) return { ok: false, detail: 'nowMs must be a non-negative integer' };
    const nowMs = record.nowMs === undefined ? {} : { nowMs: record.nowMs as number };
    return { ok: true, command: { type: 'prune', watermark: record.watermark, ...nowMs } };
  }
  if (type === 'holdPrunes') {
    if (!isSequence(record.untilMs)) return { ok: false, detail: 'untilMs must be a non-negative integer (0 releases)' };
    return { ok: true, command: { type: 'holdPrunes', untilMs: record.untilMs } };
  }
  if (type === 'restock') {
    const problem = checkKeyItem(record, 'requestId') ?? checkAmount(record);
    if (problem !== null) return { ok: false, detail: problem };
    const command: CatalogCommand = { type: 'restock', requestId: record.requestId as string, item: record.item as number, amount: record.amount as number };
    return { ok: true, command };
  }
  if (type === 'setPrice') {
    const problem =
      checkKeyItem(record, 'requestId') ??
      (isPrice(record.price) ? null : `price must be a number from 0 to ${catalogLimits.priceMax} in whole cents`);
    if (problem !== null) return { ok: false, detail: problem };
    const command: CatalogCommand = { type: 'setPrice', requestId: record.requestId as string, item: record.item as number, price: record.price as number };
    return { ok: true, command };
  }
  return { ok: false, detail: `unknown command type ${JSON.stringify(type)?.slice(0, 50)}` };
}
