// When a replica compacts its log, and how much it keeps: the interval, the newest half left for followers a
// little behind, a leader's log kept from its slowest follower's match on, and that bounded in bytes.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { compactionIndex } from '../../src/raft/replica.js';
import { compactionTarget } from '../../src/raft/compaction.js';

/** A log of entries of `bytes` each. */
const uniform = (bytes: number) => (after: number, to: number): number => Math.max(0, to - after) * bytes;

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

test('a follower a little behind keeps the log from its match on: it needs no image', () => {
  const input = { lastApplied: 10_000, snapshotIndex: 0, intervalEntries: 10_000, logBytes: uniform(100), retainBytesMax: 10_000_000 };
  assert.is(compactionTarget({ ...input, followerMatches: null }), 5_000, 'a follower compacts on its interval');
  assert.is(compactionTarget({ ...input, followerMatches: [9_990, 9_000] }), 5_000, 'followers past the half: the interval');
  assert.is(compactionTarget({ ...input, followerMatches: [9_990, 1_200] }), 1_200, 'kept from the slowest match');
  assert.is(compactionTarget({ ...input, followerMatches: [9_990, 0] }), null, 'nothing to drop yet');
  assert.is(compactionTarget({ ...input, snapshotIndex: 3_000, lastApplied: 13_000, followerMatches: [100] }), null, 'never below the last compaction');
});

test('what is kept for a follower behind is bounded in bytes: one further behind needs an image', () => {
  // 100 bytes an entry, 300,000 bytes kept at most: the newest 3,000 entries stay, the rest goes.
  const input = { lastApplied: 10_000, snapshotIndex: 0, intervalEntries: 10_000, logBytes: uniform(100), retainBytesMax: 300_000 };
  assert.is(compactionTarget({ ...input, followerMatches: [10_000, 0] }), 5_000, 'the interval applies when the tail is larger than the bound');
  assert.is(compactionTarget({ ...input, retainBytesMax: 800_000, followerMatches: [10_000, 0] }), 2_000);
  assert.is(input.logBytes(2_000, 10_000), 800_000, 'the kept tail fits the bound exactly');
  // Uneven entries: the bisection finds the smallest index whose tail fits.
  const sizes = (after: number, to: number): number => {
    let bytes = 0;
    for (let index = after + 1; index <= to; index += 1) bytes += index % 2 === 0 ? 300 : 10;
    return bytes;
  };
  const index = compactionTarget({ ...input, logBytes: sizes, retainBytesMax: 1_000_000, followerMatches: [0] })!;
  assert.ok(sizes(index, 10_000) <= 1_000_000 && sizes(index - 1, 10_000) > 1_000_000, `at ${index}`);
});

test.run();
