// Who may use the operations routes (/health, /ready, /cluster, /metrics, /admin/*, /invalidate/*).
//
// The rule (DESIGN.md §1): on a loopback address they are open, since only this host can reach them. Anywhere
// else they need `Authorization: Bearer <admin token>`, and they are off when no token is configured, so a
// gateway exposed by mistake cannot be driven to kill replicas. Pure functions; the gateway supplies the facts.

import { createHash, timingSafeEqual } from 'node:crypto';

export type Authorization =
  | { readonly kind: 'allowed' }
  | { readonly kind: 'refused'; readonly status: 401 | 403; readonly error: string };

const allowed: Authorization = { kind: 'allowed' };

export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.') || host.startsWith('::ffff:127.');
}

/**
 * Compares in time that depends only on the lengths of the digests, not on where the texts differ: both sides
 * are hashed first, so neither the token's length nor its prefix leaks through timing.
 */
export function constantTimeEqual(given: string, expected: string): boolean {
  const givenDigest = createHash('sha256').update(given).digest();
  const expectedDigest = createHash('sha256').update(expected).digest();
  return timingSafeEqual(givenDigest, expectedDigest);
}

export function authorizeOperation(facts: {
  readonly loopback: boolean;
  readonly adminToken: string | null;
  readonly authorizationHeader: string | undefined;
}): Authorization {
  if (facts.loopback) return allowed;
  if (facts.adminToken === null || facts.adminToken.length === 0) {
    return {
      kind: 'refused',
      status: 403,
      error: 'operations routes are off on a non-loopback address until PYGMY_ADMIN_TOKEN is set',
    };
  }
  const header = facts.authorizationHeader;
  const prefix = 'Bearer ';
  if (header === undefined || !header.startsWith(prefix)) {
    return { kind: 'refused', status: 401, error: 'operations routes need "Authorization: Bearer <token>"' };
  }
  if (!constantTimeEqual(header.slice(prefix.length), facts.adminToken)) {
    return { kind: 'refused', status: 401, error: 'wrong admin token' };
  }
  return allowed;
}
