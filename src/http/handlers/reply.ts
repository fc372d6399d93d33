// What every handler group of the gateway shares: the constant headers, the request-body reader, and the
// Responder that writes an answer and records its metrics.
//
// Owns: the context every handler group is given (HandlerGroup), writing answers (one write with an explicit length), the 413 and 503 answers, and the one-line-per-episode
// warning for 503s. Promises: an answer is written at most once (a gone client or a closing server gets none), and
// every answer written is recorded in the route's metrics.
// Needs: the gateway's metrics, limits and logger.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import { DeadlineExceededError, UnavailableError, type Backend, type ReadAnswer } from '../backend.js';
import type { Deadlines } from '../deadlines.js';
import * as bodies from '../bodies.js';
import { EpisodeLog, foldedSuffix } from '../../runtime/log-episodes.js';
import type { GatewayMetrics } from '../metrics.js';
import type { RouteKind } from '../routes.js';

export { assert } from '../../assert.js';

/** A repeated warning (a 503 answered, work shed) is written at most once per this interval, with a count. */
export const episodeLogIntervalMs = 10_000;

// Header objects are built once: node:http copies them into the response head without keeping them.
export const jsonType = 'application/json';
export const jsonHeaders = { 'content-type': jsonType };
const hitHeaders = { 'content-type': jsonType, 'x-cache': 'HIT' };
const missHeaders = { 'content-type': jsonType, 'x-cache': 'MISS' };
const tooLargeHeaders = { 'content-type': jsonType, connection: 'close' };
/** A refused request whose body is left unread: the connection cannot be reused. */
export const closeHeaders = { 'content-type': jsonType, connection: 'close' };
export const unauthorizedHeaders = { 'content-type': jsonType, 'www-authenticate': 'Bearer' };

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

export function cacheHeaders(answer: ReadAnswer<unknown>): Record<string, string> {
  if (answer.cache === 'HIT') return hitHeaders;
  if (answer.servedBy === null) return missHeaders;
  return { 'content-type': jsonType, 'x-cache': 'MISS', 'x-served-by': answer.servedBy };
}

export function describeRead(answer: ReadAnswer<unknown>): string {
  if (answer.cache === 'HIT') return 'cache hit';
  return answer.servedBy === null ? 'cache miss' : `cache miss, served by ${answer.servedBy}`;
}

export function isUnavailable(error: unknown): boolean {
  return (
    error instanceof UnavailableError ||
    error instanceof DeadlineExceededError ||
    (error instanceof Error && (error.name === 'AbortError' || error.name === 'TimeoutError'))
  );
}

/** Every route but the item update takes no body (routes that are already errors answer their own error). */
export function takesNoBody(kind: RouteKind): boolean {
  return kind !== 'updateItem' && kind !== 'addMember' && kind !== 'badRequest' && kind !== 'notFound' && kind !== 'methodNotAllowed';
}

/** True when the request says a body follows (a non-zero Content-Length, or any Transfer-Encoding). */
export function mayCarryBody(request: IncomingMessage): boolean {
  const length = request.headers['content-length'];
  return (length !== undefined && length !== '0') || request.headers['transfer-encoding'] !== undefined;
}

/** Reads a request body up to `bytesMax`; resolves null (and stops reading) when it is larger. */
export function readBody(request: IncomingMessage, bytesMax: number): Promise<string | null> {
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

export class Responder {
  readonly unavailableHeaders: Record<string, string>;
  readonly unavailableEpisodes = new EpisodeLog(episodeLogIntervalMs);

  constructor(
    private readonly metrics: GatewayMetrics,
    private readonly logger: Logger,
    readonly bodyBytesMax: number,
    readonly retryAfterSeconds: number,
  ) {
    this.unavailableHeaders = { 'content-type': jsonType, 'retry-after': String(retryAfterSeconds) };
  }

  /** Metrics of an answer its route wrote itself (the dashboard's files and stream). */
  recorded(kind: RouteKind, started: number, status: number): Promise<void> {
    this.metrics.forRoute(kind).record(status, (performance.now() - started) / 1000);
    return Promise.resolve();
  }

  /** 413, then the connection closes (node:http ends it after a `connection: close` answer): we stop reading. */
  replyTooLarge(response: ServerResponse, kind: RouteKind, started: number): Promise<void> {
    const body = bodies.errorBody(`request body larger than ${this.bodyBytesMax} bytes`);
    return this.reply(response, kind, started, 413, tooLargeHeaders, body);
  }

  fail(response: ServerResponse, kind: RouteKind, started: number, error: unknown, target: string): void {
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

  reply(
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

/** What every handler group is given: the backend, and the gateway's logger, metrics, deadlines and responder. */
export interface HandlerContext {
  readonly backend: Backend;
  readonly logger: Logger;
  readonly metrics: GatewayMetrics;
  readonly deadlines: Deadlines;
  readonly responder: Responder;
}

/** A group of the gateway's handlers, over the shared HandlerContext. */
export abstract class HandlerGroup {
  protected readonly backend: Backend;
  protected readonly logger: Logger;
  protected readonly metrics: GatewayMetrics;
  protected readonly deadlines: Deadlines;
  protected readonly responder: Responder;

  constructor(context: HandlerContext) {
    this.backend = context.backend;
    this.logger = context.logger;
    this.metrics = context.metrics;
    this.deadlines = context.deadlines;
    this.responder = context.responder;
  }
}
