// connections.ts and thread-metrics.ts validation, by hand: the backlog granted is the smaller of the one asked and
// somaxconn, and the operator is told when it is smaller; somaxconn is read from its /proc file or is null; thread
// figures that crossed a socket are accepted only when every field is a finite, non-negative number.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { backlogShortfall, listenBacklogFor, readSomaxconn } from '../../src/http/connections.js';
import { isThreadFigures, ThreadSampler } from '../../src/runtime/thread-metrics.js';

test('the backlog granted is capped by somaxconn, and a shortfall is reported', () => {
  assert.equal(listenBacklogFor(4_096, 4_096), { asked: 4_096, effective: 4_096, somaxconn: 4_096 });
  assert.is(backlogShortfall(listenBacklogFor(4_096, 4_096)), null);
  const low = listenBacklogFor(4_096, 128);
  assert.is(low.effective, 128);
  assert.match(backlogShortfall(low) ?? '', /net\.core\.somaxconn is 128, lower than the listen backlog asked for \(4096\)/);
  assert.is(backlogShortfall(listenBacklogFor(4_096, null)), null, 'unknown (not Linux): nothing to report');
});

test('somaxconn is read from its file, null when absent or garbage', () => {
  const directory = mkdtempSync(join(tmpdir(), `pygmy-somaxconn-${process.pid}-`));
  try {
    const path = join(directory, 'somaxconn');
    writeFileSync(path, '4096\n');
    assert.is(readSomaxconn(path), 4_096);
    writeFileSync(path, 'lots\n');
    assert.is(readSomaxconn(path), null);
    assert.is(readSomaxconn(join(directory, 'missing')), null);
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
});

test('thread figures: a sampler\'s own pass, malformed ones do not', () => {
  const sampler = new ThreadSampler();
  try {
    const figures = sampler.figures();
    assert.ok(isThreadFigures(figures), JSON.stringify(figures));
    assert.ok(figures.heapUsedBytes > 0 && figures.heapUsedBytes <= figures.heapTotalBytes);
    for (const broken of [null, 'x', { ...figures, heapUsedBytes: -1 }, { ...figures, eventLoopUtilization: 1.5 }, { ...figures, eventLoopDelayP99Ms: Number.NaN }, { ...figures, eventLoopDelayMaxMs: undefined }]) {
      assert.is(isThreadFigures(broken), false, JSON.stringify(broken));
    }
  } finally {
    sampler.close();
  }
});

test.run();
