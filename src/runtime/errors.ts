// Runtime errors: one class per failure a caller may want to handle, each with a stable `code` string.
//
// Contract: errors cross thread boundaries as plain data ({ name, code, message }) because structured clone
// keeps neither the prototype nor custom fields reliably; `toErrorData` and `fromErrorData` are the only
// converters, and they round-trip every class here. Callers test with `isRuntimeError(error, code)` rather
// than `instanceof`, so an error rebuilt in another thread, or carried over JSON, still matches.

export type RuntimeErrorCode =
  | 'ASK_TIMEOUT'
  | 'MAILBOX_FULL'
  | 'ACTOR_UNAVAILABLE'
  | 'ACTOR_CRASHED'
  | 'REMOTE_ERROR';

export class RuntimeError extends Error {
  readonly code: RuntimeErrorCode;
  constructor(code: RuntimeErrorCode, message: string) {
    super(message);
    this.code = code;
    this.name = new.target.name;
  }
}

/** The ask's deadline passed before a reply arrived. */
export class AskTimeoutError extends RuntimeError {
  constructor(message: string) {
    super('ASK_TIMEOUT', message);
  }
}

/** The target's mailbox was at capacity; the message was refused, not queued. */
export class MailboxFullError extends RuntimeError {
  constructor(message: string) {
    super('MAILBOX_FULL', message);
  }
}

/** The target is unknown, stopped, restarting or isolated: refused at once, never left to time out. */
export class ActorUnavailableError extends RuntimeError {
  constructor(message: string) {
    super('ACTOR_UNAVAILABLE', message);
  }
}

/** The target crashed while the ask was queued or being handled (its handler threw, or its worker died). */
export class ActorCrashedError extends RuntimeError {
  constructor(message: string) {
    super('ACTOR_CRASHED', message);
  }
}

/** A rejection chosen by the target's own code (a deferred reply rejected with an ordinary error). */
export class RemoteError extends RuntimeError {
  constructor(message: string) {
    super('REMOTE_ERROR', message);
  }
}

export interface ErrorData {
  readonly name: string;
  readonly code: string;
  readonly message: string;
}

const constructorsByCode: Record<RuntimeErrorCode, new (message: string) => RuntimeError> = {
  ASK_TIMEOUT: AskTimeoutError,
  MAILBOX_FULL: MailboxFullError,
  ACTOR_UNAVAILABLE: ActorUnavailableError,
  ACTOR_CRASHED: ActorCrashedError,
  REMOTE_ERROR: RemoteError,
};

export function toErrorData(error: unknown): ErrorData {
  if (error instanceof RuntimeError) return { name: error.name, code: error.code, message: error.message };
  if (error instanceof Error) return { name: 'RemoteError', code: 'REMOTE_ERROR', message: error.message };
  return { name: 'RemoteError', code: 'REMOTE_ERROR', message: String(error) };
}

export function fromErrorData(data: ErrorData): RuntimeError {
  const known = Object.prototype.hasOwnProperty.call(constructorsByCode, data.code);
  const Constructor = known ? constructorsByCode[data.code as RuntimeErrorCode] : RemoteError;
  return new Constructor(data.message);
}

export function isRuntimeError(error: unknown, code: RuntimeErrorCode): boolean {
  if (typeof error !== 'object' || error === null) return false;
  return (error as { code?: unknown }).code === code;
}

/** The shared assertions (src/assert.ts), under the names the runtime has always imported. */
export { assert, assertNever } from '../assert.js';
