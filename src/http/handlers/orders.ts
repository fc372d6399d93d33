// The gateway's order routes: POST /order/:id, GET /orders/:orderId and GET /orders?item=N (pages).
//
// Owns: the order id (the Idempotency-Key, or one made here), the x-order-id header on every order answer (503
// included), and the exact order answers. Promises: an order answered 503 names its id so the client can follow
// it; a key reused for another request is 422 and buys nothing.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { OrdersPageRequest } from '../backend.js';
import * as bodies from '../bodies.js';
import { orderIdMaker } from '../order-id.js';
import { encodeCursor } from '../order-pages.js';
import { isPrintableToken, orderKeyLengthMax, parseIdempotencyKey } from '../validation.js';
import { foldedSuffix } from '../../runtime/log-episodes.js';
import { assert, HandlerGroup, isUnavailable, jsonHeaders, jsonType } from './reply.js';

export class OrderRoutes extends HandlerGroup {
  /** Ids for orders without an Idempotency-Key: time first, so the replicas' tables append (see order-id.ts). */
  private readonly newOrderId = orderIdMaker();

  async order(
    request: IncomingMessage,
    response: ServerResponse,
    route: { readonly item: number; readonly amount: number },
    started: number,
  ): Promise<void> {
    const key = parseIdempotencyKey(request.headers['idempotency-key']);
    if (key.rejected) return this.responder.reply(response, 'order', started, 400, jsonHeaders, bodies.errorBody(key.error));
    const orderId = key.value ?? this.newOrderId();
    const headers = { 'content-type': jsonType, 'x-order-id': orderId };
    let outcome;
    try {
      outcome = await this.deadlines.run((deadline) => this.backend.order(route.item, route.amount, orderId, deadline));
    } catch (error) {
      // Taken but not answered (unavailable, past the deadline, or an unexpected failure): the order may yet settle
      // either way, so the client gets its name to follow it.
      if (isUnavailable(error)) {
        // One line per episode, as for every 503 (fail()); the order's own line is debug.
        const note = this.responder.unavailableEpisodes.note(performance.now());
        const reason = error instanceof Error ? error.message : String(error);
        if (note.write) this.logger.warn(`order ${orderId}: outcome unknown (${reason}), answered 503${foldedSuffix(note)}`);
        else if (this.logger.isLevelEnabled('debug')) this.logger.debug(`order ${orderId}: outcome unknown (${reason}), answered 503`);
      } else this.logger.error({ err: error }, `order ${orderId}: unexpected failure, outcome unknown, answered 503`);
      const unknownHeaders = { ...headers, 'retry-after': String(this.responder.retryAfterSeconds) };
      return this.responder.reply(response, 'order', started, 503, unknownHeaders, bodies.orderUnknownBody(orderId));
    }
    assert(outcome.orderId === orderId, `backend answered order ${orderId} as ${outcome.orderId}`);
    assert(isPrintableToken(outcome.orderId, orderKeyLengthMax), 'order id is not a printable token');
    if (outcome.firstRequest !== undefined) {
      const body = bodies.keyReusedBody(orderId, outcome.firstRequest, route);
      return this.responder.reply(response, 'order', started, 422, headers, body);
    }
    // No line here: the order replica that settled it writes the order's line (with its price), once.
    // `false` is "not bought"; the reason tells a stock refusal from a deadline's (which says nothing of the stock).
    const answerHeaders = outcome.reason === undefined || !isPrintableToken(outcome.reason, 64) ? headers : { ...headers, 'x-order-reason': outcome.reason };
    return this.responder.reply(response, 'order', started, 200, answerHeaders, outcome.bought ? 'true' : 'false');
  }

  async getOrder(response: ServerResponse, orderId: string, started: number): Promise<void> {
    const order = await this.deadlines.run((deadline) => this.backend.getOrder(orderId, deadline));
    if (order === null) return this.responder.reply(response, 'getOrder', started, 404, jsonHeaders, bodies.orderNotFoundBody);
    return this.responder.reply(response, 'getOrder', started, 200, jsonHeaders, bodies.orderBody(order));
  }

  async ordersOfItem(response: ServerResponse, item: number, page: OrdersPageRequest, started: number): Promise<void> {
    const answer = await this.deadlines.run((deadline) => this.backend.ordersOfItem(item, page, deadline));
    return this.responder.reply(response, 'ordersOfItem', started, 200, jsonHeaders, bodies.ordersBody(answer.orders, answer.next === null ? null : encodeCursor(answer.next)));
  }
}
