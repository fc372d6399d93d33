// The order saga's decisions, pure: what the order leader asks of the catalog for an order, and what it commits
// in the order log once the catalog has answered. No I/O and no clock: times come in as arguments.
//
// Promises: the final status of an order is a function of the one outcome the catalog keeps for its id (the first
// deduct or abort, catalog/state.ts), so however deducts, aborts and their retries interleave, the order log and
// the catalog agree: committed ⇔ the deduct took stock. A `timeout` rejection is only ever derived from the
// catalog's "aborted", which only an abort after the deadline can produce.
// The one exception is a planted bug for the checker (`faults.rejectWithoutFence`): the sweep then rejects an
// expired order without fencing the catalog, and a deduct still in flight can buy a rejected order.
import type { CatalogCommand, DeductResult } from '../catalog/commands.js';
import { timeoutReason, type Order, type OrderCommand } from './state.js';

export interface SagaFaults {
  /** Planted bug: the deadline rejects without the catalog's abort (pygmy check must find it). */
  readonly rejectWithoutFence?: boolean;
}

export const orderDeadlineMsDefault = 30_000;

/** The deadline the leader writes into a new pending entry, by its clock. */
export function deadlineOf(nowMs: number, orderDeadlineMs: number): number {
  return Math.floor(nowMs) + orderDeadlineMs;
}

/** The order's sequence goes along (0, from before sequences were kept, is sent as none: never pruned, never refused). */
function sequenceOf(order: Order): { sequence?: number } {
  return order.sequence > 0 ? { sequence: order.sequence } : {};
}

export function deductCommand(order: Order): CatalogCommand {
  return { type: 'deduct', orderId: order.id, item: order.item, amount: order.amount, ...sequenceOf(order) };
}

export function abortCommand(order: Order): CatalogCommand {
  return { type: 'abort', orderId: order.id, item: order.item, amount: order.amount, ...sequenceOf(order) };
}

/**
 * The order-log entry that follows the catalog's outcome for `order`, decided at `atMs` by the leader's clock.
 * `settled` has none: the catalog says the order is decided in the order log already (the caller reads it there).
 */
export function settleCommand(order: Order, decided: DeductResult, atMs: number): OrderCommand {
  if (decided.ok) return { type: 'committed', orderId: order.id, total: decided.total };
  switch (decided.reason) {
    case 'aborted':
      return { type: 'rejected', orderId: order.id, reason: timeoutReason, atMs: Math.floor(atMs) };
    case 'insufficient':
    case 'unknownItem':
      return { type: 'rejected', orderId: order.id, reason: decided.reason };
    case 'settled':
      throw new Error(`order saga: order ${order.id} is below the catalog's watermark ${decided.watermark}; it has no entry to settle`);
    default: {
      const never: never = decided;
      throw new Error(`order saga: unexpected catalog outcome ${JSON.stringify(never)}`);
    }
  }
}

/** What the sweep does for an order past its deadline: fence the catalog, or (planted bug) reject outright. */
export type ExpiryStep =
  | { readonly kind: 'fence'; readonly command: CatalogCommand }
  | { readonly kind: 'reject'; readonly command: OrderCommand };

export function expiryStep(order: Order, atMs: number, faults: SagaFaults): ExpiryStep {
  if (faults.rejectWithoutFence === true) {
    return { kind: 'reject', command: { type: 'rejected', orderId: order.id, reason: timeoutReason, atMs: Math.floor(atMs) } };
  }
  return { kind: 'fence', command: abortCommand(order) };
}
