// The exact JSON bodies of the HTTP contract (DESIGN.md §1).
//
// Owns: key order and number formatting of every answer. Promises: bodies are built field by field in the order
// the contract fixes, whatever the key order of the objects the backend hands over, and a number that is not
// finite never reaches a client (it throws, and the gateway answers 503 instead of sending broken JSON).

import type { Item, Order, Topic } from './backend.js';

function finite(value: number, what: string): string {
  if (!Number.isFinite(value)) throw new Error(`cannot encode ${what}: ${value} is not a finite number`);
  return String(value);
}

export function itemJson(item: Item): string {
  return (
    '{"id":' +
    finite(item.id, 'item id') +
    ',"name":' +
    JSON.stringify(item.name) +
    ',"stock":' +
    finite(item.stock, 'item stock') +
    ',"price":' +
    finite(item.price, 'item price') +
    ',"topic":' +
    finite(item.topic, 'item topic') +
    '}'
  );
}

export function topicJson(topic: Topic): string {
  return '{"id":' + finite(topic.id, 'topic id') + ',"name":' + JSON.stringify(topic.name) + '}';
}

function arrayJson<T>(values: readonly T[], encode: (value: T) => string): string {
  let text = '[';
  for (let index = 0; index < values.length; index += 1) {
    if (index > 0) text += ',';
    text += encode(values[index] as T);
  }
  return text + ']';
}

export const lookupNotFoundBody = '{"ok":false,"result":null,"topics":[]}';

export function lookupBody(item: Item, topics: readonly Topic[]): string {
  return '{"ok":true,"result":' + itemJson(item) + ',"topics":' + arrayJson(topics, topicJson) + '}';
}

export function itemsBody(items: readonly Item[], topics: readonly Topic[]): string {
  return '{"ok":true,"result":' + arrayJson(items, itemJson) + ',"topics":' + arrayJson(topics, topicJson) + '}';
}

export function orderJson(order: Order): string {
  return (
    '{"id":' +
    JSON.stringify(order.id) +
    ',"item":' +
    finite(order.item, 'order item') +
    ',"amount":' +
    finite(order.amount, 'order amount') +
    ',"total":' +
    (order.total === null ? 'null' : finite(order.total, 'order total')) +
    ',"status":' +
    JSON.stringify(order.status) +
    ',"reason":' +
    (order.reason === null ? 'null' : JSON.stringify(order.reason)) +
    ',"createdAt":' +
    finite(order.createdAt, 'order createdAt') +
    '}'
  );
}

/** The 422 of an Idempotency-Key already used for another request: it names that first request. */
export function keyReusedBody(
  orderId: string,
  first: { readonly item: number; readonly amount: number },
  now: { readonly item: number; readonly amount: number },
): string {
  const firstRequest = `POST /order/${first.item}?amount=${first.amount}`;
  return (
    '{"ok":false,"error":' +
    JSON.stringify(
      `Idempotency-Key ${orderId} belongs to ${firstRequest}, not to POST /order/${now.item}?amount=${now.amount}; ` +
        'use a new random key for a new request',
    ) +
    ',"firstRequest":{"item":' + finite(first.item, 'item') + ',"amount":' + finite(first.amount, 'amount') + '}}'
  );
}

/**
 * An order as `GET /orders?item=N` lists it: the id of a pending order is left out (null), so the list is not a
 * way to learn the live keys of orders still being decided.
 */
export function listedOrderJson(order: Order): string {
  return order.status === 'pending' ? orderJson({ ...order, id: '' }).replace('{"id":""', '{"id":null') : orderJson(order);
}

export const orderNotFoundBody = '{"ok":false,"result":null}';

export function orderBody(order: Order): string {
  return '{"ok":true,"result":' + orderJson(order) + '}';
}

/** One page of an item's orders, and the cursor of the next page (null after the last). */
export function ordersBody(orders: readonly Order[], next: string | null): string {
  return '{"ok":true,"result":' + arrayJson(orders, listedOrderJson) + ',"next":' + (next === null ? 'null' : JSON.stringify(next)) + '}';
}

export const okBody = '{"ok":true}';

export function errorBody(error: string): string {
  return '{"ok":false,"error":' + JSON.stringify(error) + '}';
}

/**
 * The 503 of an order that was taken but not settled in time: it may still be bought or refused (by its deadline,
 * DESIGN.md §1), and the body says how to learn which without buying twice.
 */
export function orderUnknownBody(orderId: string): string {
  const path = '/orders/' + encodeURIComponent(orderId);
  return (
    '{"ok":false,"error":' +
    JSON.stringify(
      `outcome unknown: order ${orderId} was taken but not settled in time; it settles by its deadline. ` +
        `Learn the outcome with GET ${path}, or repeat the same request with Idempotency-Key: ${orderId} (never buys twice)`,
    ) +
    ',"outcome":"unknown","orderId":' +
    JSON.stringify(orderId) +
    ',"poll":' +
    JSON.stringify(path) +
    '}'
  );
}
