// `pygmy check` on groups of five: the checker asks the gateway for each group's live members, so its faults
// (a catalog outage stops a majority of the five), its healing, its wait for quiet and its final digests cover
// catalog-1..5 and order-1..5, not the three of a default cluster. Fails if any of those lists stays fixed.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeAnomaly } from '../../src/check/checkers.js';
import { runCheck } from '../../src/check/run.js';

test('a check of a cluster of five replicas per group digests all ten and finds no anomaly', async () => {
  const historyPath = join(tmpdir(), `pygmy-check-replicas-${process.pid}.jsonl`);
  const lines: string[] = [];
  try {
    const result = await runCheck({ durationMs: 10_000, seed: 5, clients: 3, nemesis: ['catalog-outage'], historyPath, replicas: 5, log: (line) => lines.push(line) });
    assert.equal(result.report.anomalies.map(describeAnomaly), [], lines.join('\n'));
    const names = result.history.final.digests.map((digest) => digest.name).sort();
    const expected = [1, 2, 3, 4, 5].flatMap((number) => [`catalog-${number}`, `order-${number}`]).sort();
    assert.equal(names, expected, 'every member of both groups is digested');
    for (const group of ['catalog', 'order']) {
      const digests = result.history.final.digests.filter((digest) => digest.group === group);
      assert.is(new Set(digests.map((digest) => `${digest.index}:${digest.hash}`)).size, 1, `${group} replicas converged: ${JSON.stringify(digests)}`);
    }
    const outages = result.history.faults.map((fault) => fault.what).filter((what) => /no catalog quorum/.test(what));
    assert.ok(outages.length > 0, `no catalog outage was injected: ${JSON.stringify(result.history.faults)}`);
    // Three victims are chosen among the five (a stop the gateway does not confirm within the checker's request
    // timeout is left out of the record); the static list of three could never name catalog-4 or catalog-5.
    assert.ok(outages.some((what) => /catalog-[45]/.test(what)), `no outage stopped an added member: ${outages.join('; ')}`);
  } finally {
    rmSync(historyPath, { force: true });
  }
});

test.run();
