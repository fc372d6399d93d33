// `pygmy check --ambiguous` end to end against a real `pygmy start` process: impatient clients, a 1.5 s order
// deadline, catalog outages (orders race their deadline) and SIGSTOP pauses. The clean build must give many orders
// of unknown outcome, every one resolved by the final log, and no anomaly; the build with the planted bug (the
// deadline rejects without fencing the catalog) must be convicted — a deduct that lands after the rejection takes
// stock for an order the log rejected, which conservation sees.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkHistory, describeAnomaly, unknownResolution } from '../../src/check/checkers.js';
import { readHistory } from '../../src/check/history.js';
import { runCheck, type CheckRunOptions } from '../../src/check/run.js';

const everyFault: CheckRunOptions['nemesis'] = ['catalog-outage', 'pause-process', 'kill-order-leader'];

function options(historyPath: string, lines: string[], nemesis = everyFault): CheckRunOptions {
  return {
    durationMs: 15_000, seed: 5, clients: 6, nemesis,
    historyPath, ambiguous: true, log: (line) => lines.push(line),
  };
}

test('the ambiguous mode: many unknown outcomes, all resolved, no anomaly — and the planted bug is found', async () => {
  const historyPath = join(tmpdir(), `pygmy-check-ambiguous-${process.pid}.jsonl`);
  const lines: string[] = [];
  try {
    const clean = await runCheck(options(historyPath, lines));
    assert.equal(clean.report.anomalies.map(describeAnomaly), [], lines.join('\n'));
    const resolved = unknownResolution(clean.history);
    assert.ok(resolved.unknown >= 30, `only ${resolved.unknown} orders of unknown outcome\n${lines.join('\n')}`);
    assert.is(resolved.pending, 0);
    assert.ok(resolved.committed > 0 && resolved.rejected + resolved.absent > 0, JSON.stringify(resolved));
    assert.is(checkHistory(readHistory(historyPath)).anomalies.length, 0, 'the saved history gives the same verdict');

    // Only catalog outages here: each one longer than the deadline is a chance for the bug to show, and a run of
    // mixed faults may hold a single such outage (one run on a busy machine missed it that way).
    const buggy = await runCheck({ ...options(historyPath, lines, ['catalog-outage']), plantedBug: 'reject-without-fence' });
    const kinds = buggy.report.anomalies.map((anomaly) => anomaly.kind);
    assert.ok(kinds.includes('conservation'), `the planted bug went unnoticed: ${kinds.join(', ')}\n${lines.join('\n')}`);
  } finally {
    rmSync(historyPath, { force: true });
  }
});

test.run();
