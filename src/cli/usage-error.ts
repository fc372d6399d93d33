// A mistake in how a command was called: a flag it does not know, a value out of range, a file it cannot read. The
// `pygmy` entry prints such an error as one line with the command's name, never as a stack trace, and exits 2.

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** True for an error that says how the command was called wrongly: ours, or node:util's parseArgs's. */
export function isUsageError(error: unknown): boolean {
  if (error instanceof UsageError) return true;
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS');
}
