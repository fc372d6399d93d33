// The watchdog of one running child: a ping over its control plane every intervalMs, and a verdict when pings
// stay unanswered for longer than timeoutMs.
//
// Owns: its interval timer and the time the unanswered ping was sent. Promises: at most one ping in flight;
// `onSilent` is called at most once, and the watchdog stops itself before calling it; stop() is idempotent.
// Needs: a clock, a ping that resolves when the worker answers, and what to do with a silent worker.

export interface WatchdogOptions {
  readonly intervalMs: number;
  readonly timeoutMs: number;
  readonly clock: () => number;
  /** Resolves when the worker answered; a rejection is ignored (the next tick judges by the time alone). */
  readonly ping: () => Promise<unknown>;
  readonly onSilent: (silentMs: number) => void;
}

export class Watchdog {
  private readonly options: WatchdogOptions;
  private timer: NodeJS.Timeout | null;
  private pingSentAtMs: number | null = null;

  constructor(options: WatchdogOptions) {
    this.options = options;
    this.timer = setInterval(() => this.watch(), options.intervalMs);
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.pingSentAtMs = null;
  }

  private watch(): void {
    if (this.timer === null) return;
    const nowMs = this.options.clock();
    if (this.pingSentAtMs === null) {
      this.pingSentAtMs = nowMs;
      this.options.ping().then(() => {
        if (this.timer !== null) this.pingSentAtMs = null;
      }, () => undefined);
      return;
    }
    const silentMs = nowMs - this.pingSentAtMs;
    if (silentMs <= this.options.timeoutMs) return;
    this.stop();
    this.options.onSilent(silentMs);
  }
}
