// The replica's tick schedule against a hand-stepped clock: catching up before inputs, the due tick left to the
// timer, and time missed by a late timer dropped.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { TickSchedule } from '../../src/raft/tick-schedule.js';

function schedule(): { ticks: TickSchedule; clock: { nowMs: number } } {
  const clock = { nowMs: 1_000 };
  return { ticks: new TickSchedule(50, () => clock.nowMs), clock };
}

test('before an input: the whole ticks since the last, short of the due one; the remainder is kept', () => {
  // 130 ms is two whole ticks and 30 ms; with the due tick ten away both are applied, and the next tick falls at
  // 150 ms. With the due tick two away only one is applied: the second is the timer's.
  const { ticks, clock } = schedule();
  clock.nowMs += 130;
  assert.is(ticks.beforeInput(10), 2);
  assert.is(ticks.dueAtMs(1), 1_150);
  assert.is(ticks.beforeInput(10), 0, 'nothing twice');
  clock.nowMs += 70;
  assert.is(ticks.beforeInput(2), 1);
  assert.is(ticks.dueAtMs(1), 1_200);
  assert.is(ticks.beforeInput(1), 0, 'the due tick is never applied before an input');
});

test('at the timer: up to and including the due tick', () => {
  // The timer armed for three ticks fires on time and applies three; one that fires early applies what is due so
  // far and nothing that is not.
  const { ticks, clock } = schedule();
  assert.is(ticks.dueAtMs(3), 1_150);
  clock.nowMs = 1_151;
  assert.is(ticks.atTimer(3), 3);
  assert.is(ticks.dueAtMs(3), 1_300);
  clock.nowMs = 1_249;
  assert.is(ticks.atTimer(3), 1, 'early: one tick has passed, not three');
  assert.is(ticks.dueAtMs(2), 1_300);
});

test('a stalled thread: catching up stops short of the due tick, and the timer drops the time it missed', () => {
  // A follower due to campaign in five ticks is stalled for a second (20 ticks). The input that comes first gets
  // four ticks; the timer then applies the fifth, which acts, and the fifteen left over are dropped rather than
  // applied in a burst.
  const { ticks, clock } = schedule();
  clock.nowMs += 1_000;
  assert.is(ticks.beforeInput(5), 4);
  assert.is(ticks.atTimer(1), 1);
  assert.is(ticks.dueAtMs(10), 2_000 + 500, 'counting starts again from now');
  assert.is(ticks.beforeInput(10), 0);
});

test('a bad tick length is refused', () => {
  assert.throws(() => new TickSchedule(0, () => 0), /tickMs/);
  assert.throws(() => new TickSchedule(Number.NaN, () => 0), /tickMs/);
});

test.run();
