// Request deadlines without a timer per request.
//
// Why: a setTimeout and an AbortController for every request doubled the gateway's CPU per cached lookup (timer
// lists churn as each one empties and refills). Instead, requests that start within the same slot of
// `slotWidthMs` share one AbortSignal and one timer, which fires `deadlineMs + slotWidthMs` after the slot
// opened. So every request gets at least `deadlineMs` and at most `deadlineMs + slotWidthMs`.
// Promises: `run(work)` hands the work its RequestDeadline — the one deadline of the request, carried to every
// ask the backend makes as time remaining (`remainingMs()`, on this module's monotonic clock) — and settles with
// the work's outcome, or rejects with DeadlineExceededError when the slot expires first, even if the work ignores
// its deadline; the deadline's signal is aborted at that moment. `remainingMs()` never promises more than the slot
// gives (it counts down to the slot's expiry). Open slots are bounded by (deadlineMs / slotWidthMs) + 2;
// `close()` expires them all and leaves no timer behind.
// Clock and timers are injected, so the tests step time by hand.

import { DeadlineExceededError, type RequestDeadline } from './backend.js';

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

/** A request still waiting, linked into its slot until it settles. */
class Waiter {
  older: Waiter | null = null;
  newer: Waiter | null = null;
  constructor(readonly fail: (error: Error) => void) {}
}

/**
 * The requests that started within one slot's width: one signal, one timer, and the requests still waiting. A
 * request that settles unlinks itself, so the slot holds nothing of it afterwards: an array of every request of
 * the slot kept them all for the whole deadline, and under load those records were promoted to the old
 * generation by the thousand, only to die there.
 */
class Slot implements RequestDeadline {
  readonly controller = new AbortController();
  timer: unknown = null;
  private newest: Waiter | null = null;
  private count = 0;
  /** The slot's requests all expire at this instant of the clock. */
  readonly expiresAtMs: number;
  constructor(readonly openedAtMs: number, lifetimeMs: number, private readonly now: () => number) {
    this.expiresAtMs = openedAtMs + lifetimeMs;
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  remainingMs(): number {
    return Math.max(0, this.expiresAtMs - this.now());
  }

  /** Requests of this slot still waiting. */
  get waiting(): number {
    return this.count;
  }

  add(fail: (error: Error) => void): Waiter {
    const waiter = new Waiter(fail);
    waiter.older = this.newest;
    if (this.newest !== null) this.newest.newer = waiter;
    this.newest = waiter;
    this.count += 1;
    return waiter;
  }

  /** Unlinks the waiter; nothing if it is no longer linked (every linked waiter but the newest has a newer one). */
  remove(waiter: Waiter): void {
    if (waiter.newer === null && waiter !== this.newest) return;
    if (waiter.newer === null) this.newest = waiter.older;
    else waiter.newer.older = waiter.older;
    if (waiter.older !== null) waiter.older.newer = waiter.newer;
    waiter.older = null;
    waiter.newer = null;
    this.count -= 1;
  }

  /** Unlinks every request still waiting; oldest first. */
  takeAll(): Waiter[] {
    const all: Waiter[] = [];
    while (this.newest !== null) {
      const waiter = this.newest;
      this.remove(waiter);
      all.push(waiter);
    }
    return all.reverse();
  }
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

  /** Requests still waiting in open slots (settled ones are not held). */
  get waitingCount(): number {
    let waiting = 0;
    for (const slot of this.open) waiting += slot.waiting;
    return waiting;
  }

  run<T>(work: (deadline: RequestDeadline) => Promise<T>): Promise<T> {
    const slot = this.slotForNow();
    if (slot.controller.signal.aborted) return Promise.reject(slot.controller.signal.reason as Error);
    return new Promise<T>((resolve, reject) => {
      const waiter = slot.add(reject);
      work(slot).then(
        (value) => {
          slot.remove(waiter);
          resolve(value);
        },
        (error: unknown) => {
          slot.remove(waiter);
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
    const slot = new Slot(nowMs, this.deadlineMs + this.slotWidthMs, () => this.timers.now());
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
    for (const waiter of slot.takeAll()) waiter.fail(error);
  }
}
