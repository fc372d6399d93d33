// Tests of PendingAsks, the endpoint's table of asks awaiting replies: an id finds its ask once, never after it
// settled (even when its slot was reused), never in another table, and the slots stay as few as the most asks
// ever waiting at once.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { PendingAsks } from '../../src/runtime/pending-asks.js';

test('an id finds its value until it is taken, and only once', () => {
  const table = new PendingAsks<string>();
  const first = table.add('first');
  const second = table.add('second');
  assert.is.not(first, second);
  assert.is(table.size, 2);
  assert.equal(table.entries(), [[first, 'first'], [second, 'second']]);
  assert.is(table.take(first), 'first');
  assert.is(table.take(first), undefined, 'a second reply to the same ask finds nothing');
  assert.not.ok(table.entries().some(([id]) => id === first));
  assert.is(table.size, 1);
  assert.equal(table.entries(), [[second, 'second']]);
});

test('a reused slot does not answer to the id of its earlier tenant', () => {
  const table = new PendingAsks<number>();
  const old = table.add(1);
  table.take(old);
  const fresh = table.add(2);
  assert.is.not(fresh, old);
  assert.is(table.take(old), undefined, 'a late reply to the settled ask');
  assert.equal(table.entries(), [[fresh, 2]]);
});

test('ids of another table, and ids that are not ours at all, find nothing', () => {
  const one = new PendingAsks<string>();
  const other = new PendingAsks<string>();
  const id = one.add('mine');
  other.add('theirs');
  assert.is(other.take(id), undefined);
  assert.is(other.size, 1, 'their own ask is still there');
  for (const foreign of ['', '.', 'x', `${id}9`, `${id}.1`, id.replace(/\.\d+\./, '.99.'), id.replace(/\.(\d+)\./, '.a.'), id.slice(0, -1)]) {
    assert.is(one.take(foreign), undefined, `"${foreign}"`);
  }
  assert.is(one.size, 1);
});

test('slots are reused: a steady stream of asks never holds more than were waiting at once', () => {
  const table = new PendingAsks<number>();
  const waiting: string[] = [];
  const seen = new Set<string>();
  for (let ask = 0; ask < 10_000; ask += 1) {
    const id = table.add(ask);
    assert.not.ok(seen.has(id), `id ${id} given twice`);
    seen.add(id);
    waiting.push(id);
    if (waiting.length > 40) assert.is(table.take(waiting.shift()!), ask - 40);
  }
  // At most 41 were waiting at once (just after an add, before the oldest was taken); 40 are waiting now.
  assert.is(table.size, 40);
  const slots = new Set(table.entries().map(([id]) => id.split('.')[1]));
  assert.is(slots.size, 40);
  for (const slot of slots) assert.ok(Number(slot) < 41, `slot ${slot} beyond the 41 ever waiting at once`);
});

test.run();
