// The one place Pygmy's assertions are defined; every module imports them from here (the Raft core, storage and
// runtime error modules re-export them under their old names).
//
// Promises: assertions stay on in production (stopping is better than running in a wrong state); a failed one
// throws AssertionError with the message and, when given, the context as JSON; assertNever ends every exhaustive
// switch over a discriminated union, so a variant added later is a compile error where it is not handled, and a
// value that is none of them (bad data that slipped past a check) throws instead of falling through.
// Needs: nothing; it imports nothing, so any layer may use it.

export class AssertionError extends Error {
  override readonly name = 'AssertionError';
}

/** Throws AssertionError with `message` (and `context`, as JSON) when `condition` is false. */
export function assert(condition: unknown, message: string, context?: object): asserts condition {
  if (condition) return;
  const detail = context === undefined ? '' : ` ${JSON.stringify(context)}`;
  throw new AssertionError(`assertion failed: ${message}${detail}`);
}

/** The end of an exhaustive switch: `what` names the union (for example "replica message"). */
export function assertNever(value: never, what = 'variant'): never {
  throw new AssertionError(`unexpected ${what}: ${describe(value)}`);
}

function describe(value: unknown): string {
  try {
    return JSON.stringify(value)?.slice(0, 200) ?? String(value);
  } catch {
    return String(value);
  }
}
