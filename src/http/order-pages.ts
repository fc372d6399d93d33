// Pages of GET /orders?item=N: the page size's default and bound, and the `after` cursor as clients see it.
//
// Promises: a cursor is opaque to clients (base64url of the JSON [sequence, id] of the last order of a page) and
// at most `cursorLengthMax` characters; one that does not decode to a sequence and an order id is rejected with a
// message, never a crash. `limit` is 1 to `orderPageLimitMax` (default `orderPageLimitDefault`), so a page holds
// at most orderPageLimitMax orders of at most ~400 bytes each: every body is bounded (well under 1 MiB).
import type { ItemCursor } from '../actors/order/state.js';
import { orderLimits } from '../actors/order/state.js';
import { orderKeyLengthMax, parsePositiveInteger, type Parsed } from './validation.js';

export const orderPageLimitDefault = 100;
export const orderPageLimitMax = orderLimits.itemPageMax;
/** base64url of [sequence, id] with the longest id (128 characters, each escaped to at most 6 bytes) fits. */
export const cursorLengthMax = 1_100;

export function encodeCursor(cursor: ItemCursor): string {
  return Buffer.from(JSON.stringify([cursor.sequence, cursor.id])).toString('base64url');
}

export function parseCursor(text: string | null): Parsed<ItemCursor | null> {
  if (text === null) return { rejected: false, value: null };
  const invalid = { rejected: true as const, error: 'after must be the `next` cursor of an earlier page' };
  if (text.length === 0 || text.length > cursorLengthMax || !/^[A-Za-z0-9_-]+$/.test(text)) return invalid;
  let decoded: unknown;
  try {
    decoded = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
  } catch {
    return invalid;
  }
  if (!Array.isArray(decoded) || decoded.length !== 2) return invalid;
  const [sequence, id] = decoded as unknown[];
  if (typeof sequence !== 'number' || !Number.isSafeInteger(sequence) || sequence < 0) return invalid;
  if (typeof id !== 'string' || id.length === 0 || id.length > orderKeyLengthMax) return invalid;
  return { rejected: false, value: { sequence, id } };
}

export function parseLimit(text: string | null): Parsed<number> {
  if (text === null) return { rejected: false, value: orderPageLimitDefault };
  const limit = parsePositiveInteger(text, orderPageLimitMax);
  if (Number.isNaN(limit)) return { rejected: true, error: `limit must be an integer from 1 to ${orderPageLimitMax}` };
  return { rejected: false, value: limit };
}
