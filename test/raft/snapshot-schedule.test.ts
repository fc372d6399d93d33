// When a replica snapshots: the entry interval, and the byte rule that keeps a growing state from being
// snapshotted ever more often relative to its size.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { snapshotDue } from '../../src/raft/replica.js';

test('no snapshot before the entry interval, whatever the bytes', () => {
  assert.not.ok(snapshotDue({ entries: 9_999, bytes: 10_000_000, lastSnapshotBytes: 0 }, 10_000));
  assert.ok(snapshotDue({ entries: 10_000, bytes: 0, lastSnapshotBytes: 0 }, 10_000), 'the first snapshot needs only the interval');
});

test('after the interval, a snapshot waits until as many bytes were applied as the last one held', () => {
  // A 13.8 MB state (200,000 orders) and ~300 bytes of log per order: the next snapshot comes after ~46,000
  // entries, not after 10,000 — the log grows to about the state's size, and snapshotting costs about one byte
  // written per byte of log.
  const lastSnapshotBytes = 13_800_000;
  assert.not.ok(snapshotDue({ entries: 10_000, bytes: 1_500_000, lastSnapshotBytes }, 10_000));
  assert.not.ok(snapshotDue({ entries: 45_000, bytes: 13_799_999, lastSnapshotBytes }, 10_000));
  assert.ok(snapshotDue({ entries: 46_000, bytes: 13_800_000, lastSnapshotBytes }, 10_000));
});

test.run();
