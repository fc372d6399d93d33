// Linearizability of one item's stock history against a counter model, in the manner of Wing & Gong's search as
// Knossos and Porcupine do it: find a total order of the operations that respects real time (an operation that
// ended before another began comes first) and in which every operation's answer is what the counter gives.
//
// The model: the state is the stock. A read answers the stock; a bought order needs stock ≥ amount and takes it;
// a refused order saw stock < amount; a restock adds its amount.
//
// Operations of unknown outcome (a timeout, a 503, a crash) have no end: they may take effect at any moment after
// they began. When the run ends the order log says whether such an order was committed (it must take effect),
// rejected or absent (it had no effect); an unknown restock may or may not have taken effect. Once the search has
// passed the start of such an operation it moves it into a pool of pending effects, counted by kind and amount,
// so the memo key stays small however long it floats.
//
// Bounded in work: past `statesMax` explored states the answer is `undecided`, never a guess.
// Pure: no I/O, no clock.

export type StepKind = 'read' | 'take' | 'refuse' | 'add';

export interface LinearOperation {
  readonly id: number;
  readonly callMs: number;
  /** Infinity for an operation whose end is unknown. */
  readonly returnMs: number;
  readonly step: StepKind;
  /** read: the stock seen; take/refuse/add: the amount. */
  readonly value: number;
  /** False when the operation may also never take effect (an unknown restock, an order still pending). */
  readonly required: boolean;
}

export type LinearizabilityVerdict =
  | { readonly kind: 'linearizable'; readonly statesExplored: number }
  | { readonly kind: 'undecided'; readonly statesExplored: number; readonly reason: string }
  | {
      readonly kind: 'violation';
      readonly statesExplored: number;
      /** The stock after the longest prefix that could be linearized. */
      readonly stockBefore: number;
      /** Ids of the last operations of that prefix, oldest first (context for the report). */
      readonly precedingIds: readonly number[];
      /** Ids of the operations none of which could come next. */
      readonly blockedIds: readonly number[];
    };

/** Applies one operation to the stock; null when the answer is impossible in that state. */
export function applyStep(step: StepKind, value: number, stock: number): number | null {
  switch (step) {
    case 'read':
      return stock === value ? stock : null;
    case 'take':
      return stock >= value ? stock - value : null;
    case 'refuse':
      return stock < value ? stock : null;
    case 'add':
      return stock + value;
    default: {
      const never: never = step;
      throw new Error(`unknown step ${String(never)}`);
    }
  }
}

interface SearchState {
  /** Every operation at a sorted position below `prefix` is linearized or pooled. */
  readonly prefix: number;
  /** Sorted positions ≥ prefix already linearized. */
  readonly extra: readonly number[];
  /** Pooled effects: "step:value:required" → count. */
  readonly pool: ReadonlyMap<string, number>;
  readonly stock: number;
  /** Ids linearized along this path, newest last (only the last few are kept, for the report). */
  readonly trail: readonly number[];
  readonly depth: number;
}

const trailLength = 6;

function poolKey(operation: LinearOperation): string {
  return `${operation.step}:${operation.value}:${operation.required ? 'r' : 'o'}`;
}

function memoKey(state: SearchState): string {
  const pool = [...state.pool.entries()].filter(([, count]) => count > 0).sort(([a], [b]) => (a < b ? -1 : 1));
  return `${state.prefix}|${state.extra.join(',')}|${pool.map(([key, count]) => `${key}=${count}`).join(';')}|${state.stock}`;
}

/** Moves the prefix past linearized operations and pools the open-ended ones it reaches. */
function normalize(state: SearchState, sorted: readonly LinearOperation[]): SearchState {
  let prefix = state.prefix;
  let extra = state.extra;
  let pool = state.pool;
  for (;;) {
    if (prefix >= sorted.length) break;
    if (extra.length > 0 && extra[0] === prefix) {
      extra = extra.slice(1);
      prefix += 1;
      continue;
    }
    const operation = sorted[prefix]!;
    if (operation.returnMs !== Infinity) break;
    const next = new Map(pool);
    next.set(poolKey(operation), (next.get(poolKey(operation)) ?? 0) + 1);
    pool = next;
    prefix += 1;
  }
  return { ...state, prefix, extra, pool };
}

function isDone(state: SearchState, count: number): boolean {
  if (state.prefix < count) return false;
  for (const [key, pooled] of state.pool) if (pooled > 0 && key.endsWith(':r')) return false;
  return true;
}

/** Window positions that may come next: not linearized, and begun before every unlinearized one ended. */
function windowCandidates(state: SearchState, sorted: readonly LinearOperation[]): number[] {
  const linearized = new Set(state.extra);
  let returnMin = Infinity;
  const open: number[] = [];
  for (let position = state.prefix; position < sorted.length; position += 1) {
    const operation = sorted[position]!;
    if (operation.callMs > returnMin) break;
    if (linearized.has(position)) continue;
    open.push(position);
    returnMin = Math.min(returnMin, operation.returnMs);
  }
  return open.filter((position) => sorted[position]!.callMs <= returnMin).sort((a, b) => sorted[a]!.returnMs - sorted[b]!.returnMs);
}

function withExtra(extra: readonly number[], position: number): number[] {
  const next = [...extra, position];
  next.sort((a, b) => a - b);
  return next;
}

export function checkLinearizable(operations: readonly LinearOperation[], initialStock: number, statesMax = 200_000): LinearizabilityVerdict {
  const sorted = [...operations].sort((a, b) => a.callMs - b.callMs || a.id - b.id);
  const start = normalize({ prefix: 0, extra: [], pool: new Map(), stock: initialStock, trail: [], depth: 0 }, sorted);
  const stack: SearchState[] = [start];
  const seen = new Set<string>();
  let deepest = start;
  let explored = 0;
  while (stack.length > 0) {
    const state = stack.pop()!;
    const key = memoKey(state);
    if (seen.has(key)) continue;
    seen.add(key);
    explored += 1;
    if (explored > statesMax) return { kind: 'undecided', statesExplored: explored, reason: `more than ${statesMax} states` };
    if (isDone(state, sorted.length)) return { kind: 'linearizable', statesExplored: explored };
    if (state.depth > deepest.depth || (state.depth === deepest.depth && state.prefix > deepest.prefix)) deepest = state;
    const children: SearchState[] = [];
    for (const position of windowCandidates(state, sorted)) {
      const operation = sorted[position]!;
      const stock = applyStep(operation.step, operation.value, state.stock);
      if (stock === null) continue;
      const trail = [...state.trail, operation.id].slice(-trailLength);
      children.push(normalize({ ...state, extra: withExtra(state.extra, position), stock, trail, depth: state.depth + 1 }, sorted));
    }
    for (const [pooled, count] of state.pool) {
      if (count === 0) continue;
      const [step, value] = pooled.split(':') as [StepKind, string];
      const stock = applyStep(step, Number(value), state.stock);
      if (stock === null) continue;
      const pool = new Map(state.pool);
      pool.set(pooled, count - 1);
      children.push({ ...state, pool, stock, depth: state.depth + 1 });
    }
    // Depth first, the candidate that ends soonest tried first: a correct history is usually found greedily.
    for (let index = children.length - 1; index >= 0; index -= 1) stack.push(children[index]!);
  }
  return {
    kind: 'violation',
    statesExplored: explored,
    stockBefore: deepest.stock,
    precedingIds: deepest.trail,
    blockedIds: windowCandidates(deepest, sorted).map((position) => sorted[position]!.id),
  };
}
