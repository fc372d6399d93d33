// The shared-slot request deadlines, driven by a hand-stepped clock and a fake timer table.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DeadlineExceededError, type RequestDeadline } from '../../src/http/backend.js';
import { Deadlines, type DeadlineTimers } from '../../src/http/deadlines.js';

class FakeTimers implements DeadlineTimers {
  nowMs = 0;
  private nextHandle = 1;
  readonly pending = new Map<number, { atMs: number; callback: () => void }>();
  now(): number {
    return this.nowMs;
  }
  setTimer(callback: () => void, delayMs: number): unknown {
    const handle = this.nextHandle++;
    this.pending.set(handle, { atMs: this.nowMs + delayMs, callback });
    return handle;
  }
  clearTimer(handle: unknown): void {
    this.pending.delete(handle as number);
  }
  /** Moves the clock and fires every timer that is due, in order. */
  advance(deltaMs: number): void {
    this.nowMs += deltaMs;
    const due = [...this.pending].filter(([, timer]) => timer.atMs <= this.nowMs).sort((a, b) => a[1].atMs - b[1].atMs);
    for (const [handle, timer] of due) {
      this.pending.delete(handle);
      timer.callback();
    }
  }
}

const flush = () => new Promise((resolve) => setImmediate(resolve));

test('requests in one slot share a signal and a timer; a later request opens a new slot', () => {
  // Three requests at 0, 5 and 10 ms with a 10 ms slot: the first two share, the third does not.
  const timers = new FakeTimers();
  const deadlines = new Deadlines(100, 10, timers);
  const signals: AbortSignal[] = [];
  const capture = (deadline: RequestDeadline) => {
    signals.push(deadline.signal);
    return Promise.resolve(1);
  };
  deadlines.run(capture).catch(() => undefined);
  timers.nowMs = 5;
  deadlines.run(capture).catch(() => undefined);
  timers.nowMs = 10;
  deadlines.run(capture).catch(() => undefined);
  assert.is(signals[0], signals[1]);
  assert.is.not(signals[1], signals[2]);
  assert.is(timers.pending.size, 2);
  deadlines.close();
  assert.is(timers.pending.size, 0);
});

test('work that ignores its signal is rejected at the slot deadline, never before deadlineMs', async () => {
  // A never-settling work item started at 9 ms in a slot opened at 0: rejected at 110 ms, not at 99 ms.
  const timers = new FakeTimers();
  const deadlines = new Deadlines(100, 10, timers);
  void deadlines.run(() => Promise.resolve('opens the slot at 0 ms'));
  timers.nowMs = 9;
  let seenSignal: AbortSignal | null = null;
  let outcome: unknown = 'pending';
  deadlines
    .run((deadline) => {
      seenSignal = deadline.signal;
      return new Promise<never>(() => undefined);
    })
    .catch((error: unknown) => (outcome = error));
  timers.advance(99 - 9);
  await flush();
  assert.is(outcome, 'pending');
  assert.is((seenSignal as AbortSignal | null)?.aborted, false);
  timers.advance(11);
  await flush();
  assert.instance(outcome, DeadlineExceededError);
  assert.is((seenSignal as AbortSignal | null)?.aborted, true);
});

test('work that settles in time keeps its own outcome, and the slot no longer holds it', async () => {
  // Resolves one request and rejects another before the deadline; expiry later changes neither.
  const timers = new FakeTimers();
  const deadlines = new Deadlines(50, 5, timers);
  let finishSlow: (value: string) => void = () => {};
  const slow = deadlines.run(() => new Promise<string>((resolve) => (finishSlow = resolve)));
  const fine = deadlines.run(() => Promise.resolve('answer'));
  const broken = deadlines.run(() => Promise.reject(new TypeError('bug'))).catch((error: unknown) => error);
  assert.is(deadlines.waitingCount, 3);
  assert.is(await fine, 'answer');
  assert.instance(await broken, TypeError);
  assert.is(deadlines.waitingCount, 1, 'a settled request is let go at once, not at the slot deadline');
  finishSlow('late but in time');
  assert.is(await slow, 'late but in time');
  assert.is(deadlines.waitingCount, 0);
  assert.is(deadlines.openSlotCount, 1);
  timers.advance(60);
  assert.is(deadlines.openSlotCount, 0);
});

test('late timers cannot pile up slots: overdue ones expire when a new slot opens', () => {
  // Timers never fire here (as under a blocked event loop); opening slots over 1 s keeps the count bounded.
  const timers = new FakeTimers();
  const deadlines = new Deadlines(100, 10, timers);
  for (let step = 0; step < 100; step += 1) {
    timers.nowMs = step * 10;
    deadlines.run(() => Promise.resolve(step)).catch(() => undefined);
    assert.ok(deadlines.openSlotCount <= 12, `open slots ${deadlines.openSlotCount} at ${timers.nowMs} ms`);
  }
  deadlines.close();
});

test('the deadline handed to the work counts down the time to its expiry, on the injected clock', async () => {
  // A request at 4 ms in a slot opened at 0 (deadline 100, slot 10): it expires at 110, so it has 106 ms left at
  // 4, 56 at 54, and 0 from 110 on (never negative); the signal aborts at the same instant remainingMs reaches 0.
  const timers = new FakeTimers();
  const deadlines = new Deadlines(100, 10, timers);
  deadlines.run(() => Promise.resolve('opens the slot at 0 ms')).catch(() => undefined);
  timers.nowMs = 4;
  let seen: RequestDeadline | null = null;
  const outcome = deadlines.run((deadline) => {
    seen = deadline;
    return new Promise<never>(() => undefined);
  }).catch((error: unknown) => error);
  const deadline = seen as unknown as RequestDeadline;
  assert.is(deadline.remainingMs(), 106);
  timers.advance(50);
  assert.is(deadline.remainingMs(), 56);
  assert.is(deadline.signal.aborted, false);
  timers.advance(56);
  assert.is(deadline.remainingMs(), 0);
  assert.is(deadline.signal.aborted, true);
  timers.advance(40);
  assert.is(deadline.remainingMs(), 0, 'never negative');
  assert.instance(await outcome, DeadlineExceededError);
});

test('construction rejects a slot wider than the deadline', () => {
  // The bound is checked when the object is made, not when the first request comes.
  assert.throws(() => new Deadlines(10, 20), /slotWidthMs/);
  assert.throws(() => new Deadlines(0, 1), /deadlineMs/);
});

test.run();
