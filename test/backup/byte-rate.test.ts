// The backup's pace (src/raft/storage/byte-rate.ts) on a hand-stepped clock: a caller that waits as told moves no
// more than the pace allows plus two bursts; idle time earns one burst of credit, never more; no pace never waits;
// out-of-range paces are refused, in code and as text. Then a real capture at 1 MiB/s of a database of over 1 MiB
// takes at least the time its bytes are worth (a lower bound: a busy machine only makes it slower), and the same
// capture unpaced holds the same state.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { encodeOrderCommand } from '../../src/actors/order/state.js';
import { factoryOf } from '../../src/cli/backup-files.js';
import { backupBytesPerSecondMin, ByteRate, parseBytesPerSecond } from '../../src/raft/storage/byte-rate.js';
import type { Entry } from '../../src/raft/types.js';
import { captureInWorker, openOrderSource } from '../support/backup-capture.js';

const mebibyte = 1024 * 1024;

test('a caller that waits as told stays within the pace plus two bursts', () => {
  const rate = new ByteRate(mebibyte, 0);
  let nowMs = 0;
  let moved = 0;
  for (let step = 0; step < 1_000; step += 1) {
    moved += 64 * 1024;
    nowMs += rate.take(64 * 1024, nowMs);
    assert.ok(moved <= mebibyte * ((nowMs + 200) / 1_000) + 64 * 1024, `step ${step}: ${moved} bytes by ${nowMs} ms`);
  }
  assert.ok(nowMs >= 62_000 - 200, `62.5 MiB at 1 MiB/s took ${nowMs} ms`);
});

test('idle time earns one burst of credit, no more; no pace never waits', () => {
  const rate = new ByteRate(mebibyte, 0);
  // An hour idle, then 10 MiB at once: only the credit (100 ms worth) and the run-ahead (100 ms) are forgiven.
  const waitMs = rate.take(10 * mebibyte, 3_600_000);
  assert.ok(Math.abs(waitMs - 9_800) < 1, `waits ${waitMs} ms`);
  assert.is(new ByteRate(null, 0).take(10 * mebibyte, 0), 0);
  assert.is(new ByteRate(null, 0).bytesIn(100, 42), 42);
  assert.is(rate.bytesIn(100, 42), Math.floor(mebibyte / 10));
});

test('paces out of range are refused, in code and as text', () => {
  assert.throws(() => new ByteRate(backupBytesPerSecondMin - 1, 0), /bytesPerSecond must be/);
  assert.throws(() => new ByteRate(1.5 * mebibyte + 0.5, 0), /bytesPerSecond must be/);
  assert.is(parseBytesPerSecond('16777216').ok, true);
  for (const text of ['', '-1', '1e9', '12abc', '1024', '99999999999999999']) {
    const parsed = parseBytesPerSecond(text);
    assert.is(parsed.ok, false, text);
    if (!parsed.ok) assert.match(parsed.error, /bytes per second/);
  }
});

function orderEntry(index: number): Entry {
  const command = { type: 'pending' as const, orderId: `paced-order-${String(index).padStart(8, '0')}-${'x'.repeat(40)}`, item: 1 + (index % 7), amount: 1, createdAt: 1_000 + index, deadlineAt: 60_000 + index };
  return { index, term: 1, type: 'normal', data: encodeOrderCommand(command) };
}

test('a capture at 1 MiB/s takes at least the time its bytes are worth, and holds the same state as one unpaced', async () => {
  const directory = mkdtempSync(join(tmpdir(), 'pygmy-backup-pace-'));
  const source = openOrderSource(directory);
  try {
    const entries: Entry[] = [];
    for (let index = 1; index <= 5_000; index += 1) entries.push(orderEntry(index));
    source.persist({ snapshot: null, entries, hardState: { term: 1, vote: 'order-1', commit: entries.length } });
    source.apply(entries);
    const base = { kind: 'pygmyBackupCapture', sourcePath: source.path, minimumIndex: entries.length, factory: factoryOf('order') } as const;
    const unpaced = await captureInWorker({ ...base, destinationPath: join(directory, 'unpaced.db'), bytesPerSecond: null });
    assert.ok(unpaced.ok, JSON.stringify(unpaced));
    if (!unpaced.ok) return;
    assert.ok(unpaced.bytes >= mebibyte, `a database of ${unpaced.bytes} bytes is large enough to pace`);
    const startedMs = performance.now();
    const paced = await captureInWorker({ ...base, destinationPath: join(directory, 'paced.db'), bytesPerSecond: mebibyte });
    const elapsedMs = performance.now() - startedMs;
    assert.ok(paced.ok, JSON.stringify(paced));
    if (!paced.ok) return;
    // The copy and its sha256 each move the file's bytes once: twice its size at 1 MiB/s, less two bursts each.
    const floorMs = (2 * paced.bytes * 1_000) / mebibyte - 4 * 100;
    assert.ok(elapsedMs >= floorMs, `paced capture of ${paced.bytes} bytes took ${Math.round(elapsedMs)} ms, under ${Math.round(floorMs)} ms`);
    assert.is(paced.stateHash, unpaced.stateHash);
    assert.is(paced.index, unpaced.index);
  } finally {
    source.close();
    rmSync(directory, { recursive: true, force: true });
  }
});

test.run();
