// Single-flight: concurrent requests for one key share one in-progress load.
//
// Promises: while a load for a key is in flight, every further call for that key gets the same promise, and the
// load function is not called again; when it settles (either way) the key is forgotten, so the next call loads
// afresh. At most inFlightMax keys load at once; past that a call is refused with SingleFlightBusyError rather
// than queued, so the backlog has a known bound. Needs nothing: no timers, no clock.

export class SingleFlightBusyError extends Error {
  override readonly name = 'SingleFlightBusyError';
  constructor(readonly inFlightMax: number) {
    super(`single-flight is full: ${inFlightMax} keys are already loading`);
  }
}

export class SingleFlight<T> {
  private readonly inFlight = new Map<string, Promise<T>>();
  /** Loads forgotten while in flight: no new caller joins them, but they count toward the bound until settled. */
  private detached = 0;

  constructor(readonly inFlightMax: number) {
    if (!Number.isSafeInteger(inFlightMax) || inFlightMax <= 0) {
      throw new RangeError(`inFlightMax must be a positive integer, got ${inFlightMax}`);
    }
  }

  get size(): number {
    return this.inFlight.size + this.detached;
  }

  /** Keys with a load in flight that new callers would join. */
  keys(): string[] {
    return [...this.inFlight.keys()];
  }

  /**
   * New callers for `key` start a fresh load instead of joining the one in flight. For a caller that arrives after
   * an invalidation, joining a load that began before it could answer data older than the invalidation.
   */
  forget(key: string): void {
    const promise = this.inFlight.get(key);
    if (promise === undefined) return;
    this.inFlight.delete(key);
    this.detached += 1;
    const settle = () => {
      this.detached -= 1;
    };
    promise.then(settle, settle);
  }

  /** Joins the load in flight for `key`, or starts `load` if none is; `shared` says which happened. */
  run(key: string, load: () => Promise<T>): { readonly promise: Promise<T>; readonly shared: boolean } {
    const existing = this.inFlight.get(key);
    if (existing !== undefined) return { promise: existing, shared: true };
    if (this.size >= this.inFlightMax) throw new SingleFlightBusyError(this.inFlightMax);
    // A load that throws synchronously must still settle the promise and free its slot.
    const promise = Promise.resolve()
      .then(load)
      .finally(() => {
        if (this.inFlight.get(key) === promise) this.inFlight.delete(key);
      });
    this.inFlight.set(key, promise);
    return { promise, shared: false };
  }
}
