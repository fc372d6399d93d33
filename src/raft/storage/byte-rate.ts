// The pace of a backup: at most `bytesPerSecond` on average, so the copy, its checksum and its stream leave disk
// bandwidth and CPU to the replicas' fsyncs. A token bucket, pure: the caller says how many bytes it moved and
// when (its own clock), and is told how long to wait before moving more.
//
// Promises: a caller that waits as told takes, over any stretch of time T, at most bytesPerSecond × (T + 2 ×
// burstMs) plus its last take; a rate of null never asks to wait. Bounds are checked at construction.

/** The default pace of `pygmy backup` and POST /admin/backup (docs/operations.md, "Figures", says why). */
export const backupBytesPerSecondDefault = 16 * 1024 * 1024;
/** Slower than this and a large database would outlast the backup's deadline: refused as a mistake. */
export const backupBytesPerSecondMin = 1024 * 1024;
export const backupBytesPerSecondMax = 64 * 1024 * 1024 * 1024;
/** Bytes may run ahead of the pace by this much time: steps and chunks need not be tiny. */
const burstMs = 100;

export class ByteRate {
  /** The time by which everything taken so far is paid for at the pace. */
  private paidUntilMs: number;

  constructor(
    readonly bytesPerSecond: number | null,
    nowMs: number,
  ) {
    if (bytesPerSecond !== null && !(Number.isSafeInteger(bytesPerSecond) && bytesPerSecond >= backupBytesPerSecondMin && bytesPerSecond <= backupBytesPerSecondMax)) {
      throw new RangeError(`bytesPerSecond must be an integer from ${backupBytesPerSecondMin} to ${backupBytesPerSecondMax}, got ${bytesPerSecond}`);
    }
    this.paidUntilMs = nowMs;
  }

  /** Records `bytes` moved at `nowMs`; returns how many ms to wait before moving more (0: go on). */
  take(bytes: number, nowMs: number): number {
    if (this.bytesPerSecond === null) return 0;
    // Idle time earns at most one burst of credit.
    this.paidUntilMs = Math.max(this.paidUntilMs, nowMs - burstMs) + (bytes * 1_000) / this.bytesPerSecond;
    return Math.max(0, this.paidUntilMs - nowMs - burstMs);
  }

  /** Bytes worth `ms` at the pace (for sizing steps); `fallback` without a pace. */
  bytesIn(ms: number, fallback: number): number {
    return this.bytesPerSecond === null ? fallback : Math.max(1, Math.floor((this.bytesPerSecond * ms) / 1_000));
  }
}

/** Parses a pace from text (a query parameter, a flag): an integer in range, or an error in words. */
export function parseBytesPerSecond(text: string): { readonly ok: true; readonly value: number } | { readonly ok: false; readonly error: string } {
  const value = /^\d{1,16}$/.test(text) ? Number(text) : Number.NaN;
  if (!(Number.isSafeInteger(value) && value >= backupBytesPerSecondMin && value <= backupBytesPerSecondMax)) {
    return { ok: false, error: `the backup pace must be bytes per second, an integer from ${backupBytesPerSecondMin} to ${backupBytesPerSecondMax}; got "${text.slice(0, 40)}"` };
  }
  return { ok: true, value };
}
