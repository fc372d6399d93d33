// When a replica compacts its log, and how much it keeps: the interval, and the newest half left for followers
// a little behind.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { compactionIndex } from '../../src/raft/replica.js';

test('no compaction before the log holds the interval of applied entries past the last one', () => {
  assert.is(compactionIndex(9_999, 0, 10_000), null);
  assert.is(compactionIndex(14_999, 5_000, 10_000), null);
  assert.is(compactionIndex(0, 0, 2), null);
});

test('a compaction drops the older half and keeps the newest half of the interval', () => {
  assert.is(compactionIndex(10_000, 0, 10_000), 5_000);
  assert.is(compactionIndex(15_000, 5_000, 10_000), 10_000);
  assert.is(compactionIndex(23_456, 5_000, 10_000), 18_456, 'a late compaction keeps the same tail');
  assert.is(compactionIndex(41, 0, 40), 21);
  assert.is(compactionIndex(2, 0, 2), 1, 'the smallest interval still compacts past the last compaction');
});

test.run();
