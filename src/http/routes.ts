// The routing table of the gateway: (method, path, query) → a typed route, or the client's error.
//
// Owns: which routes exist, which method each takes, and the validation of path and query parameters.
// Promises: pure and total — every input maps to exactly one `Route`, invalid input to `badRequest`, an unknown
// path to `notFound`, a known path with the wrong method to `methodNotAllowed` (method is checked before
// parameters, so a DELETE of a malformed id is still a 405); a query parameter the route does not take is a
// `badRequest` that names it (`?Amount=5` is not `?amount=5`, and is never ignored). HEAD is accepted wherever GET
// is; node:http drops the body of a HEAD answer. No regular expressions: the table is a switch on the first path
// segment.

import { backupBytesPerSecondDefault, parseBytesPerSecond } from '../raft/storage/byte-rate.js';
import { actorActions, type ActorAction } from './backend.js';
import type { DashboardAsset } from './dashboard/http.js';
import {
  idMax,
  parseActorName,
  parseAmount,
  parseId,
  parseOrderId,
  parsePositiveInteger,
  parseTopic,
  type Parsed,
} from './validation.js';
import { parseCursor, parseLimit } from './order-pages.js';
import type { ItemCursor } from '../actors/order/state.js';

export type Route =
  | { readonly kind: 'lookup'; readonly id: number }
  | { readonly kind: 'list' }
  | { readonly kind: 'search'; readonly topic: string }
  | { readonly kind: 'order'; readonly item: number; readonly amount: number }
  | { readonly kind: 'getOrder'; readonly orderId: string }
  | { readonly kind: 'ordersOfItem'; readonly item: number; readonly limit: number; readonly after: ItemCursor | null }
  | { readonly kind: 'health' }
  | { readonly kind: 'ready' }
  | { readonly kind: 'cluster' }
  | { readonly kind: 'metrics' }
  | { readonly kind: 'actorAction'; readonly name: string; readonly action: ActorAction }
  | { readonly kind: 'groupMembers'; readonly group: 'catalog' | 'order' }
  | { readonly kind: 'removeMember'; readonly group: 'catalog' | 'order'; readonly name: string }
  | { readonly kind: 'addMember'; readonly group: 'catalog' | 'order' }
  | { readonly kind: 'updateItem'; readonly id: number }
  | { readonly kind: 'invalidateItem'; readonly id: number }
  | { readonly kind: 'backup'; readonly bytesPerSecond: number }
  | { readonly kind: 'dashboard'; readonly asset: DashboardAsset }
  | { readonly kind: 'events' }
  | { readonly kind: 'badRequest'; readonly error: string }
  | { readonly kind: 'notFound' }
  | { readonly kind: 'methodNotAllowed'; readonly allow: string };

export type RouteKind = Route['kind'];

// Constant routes are allocated once, not per request.
const notFound: Route = { kind: 'notFound' };
const getOnly: Route = { kind: 'methodNotAllowed', allow: 'GET, HEAD' };
const postOnly: Route = { kind: 'methodNotAllowed', allow: 'POST' };
const listRoute: Route = { kind: 'list' };
const healthRoute: Route = { kind: 'health' };
const readyRoute: Route = { kind: 'ready' };
const clusterRoute: Route = { kind: 'cluster' };
const metricsRoute: Route = { kind: 'metrics' };
const eventsRoute: Route = { kind: 'events' };
const dashboardRoutes: Readonly<Record<string, Route>> = {
  '': { kind: 'dashboard', asset: 'page' },
  'app.js': { kind: 'dashboard', asset: 'script' },
  'style.css': { kind: 'dashboard', asset: 'style' },
  'icon.svg': { kind: 'dashboard', asset: 'icon' },
};
const noQueryRoute: Route = { kind: 'badRequest', error: 'the dashboard and /events take no query parameters' };

function isGet(method: string): boolean {
  return method === 'GET' || method === 'HEAD';
}

function badRequest(rejection: { readonly error: string }): Route {
  return { kind: 'badRequest', error: rejection.error };
}

/** Builds the route when the parameter parsed, the 400 otherwise. */
function withParameter<T>(parsed: Parsed<T>, build: (value: T) => Route): Route {
  return parsed.rejected ? badRequest(parsed) : build(parsed.value);
}

function queryValue(query: string, name: string): Parsed<string | null> {
  if (query.length === 0) return { rejected: false, value: null };
  const values = new URLSearchParams(query).getAll(name);
  if (values.length > 1) return { rejected: true, error: `give "${name}" at most once` };
  return { rejected: false, value: values[0] ?? null };
}

function matchLookup(method: string, segments: readonly string[]): Route {
  if (segments.length > 3) return notFound;
  if (!isGet(method)) return getOnly;
  if (segments.length === 2) return listRoute;
  return withParameter(parseId(segments[2] as string, 'id'), (id) => ({ kind: 'lookup', id }));
}

function matchSearch(method: string, segments: readonly string[]): Route {
  if (segments.length !== 3) return notFound;
  if (!isGet(method)) return getOnly;
  return withParameter(parseTopic(segments[2] as string), (topic) => ({ kind: 'search', topic }));
}

function matchOrder(method: string, segments: readonly string[], query: string): Route {
  if (segments.length !== 3) return notFound;
  if (method !== 'POST') return postOnly;
  const item = parseId(segments[2] as string, 'item id');
  if (item.rejected) return badRequest(item);
  const amountText = queryValue(query, 'amount');
  if (amountText.rejected) return badRequest(amountText);
  return withParameter(parseAmount(amountText.value), (amount) => ({ kind: 'order', item: item.value, amount }));
}

function matchOrders(method: string, segments: readonly string[], query: string): Route {
  if (segments.length > 3) return notFound;
  if (!isGet(method)) return getOnly;
  if (segments.length === 3) {
    return withParameter(parseOrderId(segments[2] as string), (orderId) => ({ kind: 'getOrder', orderId }));
  }
  const itemText = queryValue(query, 'item');
  if (itemText.rejected) return badRequest(itemText);
  if (itemText.value === null) return { kind: 'badRequest', error: 'give the item: /orders?item=N or /orders/ORDER_ID' };
  const limitText = queryValue(query, 'limit');
  if (limitText.rejected) return badRequest(limitText);
  const afterText = queryValue(query, 'after');
  if (afterText.rejected) return badRequest(afterText);
  return withParameter(parseId(itemText.value, 'item'), (item) =>
    withParameter(parseLimit(limitText.value), (limit) =>
      withParameter(parseCursor(afterText.value), (after) => ({ kind: 'ordersOfItem', item, limit, after }))));
}

/** POST /admin/backup[?maxBytesPerSecond=N]: the pace of the copy, byte-rate.ts's default when absent. */
function matchBackup(query: string): Route {
  const paceText = queryValue(query, 'maxBytesPerSecond');
  if (paceText.rejected) return badRequest(paceText);
  if (paceText.value === null) return { kind: 'backup', bytesPerSecond: backupBytesPerSecondDefault };
  const pace = parseBytesPerSecond(paceText.value);
  return pace.ok ? { kind: 'backup', bytesPerSecond: pace.value } : { kind: 'badRequest', error: pace.error };
}

function matchAdmin(method: string, segments: readonly string[], query: string): Route {
  // /admin/actors/:name/:action, /admin/items/:id and /admin/backup
  if (segments[2] === 'backup' && segments.length === 3) return method === 'POST' ? matchBackup(query) : postOnly;
  if (segments[2] === 'actors' && segments.length === 5) {
    const action = actorActions.find((candidate) => candidate === segments[4]);
    if (action === undefined) return notFound;
    if (method !== 'POST') return postOnly;
    return withParameter(parseActorName(segments[3] as string), (name) => ({ kind: 'actorAction', name, action }));
  }
  if (segments[2] === 'groups' && segments[4] === 'members' && (segments.length === 5 || segments.length === 6)) {
    return matchMembers(method, segments);
  }
  if (segments[2] === 'items' && segments.length === 4) {
    if (method !== 'POST') return postOnly;
    return withParameter(parseId(segments[3] as string, 'item id'), (id) => ({ kind: 'updateItem', id }));
  }
  return notFound;
}

/** /admin/groups/:group/members (GET, POST) and /admin/groups/:group/members/:name (DELETE). */
function matchMembers(method: string, segments: readonly string[]): Route {
  const group = segments[3];
  if (group !== 'catalog' && group !== 'order') return { kind: 'badRequest', error: `unknown group "${String(group).slice(0, 40)}" (known: catalog, order)` };
  if (segments.length === 5) {
    if (method === 'POST') return { kind: 'addMember', group };
    return isGet(method) ? { kind: 'groupMembers', group } : { kind: 'methodNotAllowed', allow: 'GET, HEAD, POST' };
  }
  if (method !== 'DELETE') return { kind: 'methodNotAllowed', allow: 'DELETE' };
  return withParameter(parseActorName(segments[5] as string), (name) => ({ kind: 'removeMember', group, name }));
}

function matchInvalidate(method: string, segments: readonly string[]): Route {
  if (segments.length !== 4 || segments[2] !== 'item') return notFound;
  if (method !== 'POST') return postOnly;
  return withParameter(parseId(segments[3] as string, 'item id'), (id) => ({ kind: 'invalidateItem', id }));
}

function matchConstant(method: string, segments: readonly string[], route: Route): Route {
  if (segments.length !== 2) return notFound;
  return isGet(method) ? route : getOnly;
}

/** `/` and `/dashboard` are the page; `/dashboard/app.js`, `style.css` and `icon.svg` its files. */
function matchDashboard(method: string, segments: readonly string[], query: string): Route {
  const inner = segments.length === 2 ? '' : segments.length === 3 ? (segments[2] as string) : null;
  const route = inner === null ? undefined : dashboardRoutes[inner];
  if (route === undefined) return notFound;
  if (!isGet(method)) return getOnly;
  return query.length === 0 ? route : noQueryRoute;
}

function matchEvents(method: string, segments: readonly string[], query: string): Route {
  const route = matchConstant(method, segments, eventsRoute);
  return route === eventsRoute && query.length > 0 ? noQueryRoute : route;
}

const lookupPrefix = '/lookup/';

/**
 * The hottest route, `/lookup/ID` read with GET and no query, matched in place: no split, no intermediate
 * objects. Null sends every other target, and every malformed one, down the general path, which names the error.
 */
function matchLookupInPlace(method: string, target: string): Route | null {
  if (!target.startsWith(lookupPrefix) || !isGet(method)) return null;
  const id = parsePositiveInteger(target, idMax, lookupPrefix.length);
  return Number.isNaN(id) ? null : { kind: 'lookup', id };
}

/** The query parameters each route takes; a route not named here takes none. */
const routeParameters: Partial<Record<RouteKind, readonly string[]>> = {
  order: ['amount'],
  ordersOfItem: ['item', 'limit', 'after'],
  backup: ['maxBytesPerSecond'],
};

/** Routes that answer an error already, and the dashboard's, which refuse any query themselves. */
function checksOwnQuery(kind: RouteKind): boolean {
  return kind === 'badRequest' || kind === 'notFound' || kind === 'methodNotAllowed' || kind === 'dashboard' || kind === 'events';
}

/** The route, or a badRequest naming the query parameters it does not take. */
function withKnownParameters(route: Route, query: string): Route {
  if (query.length === 0 || checksOwnQuery(route.kind)) return route;
  const allowed = routeParameters[route.kind] ?? [];
  const unknown = [...new Set(new URLSearchParams(query).keys())].filter((name) => !allowed.includes(name));
  if (unknown.length === 0) return route;
  const names = unknown.slice(0, 5).map((name) => JSON.stringify(name.slice(0, 40))).join(', ');
  const takes = allowed.length === 0 ? 'this route takes no query parameters' : `this route takes only ${allowed.join(', ')}`;
  return { kind: 'badRequest', error: `unknown query parameter${unknown.length > 1 ? 's' : ''} ${names}: ${takes}` };
}

/** `target` is the request-target as node:http gives it (`req.url`): path plus optional query. */
export function matchRoute(method: string, target: string): Route {
  const lookup = matchLookupInPlace(method, target);
  if (lookup !== null) return lookup;
  const queryStart = target.indexOf('?');
  const path = queryStart < 0 ? target : target.slice(0, queryStart);
  const query = queryStart < 0 ? '' : target.slice(queryStart + 1);
  return withKnownParameters(matchPath(method, path, query), query);
}

function matchPath(method: string, path: string, query: string): Route {
  if (path.charCodeAt(0) !== 47 /* '/' */) return notFound;
  const segments = path.split('/');
  switch (segments[1]) {
    case 'lookup':
      return matchLookup(method, segments);
    case 'search':
      return matchSearch(method, segments);
    case 'order':
      return matchOrder(method, segments, query);
    case 'orders':
      return matchOrders(method, segments, query);
    case 'admin':
      return matchAdmin(method, segments, query);
    case 'invalidate':
      return matchInvalidate(method, segments);
    case 'health':
      return matchConstant(method, segments, healthRoute);
    case 'ready':
      return matchConstant(method, segments, readyRoute);
    case 'cluster':
      return matchConstant(method, segments, clusterRoute);
    case 'metrics':
      return matchConstant(method, segments, metricsRoute);
    case '':
      return segments.length === 2 ? matchDashboard(method, segments, query) : notFound;
    case 'dashboard':
      return matchDashboard(method, segments, query);
    case 'events':
      return matchEvents(method, segments, query);
    default:
      return notFound;
  }
}
