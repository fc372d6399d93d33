// Retrying after a 503 the way the gateway asks: honour Retry-After, back off exponentially, add jitter.
//
// Owns: the delay before the next attempt, and the reading of a Retry-After header. Promises: the delay is at
// least the server's Retry-After (capped at retryAfterMsMax, so a garbage header cannot park a client for hours)
// and at least the exponential step for this attempt (baseMs · 2^(attempt−1), capped at stepMsMax), plus up to
// half of that again at random, so clients shed together do not come back together. Pure: randomness is a
// parameter (a function returning [0, 1)).

export interface BackoffOptions {
  /** 1 for the wait after the first failed attempt. */
  readonly attempt: number;
  /** The Retry-After header of the answer, if any. */
  readonly retryAfter: string | null | undefined;
  readonly random: () => number;
  readonly baseMs?: number;
  readonly stepMsMax?: number;
  readonly retryAfterMsMax?: number;
}

export const backoffBaseMsDefault = 100;
export const backoffStepMsMaxDefault = 5_000;
export const retryAfterMsMaxDefault = 30_000;

/** Retry-After as milliseconds: delta-seconds only (what the gateway sends); null when absent or unreadable. */
export function parseRetryAfterMs(header: string | null | undefined): number | null {
  if (header === null || header === undefined) return null;
  const text = header.trim();
  if (!/^\d{1,6}$/.test(text)) return null;
  return Number(text) * 1_000;
}

export function backoffDelayMs(options: BackoffOptions): number {
  const baseMs = options.baseMs ?? backoffBaseMsDefault;
  const stepMsMax = options.stepMsMax ?? backoffStepMsMaxDefault;
  const retryAfterMsMax = options.retryAfterMsMax ?? retryAfterMsMaxDefault;
  if (!(Number.isInteger(options.attempt) && options.attempt >= 1)) throw new Error(`backoff: attempt must be a positive integer, got ${options.attempt}`);
  const stepMs = Math.min(stepMsMax, baseMs * 2 ** Math.min(30, options.attempt - 1));
  const retryAfterMs = Math.min(retryAfterMsMax, parseRetryAfterMs(options.retryAfter) ?? 0);
  const floorMs = Math.max(stepMs, retryAfterMs);
  const random = options.random();
  const share = Number.isFinite(random) ? Math.min(Math.max(random, 0), 1) : 0.5;
  return Math.round(floorMs + (floorMs / 2) * share);
}

/**
 * What a 503 to an order says of it (DESIGN.md §1): `not-taken` when the gateway turned it away before it started
 * (`x-order-outcome: not-taken` — certainly nothing was bought), `unknown` otherwise (poll or repeat by its id).
 */
export function order503Outcome(headers: { get(name: string): string | null }): 'not-taken' | 'unknown' {
  return headers.get('x-order-outcome') === 'not-taken' ? 'not-taken' : 'unknown';
}
