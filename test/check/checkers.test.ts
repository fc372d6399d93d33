// The checkers against hand-made histories: a clean history passes, and a lost write, a double apply, a stale
// read, a non-linearizable interleaving, an oversell, a duplicate and a divergence are each reported — so a clean
// run of `pygmy check` means something. Also the search's handling of unknown outcomes and its work bound.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { checkHistory, describeAnomaly, subsetSumReachable, unknownResolution } from '../../src/check/checkers.js';
import { exportOperations } from '../../src/check/history.js';
import type { FinalState, History, Operation } from '../../src/check/history.js';
import { checkLinearizable } from '../../src/check/linearizability.js';

let nextId = 0;
function op(client: number, kind: Operation['kind'], item: number, invokeMs: number, completeMs: number | null, value: Operation['value'], extra: Partial<Operation> = {}): Operation {
  const id = nextId++;
  return {
    id, client, kind, item, amount: kind === 'read' ? 0 : 1, key: kind === 'order' ? `k${id}` : '',
    invokeMs, completeMs, outcome: completeMs === null ? 'unknown' : 'ok', value, note: '', ...extra,
  };
}

function history(operations: Operation[], final: Partial<FinalState> = {}): History {
  const orders = operations
    .filter((operation) => operation.kind === 'order' && operation.outcome === 'ok')
    .map((operation) => ({ id: operation.key, item: operation.item, amount: operation.amount, status: operation.value === true ? 'committed' : 'rejected' }));
  return {
    operations,
    faults: [],
    final: {
      initialStock: { 1: 10 },
      finalStock: { 1: 10 },
      orders,
      digests: [
        { group: 'catalog', name: 'catalog-1', index: 7, hash: 'aaaa' },
        { group: 'catalog', name: 'catalog-2', index: 7, hash: 'aaaa' },
      ],
      ...final,
    },
  };
}

const kinds = (h: History) => checkHistory(h).anomalies.map((anomaly) => anomaly.kind);

test('a clean history with concurrency and an unknown order has no anomaly', () => {
  // Two clients: an order overlapping a read that still sees 10, then reads at 9, an unknown order later
  // committed, a restock; every answer fits one order of events, so nothing may be reported.
  const operations = [
    op(1, 'order', 1, 0, 10, true),
    op(2, 'read', 1, 1, 5, 10),
    op(2, 'read', 1, 11, 12, 9),
    op(1, 'order', 1, 20, null, null, { key: 'late' }),
    op(2, 'read', 1, 21, 22, 9),
    op(2, 'restock', 1, 30, 31, null, { amount: 5 }),
    op(2, 'read', 1, 40, 41, 13),
  ];
  const h = history(operations, { finalStock: { 1: 13 }, orders: [...history(operations).final.orders, { id: 'late', item: 1, amount: 1, status: 'committed' }] });
  const report = checkHistory(h);
  assert.equal(report.anomalies.map(describeAnomaly), []);
  assert.equal(report.undecided, []);
});

test('a lost write is reported', () => {
  // An order acknowledged true whose id is missing from the final order log.
  const operations = [op(1, 'order', 1, 0, 5, true)];
  const h = history(operations, { orders: [], finalStock: { 1: 10 } });
  assert.ok(kinds(h).includes('lost-write'), kinds(h).join());
});

test('a double apply is reported (conservation and linearizability)', () => {
  // One order of 1 committed once, but the stock went down by 2: reads and the final stock show it.
  const operations = [op(1, 'order', 1, 0, 5, true), op(2, 'read', 1, 10, 11, 8)];
  const h = history(operations, { finalStock: { 1: 8 } });
  const found = kinds(h);
  assert.ok(found.includes('conservation'), found.join());
  assert.ok(found.includes('stale-read') || found.includes('non-linearizable'), found.join());
});

test('a stale read is reported', () => {
  // The order ended at 5; a read that began at 10 still shows the old stock 10.
  const operations = [op(1, 'order', 1, 0, 5, true), op(1, 'read', 1, 10, 11, 10)];
  const h = history(operations, { finalStock: { 1: 9 } });
  assert.equal(kinds(h), ['stale-read']);
  const anomaly = checkHistory(h).anomalies[0]!;
  assert.equal(anomaly.evidence.map((operation) => operation.id), operations.map((operation) => operation.id), 'the evidence is the order and the read');
});

test('a non-linearizable interleaving of writes is reported', () => {
  // Stock 1, two concurrent orders of 1 both bought: no order of the two fits the counter.
  const operations = [op(1, 'order', 1, 0, 10, true), op(2, 'order', 1, 1, 9, true)];
  const h = history(operations, { initialStock: { 1: 1 }, finalStock: { 1: 0 } });
  assert.ok(kinds(h).includes('non-linearizable'), kinds(h).join());
});

test('reads going backwards (monotonic reads broken) are reported', () => {
  // A read sees 9 (after a concurrent order), then a later read of the same client sees 10 again.
  const operations = [op(1, 'order', 1, 0, 30, true), op(2, 'read', 1, 1, 2, 9), op(2, 'read', 1, 3, 4, 10)];
  const h = history(operations, { finalStock: { 1: 9 } });
  assert.ok(kinds(h).includes('stale-read'), kinds(h).join());
});

test('oversell, duplicate and divergence are reported', () => {
  // A negative read, one order id twice in the log, and two replicas with different hashes at one index.
  const operations = [op(1, 'read', 1, 0, 1, -1)];
  const h = history(operations, {
    orders: [{ id: 'x', item: 1, amount: 1, status: 'committed' }, { id: 'x', item: 1, amount: 1, status: 'committed' }],
    digests: [{ group: 'order', name: 'order-1', index: 3, hash: 'aa' }, { group: 'order', name: 'order-2', index: 3, hash: 'bb' }],
    finalStock: { 1: 8 },
  });
  const found = kinds(h);
  for (const kind of ['oversell', 'duplicate', 'divergence']) assert.ok(found.includes(kind as never), `${kind} in ${found.join()}`);
});

test('an unknown restock may or may not have happened; a committed unknown order must have', () => {
  // Unknown restock of 5 then a read of 15 (it happened) and a read of 10 before it (not yet): fine. A committed
  // order of unknown outcome that no read ever reflects, while the final stock does not either: reported.
  const withRestock = checkLinearizable([
    { id: 1, callMs: 0, returnMs: Infinity, step: 'add', value: 5, required: false },
    { id: 2, callMs: 1, returnMs: 2, step: 'read', value: 10, required: true },
    { id: 3, callMs: 3, returnMs: 4, step: 'read', value: 15, required: true },
  ], 10);
  assert.is(withRestock.kind, 'linearizable');
  const never = checkLinearizable([{ id: 1, callMs: 0, returnMs: Infinity, step: 'add', value: 5, required: false }, { id: 2, callMs: 3, returnMs: 4, step: 'read', value: 10, required: true }], 10);
  assert.is(never.kind, 'linearizable', 'an unknown restock may never happen');
  const committed = checkLinearizable([{ id: 1, callMs: 0, returnMs: Infinity, step: 'take', value: 5, required: true }, { id: 2, callMs: 3, returnMs: 4, step: 'read', value: 1, required: true }], 3);
  assert.is(committed.kind, 'violation', 'a committed order of 5 on a stock of 3 cannot be placed');
});

test('the search is bounded: past its budget it says undecided, never guesses', () => {
  // 14 fully concurrent reads of a value that never matches force the search to try every subset.
  const operations = Array.from({ length: 14 }, (_, index) => ({ id: index, callMs: 0, returnMs: 100, step: 'read' as const, value: index % 2 === 0 ? 10 : 11, required: true }));
  const verdict = checkLinearizable(operations, 10, 50);
  assert.is(verdict.kind, 'undecided');
});

test('a long clean history is decided quickly', () => {
  // 20 000 operations of 8 clients with overlapping orders and reads that follow the counter: linearizable,
  // within the default budget and a few seconds.
  const operations = [];
  let stock = 100_000;
  for (let index = 0; index < 20_000; index += 1) {
    const callMs = index;
    if (index % 3 === 0) {
      operations.push({ id: index, callMs, returnMs: callMs + 5, step: 'take' as const, value: 1, required: true });
      stock -= 1;
    } else operations.push({ id: index, callMs, returnMs: callMs + 1, step: 'read' as const, value: stock, required: true });
  }
  const started = Date.now();
  const verdict = checkLinearizable(operations, 100_000);
  assert.is(verdict.kind, 'linearizable');
  assert.ok(Date.now() - started < 10_000, `${Date.now() - started} ms`);
});

test('conservation pools unknown restocks exactly: 114 unknown restocks of 5 explain 570, and 571 is not explained', () => {
  // The valid history that the old 64-restock cap convicted: 1,519 hidden answers, 114 unknown restocks, 570 missing.
  const unknownRestocks = Array.from({ length: 114 }, (_, index) => op(1, 'restock', 1, 10 + index, null, null, { amount: 5 }));
  const valid = history(unknownRestocks, { finalStock: { 1: 10 + 570 } });
  assert.equal(checkHistory(valid).anomalies.filter((anomaly) => anomaly.kind === 'conservation').map(describeAnomaly), []);
  const invalid = history(unknownRestocks, { finalStock: { 1: 10 + 571 } });
  assert.ok(kinds(invalid).includes('conservation'));
  const tooMany = history(unknownRestocks, { finalStock: { 1: 10 + 575 } });
  assert.ok(kinds(tooMany).includes('conservation'), '115 × 5 with 114 unknown restocks');
});

test('subset sums are exact over mixed amounts, bounded by copies, and undecided past their budget', () => {
  // 3×7 + 2×5: 31 = 3·7 + 2·5 yes; 35 = 5·7 needs five sevens (only three) or 7·5 (only two): no.
  const amounts = [7, 7, 7, 5, 5];
  assert.is(subsetSumReachable(31, amounts, 1_000_000), true);
  assert.is(subsetSumReachable(35, amounts, 1_000_000), false);
  assert.is(subsetSumReachable(12, amounts, 1_000_000), true);
  assert.is(subsetSumReachable(0, [], 1), true);
  assert.is(subsetSumReachable(-5, amounts, 1_000_000), false);
  assert.is(subsetSumReachable(31, amounts, 10), 'undecided');
});

test('an order still pending in the final log is reported, even when the log hides its id', () => {
  // The order list shows a pending order with id null: the checker must not take it for "absent, no effect".
  const operations = [op(1, 'order', 1, 0, null, null, { key: 'hidden' })];
  const h = history(operations, { orders: [{ id: null, item: 1, amount: 1, status: 'pending' }] });
  assert.ok(kinds(h).includes('lost-write'), kinds(h).join());
  assert.is(unknownResolution(h).unknown, 1);
});

test('unknown orders are counted by how the final log resolved them, and export as Porcupine-style operations', () => {
  // Three unknown orders: one committed, one rejected, one never taken; the export keeps client, input, call,
  // output and return, with unknown operations returning after everything else.
  const operations = [
    op(1, 'order', 1, 0, null, null, { key: 'u1' }),
    op(2, 'order', 1, 1, null, null, { key: 'u2' }),
    op(3, 'order', 1, 2, null, null, { key: 'u3' }),
    op(1, 'read', 1, 5, 9, 9),
  ];
  const h = history(operations, { finalStock: { 1: 9 }, orders: [{ id: 'u1', item: 1, amount: 1, status: 'committed' }, { id: 'u2', item: 1, amount: 1, status: 'rejected' }] });
  assert.equal(checkHistory(h).anomalies.map(describeAnomaly), []);
  assert.equal(unknownResolution(h), { unknown: 3, committed: 1, rejected: 1, absent: 1, pending: 0 });
  const exported = exportOperations(h);
  assert.equal(Object.keys(exported[0]!), ['client', 'input', 'call', 'output', 'return']);
  assert.equal(exported[0], { client: 1, input: { op: 'order', item: 1, amount: 1, key: 'u1' }, call: 0, output: { outcome: 'unknown', value: null, resolved: 'committed' }, return: 10 });
  assert.equal(exported[3], { client: 1, input: { op: 'read', item: 1, amount: 0, key: '' }, call: 5, output: { outcome: 'ok', value: 9, resolved: null }, return: 9 });
});

test.run();
