// Validation of everything a client sends the gateway: path parameters, query values, headers, admin bodies.
//
// Owns: the limits on input (ids, topics, actor names, item changes); amounts, prices and the Idempotency-Key
// length are the catalog's bounds (catalogLimits), checked here first. Promises: every function is pure and
// total — it returns a typed value or a `Rejected` with a sentence for the client, and never throws on any input.
// Parsers loop over character codes instead of using regular expressions, because some run on every request.

import { catalogLimits } from '../actors/catalog/catalog.js';
import { parseJsonObject } from '../actors/json-object.js';
import type { ItemChange } from './backend.js';

export interface Rejected {
  readonly rejected: true;
  readonly error: string;
}

export type Parsed<T> = { readonly rejected: false; readonly value: T } | Rejected;

/** Ids are 32-bit signed positive integers, as SQLite and the catalog store them. */
export const idMax = 2 ** 31 - 1;
/** The Idempotency-Key (an order id): the catalog's key bound, which the order and catalog groups check again. */
export const orderKeyLengthMax = catalogLimits.keyLengthMax;
export const topicLengthMax = 256;
export const actorNameLengthMax = 64;

function rejected(error: string): Rejected {
  return { rejected: true, error };
}

function accepted<T>(value: T): Parsed<T> {
  return { rejected: false, value };
}

/**
 * Decimal digits only (no sign, no spaces, no exponent), value in 1..valueMax; NaN otherwise. With `start`, the
 * text from that index on (the hot route reads its id in place, without slicing the target).
 */
export function parsePositiveInteger(text: string, valueMax: number, start = 0): number {
  const length = text.length - start;
  if (length <= 0 || length > 16) return Number.NaN;
  let value = 0;
  for (let index = start; index < text.length; index += 1) {
    const code = text.charCodeAt(index);
    if (code < 48 || code > 57) return Number.NaN;
    value = value * 10 + (code - 48);
  }
  return value >= 1 && value <= valueMax ? value : Number.NaN;
}

export function parseId(text: string, what: string): Parsed<number> {
  const id = parsePositiveInteger(text, idMax);
  if (Number.isNaN(id)) return rejected(`${what} must be a positive integer no larger than ${idMax}`);
  return accepted(id);
}

/** `amount` defaults to 1 when absent; present, it must be a positive integer up to catalogLimits.amountMax. */
export function parseAmount(text: string | null): Parsed<number> {
  if (text === null) return accepted(1);
  const amount = parsePositiveInteger(text, catalogLimits.amountMax);
  if (Number.isNaN(amount)) return rejected(`amount must be a positive integer no larger than ${catalogLimits.amountMax}`);
  return accepted(amount);
}

/** Visible ASCII only (0x21..0x7e), 1..lengthMax characters: safe in a header, a log line and a database key. */
export function isPrintableToken(text: string, lengthMax: number): boolean {
  const length = text.length;
  if (length === 0 || length > lengthMax) return false;
  for (let index = 0; index < length; index += 1) {
    const code = text.charCodeAt(index);
    if (code < 0x21 || code > 0x7e) return false;
  }
  return true;
}

/** The Idempotency-Key header: absent is fine (the gateway makes an id); present, it must be a printable token. */
export function parseIdempotencyKey(header: string | string[] | undefined): Parsed<string | null> {
  if (header === undefined) return accepted(null);
  if (typeof header !== 'string' || !isPrintableToken(header, orderKeyLengthMax)) {
    return rejected(`Idempotency-Key must be 1 to ${orderKeyLengthMax} visible ASCII characters`);
  }
  return accepted(header);
}

/** A percent-encoded path segment; malformed encoding is the client's error, not ours. */
export function decodeSegment(segment: string, what: string): Parsed<string> {
  try {
    return accepted(decodeURIComponent(segment));
  } catch {
    return rejected(`${what} is not valid percent-encoding`);
  }
}

export function parseTopic(segment: string): Parsed<string> {
  const decoded = decodeSegment(segment, 'topic');
  if (decoded.rejected) return decoded;
  if (decoded.value.length === 0) return rejected('topic must not be empty');
  if (decoded.value.length > topicLengthMax) return rejected(`topic must be at most ${topicLengthMax} characters`);
  return decoded;
}

/** A path segment that must decode to 1 to `lengthMax` visible ASCII characters; `what` names it when refused. */
function parseTokenSegment(segment: string, what: string, lengthMax: number): Parsed<string> {
  const decoded = decodeSegment(segment, what);
  if (decoded.rejected) return decoded;
  if (!isPrintableToken(decoded.value, lengthMax)) return rejected(`${what} must be 1 to ${lengthMax} visible ASCII characters`);
  return decoded;
}

export function parseOrderId(segment: string): Parsed<string> {
  return parseTokenSegment(segment, 'order id', orderKeyLengthMax);
}

export function parseActorName(segment: string): Parsed<string> {
  return parseTokenSegment(segment, 'actor name', actorNameLengthMax);
}

/** The body of POST /admin/items/:id: a JSON object with `price` and/or `restock` and nothing else. */
/** What POST /admin/groups/:group/members asks for. */
export interface MemberRequest {
  readonly name: string;
  /** The host to run it on (multi-host only). */
  readonly node: string | null;
  /** False keeps it a learner; default true. */
  readonly promote: boolean;
}

/** {"name":"catalog-4","node":"host-d","promote":false}: a name of 1–64 letters, digits, '-' or '_'. */
export function parseMemberRequest(body: string): Parsed<MemberRequest> {
  const parsed = parseJsonObject(body, { notJson: 'the body must be JSON: {"name":"catalog-4"}', notObject: 'the body must be a JSON object' });
  if (!parsed.ok) return rejected(parsed.detail);
  const { name, node, promote, ...rest } = parsed.fields;
  if (Object.keys(rest).length > 0) return { rejected: true, error: `unknown fields: ${Object.keys(rest).slice(0, 5).join(', ')}` };
  if (typeof name !== 'string' || !/^[A-Za-z0-9_-]{1,64}$/.test(name)) return { rejected: true, error: 'name must be 1–64 letters, digits, - or _' };
  if (node !== undefined && (typeof node !== 'string' || !/^[A-Za-z0-9_.-]{1,64}$/.test(node))) return { rejected: true, error: 'node must be a node name' };
  if (promote !== undefined && typeof promote !== 'boolean') return { rejected: true, error: 'promote must be true or false' };
  return { rejected: false, value: { name, node: node ?? null, promote: promote ?? true } };
}

export function parseItemChange(body: string): Parsed<ItemChange> {
  const parsed = parseJsonObject(body, {
    notJson: 'body must be JSON such as {"price":12.5} or {"restock":5}',
    notObject: 'body must be a JSON object with "price" and/or "restock"',
  });
  if (!parsed.ok) return rejected(parsed.detail);
  const fields = parsed.fields;
  for (const key of Object.keys(fields)) {
    if (key !== 'price' && key !== 'restock') return rejected(`unknown field "${key}": only "price" and "restock"`);
  }
  const { price, restock } = fields;
  if (price === undefined && restock === undefined) return rejected('give "price" and/or "restock"');
  if (price !== undefined && !(typeof price === 'number' && Number.isFinite(price) && price > 0 && price <= catalogLimits.priceMax)) {
    return rejected(`price must be a number above 0 and at most ${catalogLimits.priceMax}`);
  }
  // The catalog keeps whole cents (totals must not depend on rounding order): say so rather than "unknown item".
  if (price !== undefined && Math.round(price * 100) / 100 !== price) {
    return rejected(`price must be in whole cents (at most two decimals), got ${price}`);
  }
  if (
    restock !== undefined &&
    !(typeof restock === 'number' && Number.isInteger(restock) && restock >= 1 && restock <= catalogLimits.amountMax)
  ) {
    return rejected(`restock must be a positive integer no larger than ${catalogLimits.amountMax}`);
  }
  const change: { price?: number; restock?: number } = {};
  if (price !== undefined) change.price = price;
  if (restock !== undefined) change.restock = restock;
  return accepted(change);
}
