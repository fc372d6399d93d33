// The history of a check run: every operation a client issued, with when it began, when (and whether) it ended
// and what it answered. The checkers read nothing else, so a history written to a file can be checked again, and
// a hand-made history can prove that each checker fails when it should.
//
// Outcomes follow Jepsen's vocabulary: `ok` (the operation happened and answered `value`), `fail` (it certainly
// did not happen), `unknown` (it may or may not have happened: a timeout, a 503, a dead process). Times are
// milliseconds since the run began. An unknown operation has no end: it may take effect at any moment after it
// began, or never.
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';

export type OperationKind = 'read' | 'order' | 'restock';
export type Outcome = 'ok' | 'fail' | 'unknown';

export interface Operation {
  /** Unique within the history, in order of invocation. */
  readonly id: number;
  /** The client (process) that issued it; one operation at a time per client. */
  readonly client: number;
  readonly kind: OperationKind;
  readonly item: number;
  /** Order amount or restock amount; 0 for reads. */
  readonly amount: number;
  /** Idempotency key of an order; empty otherwise. */
  readonly key: string;
  readonly invokeMs: number;
  /** null while running, and for unknown outcomes. */
  readonly completeMs: number | null;
  readonly outcome: Outcome;
  /** read: the stock seen; order: true when bought, false when refused; restock: the stock after it (or null). */
  readonly value: number | boolean | null;
  /** What happened, in words, for the report (status codes, retries). */
  readonly note: string;
}

/** What the cluster holds after the run, read once every fault is healed. */
export interface FinalState {
  /** item → stock at the start of the run. */
  readonly initialStock: Readonly<Record<number, number>>;
  /** item → stock at the end (a linearizable read after the run). */
  readonly finalStock: Readonly<Record<number, number>>;
  /**
   * The order log at the end: every order the order group holds for the items of the run. The id of an order still
   * pending is null (GET /orders?item=N does not show the keys of live orders).
   */
  readonly orders: ReadonlyArray<{ readonly id: string | null; readonly item: number; readonly amount: number; readonly status: string }>;
  /** Replica digests taken with the cluster quiet (same applied index ⇒ same hash). */
  readonly digests: ReadonlyArray<{ readonly group: string; readonly name: string; readonly index: number; readonly hash: string }>;
}

export interface History {
  readonly operations: readonly Operation[];
  readonly final: FinalState;
  /** Faults the nemesis injected, in words, with times. */
  readonly faults: ReadonlyArray<{ readonly atMs: number; readonly what: string }>;
}

/** Collects operations as clients issue them. Bounded: refuses past `operationsMax`. */
export class HistoryRecorder {
  private readonly operations: Operation[] = [];
  private readonly startedAt: number;

  constructor(
    private readonly now: () => number,
    readonly operationsMax: number,
  ) {
    this.startedAt = now();
  }

  elapsedMs(): number {
    return this.now() - this.startedAt;
  }

  get full(): boolean {
    return this.operations.length >= this.operationsMax;
  }

  /** Records the start of an operation; answer with `complete` once it ends. */
  invoke(client: number, kind: OperationKind, item: number, amount: number, key: string): number {
    if (this.full) throw new Error(`history is full (${this.operationsMax} operations)`);
    const id = this.operations.length;
    this.operations.push({ id, client, kind, item, amount, key, invokeMs: this.elapsedMs(), completeMs: null, outcome: 'unknown', value: null, note: '' });
    return id;
  }

  complete(id: number, outcome: Outcome, value: number | boolean | null, note: string): void {
    const operation = this.operations[id];
    if (operation === undefined) throw new Error(`complete: no operation ${id}`);
    this.operations[id] = { ...operation, outcome, value, note, completeMs: outcome === 'unknown' ? null : this.elapsedMs() };
  }

  /** Several reads seen by one answer (the full list, a search) become one read per item with the same times. */
  completedRead(client: number, item: number, invokeMs: number, stock: number, note: string): void {
    if (this.full) return;
    const id = this.operations.length;
    this.operations.push({ id, client, kind: 'read', item, amount: 0, key: '', invokeMs, completeMs: this.elapsedMs(), outcome: 'ok', value: stock, note });
  }

  snapshot(): Operation[] {
    return [...this.operations];
  }
}

/** One JSON object per line: a `faults` line, then the operations, then a `final` line. */
export function writeHistory(path: string, history: History): void {
  writeFileSync(path, JSON.stringify({ faults: history.faults }) + '\n');
  const chunkSize = 1_000;
  for (let start = 0; start < history.operations.length; start += chunkSize) {
    const lines = history.operations.slice(start, start + chunkSize).map((operation) => JSON.stringify(operation));
    appendFileSync(path, lines.join('\n') + '\n');
  }
  appendFileSync(path, JSON.stringify({ final: history.final }) + '\n');
}

export function readHistory(path: string): History {
  const lines = readFileSync(path, 'utf8').split('\n').filter((line) => line.length > 0);
  let faults: History['faults'] = [];
  let final: FinalState | null = null;
  const operations: Operation[] = [];
  for (const line of lines) {
    const parsed = JSON.parse(line) as Record<string, unknown>;
    if ('faults' in parsed) faults = parsed.faults as History['faults'];
    else if ('final' in parsed) final = parsed.final as FinalState;
    else operations.push(parsed as unknown as Operation);
  }
  if (final === null) throw new Error(`${path}: no final state line`);
  return { operations, final, faults };
}

/**
 * One operation as an external linearizability checker (Porcupine, Knossos) reads it: plain JSON, times in
 * milliseconds since the run began. An operation of unknown outcome returns at `endMs` (after everything else)
 * with output outcome "unknown" and what the final order log says of it (`resolved`), so a model may take its
 * effect at any point after its call, or not at all. Described in src/check/README.md.
 */
export interface ExportedOperation {
  readonly client: number;
  readonly input: { readonly op: OperationKind; readonly item: number; readonly amount: number; readonly key: string };
  readonly call: number;
  readonly output: { readonly outcome: Outcome; readonly value: number | boolean | null; readonly resolved: string | null };
  readonly return: number;
}

export function exportOperations(history: History): ExportedOperation[] {
  const statusById = new Map<string, string>();
  for (const order of history.final.orders) if (order.id !== null) statusById.set(order.id, order.status);
  let endMs = 0;
  for (const operation of history.operations) endMs = Math.max(endMs, operation.invokeMs, operation.completeMs ?? 0);
  endMs += 1;
  return history.operations
    .filter((operation) => operation.outcome !== 'fail')
    .map((operation) => ({
      client: operation.client,
      input: { op: operation.kind, item: operation.item, amount: operation.amount, key: operation.key },
      call: operation.invokeMs,
      output: {
        outcome: operation.outcome,
        value: operation.value,
        resolved: operation.kind === 'order' ? (statusById.get(operation.key) ?? 'absent') : null,
      },
      return: operation.outcome === 'unknown' || operation.completeMs === null ? endMs : operation.completeMs,
    }));
}

/** Writes the operations (failed ones left out: they had no effect) as one JSON array, with the stocks beside. */
export function writeExport(path: string, history: History): void {
  const document = { initialStock: history.final.initialStock, finalStock: history.final.finalStock, operations: exportOperations(history) };
  writeFileSync(path, JSON.stringify(document) + '\n');
}

export function describeOperation(operation: Operation): string {
  const end = operation.completeMs === null ? '…' : `${operation.completeMs}`;
  const what = operation.kind === 'read' ? `read item ${operation.item}` : `${operation.kind} item ${operation.item} ×${operation.amount}${operation.key ? ` key ${operation.key}` : ''}`;
  const value = operation.value === null ? '' : ` → ${String(operation.value)}`;
  return `#${operation.id} c${operation.client} [${operation.invokeMs}, ${end}] ${what}: ${operation.outcome}${value}${operation.note ? ` (${operation.note})` : ''}`;
}
