// The gateway's order ids against a hand-stepped clock: their shape, their order over time, and a clock that goes
// back.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { orderIdMaker } from '../../src/http/order-id.js';
import { isPrintableToken, orderKeyLengthMax } from '../../src/http/validation.js';

test('an id is 21 URL-safe characters, and ids are distinct', () => {
  // 10,000 ids in one millisecond: the random part alone keeps them apart.
  const newId = orderIdMaker(() => 1_764_230_400_000);
  const ids = Array.from({ length: 10_000 }, () => newId());
  for (const id of ids.slice(0, 100)) {
    assert.match(id, /^[0-9a-z]{9}[A-Za-z0-9_-]{12}$/);
    assert.ok(isPrintableToken(id, orderKeyLengthMax));
  }
  assert.is(new Set(ids).size, ids.length);
});

test('ids made in a later millisecond sort after earlier ones, so a table keyed by them appends', () => {
  // Walks the clock through times whose base-36 forms differ in length and digit: the sort must follow the clock.
  const clock = { nowMs: 35 };
  const newId = orderIdMaker(() => clock.nowMs);
  const made: string[] = [];
  for (const nowMs of [35, 36, 1_295, 1_296, 1_764_230_400_000, 1_764_230_400_001, 2_000_000_000_000]) {
    clock.nowMs = nowMs;
    made.push(newId());
  }
  assert.equal([...made].sort(), made);
});

test('a wall clock that goes back does not take the ids back with it', () => {
  // The clock steps back a second: the time part holds where it was until the clock passes it again.
  const clock = { nowMs: 1_764_230_400_000 };
  const newId = orderIdMaker(() => clock.nowMs);
  const before = newId();
  clock.nowMs -= 1_000;
  const after = newId();
  assert.is(after.slice(0, 9), before.slice(0, 9));
  clock.nowMs += 2_000;
  assert.ok(newId() > after);
});

test.run();
