// Every order of one item, read page by page through GET /orders?item=N&limit=L&after=CURSOR: the list is paged
// (default 100 a page), so a test that reads only the first page would see orders "missing" past the hundredth.
import { http } from '../../src/check/process.js';

const pageSize = 1_000;
const pagesMax = 10_000;

export interface ListedOrder {
  readonly id: string | null;
  readonly item: number;
  readonly amount: number;
  readonly status: string;
  readonly total: number | null;
}

export async function allOrdersOfItem(url: string, item: number, timeoutMs = 10_000): Promise<ListedOrder[]> {
  const orders: ListedOrder[] = [];
  let after: string | null = null;
  for (let page = 0; page < pagesMax; page += 1) {
    const path: string = `${url}/orders?item=${item}&limit=${pageSize}${after === null ? '' : `&after=${encodeURIComponent(after)}`}`;
    const answer = await http('GET', path, { timeoutMs });
    if (answer.status !== 200) throw new Error(`GET ${path}: ${answer.status} ${answer.text.slice(0, 200)}`);
    const body = answer.json() as { result: ListedOrder[]; next: string | null };
    orders.push(...body.result);
    if (body.next === null) return orders;
    after = body.next;
  }
  throw new Error(`item ${item}: more than ${pagesMax} pages of orders`);
}

/** Places `count` orders of book 2 and returns how many were acknowledged as placed. */
export async function placeOrders(url: string, count: number): Promise<number> {
  let placed = 0;
  for (let order = 0; order < count; order += 1) {
    const answer = await http('POST', `${url}/order/2?amount=1`);
    if (answer.status === 200 && answer.json() === true) placed += 1;
  }
  return placed;
}
