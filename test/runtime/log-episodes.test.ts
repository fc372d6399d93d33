// EpisodeLog: the first event of an episode is written, later ones within the interval are folded into the next
// line written, with their count. Time is the caller's number, stepped by hand.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { EpisodeLog, foldedSuffix } from '../../src/runtime/log-episodes.js';

test('one line per interval, the next one counts the events folded into it', () => {
  const episodes = new EpisodeLog(1_000);
  assert.equal(episodes.note(0), { write: true, foldedCount: 0 });
  for (let ms = 1; ms < 1_000; ms += 1) assert.equal(episodes.note(ms), { write: false });
  const next = episodes.note(1_000);
  assert.equal(next, { write: true, foldedCount: 999 });
  assert.is(foldedSuffix(next as { foldedCount: number }), ' (and 999 more like it since the last line)');
  assert.equal(episodes.note(5_000), { write: true, foldedCount: 0 });
  assert.is(foldedSuffix({ foldedCount: 0 }), '');
});

test('a non-positive interval is refused', () => {
  assert.throws(() => new EpisodeLog(0), /intervalMs must be positive/);
});

test.run();
