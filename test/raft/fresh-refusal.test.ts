// `pygmy node --fresh` on a data dir that holds members of a bootstrapped cluster is refused with a message that
// names the files and the flag that means "start a new cluster"; with that flag the wipe goes ahead. Run as the
// real CLI; the refused run must leave the data dir untouched and start nothing (it exits on its own).
import { existsSync, mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runPygmy, type ScriptRun } from '../support/run-script.js';

function run(args: string[], timeoutMs: number): Promise<ScriptRun> {
  return runPygmy(args, { env: { ...process.env, LOG_LEVEL: 'warn' }, timeoutMs });
}

test('pygmy node --fresh refuses a data dir with members; --start-new-cluster wipes it', async () => {
  const root = mkdtempSync(join(tmpdir(), 'pygmy-fresh-'));
  try {
    const config = join(root, 'cluster.json');
    const all = ['catalog-1', 'catalog-2', 'catalog-3', 'order-1', 'order-2', 'order-3', 'cache'];
    writeFileSync(config, JSON.stringify({ nodes: [
      { name: 'a', host: '127.0.0.1', port: 1, actors: ['catalog-1'], gateway: { host: '127.0.0.1', port: 0 } },
      { name: 'b', host: '127.0.0.1', port: 2, actors: all.slice(1) },
    ] }));
    const dataDir = join(root, 'data-a');
    mkdirSync(dataDir);
    const marker = join(dataDir, 'catalog-1.identity');
    writeFileSync(marker, '{}');
    const refused = await run(['node', '--config', config, '--node', 'a', '--data-dir', dataDir, '--fresh'], 20_000);
    assert.is(refused.killed, false, 'the refused run exits on its own');
    assert.is(refused.code, 1, refused.output);
    assert.match(refused.output, /--fresh refused: .* holds members of a bootstrapped cluster \(catalog-1\.identity\)/);
    assert.match(refused.output, /--start-new-cluster/);
    assert.ok(existsSync(marker), 'nothing was wiped');
    const misuse = await run(['node', '--config', config, '--node', 'a', '--data-dir', dataDir, '--start-new-cluster'], 20_000);
    assert.is(misuse.code, 2, misuse.output);
    // With the flag the wipe happens; the node then starts (it has no peers to reach) and is stopped by the test.
    const wiped = await run(['node', '--config', config, '--node', 'a', '--data-dir', dataDir, '--fresh', '--start-new-cluster'], 4_000);
    assert.ok(!wiped.output.includes('--fresh refused'), wiped.output);
    assert.ok(!existsSync(marker) || readFileSync(marker, 'utf8') !== '{}', 'the old marker was wiped');
    assert.match(wiped.output, /pygmy: node a listening/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test.run();
