// The gateway's operations routes: /ready, /cluster, /metrics, the actor actions, group membership, item
// updates, cache invalidation and the backup stream. (/health is answered by the server itself; who may call
// these routes is decided before they run, in src/http/authorization.ts.)
//
// Owns: the answers of those routes. Promises: a refusal by the group's leader is 409 with its reason, an unknown
// actor 404, and /metrics answers even when the cluster status does not.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { MembershipRefusedError, UnknownActorError } from '../backend.js';
import { serveBackup } from '../backup-route.js';
import * as bodies from '../bodies.js';
import type { Route } from '../routes.js';
import { parseItemChange, parseMemberRequest } from '../validation.js';
import { HandlerGroup, jsonHeaders, readBody } from './reply.js';

export class OperationsRoutes extends HandlerGroup {
  async ready(response: ServerResponse, started: number): Promise<void> {
    const ready = await this.deadlines.run(() => this.backend.ready());
    if (ready) return this.responder.reply(response, 'ready', started, 200, jsonHeaders, bodies.okBody);
    const body = bodies.errorBody('not ready: a group has no leader or the gateway cannot serve');
    return this.responder.reply(response, 'ready', started, 503, this.responder.unavailableHeaders, body);
  }

  async cluster(response: ServerResponse, started: number): Promise<void> {
    const status = await this.deadlines.run(() => this.backend.cluster());
    const body = '{"ok":true,"result":' + JSON.stringify(status) + '}';
    return this.responder.reply(response, 'cluster', started, 200, jsonHeaders, body);
  }

  /** The scrape still answers when the cluster status does not: gateway metrics matter most then. */
  async scrape(response: ServerResponse, started: number): Promise<void> {
    const status = await this.deadlines.run(() => this.backend.cluster()).catch((error: unknown) => {
      this.logger.warn({ err: error }, 'metrics: cluster status unavailable, scraping without it');
      return null;
    });
    this.metrics.updateCluster(status);
    const text = await this.metrics.text();
    return this.responder.reply(response, 'metrics', started, 200, { 'content-type': this.metrics.contentType }, text);
  }

  /** GET the group's configuration, or DELETE a member; 409 with the reason when the leader refuses the change. */
  async members(
    response: ServerResponse,
    route: Extract<Route, { kind: 'groupMembers' | 'removeMember' }>,
    started: number,
  ): Promise<void> {
    const backend = this.backend;
    if (backend.members === undefined || backend.removeMember === undefined) {
      return this.responder.reply(response, route.kind, started, 404, jsonHeaders, bodies.errorBody('this gateway runs no replica groups'));
    }
    try {
      const view = route.kind === 'groupMembers'
        ? await this.deadlines.run(() => backend.members!(route.group))
        : await this.deadlines.run(() => backend.removeMember!(route.group, route.name));
      if (route.kind === 'removeMember') this.logger.info(`admin: removed ${route.name} from the ${route.group} group`);
      return this.responder.reply(response, route.kind, started, 200, jsonHeaders, '{"ok":true,"result":' + JSON.stringify(view) + '}');
    } catch (error) {
      if (!(error instanceof MembershipRefusedError)) throw error;
      return this.responder.reply(response, route.kind, started, 409, jsonHeaders, bodies.errorBody(error.message));
    }
  }

  /** POST {"name","node"?,"promote"?}: adds a learner and (unless promote is false) promotes it once caught up. */
  async addMember(request: IncomingMessage, response: ServerResponse, group: 'catalog' | 'order', started: number): Promise<void> {
    const body = await readBody(request, this.responder.bodyBytesMax);
    if (body === null) return this.responder.replyTooLarge(response, 'addMember', started);
    const asked = parseMemberRequest(body);
    if (asked.rejected) return this.responder.reply(response, 'addMember', started, 400, jsonHeaders, bodies.errorBody(asked.error));
    const backend = this.backend;
    if (backend.addMember === undefined) {
      return this.responder.reply(response, 'addMember', started, 404, jsonHeaders, bodies.errorBody('this gateway cannot add members'));
    }
    try {
      const view = await this.deadlines.run(() => backend.addMember!(group, asked.value));
      this.logger.info(`admin: added ${asked.value.name} to the ${group} group${asked.value.promote ? '' : ' as a learner'}`);
      return this.responder.reply(response, 'addMember', started, 200, jsonHeaders, '{"ok":true,"result":' + JSON.stringify(view) + '}');
    } catch (error) {
      if (!(error instanceof MembershipRefusedError)) throw error;
      return this.responder.reply(response, 'addMember', started, 409, jsonHeaders, bodies.errorBody(error.message));
    }
  }

  async actorAction(
    response: ServerResponse,
    route: Extract<Route, { kind: 'actorAction' }>,
    started: number,
  ): Promise<void> {
    try {
      await this.deadlines.run(() => this.backend.actorAction(route.name, route.action));
    } catch (error) {
      if (!(error instanceof UnknownActorError)) throw error;
      return this.responder.reply(response, 'actorAction', started, 404, jsonHeaders, bodies.errorBody(error.message));
    }
    this.logger.info(`admin: ${route.action} ${route.name}`);
    return this.responder.reply(response, 'actorAction', started, 200, jsonHeaders, bodies.okBody);
  }

  async updateItem(
    request: IncomingMessage,
    response: ServerResponse,
    id: number,
    started: number,
  ): Promise<void> {
    const body = await readBody(request, this.responder.bodyBytesMax);
    if (body === null) return this.responder.replyTooLarge(response, 'updateItem', started);
    const change = parseItemChange(body);
    if (change.rejected) {
      return this.responder.reply(response, 'updateItem', started, 400, jsonHeaders, bodies.errorBody(change.error));
    }
    const result = await this.deadlines.run((deadline) => this.backend.updateItem(id, change.value, deadline));
    if (!result.ok && result.reason === 'unknownItem') {
      return this.responder.reply(response, 'updateItem', started, 404, jsonHeaders, bodies.errorBody(`unknown item ${id}`));
    }
    if (!result.ok) {
      return this.responder.reply(response, 'updateItem', started, 409, jsonHeaders, bodies.errorBody(`item ${id}: ${result.detail}`));
    }
    this.logger.info(`admin: item ${id} updated with ${JSON.stringify(change.value)}`);
    return this.responder.reply(response, 'updateItem', started, 200, jsonHeaders, bodies.okBody);
  }

  async invalidateItem(response: ServerResponse, id: number, started: number): Promise<void> {
    await this.deadlines.run((deadline) => this.backend.invalidateItem(id, deadline));
    this.logger.info(`invalidate item ${id}`);
    return this.responder.reply(response, 'invalidateItem', started, 200, jsonHeaders, bodies.okBody);
  }

  backup(response: ServerResponse, started: number, bytesPerSecond: number): Promise<void> {
    return serveBackup(this.backend, response, this.logger, bytesPerSecond).then((status) => this.responder.recorded('backup', started, status));
  }
}
