// The HTTP gateway: a node:http server that speaks the contract of DESIGN.md §1 and calls a `Backend`.
//
// Owns: the server, its limits and its protection against slow or oversized clients; routing, authorization,
// admission and the request deadline. The answers are written by the handler groups in src/http/handlers/:
// catalog reads, orders, operations, the dashboard.
// Promises:
// - no input makes it answer 500 or crash: bad input is 400/404/405/413, and any backend failure — unavailable,
//   past the deadline, or unexpected — is 503 with Retry-After (unexpected ones are logged as errors);
// - every request has one deadline, made here on the monotonic clock (deadlines.ts, within a slot of a few ms):
//   every backend call gets it as a RequestDeadline (time remaining, and a signal aborted when it passes), and
//   the client gets its 503 then even when the backend ignores it;
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
import type { Backend } from './backend.js';
import * as bodies from './bodies.js';
import type { DashboardFeed, FeedOptions } from './dashboard/feed.js';
import { Deadlines } from './deadlines.js';
import { answerClientError } from './client-error.js';
import { Admission, admissionClassOf, checkClassBounds, defaultAdmissionBounds, type AdmissionBounds, type AdmittedClass } from './admission.js';
import { ConnectionLimit, listenBacklogFor, readSomaxconn, type ListenBacklog } from './connections.js';
import { IdleConnections } from './idle-connections.js';
import { EpisodeLog, foldedSuffix } from '../runtime/log-episodes.js';
import { GatewayMetrics } from './metrics.js';
import { matchRoute, type Route, type RouteKind } from './routes.js';
import { CatalogReads } from './handlers/catalog-reads.js';
import { DashboardRoutes } from './handlers/dashboard.js';
import { OperationsRoutes } from './handlers/operations.js';
import { OrderRoutes } from './handlers/orders.js';
import {
  assert,
  closeHeaders,
  episodeLogIntervalMs,
  jsonHeaders,
  jsonType,
  mayCarryBody,
  readBody,
  Responder,
  takesNoBody,
  unauthorizedHeaders,
} from './handlers/reply.js';
import { assertNever } from '../assert.js';

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
  /** Deadline of every request, passed to the backend as a RequestDeadline. Default 3000 ms. */
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

function checkLimits(limits: GatewayLimits, requestDeadlineMs: number): void {
  for (const [name, value] of Object.entries(limits)) {
    assert(Number.isInteger(value) && value > 0, `limit ${name} must be a positive integer, got ${value}`);
  }
  assert(limits.headersTimeoutMs <= limits.requestTimeoutMs, 'headersTimeoutMs must not exceed requestTimeoutMs');
  assert(Number.isInteger(requestDeadlineMs) && requestDeadlineMs > 0, 'requestDeadlineMs must be a positive integer');
}

/** Routes a prober or a scraper must reach on a connection past connectionsMax: they start no client work. */
function isProbe(kind: RouteKind): boolean {
  return kind === 'health' || kind === 'ready' || kind === 'metrics';
}

class GatewayHandler {
  readonly metrics: GatewayMetrics;
  private readonly logger: Logger;
  private readonly limits: GatewayLimits;
  readonly deadlines: Deadlines;
  private readonly access: AccessPolicy;
  private readonly responder: Responder;
  readonly reads: CatalogReads;
  private readonly orders: OrderRoutes;
  private readonly operations: OperationsRoutes;
  readonly dashboard: DashboardRoutes;
  /** The rule on the operations listener, judged by that listener's own address; null without one. */
  private readonly operationsAccess: AccessPolicy | null;
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
    const backend = options.backend;
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
    this.responder = new Responder(this.metrics, this.logger, limits.bodyBytesMax, limits.retryAfterSeconds);
    const context = { backend, logger: this.logger, metrics: this.metrics, deadlines: this.deadlines, responder: this.responder };
    this.reads = new CatalogReads(context, limits.renderedBodiesCharsMax);
    this.orders = new OrderRoutes(context);
    this.operations = new OperationsRoutes(context);
    const unavailableHeaders = this.responder.unavailableHeaders;
    // An order turned away before it started: certainly not taken, so no x-order-id to poll (DESIGN.md §1).
    this.shedOrderHeaders = { ...unavailableHeaders, 'x-order-outcome': 'not-taken' };
    this.refusedHeaders = { ...unavailableHeaders, connection: 'close' };
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
    this.dashboard = new DashboardRoutes(backend, this.metrics, this.responder, options.dashboard);
  }

  /** The request listener; never throws and never leaves a request unanswered. */
  handle(request: IncomingMessage, response: ServerResponse): void {
    const started = performance.now();
    const route = matchRoute(request.method ?? 'GET', request.url ?? '/');
    if (this.refusedTooLarge(request, response, route.kind, started) || this.refusedWithoutHost(request, response, route.kind, started)) return;
    if (this.connections.isOverLimit(request.socket) && !isProbe(route.kind)) {
      this.refuseConnection(response, route.kind, started);
      return;
    }
    if (!this.authorize(request, response, route.kind, started)) return;
    // A near-cache hit is answered here and now: no promise, no closure, nothing for the event loop to run later.
    if (route.kind === 'lookup' && this.reads.answerNearHit(response, route.id, started)) return;
    const workClass = admissionClassOf(route.kind);
    const admittedAtMs = workClass === null ? 0 : this.admissionNow();
    if (workClass !== null && !this.admission.tryAdmit(workClass, admittedAtMs)) {
      this.shed(response, route.kind, workClass, started);
      return;
    }
    const settled = this.serve(route, request, response, started);
    if (workClass !== null) void settled.then(() => this.admission.complete(workClass, admittedAtMs, this.admissionNow()));
  }

  /**
   * The request listener of the operations listener: operations routes only (a client route is 404 naming the
   * client port), never admitted or shed, authorized by the rule of this listener's address.
   */
  handleOperations(request: IncomingMessage, response: ServerResponse): void {
    const started = performance.now();
    const route = matchRoute(request.method ?? 'GET', request.url ?? '/');
    if (this.refusedTooLarge(request, response, route.kind, started) || this.refusedWithoutHost(request, response, route.kind, started)) return;
    if (admissionClassOf(route.kind) !== null) {
      void this.responder.reply(response, 'notFound', started, 404, jsonHeaders, bodies.errorBody('the operations listener serves operations routes only; bookstore routes are on the client port'));
      return;
    }
    if (!this.authorizeWith(this.operationsAccess!, request, response, route.kind, started)) return;
    void this.serve(route, request, response, started);
  }

  /** A body declared past the bound is answered 413 before anything else; true when it was. */
  private refusedTooLarge(request: IncomingMessage, response: ServerResponse, kind: RouteKind, started: number): boolean {
    const declaredLength = request.headers['content-length'];
    if (declaredLength !== undefined && Number(declaredLength) > this.limits.bodyBytesMax) {
      this.responder.replyTooLarge(response, kind, started);
      return true;
    }
    return false;
  }

  /**
   * HTTP/1.1 requires a Host header; one without is answered 400 with the contract's JSON body here (node:http's own
   * refusal, switched off in serverOptions, answers an empty body). True when it was.
   */
  private refusedWithoutHost(request: IncomingMessage, response: ServerResponse, kind: RouteKind, started: number): boolean {
    if (request.headers.host !== undefined || request.httpVersionMajor !== 1 || request.httpVersionMinor !== 1) return false;
    void this.responder.reply(response, kind, started, 400, closeHeaders, bodies.errorBody('an HTTP/1.1 request needs a Host header'));
    return true;
  }

  /** Runs an admitted, authorized request to its answer; settles (never rejects) once it is answered. */
  private serve(route: Route, request: IncomingMessage, response: ServerResponse, started: number): Promise<void> {
    const work = mayCarryBody(request) && takesNoBody(route.kind) ? this.dispatchWithoutBody(route, request, response, started) : this.dispatch(route, request, response, started);
    return work.catch((error: unknown) => this.responder.fail(response, route.kind, started, error, request.url ?? ''));
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
    return this.responder.reply(response, route.kind, started, 400, closeHeaders, bodies.errorBody(`${what} takes no request body${hint}`));
  }

  /** Work over its class's admission bound, answered at once: never started, so an order is certainly not taken. */
  private shed(response: ServerResponse, kind: RouteKind, workClass: AdmittedClass, started: number): void {
    const limit = this.admission.classes[workClass];
    const note = this.shedEpisodes.note(performance.now());
    if (note.write) {
      this.logger.info({ event: 'shed', workClass, inFlightLimit: limit.limit }, `gateway: overloaded, shedding ${workClass} work over ${limit.limit} in flight (answered 503)${foldedSuffix(note)}`);
    }
    const order = workClass === 'order';
    void this.responder.reply(response, kind, started, 503, order ? this.shedOrderHeaders : this.responder.unavailableHeaders, order ? this.shedOrderBody : this.shedReadBody);
  }

  /** A request on a connection past connectionsMax: 503, then the connection closes. Nothing was started. */
  private refuseConnection(response: ServerResponse, kind: RouteKind, started: number): void {
    const headers = kind === 'order' ? this.refusedOrderHeaders : this.refusedHeaders;
    void this.responder.reply(response, kind, started, 503, headers, this.refusedBody);
  }

  private dispatch(route: Route, request: IncomingMessage, response: ServerResponse, started: number): Promise<void> {
    switch (route.kind) {
      case 'lookup':
        // handle() has already tried the near cache.
        return this.reads.lookupThroughBackend(response, route.id, started);
      case 'list':
        return this.reads.list(response, started);
      case 'search':
        return this.reads.search(response, route.topic, started);
      case 'order':
        return this.orders.order(request, response, route, started);
      case 'getOrder':
        return this.orders.getOrder(response, route.orderId, started);
      case 'ordersOfItem':
        return this.orders.ordersOfItem(response, route.item, { limit: route.limit, after: route.after }, started);
      case 'health':
        return this.responder.reply(response, 'health', started, 200, jsonHeaders, bodies.okBody);
      case 'ready':
        return this.operations.ready(response, started);
      case 'cluster':
        return this.operations.cluster(response, started);
      case 'metrics':
        return this.operations.scrape(response, started);
      case 'actorAction':
        return this.operations.actorAction(response, route, started);
      case 'groupMembers':
      case 'removeMember':
        return this.operations.members(response, route, started);
      case 'addMember':
        return this.operations.addMember(request, response, route.group, started);
      case 'updateItem':
        return this.operations.updateItem(request, response, route.id, started);
      case 'invalidateItem':
        return this.operations.invalidateItem(response, route.id, started);
      case 'backup':
        return this.operations.backup(response, started, route.bytesPerSecond);
      case 'dashboard':
        return this.dashboard.asset(response, route.asset, started);
      case 'events':
        return this.dashboard.events(request, response, started);
      case 'badRequest':
        return this.responder.reply(response, 'badRequest', started, 400, jsonHeaders, bodies.errorBody(route.error));
      case 'notFound':
        return this.responder.reply(response, 'notFound', started, 404, jsonHeaders, bodies.errorBody('no such route'));
      case 'methodNotAllowed':
        return this.methodNotAllowed(request, response, route.allow, started);
      default:
        return assertNever(route);
    }
  }

  private methodNotAllowed(
    request: IncomingMessage,
    response: ServerResponse,
    allow: string,
    started: number,
  ): Promise<void> {
    const body = bodies.errorBody(`method ${request.method ?? ''} not allowed here; use ${allow}`);
    return this.responder.reply(response, 'methodNotAllowed', started, 405, { 'content-type': jsonType, allow }, body);
  }

  private authorize(request: IncomingMessage, response: ServerResponse, kind: RouteKind, started: number): boolean {
    return this.authorizeWith(this.access, request, response, kind, started);
  }

  private authorizeWith(access: AccessPolicy, request: IncomingMessage, response: ServerResponse, kind: RouteKind, started: number): boolean {
    const decision = authorizeRoute(access, kind, request.headers.authorization);
    if (decision.kind === 'allowed') return true;
    const headers = decision.status === 401 ? unauthorizedHeaders : jsonHeaders;
    void this.responder.reply(response, kind, started, decision.status, headers, bodies.errorBody(decision.error));
    return false;
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
    renderedBodiesHeld: () => handler.reads.renderedBodiesHeld(),
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
    // A request without Host is refused by the handler, with a JSON body (refusedWithoutHost).
    requireHostHeader: false,
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
