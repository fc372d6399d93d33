// Every order of one item, read page by page through GET /orders?item=N&limit=L&after=CURSOR: the list is paged
// (default 100 a page), so a test that reads only the first page would see orders "missing" past the hundredth.
// And a flow of orders, one at a time, that a test keeps running while it changes the cluster under it; each order
// has its own idempotency key and is counted as acknowledged (bought) or unsure (no certain answer).
import { http, sleep } from '../../src/check/process.js';

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

export interface OrderFlowOptions {
  readonly url: string;
  readonly item: number;
  /** Idempotency keys are this prefix, a dash and a sequence number. */
  readonly keyPrefix: string;
  /** The flow ends by itself this long after it starts, if stop() has not ended it. */
  readonly durationMsMax: number;
  readonly answerTimeoutMs: number;
  /** The pause after an order without a certain answer, so a cluster without a leader is not asked in a tight loop. */
  readonly pauseAfterUnsureMs: number;
}

export interface OrderFlow {
  /** Keys of the orders answered 200 true: each must be committed, once. */
  readonly acknowledged: string[];
  /** Keys of the orders answered otherwise, or not at all: each may or may not have committed. */
  readonly unsure: string[];
  /** Ends the flow after the order in progress and waits for it. */
  stop(): Promise<void>;
}

/** Starts ordering one book of `item` at a time through the gateway at `url`, until stop() or durationMsMax. */
export function startOrderFlow(options: OrderFlowOptions): OrderFlow {
  const acknowledged: string[] = [];
  const unsure: string[] = [];
  let ordering = true;
  const endsAtMs = Date.now() + options.durationMsMax;
  const running = (async () => {
    for (let sequence = 0; ordering && Date.now() < endsAtMs; sequence += 1) {
      const key = `${options.keyPrefix}-${sequence}`;
      const answer = await http('POST', `${options.url}/order/${options.item}?amount=1`, { headers: { 'idempotency-key': key }, timeoutMs: options.answerTimeoutMs }).catch(() => null);
      if (answer?.status === 200 && answer.text === 'true') acknowledged.push(key);
      else {
        unsure.push(key);
        await sleep(options.pauseAfterUnsureMs);
      }
    }
  })();
  return {
    acknowledged,
    unsure,
    async stop() {
      ordering = false;
      await running;
    },
  };
}
