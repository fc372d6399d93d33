// When a replica ticks its Raft core, so that an idle replica sleeps through the ticks that only count.
//
// Owns: the instant up to which ticks have been accounted for, on a monotonic clock.
// Promises:
// - ticks follow the clock: before each input the replica applies the ticks whose time has come, so the core sees
//   ticks and messages in the order the clock gives them (a follower asked for its vote knows how long it has not
//   heard its leader);
// - the tick that acts (the one ticksUntilDue() names) is applied only when the timer fires, never while catching
//   up before an input: a thread that was stalled reads the messages that arrived meanwhile (its leader's heartbeats)
//   before it campaigns;
// - a timer that fires late applies ticks up to the one that acts and drops the rest of the time it missed, as a
//   periodic timer would: a stalled thread does not make up for lost ticks in one burst.
// Needs: the tick length and a monotonic clock (a wall clock that steps back would stop the ticks).

export class TickSchedule {
  private tickedAtMs: number;

  constructor(
    private readonly tickMs: number,
    private readonly now: () => number,
  ) {
    if (!Number.isFinite(tickMs) || tickMs <= 0) throw new RangeError(`tick schedule: tickMs must be positive, got ${tickMs}`);
    this.tickedAtMs = now();
  }

  /**
   * Ticks to apply before an input: the whole ticks since the last accounted one, but fewer than `ticksUntilDue`
   * (the due tick is the timer's). Time beyond is kept for the timer.
   */
  beforeInput(ticksUntilDue: number): number {
    return this.take(Math.min(this.elapsedTicks(), ticksUntilDue - 1));
  }

  /** Ticks to apply when the timer fires: up to and including the due one; time missed beyond it is dropped. */
  atTimer(ticksUntilDue: number): number {
    const elapsed = this.elapsedTicks();
    const count = this.take(Math.min(elapsed, ticksUntilDue));
    if (elapsed > count) this.tickedAtMs = this.now();
    return count;
  }

  /** The clock reading at which the tick `ticksUntilDue` from the last accounted one falls. */
  dueAtMs(ticksUntilDue: number): number {
    return this.tickedAtMs + ticksUntilDue * this.tickMs;
  }

  private elapsedTicks(): number {
    return Math.floor((this.now() - this.tickedAtMs) / this.tickMs);
  }

  private take(count: number): number {
    if (count <= 0) return 0;
    this.tickedAtMs += count * this.tickMs;
    return count;
  }
}
