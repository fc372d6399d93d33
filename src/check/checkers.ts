// The checkers: each reads a History and returns the anomalies it proves, each with the smallest part of the
// history that shows it. Pure: no I/O, no clock.
//
// - lost write: an order acknowledged true is not committed in the final order log (or one acknowledged false is
//   committed); an order of unknown outcome still pending once the cluster is quiet;
// - duplicate: one order id twice in the order log;
// - oversell: a read, or the final stock, below zero;
// - conservation: initial stock + restocks − committed amounts = final stock, where unknown restocks may count or
//   not (the run uses one restock amount, so "some number of them" is a divisibility question);
// - linearizability of each item's stock (which contains monotonic reads and read-your-writes through the gateway:
//   a read that shows a stock older than a write that ended before the read began cannot be linearized);
//   a violation whose blocked operations include a read is reported as a stale read;
// - convergence: replicas of a group at the same applied index have the same state hash.
import { describeOperation, type History, type Operation } from './history.js';
import { checkLinearizable, type LinearOperation } from './linearizability.js';

export type AnomalyKind = 'lost-write' | 'duplicate' | 'oversell' | 'conservation' | 'stale-read' | 'non-linearizable' | 'divergence';

export interface Anomaly {
  readonly kind: AnomalyKind;
  readonly message: string;
  /** The smallest part of the history that shows it. */
  readonly evidence: readonly Operation[];
}

export interface CheckReport {
  readonly anomalies: readonly Anomaly[];
  /** What the checker could not decide (search bound reached, nothing to compare), in words. */
  readonly undecided: readonly string[];
  readonly operationsChecked: number;
  readonly statesExplored: number;
}

export interface CheckOptions {
  /** Work bound of the linearizability search, per item. */
  readonly statesMaxPerItem?: number;
}

type FinalOrder = History['final']['orders'][number];

function ordersById(history: History): Map<string, FinalOrder[]> {
  const byId = new Map<string, FinalOrder[]>();
  for (const order of history.final.orders) byId.set(order.id, [...(byId.get(order.id) ?? []), order]);
  return byId;
}

export function lostWrites(history: History): Anomaly[] {
  const stored = ordersById(history);
  const anomalies: Anomaly[] = [];
  for (const operation of history.operations) {
    if (operation.kind !== 'order') continue;
    const status = stored.get(operation.key)?.[0]?.status ?? 'absent';
    if (operation.outcome === 'ok' && operation.value === true && status !== 'committed') {
      anomalies.push({ kind: 'lost-write', message: `order ${operation.key} was acknowledged as bought but the order log says ${status}`, evidence: [operation] });
    } else if (operation.outcome === 'ok' && operation.value === false && status === 'committed') {
      anomalies.push({ kind: 'lost-write', message: `order ${operation.key} was answered false but the order log says committed`, evidence: [operation] });
    } else if (status === 'pending') {
      anomalies.push({ kind: 'lost-write', message: `order ${operation.key} is still pending after the cluster was healed and quiet`, evidence: [operation] });
    }
  }
  return anomalies;
}

export function duplicates(history: History): Anomaly[] {
  const anomalies: Anomaly[] = [];
  for (const [id, copies] of ordersById(history)) {
    if (copies.length < 2) continue;
    const evidence = history.operations.filter((operation) => operation.key === id);
    anomalies.push({ kind: 'duplicate', message: `order ${id} is in the order log ${copies.length} times`, evidence });
  }
  return anomalies;
}

export function oversells(history: History): Anomaly[] {
  const anomalies: Anomaly[] = [];
  for (const operation of history.operations) {
    if (operation.kind === 'read' && operation.outcome === 'ok' && typeof operation.value === 'number' && operation.value < 0) {
      anomalies.push({ kind: 'oversell', message: `item ${operation.item} was read with stock ${operation.value}`, evidence: [operation] });
    }
  }
  for (const [item, stock] of Object.entries(history.final.finalStock)) {
    if (stock < 0) anomalies.push({ kind: 'oversell', message: `item ${item} ends with stock ${stock}`, evidence: [] });
  }
  return anomalies;
}

export function conservation(history: History): Anomaly[] {
  const anomalies: Anomaly[] = [];
  for (const [itemText, initial] of Object.entries(history.final.initialStock)) {
    const item = Number(itemText);
    const final = history.final.finalStock[item];
    if (final === undefined) continue;
    const sold = history.final.orders.filter((order) => order.item === item && order.status === 'committed').reduce((sum, order) => sum + order.amount, 0);
    const restocks = history.operations.filter((operation) => operation.kind === 'restock' && operation.item === item);
    const known = restocks.filter((operation) => operation.outcome === 'ok').reduce((sum, operation) => sum + operation.amount, 0);
    const unknown = restocks.filter((operation) => operation.outcome === 'unknown');
    const missing = final - initial - known + sold;
    if (conservationExplained(missing, unknown.map((operation) => operation.amount))) continue;
    const evidence = history.operations.filter((operation) => operation.item === item && operation.kind !== 'read' && operation.outcome !== 'fail').slice(-12);
    anomalies.push({
      kind: 'conservation',
      message: `item ${item}: final stock ${final}, but ${initial} + ${known} restocked − ${sold} sold = ${initial + known - sold}` +
        (unknown.length > 0 ? ` (and ${unknown.length} restocks of unknown outcome cannot explain ${missing})` : ''),
      evidence,
    });
  }
  return anomalies;
}

/** True when `missing` is the sum of some subset of the unknown restocks (subset sums, bounded by their count). */
function conservationExplained(missing: number, unknownAmounts: readonly number[]): boolean {
  if (missing === 0) return true;
  if (missing < 0 || unknownAmounts.length === 0) return false;
  let sums = new Set<number>([0]);
  for (const amount of unknownAmounts.slice(0, 64)) sums = new Set([...sums, ...[...sums].map((sum) => sum + amount)]);
  return sums.has(missing);
}

/** The history of one item as operations of the counter model; failed and pointless operations left out. */
export function linearOperations(history: History, item: number): LinearOperation[] {
  const stored = ordersById(history);
  const result: LinearOperation[] = [];
  for (const operation of history.operations) {
    if (operation.item !== item || operation.outcome === 'fail') continue;
    const known = operation.outcome === 'ok';
    const base = { id: operation.id, callMs: operation.invokeMs, returnMs: known && operation.completeMs !== null ? operation.completeMs : Infinity };
    switch (operation.kind) {
      case 'read':
        if (known && typeof operation.value === 'number') result.push({ ...base, step: 'read', value: operation.value, required: true });
        break;
      case 'order': {
        const status = stored.get(operation.key)?.[0]?.status ?? 'absent';
        if (known) result.push({ ...base, step: operation.value === true ? 'take' : 'refuse', value: operation.amount, required: true });
        else if (status === 'committed') result.push({ ...base, step: 'take', value: operation.amount, required: true });
        else if (status === 'pending') result.push({ ...base, step: 'take', value: operation.amount, required: false });
        break;
      }
      case 'restock':
        result.push({ ...base, step: 'add', value: operation.amount, required: known });
        break;
      default: {
        const never: never = operation.kind;
        throw new Error(`unknown operation kind ${String(never)}`);
      }
    }
  }
  return result;
}

function linearizabilityOf(history: History, statesMax: number): { anomalies: Anomaly[]; undecided: string[]; explored: number } {
  const byId = new Map(history.operations.map((operation) => [operation.id, operation]));
  const anomalies: Anomaly[] = [];
  const undecided: string[] = [];
  let explored = 0;
  for (const [itemText, initial] of Object.entries(history.final.initialStock)) {
    const item = Number(itemText);
    const operations = linearOperations(history, item);
    const verdict = checkLinearizable(operations, initial, statesMax);
    explored += verdict.statesExplored;
    if (verdict.kind === 'undecided') undecided.push(`item ${item}: linearizability undecided (${verdict.reason}, ${operations.length} operations)`);
    if (verdict.kind !== 'violation') continue;
    const blocked = verdict.blockedIds.map((id) => byId.get(id)!);
    const preceding = verdict.precedingIds.map((id) => byId.get(id)!);
    const staleRead = blocked.some((operation) => operation.kind === 'read');
    anomalies.push({
      kind: staleRead ? 'stale-read' : 'non-linearizable',
      message: `item ${item}: after ${preceding.length > 0 ? `#${preceding.at(-1)!.id}` : 'the start'} the stock can only be ${verdict.stockBefore}, and none of ${blocked.map((operation) => `#${operation.id}`).join(', ')} can come next` +
        (staleRead ? ' (a read shows a stock that a finished write had already changed: read-your-writes or monotonic reads broken)' : ''),
      evidence: [...preceding, ...blocked],
    });
  }
  return { anomalies, undecided, explored };
}

export function divergence(history: History): { anomalies: Anomaly[]; undecided: string[] } {
  const anomalies: Anomaly[] = [];
  const undecided: string[] = [];
  const groups = new Set(history.final.digests.map((digest) => digest.group));
  for (const group of groups) {
    const digests = history.final.digests.filter((digest) => digest.group === group);
    const byIndex = new Map<number, typeof digests>();
    for (const digest of digests) byIndex.set(digest.index, [...(byIndex.get(digest.index) ?? []), digest]);
    let compared = false;
    for (const [index, same] of byIndex) {
      if (same.length < 2) continue;
      compared = true;
      if (new Set(same.map((digest) => digest.hash)).size > 1) {
        anomalies.push({ kind: 'divergence', message: `${group} at index ${index}: ${same.map((digest) => `${digest.name}=${digest.hash.slice(0, 12)}`).join(', ')}`, evidence: [] });
      }
    }
    if (!compared) undecided.push(`${group}: no two replicas at the same applied index, hashes not compared`);
  }
  return { anomalies, undecided };
}

export function checkHistory(history: History, options: CheckOptions = {}): CheckReport {
  const linear = linearizabilityOf(history, options.statesMaxPerItem ?? 200_000);
  const converged = divergence(history);
  const anomalies = [
    ...lostWrites(history),
    ...duplicates(history),
    ...oversells(history),
    ...conservation(history),
    ...linear.anomalies,
    ...converged.anomalies,
  ];
  return { anomalies, undecided: [...linear.undecided, ...converged.undecided], operationsChecked: history.operations.length, statesExplored: linear.explored };
}

export function describeAnomaly(anomaly: Anomaly): string {
  const lines = [`ANOMALY ${anomaly.kind}: ${anomaly.message}`];
  for (const operation of anomaly.evidence) lines.push(`  ${describeOperation(operation)}`);
  return lines.join('\n');
}
