// The HTTP gateway: a node:http server that speaks the contract of DESIGN.md §1 and calls a `Backend`.
//
// Owns: parsing, validation and authorization of requests, the request deadline, the exact answers, per-request
// logs and metrics, and the server's protection against slow or oversized clients.
// Promises:
// - no input makes it answer 500 or crash: bad input is 400/404/405/413, and any backend failure — unavailable,
//   past the deadline, or unexpected — is 503 with Retry-After (unexpected ones are logged as errors);
// - every backend call gets an AbortSignal that fires at the request deadline (within a slot of a few ms, see
//   deadlines.ts), and the client gets its 503 then even when the backend ignores the signal;
// - slow, idle and half-open connections are closed (the server's timeouts and a sweep); connections are capped;
// - the probes and the scrape are never starved by client traffic: on the client port they are answered even on a
//   connection past connectionsMax, and the optional operations listener (its own port, accept queue and
//   connection cap, outside client admission and the client connection count) serves only operations routes.
// Needs: a Backend, a pino logger. The cached lookup path is kept lean (benchmarked against bare node:http):
// constant header objects, no regular expressions, metric label children reused.

import { createServer, type IncomingMessage, type Server, type ServerOptions, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { accessPolicy, authorizeRoute, isLoopbackHost, type AccessPolicy, type AdminMode } from './authorization.js';
import {
  DeadlineExceededError,
  UnavailableError,
  UnknownActorError,
  MembershipRefusedError,
  type Backend,
  type ReadAnswer,
  type Item,
  type OrdersPageRequest,
} from './backend.js';
import { encodeCursor } from './order-pages.js';
import * as bodies from './bodies.js';
import { DashboardFeed, type FeedOptions } from './dashboard/feed.js';
import { DashboardHttp } from './dashboard/http.js';
import { Deadlines } from './deadlines.js';
import { LruMap } from '../actors/cache/lru.js';
import { answerClientError } from './client-error.js';
import { Admission, admissionClassOf, checkClassBounds, defaultAdmissionBounds, type AdmissionBounds, type AdmittedClass } from './admission.js';
import { ConnectionLimit, listenBacklogFor, readSomaxconn, type ListenBacklog } from './connections.js';
import { serveBackup } from './backup-route.js';
import { IdleConnections } from './idle-connections.js';
import { EpisodeLog, foldedSuffix } from '../runtime/log-episodes.js';
import { GatewayMetrics, type RouteMetrics } from './metrics.js';
import { orderIdMaker } from './order-id.js';
import { matchRoute, type Route, type RouteKind } from './routes.js';
import { isPrintableToken, orderKeyLengthMax, parseIdempotencyKey, parseItemChange, parseMemberRequest } from './validation.js';

export interface GatewayLimits {
  /** A request body above this is refused with 413 and the connection is closed. */
  readonly bodyBytesMax: number;
  /** The whole request head must arrive within this (slowloris protection). */
  readonly headersTimeoutMs: number;
  /** The whole request, head and body, must arrive within this. */
  readonly requestTimeoutMs: number;
  /** An idle keep-alive connection is closed after this. */
  readonly keepAliveTimeoutMs: number;
  /**
   * A connection on which nothing moves for this long (no byte read, no write completed) is closed: a half-open
   * one, one that never sent a byte, or a client that stopped reading its response. Swept, not timed per socket.
   */
  readonly socketIdleTimeoutMs: number;
  readonly headerBytesMax: number;
  /** Connections served at once; a request on one past it is answered 503 + Connection: close (connections.ts). */
  readonly connectionsMax: number;
  /** Connections past connectionsMax held only to answer them 503; past both, node:http drops new ones. */
  readonly connectionsRefusedMax: number;
  /** The listen socket's backlog: a burst of new connections waits there, not in SYN retries (capped by somaxconn). */
  readonly listenBacklog: number;
  /** The value of Retry-After on a 503. */
  readonly retryAfterSeconds: number;
  /** Connections the operations listener serves at once (probes, scrapers, operators); past it node:http drops. */
  readonly operationsConnectionsMax: number;
  /** Characters of rendered list and search bodies kept together for reuse (~bytes: the JSON is ASCII-heavy). */
  readonly renderedBodiesCharsMax: number;
}

export const defaultGatewayLimits: GatewayLimits = {
  bodyBytesMax: 64 * 1024,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 5_000,
  socketIdleTimeoutMs: 60_000,
  headerBytesMax: 16 * 1024,
  connectionsMax: 4_096,
  connectionsRefusedMax: 4_096,
  listenBacklog: 4_096,
  retryAfterSeconds: 1,
  operationsConnectionsMax: 64,
  renderedBodiesCharsMax: 16 * 1024 * 1024,
};

export interface GatewayOptions {
  readonly backend: Backend;
  readonly logger: Logger;
  /** Default 127.0.0.1. */
  readonly host?: string;
  /** Default 34800; 0 picks a free port. */
  readonly port?: number;
  /**
   * Token every operations route but /health and /ready needs, wherever the gateway listens; null or empty: none,
   * and then they answer only on a loopback listener (authorization.ts).
   */
  readonly adminToken?: string | null;
  /** `off` turns the operations routes off, token or not (/health and /ready stay). Default `on`. */
  readonly admin?: AdminMode;
  /** Deadline of every request, passed to the backend as an AbortSignal. Default 3000 ms. */
  readonly requestDeadlineMs?: number;
  /** Requests starting within this many ms share one deadline timer; default a tenth of the deadline, ≤ 25 ms. */
  readonly deadlineSlotMs?: number;
  readonly metricsRegistry?: Registry;
  /** Apply the non-loopback rule for operations routes even on a loopback address (used by tests). */
  readonly treatAsNonLoopback?: boolean;
  readonly limits?: Partial<GatewayLimits>;
  /** Timing and bounds of the dashboard's live feed (src/http/dashboard/feed.ts); defaults suit the demo. */
  readonly dashboard?: Omit<FeedOptions, 'clusterStatus' | 'sampler'>;
  /** Admission bounds per class of work (admission.ts); defaults in defaultAdmissionBounds. */
  readonly admission?: Partial<AdmissionBounds>;
  /** The clock admission control measures latency with; performance.now() by default (tests step their own). */
  readonly admissionClock?: () => number;
  /** net.core.somaxconn; read from /proc by default (tests pass their own). */
  readonly somaxconn?: number | null;
  /**
   * The operations listener: a second port that serves only the operations routes (/health, /ready, /metrics,
   * /cluster, admin, dashboard) under the same token rule, judged by its own address. It has its own accept queue
   * and connection cap (limits.operationsConnectionsMax), and client connections and admission never count it, so
   * a flood on the client port cannot starve it. Absent or null: none (the client port serves them as well).
   */
  readonly operations?: OperationsListener | null;
}

export interface OperationsListener {
  /** Default: the gateway's host. */
  readonly host?: string;
  /** 0 picks a free port. */
  readonly port: number;
}

export interface GatewayAddresses {
  readonly host: string;
  readonly port: number;
  readonly backlog: ListenBacklog;
  /** Where the operations listener listens; null when there is none. */
  readonly operations: { readonly host: string; readonly port: number } | null;
}

export interface Gateway {
  readonly server: Server;
  readonly metrics: GatewayMetrics;
  /** The admission limits per class of work, as they stand (admission.ts). */
  readonly admission: Admission;
  /** The dashboard's live feed (`GET /events`). */
  readonly dashboard: DashboardFeed;
  /** Entries and characters of the rendered bodies kept for reuse (bounded by limits.renderedBodiesCharsMax). */
  renderedBodiesHeld(): { readonly entries: number; readonly chars: number };
  listen(): Promise<GatewayAddresses>;
  close(): Promise<void>;
}

function assert(condition: boolean, message: string): asserts condition {
  if (!condition) throw new Error(`gateway: ${message}`);
}

function assertNever(value: never): never {
  throw new Error(`gateway: unhandled route ${JSON.stringify(value)}`);
}

function checkLimits(limits: GatewayLimits, requestDeadlineMs: number): void {
  for (const [name, value] of Object.entries(limits)) {
    assert(Number.isInteger(value) && value > 0, `limit ${name} must be a positive integer, got ${value}`);
  }
  assert(limits.headersTimeoutMs <= limits.requestTimeoutMs, 'headersTimeoutMs must not exceed requestTimeoutMs');
  assert(Number.isInteger(requestDeadlineMs) && requestDeadlineMs > 0, 'requestDeadlineMs must be a positive integer');
}

// Header objects are built once: node:http copies them into the response head without keeping them.
/** Queries whose last rendered list or search body the gateway keeps (topics are few; this bounds odd ones). */
const renderedBodiesMax = 256;

interface RenderedBody {
  readonly index: number;
  readonly body: string;
}

/** A repeated warning (a 503 answered, work shed) is written at most once per this interval, with a count. */
const episodeLogIntervalMs = 10_000;

const jsonType = 'application/json';
const jsonHeaders = { 'content-type': jsonType };
const hitHeaders = { 'content-type': jsonType, 'x-cache': 'HIT' };
const missHeaders = { 'content-type': jsonType, 'x-cache': 'MISS' };
const tooLargeHeaders = { 'content-type': jsonType, connection: 'close' };
/** A refused request whose body is left unread: the connection cannot be reused. */
const closeHeaders = { 'content-type': jsonType, connection: 'close' };
const unauthorizedHeaders = { 'content-type': jsonType, 'www-authenticate': 'Bearer' };

/**
 * The headers as node:http's flat `[name, value, …]` list, with the body's length. Why not `{ ...headers,
 * 'content-length': n }`: that object's hidden class was new to V8 on most replies, so the spread (V8's
 * DefineNamedOwnIC slow path) and node:http's for-in over the result (Runtime_ForInEnumerate) both went through
 * V8's runtime, 1.6% of the process's samples under uncached lookups.
 */
function withLength(headers: Record<string, string>, body: string): Array<string | number> {
  const list: Array<string | number> = [];
  for (const name of Object.keys(headers)) list.push(name, headers[name]!);
  list.push('content-length', Buffer.byteLength(body));
  return list;
}

function cacheHeaders(answer: ReadAnswer<unknown>): Record<string, string> {
  if (answer.cache === 'HIT') return hitHeaders;
  if (answer.servedBy === null) return missHeaders;
  return { 'content-type': jsonType, 'x-cache': 'MISS', 'x-served-by': answer.servedBy };
}

function describeRead(answer: ReadAnswer<unknown>): string {
  if (answer.cache === 'HIT') return 'cache hit';
  return answer.servedBy === null ? 'cache miss' : `cache miss, served by ${answer.servedBy}`;
}

function isUnavailable(error: unknown): boolean {
  return (
    error instanceof UnavailableError ||
    error instanceof DeadlineExceededError ||
    (error instanceof Error && (error.name === 'AbortError' || error.name === 'TimeoutError'))
  );
}

/** Routes a prober or a scraper must reach on a connection past connectionsMax: they start no client work. */
function isProbe(kind: RouteKind): boolean {
  return kind === 'health' || kind === 'ready' || kind === 'metrics';
}

/** Every route but the item update takes no body (routes that are already errors answer their own error). */
function takesNoBody(kind: RouteKind): boolean {
  return kind !== 'updateItem' && kind !== 'addMember' && kind !== 'badRequest' && kind !== 'notFound' && kind !== 'methodNotAllowed';
}

/** True when the request says a body follows (a non-zero Content-Length, or any Transfer-Encoding). */
function mayCarryBody(request: IncomingMessage): boolean {
  const length = request.headers['content-length'];
  return (length !== undefined && length !== '0') || request.headers['transfer-encoding'] !== undefined;
}

/** Reads a request body up to `bytesMax`; resolves null (and stops reading) when it is larger. */
function readBody(request: IncomingMessage, bytesMax: number): Promise<string | null> {
  const headers = request.headers;
  if (headers['content-length'] === '0') return Promise.resolve('');
  if (headers['content-length'] === undefined && headers['transfer-encoding'] === undefined) {
    return Promise.resolve('');
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let bytes = 0;
    const onData = (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes > bytesMax) {
        request.off('data', onData);
        request.pause();
        resolve(null);
        return;
      }
      chunks.push(chunk);
    };
    request.on('data', onData);
    request.once('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    request.once('error', reject);
  });
}

class GatewayHandler {
  readonly metrics: GatewayMetrics;
  private readonly backend: Backend;
  private readonly logger: Logger;
  private readonly limits: GatewayLimits;
  readonly deadlines: Deadlines;
  private readonly access: AccessPolicy;
  /** The rule on the operations listener, judged by that listener's own address; null without one. */
  private readonly operationsAccess: AccessPolicy | null;
  private readonly unavailableHeaders: Record<string, string>;
  /**
   * Bodies of list and search answers already written, by query, with the catalog index they reflect. An answer
   * is a function of its query and that index (ReadAnswer.index), so one at an index already rendered reuses the
   * body instead of encoding every item again: encoding was most of the gateway thread's work per cached search
   * (a topic is some 200 items). The index goes with the next read of the query as `knownIndex`, so an answer
   * still at it comes back unchanged, without its items. At most renderedBodiesMax queries; the least recently
   * used goes first (a linked list, not a Map's delete-and-set per hit; see src/actors/cache/lru.ts), and at most
   * limits.renderedBodiesCharsMax characters together (renderedBodiesChars); a body larger than that is not kept.
   */
  private readonly renderedBodies = new LruMap<string, RenderedBody>();
  private renderedBodiesChars = 0;
  /** Ids for orders without an Idempotency-Key: time first, so the replicas' tables append (see order-id.ts). */
  private readonly newOrderId = orderIdMaker();
  /** The lookup route's metrics, kept so a near-cache hit needs no map lookup. */
  private readonly lookupMetrics: RouteMetrics;
  readonly dashboard: DashboardHttp;
  private readonly unavailableEpisodes = new EpisodeLog(episodeLogIntervalMs);
  private readonly shedEpisodes = new EpisodeLog(episodeLogIntervalMs);
  readonly admission: Admission;
  private readonly admissionNow: () => number;
  readonly connections: ConnectionLimit;
  private readonly shedOrderHeaders: Record<string, string>;
  private readonly refusedHeaders: Record<string, string>;
  private readonly refusedOrderHeaders: Record<string, string>;
  private readonly shedOrderBody: string;
  private readonly shedReadBody: string;
  private readonly refusedBody: string;

  constructor(options: GatewayOptions, limits: GatewayLimits, loopback: boolean) {
    this.backend = options.backend;
    this.logger = options.logger;
    this.limits = limits;
    const deadlineMs = options.requestDeadlineMs ?? 3_000;
    checkLimits(limits, deadlineMs);
    this.deadlines = new Deadlines(deadlineMs, options.deadlineSlotMs ?? Math.max(1, Math.min(25, Math.floor(deadlineMs / 10))));
    this.access = accessPolicy({ mode: options.admin ?? 'on', adminToken: options.adminToken ?? null, loopbackListener: loopback });
    const operations = options.operations ?? null;
    const operationsLoopback = operations !== null && isLoopbackHost(operations.host ?? options.host ?? '127.0.0.1') && options.treatAsNonLoopback !== true;
    this.operationsAccess = operations === null ? null : accessPolicy({ mode: options.admin ?? 'on', adminToken: options.adminToken ?? null, loopbackListener: operationsLoopback });
    this.metrics = new GatewayMetrics(options.metricsRegistry);
    this.lookupMetrics = this.metrics.forRoute('lookup');
    this.unavailableHeaders = { 'content-type': jsonType, 'retry-after': String(limits.retryAfterSeconds) };
    // An order turned away before it started: certainly not taken, so no x-order-id to poll (DESIGN.md §1).
    this.shedOrderHeaders = { ...this.unavailableHeaders, 'x-order-outcome': 'not-taken' };
    this.refusedHeaders = { ...this.unavailableHeaders, connection: 'close' };
    this.refusedOrderHeaders = { ...this.shedOrderHeaders, connection: 'close' };
    // Shed answers are built once: under a flood they are most of what the gateway writes.
    const retry = `retry after ${limits.retryAfterSeconds} s`;
    this.shedOrderBody = bodies.errorBody(`overloaded: the order was not taken (nothing was bought); ${retry}`);
    this.shedReadBody = bodies.errorBody(`overloaded: the read was not started; ${retry}`);
    this.refusedBody = bodies.errorBody(`too many connections (over ${limits.connectionsMax}); ${retry}`);
    const bounds: AdmissionBounds = { ...defaultAdmissionBounds, ...options.admission };
    checkClassBounds('admission.order', bounds.order);
    checkClassBounds('admission.read', bounds.read);
    this.admissionNow = options.admissionClock ?? (() => performance.now());
    this.admission = new Admission(bounds, this.admissionNow());
    this.connections = new ConnectionLimit(limits.connectionsMax);
    const feedOptions = { ...options.dashboard, clusterStatus: () => this.backend.cluster(), sampler: this.metrics.live };
    this.dashboard = new DashboardHttp(new DashboardFeed(feedOptions));
  }

  /** The request listener; never throws and never leaves a request unanswered. */
  handle(request: IncomingMessage, response: ServerResponse): void {
    const started = performance.now();
    const route = matchRoute(request.method ?? 'GET', request.url ?? '/');
    const declaredLength = request.headers['content-length'];
    if (declaredLength !== undefined && Number(declaredLength) > this.limits.bodyBytesMax) {
      this.replyTooLarge(response, route.kind, started);
      return;
    }
    if (this.connections.isOverLimit(request.socket) && !isProbe(route.kind)) {
      this.refuseConnection(response, route.kind, started);
      return;
    }
    if (!this.authorize(request, response, route.kind, started)) return;
    // A near-cache hit is answered here and now: no promise, no closure, nothing for the event loop to run later.
    if (route.kind === 'lookup' && this.answerNearHit(response, route.id, started)) return;
    const workClass = admissionClassOf(route.kind);
    const admittedAtMs = workClass === null ? 0 : this.admissionNow();
    if (workClass !== null && !this.admission.tryAdmit(workClass, admittedAtMs)) {
      this.shed(response, route.kind, workClass, started);
      return;
    }
    const work = mayCarryBody(request) && takesNoBody(route.kind) ? this.dispatchWithoutBody(route, request, response, started) : this.dispatch(route, request, response, started);
    const settled = work.catch((error: unknown) => this.fail(response, route.kind, started, error, request.url ?? ''));
    if (workClass !== null) void settled.then(() => this.admission.complete(workClass, admittedAtMs, this.admissionNow()));
  }

  /**
   * The request listener of the operations listener: operations routes only (a client route is 404 naming the
   * client port), never admitted or shed, authorized by the rule of this listener's address.
   */
  handleOperations(request: IncomingMessage, response: ServerResponse): void {
    const started = performance.now();
    const route = matchRoute(request.method ?? 'GET', request.url ?? '/');
    const declaredLength = request.headers['content-length'];
    if (declaredLength !== undefined && Number(declaredLength) > this.limits.bodyBytesMax) {
      this.replyTooLarge(response, route.kind, started);
      return;
    }
    if (admissionClassOf(route.kind) !== null) {
      void this.reply(response, 'notFound', started, 404, jsonHeaders, bodies.errorBody('the operations listener serves operations routes only; bookstore routes are on the client port'));
      return;
    }
    if (!this.authorizeWith(this.operationsAccess!, request, response, route.kind, started)) return;
    const work = mayCarryBody(request) && takesNoBody(route.kind) ? this.dispatchWithoutBody(route, request, response, started) : this.dispatch(route, request, response, started);
    void work.catch((error: unknown) => this.fail(response, route.kind, started, error, request.url ?? ''));
  }

  /**
   * A route that takes no body, sent one: 400 naming it (and the connection closes, unread). A chunked request may
   * turn out empty, so it is read (bounded) before being judged.
   */
  private async dispatchWithoutBody(route: Route, request: IncomingMessage, response: ServerResponse, started: number): Promise<void> {
    const declared = request.headers['content-length'];
    const body = declared === undefined ? await readBody(request, this.limits.bodyBytesMax) : null;
    if (body === '') return this.dispatch(route, request, response, started);
    const what = `${request.method ?? ''} ${(request.url ?? '').split('?')[0]}`;
    const hint = route.kind === 'order' ? ' (the amount goes in the query: ?amount=N)' : '';
    return this.reply(response, route.kind, started, 400, closeHeaders, bodies.errorBody(`${what} takes no request body${hint}`));
  }

  /** Work over its class's admission bound, answered at once: never started, so an order is certainly not taken. */
  private shed(response: ServerResponse, kind: RouteKind, workClass: AdmittedClass, started: number): void {
    const limit = this.admission.classes[workClass];
    const note = this.shedEpisodes.note(performance.now());
    if (note.write) {
      this.logger.info({ event: 'shed', workClass, inFlightLimit: limit.limit }, `gateway: overloaded, shedding ${workClass} work over ${limit.limit} in flight (answered 503)${foldedSuffix(note)}`);
    }
    const order = workClass === 'order';
    void this.reply(response, kind, started, 503, order ? this.shedOrderHeaders : this.unavailableHeaders, order ? this.shedOrderBody : this.shedReadBody);
  }

  /** A request on a connection past connectionsMax: 503, then the connection closes. Nothing was started. */
  private refuseConnection(response: ServerResponse, kind: RouteKind, started: number): void {
    const headers = kind === 'order' ? this.refusedOrderHeaders : this.refusedHeaders;
    void this.reply(response, kind, started, 503, headers, this.refusedBody);
  }

  private dispatch(route: Route, request: IncomingMessage, response: ServerResponse, started: number): Promise<void> {
    switch (route.kind) {
      case 'lookup':
        // handle() has already tried the near cache.
        return this.lookupThroughBackend(response, route.id, started);
      case 'list':
        return this.list(response, started);
      case 'search':
        return this.search(response, route.topic, started);
      case 'order':
        return this.order(request, response, route, started);
      case 'getOrder':
        return this.getOrder(response, route.orderId, started);
      case 'ordersOfItem':
        return this.ordersOfItem(response, route.item, { limit: route.limit, after: route.after }, started);
      case 'health':
        return this.reply(response, 'health', started, 200, jsonHeaders, bodies.okBody);
      case 'ready':
        return this.ready(response, started);
      case 'cluster':
        return this.cluster(response, started);
      case 'metrics':
        return this.scrape(response, started);
      case 'actorAction':
        return this.actorAction(response, route, started);
      case 'groupMembers':
      case 'removeMember':
        return this.members(response, route, started);
      case 'addMember':
        return this.addMember(request, response, route.group, started);
      case 'updateItem':
        return this.updateItem(request, response, route.id, started);
      case 'invalidateItem':
        return this.invalidateItem(response, route.id, started);
      case 'backup':
        return serveBackup(this.backend, response, this.logger, route.bytesPerSecond).then((status) => this.recorded('backup', started, status));
      case 'dashboard':
        return this.recorded('dashboard', started, this.dashboard.serveAsset(response, route.asset));
      case 'events':
        return this.recorded('events', started, this.dashboard.serveEvents(request, response));
      case 'badRequest':
        return this.reply(response, 'badRequest', started, 400, jsonHeaders, bodies.errorBody(route.error));
      case 'notFound':
        return this.reply(response, 'notFound', started, 404, jsonHeaders, bodies.errorBody('no such route'));
      case 'methodNotAllowed':
        return this.methodNotAllowed(request, response, route.allow, started);
      default:
        return assertNever(route);
    }
  }

  /**
   * A near-cache hit is written at once: no deadline, no await, headers and body prepared with the entry. False
   * when the near cache does not hold the item (the caller then asks the backend).
   */
  private answerNearHit(response: ServerResponse, id: number, started: number): boolean {
    const near = this.backend.nearLookup?.(id);
    if (near === undefined) return false;
    this.metrics.recordCache('HIT');
    if (this.logger.isLevelEnabled('debug')) this.logger.debug(`lookup/${id}: cache hit`);
    if (response.writableEnded || response.destroyed) return true;
    response.writeHead(near.status, near.headers);
    response.end(near.body);
    this.lookupMetrics.record(near.status, (performance.now() - started) / 1000);
    return true;
  }

  private async lookupThroughBackend(response: ServerResponse, id: number, started: number): Promise<void> {
    const answer = await this.deadlines.run((signal) => this.backend.lookup(id, signal));
    this.metrics.recordCache(answer.cache);
    if (this.logger.isLevelEnabled('debug')) this.logger.debug(`lookup/${id}: ${describeRead(answer)}`);
    const item: Item | null = answer.result;
    if (item === null) {
      return this.reply(response, 'lookup', started, 404, cacheHeaders(answer), bodies.lookupNotFoundBody);
    }
    assert(item.id === id, `backend answered lookup ${id} with item ${item.id}`);
    return this.reply(response, 'lookup', started, 200, cacheHeaders(answer), bodies.lookupBody(item, answer.topics));
  }

  private async list(response: ServerResponse, started: number): Promise<void> {
    const { answer, body } = await this.readItems('list', (signal, knownIndex) => this.backend.list(signal, knownIndex));
    this.metrics.recordCache(answer.cache);
    if (this.logger.isLevelEnabled('debug')) this.logger.debug(`lookup: ${describeRead(answer)}`);
    return this.reply(response, 'list', started, 200, cacheHeaders(answer), body);
  }

  private async search(response: ServerResponse, topic: string, started: number): Promise<void> {
    const read = (signal: AbortSignal, knownIndex: number | undefined) => this.backend.search(topic, signal, knownIndex);
    const { answer, body } = await this.readItems(`search/${topic}`, read);
    this.metrics.recordCache(answer.cache);
    if (this.logger.isLevelEnabled('debug')) {
      this.logger.debug(`search/${JSON.stringify(topic)}: ${describeRead(answer)}`);
    }
    return this.reply(response, 'search', started, 200, cacheHeaders(answer), body);
  }

  /**
   * A list or search answer and its body: the body rendered for this query, when the answer is still at its index
   * (the read names that index, so such an answer comes back unchanged, without items), or a new one.
   */
  private async readItems(
    query: string,
    read: (signal: AbortSignal, knownIndex: number | undefined) => Promise<ReadAnswer<readonly Item[]>>,
  ): Promise<{ answer: ReadAnswer<readonly Item[]>; body: string }> {
    // Held from before the read: the body stays the answer at its index even if the map lets it go meanwhile.
    const rendered = this.renderedBodies.get(query);
    const answer = await this.deadlines.run((signal) => read(signal, rendered?.index));
    if (rendered !== undefined && rendered.index === answer.index) return { answer, body: rendered.body };
    // Unchanged against an index other than the one named would mean serving an answer we do not have.
    assert(answer.unchanged !== true, `${query}: answered unchanged at index ${answer.index}, but ${rendered?.index ?? 'none'} was named`);
    const body = bodies.itemsBody(answer.result, answer.topics);
    this.keepRendered(query, { index: answer.index, body });
    return { answer, body };
  }

  /** Keeps a rendered body within renderedBodiesMax entries and limits.renderedBodiesCharsMax characters. */
  private keepRendered(query: string, rendered: RenderedBody): void {
    const renderedBodiesCharsMax = this.limits.renderedBodiesCharsMax;
    const previous = this.renderedBodies.peek(query);
    if (previous !== undefined) {
      this.renderedBodies.delete(query);
      this.renderedBodiesChars -= previous.body.length;
    }
    if (rendered.body.length > renderedBodiesCharsMax) return;
    this.renderedBodies.set(query, rendered);
    this.renderedBodiesChars += rendered.body.length;
    while (this.renderedBodies.size > renderedBodiesMax || this.renderedBodiesChars > renderedBodiesCharsMax) {
      const oldest = this.renderedBodies.oldestKey()!;
      this.renderedBodiesChars -= this.renderedBodies.peek(oldest)!.body.length;
      this.renderedBodies.delete(oldest);
    }
  }

  /** Characters and entries of the rendered bodies kept (tests, metrics). */
  renderedBodiesHeld(): { readonly entries: number; readonly chars: number } {
    return { entries: this.renderedBodies.size, chars: this.renderedBodiesChars };
  }

  private async order(
    request: IncomingMessage,
    response: ServerResponse,
    route: { readonly item: number; readonly amount: number },
    started: number,
  ): Promise<void> {
    const key = parseIdempotencyKey(request.headers['idempotency-key']);
    if (key.rejected) return this.reply(response, 'order', started, 400, jsonHeaders, bodies.errorBody(key.error));
    const orderId = key.value ?? this.newOrderId();
    const headers = { 'content-type': jsonType, 'x-order-id': orderId };
    let outcome;
    try {
      outcome = await this.deadlines.run((signal) => this.backend.order(route.item, route.amount, orderId, signal));
    } catch (error) {
      // Taken but not answered (unavailable, past the deadline, or an unexpected failure): the order may yet settle
      // either way, so the client gets its name to follow it.
      if (isUnavailable(error)) {
        // One line per episode, as for every 503 (fail()); the order's own line is debug.
        const note = this.unavailableEpisodes.note(performance.now());
        const reason = error instanceof Error ? error.message : String(error);
        if (note.write) this.logger.warn(`order ${orderId}: outcome unknown (${reason}), answered 503${foldedSuffix(note)}`);
        else if (this.logger.isLevelEnabled('debug')) this.logger.debug(`order ${orderId}: outcome unknown (${reason}), answered 503`);
      } else this.logger.error({ err: error }, `order ${orderId}: unexpected failure, outcome unknown, answered 503`);
      const unknownHeaders = { ...headers, 'retry-after': String(this.limits.retryAfterSeconds) };
      return this.reply(response, 'order', started, 503, unknownHeaders, bodies.orderUnknownBody(orderId));
    }
    assert(outcome.orderId === orderId, `backend answered order ${orderId} as ${outcome.orderId}`);
    assert(isPrintableToken(outcome.orderId, orderKeyLengthMax), 'order id is not a printable token');
    if (outcome.firstRequest !== undefined) {
      const body = bodies.keyReusedBody(orderId, outcome.firstRequest, route);
      return this.reply(response, 'order', started, 422, headers, body);
    }
    // No line here: the order replica that settled it writes the order's line (with its price), once.
    // `false` is "not bought"; the reason tells a stock refusal from a deadline's (which says nothing of the stock).
    const answerHeaders = outcome.reason === undefined || !isPrintableToken(outcome.reason, 64) ? headers : { ...headers, 'x-order-reason': outcome.reason };
    return this.reply(response, 'order', started, 200, answerHeaders, outcome.bought ? 'true' : 'false');
  }

  private async getOrder(response: ServerResponse, orderId: string, started: number): Promise<void> {
    const order = await this.deadlines.run((signal) => this.backend.getOrder(orderId, signal));
    if (order === null) return this.reply(response, 'getOrder', started, 404, jsonHeaders, bodies.orderNotFoundBody);
    return this.reply(response, 'getOrder', started, 200, jsonHeaders, bodies.orderBody(order));
  }

  private async ordersOfItem(response: ServerResponse, item: number, page: OrdersPageRequest, started: number): Promise<void> {
    const answer = await this.deadlines.run((signal) => this.backend.ordersOfItem(item, page, signal));
    return this.reply(response, 'ordersOfItem', started, 200, jsonHeaders, bodies.ordersBody(answer.orders, answer.next === null ? null : encodeCursor(answer.next)));
  }

  private async ready(response: ServerResponse, started: number): Promise<void> {
    const ready = await this.deadlines.run(() => this.backend.ready());
    if (ready) return this.reply(response, 'ready', started, 200, jsonHeaders, bodies.okBody);
    const body = bodies.errorBody('not ready: a group has no leader or the gateway cannot serve');
    return this.reply(response, 'ready', started, 503, this.unavailableHeaders, body);
  }

  private async cluster(response: ServerResponse, started: number): Promise<void> {
    const status = await this.deadlines.run(() => this.backend.cluster());
    const body = '{"ok":true,"result":' + JSON.stringify(status) + '}';
    return this.reply(response, 'cluster', started, 200, jsonHeaders, body);
  }

  /** The scrape still answers when the cluster status does not: gateway metrics matter most then. */
  private async scrape(response: ServerResponse, started: number): Promise<void> {
    const status = await this.deadlines.run(() => this.backend.cluster()).catch((error: unknown) => {
      this.logger.warn({ err: error }, 'metrics: cluster status unavailable, scraping without it');
      return null;
    });
    this.metrics.updateCluster(status);
    const text = await this.metrics.text();
    return this.reply(response, 'metrics', started, 200, { 'content-type': this.metrics.contentType }, text);
  }

  /** GET the group's configuration, or DELETE a member; 409 with the reason when the leader refuses the change. */
  private async members(
    response: ServerResponse,
    route: Extract<Route, { kind: 'groupMembers' | 'removeMember' }>,
    started: number,
  ): Promise<void> {
    const backend = this.backend;
    if (backend.members === undefined || backend.removeMember === undefined) {
      return this.reply(response, route.kind, started, 404, jsonHeaders, bodies.errorBody('this gateway runs no replica groups'));
    }
    try {
      const view = route.kind === 'groupMembers'
        ? await this.deadlines.run(() => backend.members!(route.group))
        : await this.deadlines.run(() => backend.removeMember!(route.group, route.name));
      if (route.kind === 'removeMember') this.logger.info(`admin: removed ${route.name} from the ${route.group} group`);
      return this.reply(response, route.kind, started, 200, jsonHeaders, '{"ok":true,"result":' + JSON.stringify(view) + '}');
    } catch (error) {
      if (!(error instanceof MembershipRefusedError)) throw error;
      return this.reply(response, route.kind, started, 409, jsonHeaders, bodies.errorBody(error.message));
    }
  }

  /** POST {"name","node"?,"promote"?}: adds a learner and (unless promote is false) promotes it once caught up. */
  private async addMember(request: IncomingMessage, response: ServerResponse, group: 'catalog' | 'order', started: number): Promise<void> {
    const body = await readBody(request, this.limits.bodyBytesMax);
    if (body === null) return this.replyTooLarge(response, 'addMember', started);
    const asked = parseMemberRequest(body);
    if (asked.rejected) return this.reply(response, 'addMember', started, 400, jsonHeaders, bodies.errorBody(asked.error));
    const backend = this.backend;
    if (backend.addMember === undefined) {
      return this.reply(response, 'addMember', started, 404, jsonHeaders, bodies.errorBody('this gateway cannot add members'));
    }
    try {
      const view = await this.deadlines.run(() => backend.addMember!(group, asked.value));
      this.logger.info(`admin: added ${asked.value.name} to the ${group} group${asked.value.promote ? '' : ' as a learner'}`);
      return this.reply(response, 'addMember', started, 200, jsonHeaders, '{"ok":true,"result":' + JSON.stringify(view) + '}');
    } catch (error) {
      if (!(error instanceof MembershipRefusedError)) throw error;
      return this.reply(response, 'addMember', started, 409, jsonHeaders, bodies.errorBody(error.message));
    }
  }

  private async actorAction(
    response: ServerResponse,
    route: Extract<Route, { kind: 'actorAction' }>,
    started: number,
  ): Promise<void> {
    try {
      await this.deadlines.run(() => this.backend.actorAction(route.name, route.action));
    } catch (error) {
      if (!(error instanceof UnknownActorError)) throw error;
      return this.reply(response, 'actorAction', started, 404, jsonHeaders, bodies.errorBody(error.message));
    }
    this.logger.info(`admin: ${route.action} ${route.name}`);
    return this.reply(response, 'actorAction', started, 200, jsonHeaders, bodies.okBody);
  }

  private async updateItem(
    request: IncomingMessage,
    response: ServerResponse,
    id: number,
    started: number,
  ): Promise<void> {
    const body = await readBody(request, this.limits.bodyBytesMax);
    if (body === null) return this.replyTooLarge(response, 'updateItem', started);
    const change = parseItemChange(body);
    if (change.rejected) {
      return this.reply(response, 'updateItem', started, 400, jsonHeaders, bodies.errorBody(change.error));
    }
    const result = await this.deadlines.run((signal) => this.backend.updateItem(id, change.value, signal));
    if (!result.ok && result.reason === 'unknownItem') {
      return this.reply(response, 'updateItem', started, 404, jsonHeaders, bodies.errorBody(`unknown item ${id}`));
    }
    if (!result.ok) {
      return this.reply(response, 'updateItem', started, 409, jsonHeaders, bodies.errorBody(`item ${id}: ${result.detail}`));
    }
    this.logger.info(`admin: item ${id} updated with ${JSON.stringify(change.value)}`);
    return this.reply(response, 'updateItem', started, 200, jsonHeaders, bodies.okBody);
  }

  private async invalidateItem(response: ServerResponse, id: number, started: number): Promise<void> {
    await this.deadlines.run(() => this.backend.invalidateItem(id));
    this.logger.info(`invalidate item ${id}`);
    return this.reply(response, 'invalidateItem', started, 200, jsonHeaders, bodies.okBody);
  }

  private methodNotAllowed(
    request: IncomingMessage,
    response: ServerResponse,
    allow: string,
    started: number,
  ): Promise<void> {
    const body = bodies.errorBody(`method ${request.method ?? ''} not allowed here; use ${allow}`);
    return this.reply(response, 'methodNotAllowed', started, 405, { 'content-type': jsonType, allow }, body);
  }

  /** Metrics of an answer its route wrote itself (the dashboard's files and stream). */
  private recorded(kind: RouteKind, started: number, status: number): Promise<void> {
    this.metrics.forRoute(kind).record(status, (performance.now() - started) / 1000);
    return Promise.resolve();
  }

  private authorize(request: IncomingMessage, response: ServerResponse, kind: RouteKind, started: number): boolean {
    return this.authorizeWith(this.access, request, response, kind, started);
  }

  private authorizeWith(access: AccessPolicy, request: IncomingMessage, response: ServerResponse, kind: RouteKind, started: number): boolean {
    const decision = authorizeRoute(access, kind, request.headers.authorization);
    if (decision.kind === 'allowed') return true;
    const headers = decision.status === 401 ? unauthorizedHeaders : jsonHeaders;
    void this.reply(response, kind, started, decision.status, headers, bodies.errorBody(decision.error));
    return false;
  }

  /** 413, then the connection closes (node:http ends it after a `connection: close` answer): we stop reading. */
  private replyTooLarge(response: ServerResponse, kind: RouteKind, started: number): Promise<void> {
    const body = bodies.errorBody(`request body larger than ${this.limits.bodyBytesMax} bytes`);
    return this.reply(response, kind, started, 413, tooLargeHeaders, body);
  }

  private fail(response: ServerResponse, kind: RouteKind, started: number, error: unknown, target: string): void {
    if (isUnavailable(error)) {
      // One line per episode: under a flood or an outage every request would otherwise write one.
      const note = this.unavailableEpisodes.note(performance.now());
      const reason = error instanceof Error ? error.message : String(error);
      if (note.write) this.logger.warn(`${target.slice(1)}: unavailable (${reason}), answered 503${foldedSuffix(note)}`);
      else if (this.logger.isLevelEnabled('debug')) this.logger.debug(`${target.slice(1)}: unavailable (${reason}), answered 503`);
    } else {
      this.logger.error({ err: error }, `${target.slice(1)}: unexpected failure, answered 503`);
    }
    if (response.headersSent) {
      response.destroy();
      return;
    }
    const body = bodies.errorBody('service unavailable: no replica or no quorum answered in time; retry later');
    void this.reply(response, kind, started, 503, this.unavailableHeaders, body);
  }

  private reply(
    response: ServerResponse,
    kind: RouteKind,
    started: number,
    status: number,
    headers: Record<string, string>,
    body: string,
  ): Promise<void> {
    // The client may have gone, or the server may be closing: then there is nobody to answer.
    if (response.writableEnded || response.destroyed) return Promise.resolve();
    // An explicit length lets node:http send head and body in one write instead of chunked framing.
    response.writeHead(status, withLength(headers, body));
    response.end(body);
    this.metrics.forRoute(kind).record(status, (performance.now() - started) / 1000);
    return Promise.resolve();
  }
}

/** How often idle connections are looked for: a quarter of the idle limit, between 10 ms and 1 s. */
function idleSweepMs(idleMs: number): number {
  return Math.max(10, Math.min(1_000, Math.floor(idleMs / 4)));
}

export function createGateway(options: GatewayOptions): Gateway {
  const limits: GatewayLimits = { ...defaultGatewayLimits, ...options.limits };
  const host = options.host ?? '127.0.0.1';
  const loopback = isLoopbackHost(host) && options.treatAsNonLoopback !== true;
  const handler = new GatewayHandler(options, limits, loopback);
  const server = createServer(serverOptions(limits), (request, response) => handler.handle(request, response));
  // Past connectionsMax a connection is still accepted, to answer it 503 (connections.ts); past both, dropped.
  server.maxConnections = limits.connectionsMax + limits.connectionsRefusedMax;
  // No per-socket idle timer (node:http re-arms it on every request): idle connections are swept instead.
  server.timeout = 0;
  server.keepAliveTimeout = limits.keepAliveTimeoutMs;
  const idle = new IdleConnections(limits.socketIdleTimeoutMs, idleSweepMs(limits.socketIdleTimeoutMs), () => performance.now());
  server.on('connection', (socket: Socket) => {
    idle.add(socket);
    handler.connections.add(socket);
  });
  server.on('clientError', answerClientError);
  const backlog = listenBacklogFor(limits.listenBacklog, options.somaxconn === undefined ? readSomaxconn() : options.somaxconn);
  handler.metrics.watchGateway({ admission: handler.admission, connections: handler.connections, backlog });
  const operations = options.operations ?? null;
  const operationsServer = operations === null ? null : createOperationsServer(limits, handler, idle);
  return {
    server,
    metrics: handler.metrics,
    admission: handler.admission,
    dashboard: handler.dashboard.feed,
    renderedBodiesHeld: () => handler.renderedBodiesHeld(),
    listen: async () => {
      const client = await listen(server, host, options.port ?? 34_800, backlog.effective);
      if (operationsServer === null) return { ...client, backlog, operations: null };
      try {
        const operationsAddress = await listen(operationsServer, operations!.host ?? host, operations!.port, limits.operationsConnectionsMax);
        return { ...client, backlog, operations: operationsAddress };
      } catch (error) {
        await close(server);
        throw error;
      }
    },
    close: async () => {
      idle.close();
      handler.deadlines.close();
      handler.dashboard.feed.close();
      handler.metrics.close();
      await Promise.all([close(server), operationsServer === null ? undefined : close(operationsServer)]);
    },
  };
}

function serverOptions(limits: GatewayLimits): ServerOptions {
  return {
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    maxHeaderSize: limits.headerBytesMax,
    // headersTimeout and requestTimeout are enforced by a periodic sweep; sweep often enough for them to bite.
    connectionsCheckingInterval: Math.max(10, Math.min(1_000, Math.floor(limits.headersTimeoutMs / 4))),
  };
}

/** The operations listener's server: the same timeouts and idle sweep, its own small connection cap. */
function createOperationsServer(limits: GatewayLimits, handler: GatewayHandler, idle: IdleConnections): Server {
  const server = createServer(serverOptions(limits), (request, response) => handler.handleOperations(request, response));
  server.maxConnections = limits.operationsConnectionsMax;
  server.timeout = 0;
  server.keepAliveTimeout = limits.keepAliveTimeoutMs;
  server.on('connection', (socket: Socket) => idle.add(socket));
  server.on('clientError', answerClientError);
  return server;
}

function listen(server: Server, host: string, port: number, backlog: number): Promise<{ host: string; port: number }> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port, host, backlog }, () => {
      server.off('error', reject);
      const address = server.address() as AddressInfo;
      resolve({ host: address.address, port: address.port });
    });
  });
}

/** Stops accepting, then closes every connection, idle or not: in-flight requests are cut, not awaited. */
function close(server: Server): Promise<void> {
  return new Promise((resolve, reject) => {
    if (!server.listening) {
      resolve();
      return;
    }
    server.close((error) => (error ? reject(error) : resolve()));
    server.closeAllConnections();
  });
}
