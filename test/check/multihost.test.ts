// `pygmy check --multihost` end to end: a 20-second run against `pygmy node` processes on four network-namespace
// hosts with every multi-host fault (kill, stop and isolate of replicas through the gateway; kill -9 of a host's
// process and restart on its data; a partition of one host), then the history checked: 0 anomalies, faults
// injected, many operations, six replica digests — and the same history with one acknowledged order removed from
// the log must be convicted. Afterwards no namespace, link or process of the run may remain.
// Outside CI, without root or `ip netns`, it skips with a printed reason; with CI=true it must run.
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { checkHistory, describeAnomaly } from '../../src/check/checkers.js';
import { namespaceUnavailableReason } from '../../src/check/hosts.js';
import { runCheck } from '../../src/check/run.js';

const skipReason = namespaceUnavailableReason();
if (skipReason !== null && process.env.CI === 'true') throw new Error(`the multi-host check must run in CI but cannot: ${skipReason}`);

const tag = `pg${process.pid.toString(36)}`;
const leftovers = () => [
  ...spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout.split('\n').filter((line) => line.startsWith(tag)),
  ...spawnSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' }).stdout.split('\n').filter((line) => line.includes(`: ${tag}`)),
];

test('a 20-second multi-host check with host faults finds no anomaly, convicts a tampered log, and leaves nothing behind', async () => {
  if (skipReason !== null) return console.log(`skipped: ${skipReason}`);
  const historyPath = join(tmpdir(), `pygmy-check-multihost-test-${process.pid}.jsonl`);
  const lines: string[] = [];
  try {
    const result = await runCheck({
      durationMs: 20_000,
      seed: 5,
      clients: 5,
      nemesis: ['kill', 'stop', 'isolate', 'crash-host', 'partition'],
      multihost: true,
      historyPath,
      log: (line) => lines.push(line),
    });
    const transcript = lines.join('\n');
    console.log(`  ${result.report.operationsChecked} ops, ${result.faults} faults, longest write unavailability ${result.writeUnavailableMsMax} ms`);
    assert.equal(result.report.anomalies.map(describeAnomaly), [], transcript);
    assert.ok(result.faults >= 4, `faults injected: ${result.faults}\n${transcript}`);
    assert.ok(lines.some((line) => /kill -9 (gateway|host-)/.test(line) || /partition host-/.test(line)), `a host fault was injected\n${transcript}`);
    assert.ok(result.report.operationsChecked > 500, `operations: ${result.report.operationsChecked}`);
    assert.is(result.history.final.digests.length, 6, 'six replica digests taken');
    const bought = result.history.operations.find((operation) => operation.kind === 'order' && operation.outcome === 'ok' && operation.value === true);
    assert.ok(bought, 'some order was bought');
    const final = result.history.final;
    const tampered = { ...result.history, final: { ...final, orders: final.orders.filter((order) => order.id !== bought!.key) } };
    const kinds = checkHistory(tampered).anomalies.map((anomaly) => anomaly.kind);
    assert.ok(kinds.includes('lost-write'), kinds.join());
    assert.equal(leftovers(), [], 'no namespace or link of the run remains');
  } finally {
    rmSync(historyPath, { force: true });
  }
});

test.run();
