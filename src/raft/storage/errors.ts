// The named errors of Raft storage, and the assertion helper that throws them.
//
// A replica that meets one of these stops: it must never acknowledge a write that is not on disk, nor run on data
// it cannot trust. Each error carries the facts needed to diagnose it without a debugger.

export type DiskFaultCode = 'EIO' | 'ENOSPC';

/** An error whose message ends with the facts behind it, also kept as `details`. */
abstract class DetailedError extends Error {
  constructor(
    message: string,
    readonly details: Readonly<Record<string, unknown>>,
  ) {
    super(`${message} ${JSON.stringify(details)}`);
  }
}

/** The database holds data that fails its checksums or SQLite's own checks. The replica must not start. */
export class StorageCorruptionError extends DetailedError {
  override readonly name = 'StorageCorruptionError';
}

/** A write transaction failed and was rolled back: nothing of it is on disk, and nothing of it may be acknowledged. */
export class StorageWriteError extends Error {
  override readonly name = 'StorageWriteError';
  constructor(
    readonly code: DiskFaultCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${code}: ${message}`, options);
  }
}

/** A caller or the storage itself broke an invariant of the Raft log. This is a bug, never an environment problem. */
export class StorageInvariantError extends DetailedError {
  override readonly name = 'StorageInvariantError';
}

/** Assertions stay on in production: stopping is better than running in a wrong state. */
export function assertInvariant(
  condition: boolean,
  message: string,
  details: Readonly<Record<string, unknown>> = {},
): asserts condition {
  if (!condition) throw new StorageInvariantError(message, details);
}

/** The shared exhaustiveness check (src/assert.ts), under the name storage has always imported. */
export { assertNever } from '../../assert.js';
