// Holding a client to the Retry-After it was given: a request that arrives on a connection shed less than
// `holdMs` ago waits until `holdMs` after that shed, and is then considered afresh (admitted or shed again).
//
// Why: a shed answer is cheap, but a client that ignores Retry-After sends again at once, and thousands of them
// turn the gateway's thread into a loop of 503s that starves the work it admitted and the cached hits beside it.
// A client that honours Retry-After never waits here: it does not send within holdMs. The first shed answer on a
// connection is always at once.
// Promises: at most one held request per connection (HTTP/1.1: the client waits for its answer) so held requests
// are bounded by the open connections; a held request resumes within holdMs + sweepMs of the shed, or is dropped
// if its connection closed meanwhile; close() releases the timer (held requests then go with their connections).
// Clock injected; sweepMs 0 means the owner sweeps by hand (tests).
import type { Socket } from 'node:net';

interface Held {
  readonly socket: Socket;
  readonly untilMs: number;
  readonly resume: () => void;
}

export class ShedHold {
  private readonly shedAtMs = new WeakMap<Socket, number>();
  private held: Held[] = [];
  private lastShedAtMs = Number.NEGATIVE_INFINITY;
  private readonly timer: NodeJS.Timeout | null;
  heldCount = 0;

  constructor(
    readonly holdMs: number,
    sweepMs: number,
    private readonly now: () => number,
  ) {
    if (!Number.isInteger(holdMs) || holdMs <= 0) throw new Error(`shed hold: holdMs must be a positive integer, got ${holdMs}`);
    if (!Number.isInteger(sweepMs) || sweepMs < 0) throw new Error(`shed hold: sweepMs must be an integer ≥ 0, got ${sweepMs}`);
    this.timer = sweepMs === 0 ? null : setInterval(() => this.sweep(), sweepMs);
    this.timer?.unref();
  }

  /** A request on this connection was just shed. */
  noteShed(socket: Socket): void {
    const nowMs = this.now();
    this.shedAtMs.set(socket, nowMs);
    this.lastShedAtMs = nowMs;
  }

  /**
   * Holds the request when its connection was shed less than holdMs ago (true: `resume` runs later); false: go on.
   * Free when nothing was shed for holdMs (one comparison).
   */
  holdIfShedRecently(socket: Socket, resume: () => void): boolean {
    const nowMs = this.now();
    if (nowMs - this.lastShedAtMs >= this.holdMs) return false;
    const shedAtMs = this.shedAtMs.get(socket);
    if (shedAtMs === undefined || nowMs - shedAtMs >= this.holdMs) return false;
    this.held.push({ socket, untilMs: shedAtMs + this.holdMs, resume });
    this.heldCount += 1;
    return true;
  }

  /** Resumes every held request whose time has come; drops those whose connection closed. Returns how many resumed. */
  sweep(): number {
    if (this.held.length === 0) return 0;
    const nowMs = this.now();
    const due: Held[] = [];
    const waiting: Held[] = [];
    for (const entry of this.held) {
      if (entry.socket.destroyed) continue;
      (entry.untilMs <= nowMs ? due : waiting).push(entry);
    }
    this.held = waiting;
    for (const entry of due) {
      this.shedAtMs.delete(entry.socket);
      entry.resume();
    }
    return due.length;
  }

  /** Requests held now. */
  get size(): number {
    return this.held.length;
  }

  close(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.held = [];
  }
}
