// The load scenarios of `pygmy bench`: what each one asks of the server, as autocannon request specs.
//
// Owns: the scenario names (a contract: baseline-http, lookup-hit, lookup-miss, search-hit, etcd, order, mixed,
// failover, scrape, overload, soak — the last three are composite runs of their own, bench/scrape.ts,
// bench/overload.ts and bench/soak.ts), the key distributions (a hot set, uniform, Zipf), and the order bookkeeping that the failover figures
// need (the time of every successful order). Promises: every draw comes from a seeded generator, so two runs ask
// for the same keys in the same order per connection; orders only name items with deep stock (see
// `deepStockItemsMax`), so every order buys and no figure is flattered by cheap refusals.
import type { RequestSpec } from 'autocannon';

// etcd runs just before order: the two durable-write figures it compares are then measured minutes apart at most.
export const scenarioNames = ['baseline-http', 'lookup-hit', 'lookup-miss', 'search-hit', 'etcd', 'order', 'mixed', 'failover', 'scrape', 'overload', 'soak', 'scale'] as const;
/** Run only when asked for by name: the soak takes ten minutes, the scale run (bench/scale.ts) longer. */
export const onDemandScenarios: readonly ScenarioName[] = ['soak', 'scale'];
export type ScenarioName = (typeof scenarioNames)[number];

export function isScenarioName(value: string): value is ScenarioName {
  return (scenarioNames as readonly string[]).includes(value);
}

export const catalogItemCount = 10_000;
export const catalogTopicCount = 50;
/** Items 1..deepStockItemsMax are given a deep stock, and orders only name them. */
export const deepStockItemsMax = 256;
export const deepStock = 100_000_000;
/** lookup-hit draws from items 1..hotSetSize, all warmed before the measurement. */
export const hotSetSize = 1_000;
/**
 * lookup-hit's and lookup-miss's paths are drawn up front, this many (for lookup-miss from the whole catalog: with
 * the cache off every lookup is a ReadIndex read whatever its id). autocannon then builds each request once per
 * connection, as it does for the baseline's single path, instead of once per request through setupRequest — on
 * this machine the load generator is the busiest process, and rebuilding every request cost it about 50% more CPU
 * per request than the baseline's client, which showed up as a lower lookup-hit ratio whatever the gateway did.
 * Not more: every
 * connection builds every path before its run (about 8 µs each), and 64 × 1,000 builds held the first answers
 * unread for 0.5 s, which showed as a 550 ms max latency; 64 × 128 costs about as much as the baseline's start.
 */
const preparedLookupsCount = 128;
/** etcd's puts: this many distinct keys, each a fresh durable write every time it is put. */
const preparedPutsCount = 128;
/** Zipf exponent of item popularity in the mixed load (the YCSB default). */
const zipfExponent = 0.99;

/** Searches that each match exactly one topic: two-digit topic ids are no substring of any other id ≤ 50. */
export function searchTerms(topicNames: readonly string[]): string[] {
  return topicNames.filter((_name, index) => index + 1 >= 10).slice(0, 20).map((name) => encodeURIComponent(name.toLowerCase()));
}

/** mulberry32, a seeded 32-bit generator; returns a float in [0, 1). */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let mixed = Math.imul(state ^ (state >>> 15), state | 1);
    mixed ^= mixed + Math.imul(mixed ^ (mixed >>> 7), mixed | 61);
    return ((mixed ^ (mixed >>> 14)) >>> 0) / 2 ** 32;
  };
}

/** Draws ranks 1..count with probability ∝ 1/rank^exponent, by binary search in a precomputed table. */
export function zipfSampler(count: number, exponent: number, random: () => number): () => number {
  const cumulative = new Float64Array(count);
  let total = 0;
  for (let rank = 1; rank <= count; rank += 1) {
    total += 1 / rank ** exponent;
    cumulative[rank - 1] = total;
  }
  return () => {
    const target = random() * total;
    let low = 0;
    let high = count - 1;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (cumulative[middle]! < target) low = middle + 1;
      else high = middle;
    }
    return low + 1;
  };
}

const uniform = (random: () => number, count: number) => 1 + Math.floor(random() * count);

/** What the load process saw of orders: successful ones are timed to find the longest write gap. */
export class OrderLedger {
  readonly successTimesMs: number[] = [];
  bought = 0;
  refused = 0;
  failed = 0;

  record(status: number, body: string, nowMs: number): void {
    if (status === 200 && body === 'true') {
      this.bought += 1;
      this.successTimesMs.push(nowMs);
    } else if (status === 200 && body === 'false') this.refused += 1;
    else this.failed += 1;
  }

  /** Longest stretch of [startMs, endMs] without a successful order. */
  longestGapMs(startMs: number, endMs: number): number {
    let previous = startMs;
    let longest = 0;
    for (const time of this.successTimesMs) {
      longest = Math.max(longest, time - previous);
      previous = time;
    }
    return Math.max(longest, endMs - previous);
  }
}

const base64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');

/**
 * etcd's durable puts through its JSON gateway, shaped like what an order writes: a 21-character key (an order id's
 * length) and a small JSON record. Each acknowledged put is counted in the ledger as a write.
 */
function etcdPuts(random: () => number, ledger: OrderLedger): RequestSpec[] {
  const onResponse = (status: number, body: string) => {
    if (status === 200 && body.startsWith('{"header"')) ledger.record(200, 'true', performance.now());
    else ledger.record(status, body, performance.now());
  };
  return Array.from({ length: preparedPutsCount }, (_value, index) => {
    const key = `order/${index.toString(36).padStart(15, '0')}`;
    const value = JSON.stringify({ item: uniform(random, deepStockItemsMax), amount: 1, total: 19.9, status: 'committed' });
    return {
      method: 'POST',
      path: '/v3/kv/put',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ key: base64(key), value: base64(value) }),
      onResponse,
    };
  });
}

export interface ScenarioPlan {
  readonly requests: RequestSpec[];
  /** Set for scenarios that place orders. */
  readonly ledger: OrderLedger | null;
}

const isOrderBody = (body: string) => body === 'true' || body === 'false';

function dynamic(next: () => { method: string; path: string }, ledger: OrderLedger | null): RequestSpec[] {
  const spec: RequestSpec = {
    method: 'GET',
    path: '/',
    setupRequest: (request) => {
      const choice = next();
      request.method = choice.method;
      request.path = choice.path;
      return request;
    },
  };
  if (ledger !== null) {
    spec.onResponse = (status, body) => {
      // Order answers are the bare words true/false; a failed order is a non-2xx we cannot tell apart from a
      // failed read, so failures are counted by autocannon as non2xx/errors for all requests alike.
      if (isOrderBody(body)) ledger.record(status, body, performance.now());
    };
  }
  return [spec];
}

/** `count` requests drawn up front, each connection walking them in order (autocannon prepares their bytes once). */
function prepared(next: () => { method: string; path: string }, count: number): RequestSpec[] {
  return Array.from({ length: count }, () => next());
}

export function planScenario(name: ScenarioName, topicNames: readonly string[], seed: number): ScenarioPlan {
  const random = seededRandom(seed);
  const terms = searchTerms(topicNames);
  const lookup = (id: number) => ({ method: 'GET', path: `/lookup/${id}` });
  const search = () => ({ method: 'GET', path: `/search/${terms[Math.floor(random() * terms.length)]}` });
  const order = () => ({ method: 'POST', path: `/order/${uniform(random, deepStockItemsMax)}?amount=1` });
  switch (name) {
    case 'baseline-http':
      return { requests: [{ method: 'GET', path: '/lookup/1' }], ledger: null };
    case 'lookup-hit':
      return { requests: prepared(() => lookup(uniform(random, hotSetSize)), preparedLookupsCount), ledger: null };
    case 'lookup-miss':
      return { requests: prepared(() => lookup(uniform(random, catalogItemCount)), preparedLookupsCount), ledger: null };
    case 'search-hit':
      return { requests: dynamic(search, null), ledger: null };
    case 'etcd': {
      const ledger = new OrderLedger();
      return { requests: etcdPuts(random, ledger), ledger };
    }
    case 'order': {
      const ledger = new OrderLedger();
      return { requests: dynamic(order, ledger), ledger };
    }
    case 'mixed':
    case 'failover':
    case 'soak': {
      const ledger = new OrderLedger();
      const popularity = zipfSampler(catalogItemCount, zipfExponent, random);
      const next = () => {
        const draw = random();
        if (draw < 0.9) return lookup(popularity());
        return draw < 0.98 ? search() : order();
      };
      return { requests: dynamic(next, ledger), ledger };
    }
    case 'scrape':
    case 'overload':
    case 'scale':
      throw new Error(`${name} is a composite run (bench/${name}.ts), not one autocannon plan`);
  }
}
