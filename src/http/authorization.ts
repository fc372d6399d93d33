// Who may use which route of the gateway: the bookstore routes, the probes, and the operations routes.
//
// The rule (DESIGN.md §1):
// - The bookstore routes (/lookup, /search, /order, /orders) are open to every client.
// - The probes (/health, /ready) are always open, token or not, so a load balancer can ask them; they answer
//   with their status only.
// - Every other operations route (/cluster, /metrics, /events, /admin/*, /invalidate/*) needs
//   `Authorization: Bearer <admin token>` whenever a token is configured, wherever the gateway listens and
//   whoever connects: a reverse proxy on this host does not open them. With no token they answer only when the
//   gateway listens on loopback (only this host can reach them), and `admin: 'off'` turns them off entirely.
// - The dashboard's files (page, script, style, icon) hold no data: they are served unless `admin: 'off'`,
//   without the token, so that the page can load and ask for it. Their data comes from /events and
//   the admin routes, which follow the rule above.
// Pure functions; the gateway supplies the listener's address and the request's header.

import { createHash, timingSafeEqual } from 'node:crypto';
import type { RouteKind } from './routes.js';
import { assertNever } from '../assert.js';

export type Authorization =
  | { readonly kind: 'allowed' }
  | { readonly kind: 'refused'; readonly status: 401 | 403; readonly error: string };

/** What a route is, for the rule above. */
export type Access = 'public' | 'probe' | 'operations' | 'operationsPage';

/** `off` turns every operations route but the probes off, token or not (`--admin off`). */
export type AdminMode = 'on' | 'off';

/** `--admin on|off` as the CLI gives it (absent: on); null for anything else. */
export function parseAdminMode(text: string | undefined): AdminMode | null {
  if (text === undefined || text === 'on') return 'on';
  return text === 'off' ? 'off' : null;
}

export interface AccessPolicy {
  readonly mode: AdminMode;
  /** SHA-256 of the admin token; null when none is set (an empty PYGMY_ADMIN_TOKEN counts as none). */
  readonly tokenDigest: Buffer | null;
  /** The gateway listens on a loopback address (only this host can connect). */
  readonly loopbackListener: boolean;
}

const allowed: Authorization = { kind: 'allowed' };
const refusedOff: Authorization = { kind: 'refused', status: 403, error: 'operations routes are off on this gateway (--admin off)' };
const refusedNoToken: Authorization = {
  kind: 'refused',
  status: 403,
  error: 'operations routes are off on a non-loopback listener until PYGMY_ADMIN_TOKEN is set',
};
const refusedMissing: Authorization = { kind: 'refused', status: 401, error: 'operations routes need "Authorization: Bearer <token>"' };
const refusedWrong: Authorization = { kind: 'refused', status: 401, error: 'wrong admin token' };

export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.') || host.startsWith('::ffff:127.');
}

export function accessOf(kind: RouteKind): Access {
  switch (kind) {
    case 'lookup':
    case 'list':
    case 'search':
    case 'order':
    case 'getOrder':
    case 'ordersOfItem':
    case 'badRequest':
    case 'notFound':
    case 'methodNotAllowed':
      return 'public';
    case 'health':
    case 'ready':
      return 'probe';
    case 'cluster':
    case 'metrics':
    case 'events':
    case 'actorAction':
    case 'groupMembers':
    case 'removeMember':
    case 'addMember':
    case 'updateItem':
    case 'invalidateItem':
    case 'backup':
      return 'operations';
    case 'dashboard':
      return 'operationsPage';
    default:
      return assertNever(kind);
  }
}

export function accessPolicy(options: { readonly mode: AdminMode; readonly adminToken: string | null; readonly loopbackListener: boolean }): AccessPolicy {
  const token = options.adminToken;
  const tokenDigest = token === null || token.length === 0 ? null : createHash('sha256').update(token).digest();
  return { mode: options.mode, tokenDigest, loopbackListener: options.loopbackListener };
}

/**
 * Compares in time that depends only on the lengths of the digests, not on where the texts differ: both sides
 * are hashed first, so neither the token's length nor its prefix leaks through timing.
 */
function digestMatches(given: string, expectedDigest: Buffer): boolean {
  return timingSafeEqual(createHash('sha256').update(given).digest(), expectedDigest);
}

/** The token of `Authorization: Bearer <token>` (scheme case-insensitive, RFC 6750), or null. */
export function bearerToken(header: string | undefined): string | null {
  if (header === undefined || header.length < 7 || header.slice(0, 7).toLowerCase() !== 'bearer ') return null;
  const token = header.slice(7).trim();
  return token.length === 0 ? null : token;
}

/** May a request for a route of this kind, with this Authorization header, be answered under this policy? */
export function authorizeRoute(policy: AccessPolicy, kind: RouteKind, authorizationHeader: string | undefined): Authorization {
  const access = accessOf(kind);
  switch (access) {
    case 'public':
    case 'probe':
      return allowed;
    case 'operationsPage':
      return policy.mode === 'off' ? refusedOff : allowed;
    case 'operations':
      return authorizeOperation(policy, authorizationHeader);
    default:
      return assertNever(access);
  }
}

function authorizeOperation(policy: AccessPolicy, authorizationHeader: string | undefined): Authorization {
  if (policy.mode === 'off') return refusedOff;
  if (policy.tokenDigest === null) return policy.loopbackListener ? allowed : refusedNoToken;
  const token = bearerToken(authorizationHeader);
  if (token === null) return refusedMissing;
  return digestMatches(token, policy.tokenDigest) ? allowed : refusedWrong;
}
