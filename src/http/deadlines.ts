// Request deadlines without a timer per request.
//
// Why: a setTimeout and an AbortController for every request doubled the gateway's CPU per cached lookup (timer
// lists churn as each one empties and refills). Instead, requests that start within the same slot of
// `slotWidthMs` share one AbortSignal and one timer, which fires `deadlineMs + slotWidthMs` after the slot
// opened. So every request gets at least `deadlineMs` and at most `deadlineMs + slotWidthMs`.
// Promises: `run(work)` settles with the work's outcome, or rejects with DeadlineExceededError when the slot
// expires first — even if the work ignores its signal; the signal is aborted at that moment. Open slots are
// bounded by (deadlineMs / slotWidthMs) + 2; `close()` expires them all and leaves no timer behind.
// Clock and timers are injected, so the tests step time by hand.

import { DeadlineExceededError } from './backend.js';

export interface DeadlineTimers {
  now(): number;
  setTimer(callback: () => void, delayMs: number): unknown;
  clearTimer(handle: unknown): void;
}

export const systemTimers: DeadlineTimers = {
  now: () => performance.now(),
  setTimer: (callback, delayMs) => {
    const handle = setTimeout(callback, delayMs);
    // A pending deadline alone must not keep a process alive; open sockets do that.
    handle.unref();
    return handle;
  },
  clearTimer: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/** A request still waiting; `fail` becomes null when it settles, so the slot no longer holds its response. */
interface Waiter {
  fail: ((error: Error) => void) | null;
}

class Slot {
  readonly controller = new AbortController();
  readonly waiters: Waiter[] = [];
  timer: unknown = null;
  constructor(readonly openedAtMs: number) {}
}

export class Deadlines {
  private current: Slot | null = null;
  private readonly open = new Set<Slot>();

  constructor(
    readonly deadlineMs: number,
    readonly slotWidthMs: number,
    private readonly timers: DeadlineTimers = systemTimers,
  ) {
    if (!(Number.isInteger(deadlineMs) && deadlineMs > 0)) throw new Error(`deadlineMs must be > 0, got ${deadlineMs}`);
    if (!(Number.isInteger(slotWidthMs) && slotWidthMs > 0 && slotWidthMs <= deadlineMs)) {
      throw new Error(`slotWidthMs must be in 1..deadlineMs (${deadlineMs}), got ${slotWidthMs}`);
    }
  }

  /** Open slots; at most deadlineMs / slotWidthMs + 2. */
  get openSlotCount(): number {
    return this.open.size;
  }

  run<T>(work: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const slot = this.slotForNow();
    if (slot.controller.signal.aborted) return Promise.reject(slot.controller.signal.reason as Error);
    return new Promise<T>((resolve, reject) => {
      const waiter: Waiter = { fail: reject };
      slot.waiters.push(waiter);
      work(slot.controller.signal).then(
        (value) => {
          waiter.fail = null;
          resolve(value);
        },
        (error: unknown) => {
          waiter.fail = null;
          reject(error);
        },
      );
    });
  }

  /** Expires every open slot now: waiting requests fail, no timer remains. */
  close(): void {
    for (const slot of [...this.open]) this.expire(slot);
    this.current = null;
  }

  private slotForNow(): Slot {
    const nowMs = this.timers.now();
    const current = this.current;
    if (current !== null && nowMs - current.openedAtMs < this.slotWidthMs) return current;
    this.expireOverdue(nowMs);
    const slot = new Slot(nowMs);
    slot.timer = this.timers.setTimer(() => this.expire(slot), this.deadlineMs + this.slotWidthMs);
    this.open.add(slot);
    this.current = slot;
    if (this.open.size > this.deadlineMs / this.slotWidthMs + 2) {
      throw new Error(`deadlines: ${this.open.size} open slots, more than the bound; timers are not firing`);
    }
    return slot;
  }

  /** A timer may fire late when the event loop is busy; the slot's deadline is still its deadline. */
  private expireOverdue(nowMs: number): void {
    for (const slot of this.open) {
      if (nowMs - slot.openedAtMs < this.deadlineMs + this.slotWidthMs) return;
      this.expire(slot);
    }
  }

  private expire(slot: Slot): void {
    if (!this.open.delete(slot)) return;
    this.timers.clearTimer(slot.timer);
    if (this.current === slot) this.current = null;
    const error = new DeadlineExceededError(this.deadlineMs);
    slot.controller.abort(error);
    for (const waiter of slot.waiters) {
      const fail = waiter.fail;
      waiter.fail = null;
      if (fail !== null) fail(error);
    }
    slot.waiters.length = 0;
  }
}
