// The checkers: each reads a History and returns the anomalies it proves, each with the smallest part of the
// history that shows it. Pure: no I/O, no clock.
//
// - lost write: an order acknowledged true is not committed in the final order log (or one acknowledged false, or
//   one that certainly failed — rejected by its deadline, `x-order-reason: timeout` — is committed); an order still pending once the cluster is quiet (every order settles by its deadline), whether
//   the log names it or not (the list hides the ids of pending orders);
// - duplicate: one order id twice in the order log;
// - oversell: a read, or the final stock, below zero;
// - conservation: initial stock + restocks − committed amounts = final stock, where each unknown restock may count
//   or not: an exact subset-sum over the unknown amounts (pooled by amount, so 114 unknown restocks of 5 are one
//   bounded question), undecided past its work budget rather than a guess;
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
  /** Work bound of the conservation subset-sum, per item (cells of its table). */
  readonly conservationCellsMax?: number;
}

type FinalOrder = History['final']['orders'][number];

function ordersById(history: History): Map<string, FinalOrder[]> {
  const byId = new Map<string, FinalOrder[]>();
  for (const order of history.final.orders) {
    if (order.id === null) continue;
    byId.set(order.id, [...(byId.get(order.id) ?? []), order]);
  }
  return byId;
}

/** How the orders whose client never learned the outcome were resolved by the final order log. */
export interface UnknownResolution {
  readonly unknown: number;
  readonly committed: number;
  readonly rejected: number;
  /** Not in the log: the order never reached the order group, so it had no effect. */
  readonly absent: number;
  readonly pending: number;
}

export function unknownResolution(history: History): UnknownResolution {
  const stored = ordersById(history);
  const counts = { unknown: 0, committed: 0, rejected: 0, absent: 0, pending: 0 };
  for (const operation of history.operations) {
    if (operation.kind !== 'order' || operation.outcome !== 'unknown') continue;
    counts.unknown += 1;
    const status = stored.get(operation.key)?.[0]?.status ?? 'absent';
    if (status === 'committed' || status === 'rejected' || status === 'pending') counts[status] += 1;
    else counts.absent += 1;
  }
  return counts;
}

/** Orders still pending in the final log, named or not: each should have settled by its deadline. */
export function unsettled(history: History): Anomaly[] {
  const pending = history.final.orders.filter((order) => order.status === 'pending');
  if (pending.length === 0) return [];
  const named = pending.filter((order) => order.id !== null).map((order) => order.id as string);
  const evidence = history.operations.filter((operation) => operation.kind === 'order' && named.includes(operation.key)).slice(0, 12);
  return [{ kind: 'lost-write', message: `${pending.length} order(s) still pending after the cluster was healed and quiet, past every deadline`, evidence }];
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
    } else if (operation.outcome === 'fail' && status === 'committed') {
      anomalies.push({ kind: 'lost-write', message: `order ${operation.key} certainly failed (${operation.note}) but the order log says committed`, evidence: [operation] });
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

export function conservation(history: History, cellsMax = 50_000_000): { anomalies: Anomaly[]; undecided: string[] } {
  const anomalies: Anomaly[] = [];
  const undecided: string[] = [];
  for (const [itemText, initial] of Object.entries(history.final.initialStock)) {
    const item = Number(itemText);
    const final = history.final.finalStock[item];
    if (final === undefined) continue;
    const sold = history.final.orders.filter((order) => order.item === item && order.status === 'committed').reduce((sum, order) => sum + order.amount, 0);
    const restocks = history.operations.filter((operation) => operation.kind === 'restock' && operation.item === item);
    const known = restocks.filter((operation) => operation.outcome === 'ok').reduce((sum, operation) => sum + operation.amount, 0);
    const unknown = restocks.filter((operation) => operation.outcome === 'unknown');
    const missing = final - initial - known + sold;
    const explained = subsetSumReachable(missing, unknown.map((operation) => operation.amount), cellsMax);
    if (explained === true) continue;
    if (explained === 'undecided') {
      undecided.push(`item ${item}: conservation undecided (${unknown.length} unknown restocks, ${missing} to explain, past ${cellsMax} cells)`);
      continue;
    }
    const evidence = history.operations.filter((operation) => operation.item === item && operation.kind !== 'read' && operation.outcome !== 'fail').slice(-12);
    anomalies.push({
      kind: 'conservation',
      message: `item ${item}: final stock ${final}, but ${initial} + ${known} restocked − ${sold} sold = ${initial + known - sold}` +
        (unknown.length > 0 ? ` (and ${unknown.length} restocks of unknown outcome cannot explain ${missing})` : ''),
      evidence,
    });
  }
  return { anomalies, undecided };
}

/**
 * True when `target` is the sum of some sub-multiset of `amounts`: a bounded-knapsack table over 0..target,
 * amounts pooled by value (k copies of a are one pass, so many equal amounts cost one column). 'undecided' when
 * the table would pass `cellsMax` cells (target × distinct amounts).
 */
export function subsetSumReachable(target: number, amounts: readonly number[], cellsMax: number): boolean | 'undecided' {
  if (target === 0) return true;
  if (target < 0 || amounts.length === 0) return false;
  const counts = new Map<number, number>();
  let total = 0;
  for (const amount of amounts) {
    if (!(Number.isSafeInteger(amount) && amount > 0)) throw new Error(`subset sum: amount ${amount} is not a positive integer`);
    counts.set(amount, (counts.get(amount) ?? 0) + 1);
    total += amount;
  }
  if (target > total) return false;
  if (target * counts.size > cellsMax) return 'undecided';
  // reachable[s]: s is a sum of what was pooled so far; used[s]: copies of the current amount spent to reach s.
  let reachable = new Uint8Array(target + 1);
  reachable[0] = 1;
  const used = new Int32Array(target + 1);
  for (const [amount, copies] of counts) {
    used.fill(0);
    const next = reachable.slice();
    for (let sum = amount; sum <= target; sum += 1) {
      if (next[sum] === 1 || next[sum - amount] !== 1 || used[sum - amount]! >= copies) continue;
      next[sum] = 1;
      used[sum] = used[sum - amount]! + 1;
    }
    reachable = next;
    if (reachable[target] === 1) return true;
  }
  return reachable[target] === 1;
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
  const conserved = conservation(history, options.conservationCellsMax);
  const anomalies = [
    ...lostWrites(history),
    ...unsettled(history),
    ...duplicates(history),
    ...oversells(history),
    ...conserved.anomalies,
    ...linear.anomalies,
    ...converged.anomalies,
  ];
  const undecided = [...conserved.undecided, ...linear.undecided, ...converged.undecided];
  return { anomalies, undecided, operationsChecked: history.operations.length, statesExplored: linear.explored };
}

export function describeAnomaly(anomaly: Anomaly): string {
  const lines = [`ANOMALY ${anomaly.kind}: ${anomaly.message}`];
  for (const operation of anomaly.evidence) lines.push(`  ${describeOperation(operation)}`);
  return lines.join('\n');
}
