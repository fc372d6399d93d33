// Errors and assertions of the Raft core.
//
// Owns: the named errors the core throws. A RaftConfigError means the caller built a node wrongly (checked once, at
// construction). A RaftInvariantError means the node reached a state Raft forbids; it carries the node id, term
// and indices so the failure can be read without a debugger, and it is never caught inside the core: it is better
// to stop than to run in a wrong state.

export class RaftConfigError extends Error {
  override readonly name = 'RaftConfigError';
}

export class RaftInvariantError extends Error {
  override readonly name = 'RaftInvariantError';
}

/** The usage contract was broken (for example ready() twice without advance()). */
export class RaftUsageError extends Error {
  override readonly name = 'RaftUsageError';
}

/** The shared exhaustiveness check (src/assert.ts), under the name the core has always imported. */
export { assertNever } from '../../assert.js';

/** Throws a RaftInvariantError built lazily from `context` when `condition` is false. */
export function invariant(condition: boolean, context: () => string): asserts condition {
  if (!condition) throw new RaftInvariantError(context());
}
