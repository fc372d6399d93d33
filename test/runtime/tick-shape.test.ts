// keepTickObjectShape (src/runtime/tick-shape.ts): after full garbage collections, process.nextTick's literal
// must keep monomorphic inline caches in a thread that called it, and turns megamorphic in one that did not (the
// broken case, which shows the check can fail). Read from V8's own print of nextTick's feedback in child
// processes (bench/next-tick.ts --child … --feedback); no timing is asserted.
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { keepTickObjectShape } from '../../src/runtime/tick-shape.js';

const childScript = fileURLToPath(new URL('../../bench/next-tick.js', import.meta.url));

/** The states of nextTick's DefineKeyedOwnPropertyInLiteral feedback slots after `collections` full collections. */
function literalFeedback(mode: 'plain' | 'kept', collections: number): string[] {
  // V8 prints through C stdio: into a pipe, which node makes non-blocking, the tail of that print can be lost at
  // exit; a file takes all of it.
  const directory = mkdtempSync(join(tmpdir(), 'pygmy-tick-shape-'));
  try {
    const outputPath = join(directory, 'stdout.txt');
    const output = openSync(outputPath, 'w');
    let result;
    try {
      result = spawnSync(
        process.execPath,
        ['--expose-gc', '--allow-natives-syntax', childScript, '--child', mode, '--collections', String(collections), '--feedback'],
        { encoding: 'utf8', timeout: 60_000, stdio: ['ignore', output, 'pipe'] },
      );
    } finally {
      closeSync(output);
    }
    assert.is(result.status, 0, result.stderr);
    const printed = readFileSync(outputPath, 'utf8');
    return [...printed.matchAll(/slot #\d+ DefineKeyedOwnPropertyInLiteral (\w+)/g)].map((match) => match[1]!);
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
}

test('keepTickObjectShape holds two tick queue entries and is idempotent', () => {
  assert.is(keepTickObjectShape(), 2);
  assert.is(keepTickObjectShape(), 2);
});

test('after eight full collections nextTick stays monomorphic with the shape kept, and not without it', () => {
  const kept = literalFeedback('kept', 8);
  assert.is(kept.length, 4, `four literal slots expected in nextTick's feedback, got ${JSON.stringify(kept)}`);
  assert.equal(kept, ['MONOMORPHIC', 'MONOMORPHIC', 'MONOMORPHIC', 'MONOMORPHIC']);
  const plain = literalFeedback('plain', 8);
  assert.ok(plain.includes('MEGAMORPHIC'), `without the kept shape the literal should go megamorphic: ${JSON.stringify(plain)}`);
});

test.run();
