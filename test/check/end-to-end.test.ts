// `pygmy check` end to end: a 20-second run against a real `pygmy start` process with every kind of fault (kill,
// stop and isolate of replicas, kill -9 of the whole process), then the history written to a file, read back and
// checked again: the run must find 0 anomalies, have injected faults and checked many operations, and the file must
// give the same verdict — and the same file with one acknowledged order removed from the log must not.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkHistory, describeAnomaly } from '../../src/check/checkers.js';
import { readHistory } from '../../src/check/history.js';
import { runCheck } from '../../src/check/run.js';

test('a 20-second check with faults finds no anomaly, and its history file convicts a tampered log', async () => {
  const historyPath = join(tmpdir(), `pygmy-check-test-${process.pid}.jsonl`);
  const lines: string[] = [];
  try {
    const result = await runCheck({ durationMs: 20_000, seed: 11, clients: 5, nemesis: ['kill', 'stop', 'isolate', 'crash-process'], historyPath, log: (line) => lines.push(line) });
    assert.equal(result.report.anomalies.map(describeAnomaly), [], lines.join('\n'));
    assert.ok(result.faults >= 4, `faults injected: ${result.faults}\n${lines.join('\n')}`);
    assert.ok(result.report.operationsChecked > 500, `operations: ${result.report.operationsChecked}`);
    assert.ok(result.history.final.digests.length === 6, 'six replica digests taken');
    const reread = readHistory(historyPath);
    assert.is(checkHistory(reread).anomalies.length, 0);
    const bought = reread.operations.find((operation) => operation.kind === 'order' && operation.outcome === 'ok' && operation.value === true);
    assert.ok(bought, 'some order was bought');
    const tampered = { ...reread, final: { ...reread.final, orders: reread.final.orders.filter((order) => order.id !== bought!.key) } };
    const kinds = checkHistory(tampered).anomalies.map((anomaly) => anomaly.kind);
    assert.ok(kinds.includes('lost-write'), kinds.join());
  } finally {
    rmSync(historyPath, { force: true });
  }
});

test.run();
