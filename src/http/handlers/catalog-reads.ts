// The gateway's catalog reads: GET /lookup/:id (near cache first), GET /lookup and GET /search/:topic.
//
// Owns: the near-cache hit path (written at once, no promise), the exact read answers with their x-cache and
// x-served-by headers, and the reuse of rendered list and search bodies (src/http/rendered-bodies.ts).
// Promises: an answer is the backend's at the index it names; a body is reused only for an answer at the index
// it was rendered at.

import type { ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { Item, ReadAnswer, RequestDeadline } from '../backend.js';
import * as bodies from '../bodies.js';
import type { RouteMetrics } from '../metrics.js';
import { RenderedBodies } from '../rendered-bodies.js';
import { assert, cacheHeaders, describeRead, HandlerGroup, type HandlerContext } from './reply.js';

export class CatalogReads extends HandlerGroup {
  private readonly renderedBodies: RenderedBodies;
  /** The lookup route's metrics, kept so a near-cache hit needs no map lookup. */
  private readonly lookupMetrics: RouteMetrics;

  constructor(context: HandlerContext, renderedBodiesCharsMax: number) {
    super(context);
    this.renderedBodies = new RenderedBodies(renderedBodiesCharsMax);
    this.lookupMetrics = this.metrics.forRoute('lookup');
  }

  /** Characters and entries of the rendered bodies kept (tests, metrics). */
  renderedBodiesHeld(): { readonly entries: number; readonly chars: number } {
    return this.renderedBodies.renderedBodiesHeld();
  }

  /**
   * A near-cache hit is written at once: no deadline, no await, headers and body prepared with the entry. False
   * when the near cache does not hold the item (the caller then asks the backend).
   */
  answerNearHit(response: ServerResponse, id: number, started: number): boolean {
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

  async lookupThroughBackend(response: ServerResponse, id: number, started: number): Promise<void> {
    const answer = await this.deadlines.run((deadline) => this.backend.lookup(id, deadline));
    this.metrics.recordCache(answer.cache);
    if (this.logger.isLevelEnabled('debug')) this.logger.debug(`lookup/${id}: ${describeRead(answer)}`);
    const item: Item | null = answer.result;
    if (item === null) {
      return this.responder.reply(response, 'lookup', started, 404, cacheHeaders(answer), bodies.lookupNotFoundBody);
    }
    assert(item.id === id, `backend answered lookup ${id} with item ${item.id}`);
    return this.responder.reply(response, 'lookup', started, 200, cacheHeaders(answer), bodies.lookupBody(item, answer.topics));
  }

  async list(response: ServerResponse, started: number): Promise<void> {
    const { answer, body } = await this.readItems('list', (deadline, knownIndex) => this.backend.list(deadline, knownIndex));
    this.metrics.recordCache(answer.cache);
    if (this.logger.isLevelEnabled('debug')) this.logger.debug(`lookup: ${describeRead(answer)}`);
    return this.responder.reply(response, 'list', started, 200, cacheHeaders(answer), body);
  }

  async search(response: ServerResponse, topic: string, started: number): Promise<void> {
    const read = (deadline: RequestDeadline, knownIndex: number | undefined) => this.backend.search(topic, deadline, knownIndex);
    const { answer, body } = await this.readItems(`search/${topic}`, read);
    this.metrics.recordCache(answer.cache);
    if (this.logger.isLevelEnabled('debug')) {
      this.logger.debug(`search/${JSON.stringify(topic)}: ${describeRead(answer)}`);
    }
    return this.responder.reply(response, 'search', started, 200, cacheHeaders(answer), body);
  }

  /**
   * A list or search answer and its body: the body rendered for this query, when the answer is still at its index
   * (the read names that index, so such an answer comes back unchanged, without items), or a new one.
   */
  private async readItems(
    query: string,
    read: (deadline: RequestDeadline, knownIndex: number | undefined) => Promise<ReadAnswer<readonly Item[]>>,
  ): Promise<{ answer: ReadAnswer<readonly Item[]>; body: string }> {
    // Held from before the read: the body stays the answer at its index even if the map lets it go meanwhile.
    const rendered = this.renderedBodies.get(query);
    const answer = await this.deadlines.run((deadline) => read(deadline, rendered?.index));
    if (rendered !== undefined && rendered.index === answer.index) return { answer, body: rendered.body };
    // Unchanged against an index other than the one named would mean serving an answer we do not have.
    assert(answer.unchanged !== true, `${query}: answered unchanged at index ${answer.index}, but ${rendered?.index ?? 'none'} was named`);
    const body = bodies.itemsBody(answer.result, answer.topics);
    this.renderedBodies.keepRendered(query, { index: answer.index, body });
    return { answer, body };
  }
}
