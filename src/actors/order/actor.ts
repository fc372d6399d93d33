// The order replica actor: the order log replicated by Raft, and the order saga run by its leader.
//
// Owns: one order replica and, on the leader, the sagas in flight. The saga (DESIGN.md §3):
//   1. commit pending(orderId, item, amount, deadlineAt) in the order group (a repeat returns the existing order;
//      the same id with another item or amount is refused as keyReused with the first order);
//   2. ask the catalog leader to commit deduct(orderId, item, amount), idempotent by orderId;
//   3. commit committed(orderId, total) or rejected(orderId, reason), then answer.
// The deadline (DESIGN.md §2.9): an order still pending at its deadlineAt (the creating leader's clock + the
// order deadline, written in the entry) is fenced by the leader: abort(orderId) in the catalog, then the order log
// follows the catalog's one outcome (saga.ts) — rejected `timeout`, or committed when a deduct landed first.
// The sweep, every sweepIntervalMs on the leader, does bounded work: at most sweepBatchMax expired orders, and
// at most sweepBatchMax pending ones from a cursor that walks the pending orders round after round (their sagas
// are run again, so an order whose saga was cut short — a crash between steps, a catalog outage — settles
// before its deadline when the catalog is back). A new leader sweeps at once.
// Messages beyond the replica protocol:
//   {type:'order', orderId, item, amount, createdAt, knownConfigIndex?}   ask (leader only) → {ok:true, index,
//                                                     result: OrderOutcome} | OrderRefusal, either with the order
//                                                     group's configuration when newer than knownConfigIndex
//                                                     (Replica.withConfiguration), as the replica's own answers
//   {type:'sweepPending'}                             the leader's own timer
//   {type:'catalogMembers', members, configIndex?}    tell: the catalog group's members changed (a gateway made the change)
//   {type:'catalogConfiguration'}                     ask → {index, members}: the catalog members this replica's saga
//                                                     tries; a replica that starts asks its order peers, so one
//                                                     restarted after the catalog moved finds the catalog's new members
import { assertNever } from '../../assert.js';
import { GroupClient, GroupUnavailableError, isMemberList } from '../../raft/client.js';
import { defineReplicaActor, isKnownConfigIndex, type Replica, type ReplicaArgs, type ReplicaRefused } from '../../raft/replica.js';
import type { ReplicaTestHooksSpec } from '../../raft/test-hooks.js';
import type { ActorContext } from '../../runtime/actor.js';
import { catalogClient } from '../catalog/client.js';
import type { BadCommandResult, CatalogCommand, CatalogMachine, CatalogResult, DeductResult, PruneResult } from '../catalog/commands.js';
import { deadlineOf, deductCommand, expiryStep, orderDeadlineMsDefault, settleCommand, type SagaFaults } from './saga.js';
import { orderLimits, OrderStateMachine, parseOrderQuery, type Order, type OrderCommand, type OrderMachine, type OrderQuery, type PendingCursor } from './state.js';

export interface OrderReplicaArgs extends ReplicaArgs {
  readonly catalogMembers: readonly string[];
  /** How long one saga may keep trying to reach the catalog group before leaving the order pending. */
  readonly deductDeadlineMs?: number;
  /** How long an order may stay pending before the leader fences it (default 30 s). */
  readonly orderDeadlineMs?: number;
  readonly sweepIntervalMs?: number;
  /** Most expired orders, and most other pending orders, one sweep round takes up. */
  readonly sweepBatchMax?: number;
  /** Hooks a test injects; absent in production. */
  readonly testHooks?: OrderTestHooksSpec;
  /** Planted bugs for the checker; none by default. */
  readonly faults?: SagaFaults;
  /**
   * Publish the dedupe watermark so the catalog prunes settled deduct records (on unless false). A backup holds
   * pruning while it copies the two groups (catalog command holdPrunes), so its copies agree.
   */
  readonly dedupePruning?: boolean;
}

/** What a test asks of an order replica at construction: the replica's hooks and the saga's. */
export interface OrderTestHooksSpec extends ReplicaTestHooksSpec {
  /** Wait this long between the deduct and the final commit, widening the crash window. */
  readonly holdAfterDeductMs?: number;
}

/** Where a test may step into the saga (built in the replica's thread from OrderTestHooksSpec). */
interface SagaHooks {
  /** After the catalog took the deduct, before the order log records the outcome. */
  afterDeduct(order: Order): Promise<void>;
}

function sagaHooks(spec: OrderTestHooksSpec | undefined): SagaHooks | null {
  const holdMs = spec?.holdAfterDeductMs;
  if (holdMs === undefined || holdMs <= 0) return null;
  return { afterDeduct: () => sleep(holdMs) };
}

export const sagasInFlightMax = 4_096;
const sweepBatchMaxDefault = 64;

export type OrderOutcome =
  | {
      readonly kind: 'decided';
      readonly bought: boolean;
      readonly order: Order;
      /** Catalog index of the deduct that decided the order (0 when it was decided earlier and is only repeated). */
      readonly catalogIndex: number;
    }
  /** The order id is already the key of another request: nothing was done. */
  | { readonly kind: 'keyReused'; readonly first: Order };

/** The order group's one leader-only request: run the saga for an order. */
export type OrderRequest = {
  readonly type: 'order'; readonly orderId: string; readonly item: number; readonly amount: number; readonly createdAt: number;
  /** The order group's configuration the asker holds (see Replica.withConfiguration). */
  readonly knownConfigIndex?: number;
};

/** The order group's leader-only requests and their answers, for a GroupClient of the group. */
export type OrderCalls = { readonly order: { readonly request: OrderRequest; readonly answer: OrderOutcome } };

/**
 * Why an order request was not answered with an outcome: the replica's own refusals (not the leader, busy, …),
 * the catalog group out of reach, or a command refused (by the order log, or by the catalog), a saga that threw,
 * or a log that disagrees with the catalog: each with the detail. The order may still be pending; a retry is safe.
 */
export type OrderRefusal =
  | ReplicaRefused
  | { readonly ok: false; readonly error: 'catalogUnavailable'; readonly leader: string | null }
  | { readonly ok: false; readonly error: 'badCommand' | 'catalogBadCommand' | 'sagaFailed' | 'logDisagrees'; readonly detail: string; readonly leader: string | null };

export type OrderAppMessage =
  | OrderRequest
  | { readonly type: 'sweepPending' }
  /** The catalog group's members changed (as of the configuration at configIndex): the saga's catalog client tries these. */
  | { readonly type: 'catalogMembers'; readonly members: readonly string[]; readonly configIndex?: number }
  /** The catalog members this replica's saga tries, and the index of their configuration. */
  | { readonly type: 'catalogConfiguration' };

interface OrderApp {
  readonly catalog: GroupClient<CatalogMachine>;
  /** Sagas by order id, and expiries by "expire:" + order id: one of each at a time per order. */
  readonly sagas: Map<string, Promise<SagaAnswer>>;
  readonly args: OrderReplicaArgs;
  readonly context: ActorContext;
  /** Null in production. */
  readonly hooks: SagaHooks | null;
  /** Where the walk over pending orders resumes; null to start from the oldest. */
  cursor: PendingCursor | null;
  /** The watermark this leader last had the catalog prune to (0: none yet; a lower or equal one is a no-op there). */
  publishedWatermark: number;
}

type SagaAnswer = { readonly ok: true; readonly index: number; readonly result: OrderOutcome } | OrderRefusal;

type OrderReplica = Replica<OrderMachine>;

function isOrderAppMessage(message: unknown): message is OrderAppMessage {
  if (typeof message !== 'object' || message === null) return false;
  const candidate = message as Record<string, unknown>;
  if (candidate.type === 'sweepPending' || candidate.type === 'catalogConfiguration') return true;
  if (candidate.type === 'catalogMembers') return isCatalogConfiguration(candidate.members, candidate.configIndex ?? 0);
  return (
    candidate.type === 'order' && typeof candidate.orderId === 'string' && candidate.orderId.length > 0 && candidate.orderId.length <= orderLimits.orderIdLengthMax &&
    typeof candidate.item === 'number' && Number.isSafeInteger(candidate.item) && candidate.item > 0 &&
    typeof candidate.amount === 'number' && Number.isSafeInteger(candidate.amount) && candidate.amount > 0 && Number.isSafeInteger(candidate.createdAt) &&
    isKnownConfigIndex(candidate.knownConfigIndex)
  );
}

/** Catalog members with the index of their configuration, as a gateway or an order peer tells them. */
function isCatalogConfiguration(members: unknown, configIndex: unknown): members is readonly string[] {
  return isMemberList(members) && members.length > 0 && Number.isSafeInteger(configIndex) && (configIndex as number) >= 0;
}

/**
 * A replica that starts (a restart included) asks its order peers which catalog members their sagas try: its own
 * list is the one it was started with, which a catalog that moved since may have left entirely.
 */
function learnCatalogFromPeers(catalog: GroupClient<CatalogMachine>, replica: OrderReplica, context: ActorContext): void {
  const membership = replica.node.membership();
  for (const peer of [...membership.voters, ...membership.learners]) {
    if (peer === replica.name) continue;
    context.ask<{ index?: unknown; members?: unknown }>(peer, { type: 'catalogConfiguration' }, { timeoutMs: 1_000 }).then(
      (answer) => {
        if (isCatalogConfiguration(answer.members, answer.index)) catalog.setMembers(answer.members, answer.index as number);
      },
      () => {},
    );
  }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** The catalog's answer to a deduct or an abort, checked: a refusal, a purchase (it has a total), or null. */
function deductOutcome(result: CatalogResult): DeductResult | BadCommandResult | null {
  if (!result.ok) return result;
  return 'total' in result ? result : null;
}

function decided(order: Order, catalogIndex: number): OrderOutcome {
  return { kind: 'decided', bought: order.status === 'committed', order, catalogIndex };
}

async function commitPending(app: OrderApp, replica: OrderReplica, message: Extract<OrderAppMessage, { type: 'order' }>): Promise<SagaAnswer> {
  const deadlineAt = deadlineOf(Date.now(), app.args.orderDeadlineMs ?? orderDeadlineMsDefault);
  const pending = await replica.propose({
    type: 'pending', orderId: message.orderId, item: message.item, amount: message.amount, createdAt: message.createdAt, deadlineAt,
  });
  if (!pending.ok) return pending;
  const result = pending.result;
  if (!result.ok && result.reason === 'keyReused') return { ok: true, index: pending.index, result: { kind: 'keyReused', first: result.first } };
  if (!result.ok) return { ok: false, error: 'badCommand', detail: result.detail, leader: replica.leader };
  if (result.order.status !== 'pending') return { ok: true, index: pending.index, result: decided(result.order, 0) };
  // A repeat that finds its order past the deadline fences it rather than racing the fence with a deduct.
  if (result.order.deadlineAt <= Date.now()) return expire(app, replica, result.order);
  return finish(app, replica, result.order);
}

/** Proposes to the catalog group; null when no member answered within the deduct deadline. */
async function proposeToCatalog(app: OrderApp, command: CatalogCommand): Promise<{ result: CatalogResult; index: number } | null> {
  const deadlineAtMs = Date.now() + (app.args.deductDeadlineMs ?? 4_000);
  try {
    const answer = await app.catalog.propose(command, deadlineAtMs);
    return { result: answer.result, index: answer.index };
  } catch (error) {
    if (error instanceof GroupUnavailableError) return null;
    throw error;
  }
}

/** Steps 2 and 3 of the saga for an order already pending; safe to run again (deduct is idempotent by orderId). */
async function finish(app: OrderApp, replica: OrderReplica, order: Order): Promise<SagaAnswer> {
  const deduct = await proposeToCatalog(app, deductCommand(order));
  if (deduct === null) return { ok: false, error: 'catalogUnavailable', leader: replica.leader };
  if (app.hooks !== null) await app.hooks.afterDeduct(order);
  return settle(app, replica, order, deduct.result, deduct.index);
}

/** The order past its deadline: fence it in the catalog, then follow the catalog's one outcome. */
async function expire(app: OrderApp, replica: OrderReplica, order: Order): Promise<SagaAnswer> {
  const step = expiryStep(order, Date.now(), app.args.faults ?? {});
  if (step.kind === 'reject') return commitFinal(app, replica, order, step.command, 0, 'rejected (timeout, no fence)');
  const fenced = await proposeToCatalog(app, step.command);
  if (fenced === null) return { ok: false, error: 'catalogUnavailable', leader: replica.leader };
  return settle(app, replica, order, fenced.result, fenced.index);
}

async function settle(app: OrderApp, replica: OrderReplica, order: Order, answer: CatalogResult, catalogIndex: number): Promise<SagaAnswer> {
  const result = deductOutcome(answer);
  if (result === null) return { ok: false, error: 'catalogBadCommand', detail: `a deduct or abort answered ${JSON.stringify(answer).slice(0, 200)}`, leader: replica.leader };
  if (!result.ok && result.reason === 'badCommand') return { ok: false, error: 'catalogBadCommand', detail: result.detail, leader: replica.leader };
  // Below the watermark: the order log holds this order's outcome already (README.md, "Bounded dedupe"); a saga
  // for it is a stale one, and answers what the log says rather than writing anything.
  if (!result.ok && result.reason === 'settled') return answerFromLog(replica, order, catalogIndex);
  const command = settleCommand(order, result, Date.now());
  const words = result.ok ? `bought for ${result.total}` : `rejected (${command.type === 'rejected' ? command.reason : ''})`;
  return commitFinal(app, replica, order, command, catalogIndex, words);
}

async function answerFromLog(replica: OrderReplica, order: Order, catalogIndex: number): Promise<SagaAnswer> {
  const answer = await replica.read({ type: 'get', orderId: order.id });
  const stored = answer.ok ? answer.result : null;
  if (stored === null || stored.status === 'pending') {
    return { ok: false, error: 'logDisagrees', detail: `order ${order.id}: the catalog says settled, the log says ${stored?.status ?? 'nothing'}`, leader: replica.leader };
  }
  return { ok: true, index: 0, result: decided(stored, catalogIndex) };
}

async function commitFinal(app: OrderApp, replica: OrderReplica, order: Order, command: OrderCommand, catalogIndex: number, words: string): Promise<SagaAnswer> {
  const final = await replica.propose(command);
  if (!final.ok) return final;
  const finalResult = final.result;
  // A timeout this leader's clock places before the deadline is refused; the order stays pending for the sweep.
  if (!finalResult.ok) return { ok: false, error: 'badCommand', detail: finalResult.reason === 'badCommand' ? finalResult.detail : finalResult.reason, leader: replica.leader };
  // Per request, so debug: the demo shows it, production logs (info) do not.
  app.context.log.debug(
    { orderId: order.id, item: order.item, amount: order.amount, status: finalResult.order.status, event: 'order' },
    `order ${order.id}: ${order.amount} of item ${order.item} ${words}`,
  );
  return { ok: true, index: final.index, result: decided(finalResult.order, catalogIndex) };
}

/** One saga per key at a time: a retry joins the saga in flight instead of racing it. */
function runSaga(app: OrderApp, key: string, run: () => Promise<SagaAnswer>): Promise<SagaAnswer> {
  const existing = app.sagas.get(key);
  if (existing !== undefined) return existing;
  if (app.sagas.size >= sagasInFlightMax) return Promise.resolve({ ok: false, error: 'busy', leader: null });
  const saga = run()
    .catch((error: unknown): SagaAnswer => ({ ok: false, error: 'sagaFailed', detail: error instanceof Error ? error.message : String(error), leader: null }))
    .finally(() => app.sagas.delete(key));
  app.sagas.set(key, saga);
  return saga;
}

async function readOrders(replica: OrderReplica, query: Extract<OrderQuery, { type: 'expired' | 'pendingPage' }>): Promise<Order[] | null> {
  const answer = await replica.read(query);
  return answer.ok ? answer.result : null;
}

/**
 * One bounded round: fence up to sweepBatchMax orders past their deadline (beside any saga of theirs still in
 * flight: the catalog orders the two), then run again the sagas of up to sweepBatchMax other pending orders.
 */
async function sweepPending(app: OrderApp, replica: OrderReplica): Promise<void> {
  if (!replica.isLeader) return;
  const batch = app.args.sweepBatchMax ?? sweepBatchMaxDefault;
  const expired = await readOrders(replica, { type: 'expired', nowMs: Date.now(), limit: batch });
  if (expired === null) return;
  for (const order of expired) void runSaga(app, `expire:${order.id}`, () => expire(app, replica, order));
  const page = await readOrders(replica, { type: 'pendingPage', after: app.cursor, limit: batch });
  if (page === null) return;
  const last = page.at(-1);
  app.cursor = page.length < batch || last === undefined ? null : { createdAt: last.createdAt, id: last.id };
  const nowMs = Date.now();
  const idle = page.filter((order) => order.deadlineAt > nowMs && !app.sagas.has(order.id) && !app.sagas.has(`expire:${order.id}`));
  if (idle.length > 0) app.context.log.info({ replica: replica.name, pending: idle.length }, `${replica.name} finishes ${idle.length} pending order(s)`);
  for (const order of idle) void runSaga(app, order.id, () => finish(app, replica, order));
  await publishWatermark(app, replica);
}

/**
 * Once per sweep: the order log's watermark (every order below it is decided here) to the catalog, which drops
 * the deduct records below it. One proposal at most, and only when the watermark moved.
 */
async function publishWatermark(app: OrderApp, replica: OrderReplica): Promise<void> {
  if (app.args.dedupePruning === false || !replica.isLeader) return;
  const answer = await replica.read({ type: 'watermark' });
  if (!answer.ok || answer.result <= app.publishedWatermark) return;
  const watermark = answer.result;
  const pruned = await proposeToCatalog(app, { type: 'prune', watermark, nowMs: Date.now() });
  // Held by a backup: nothing pruned; the next sweep proposes again.
  if (pruned === null || (pruned.result as unknown as PruneResult).held === true) return;
  app.publishedWatermark = watermark;
  app.context.log.debug({ replica: replica.name, watermark, event: 'dedupeWatermark' }, `${replica.name}: the catalog keeps deduct records from order sequence ${watermark} on`);
}

/**
 * A request that joined a saga in flight for its id gets that saga's answer only when it is the same request:
 * the same id with another item or amount is keyReused, whoever came first.
 */
function ownAnswer(answer: SagaAnswer, message: Extract<OrderAppMessage, { type: 'order' }>): SagaAnswer {
  if (!answer.ok || answer.result.kind !== 'decided') return answer;
  const first = answer.result.order;
  if (first.item === message.item && first.amount === message.amount) return answer;
  return { ok: true, index: answer.index, result: { kind: 'keyReused', first } };
}

/** The order group's state machine; also what a snapshot builder thread imports by name. */
export function createStateMachine(): OrderStateMachine {
  return new OrderStateMachine();
}

function checkArgs(args: OrderReplicaArgs): void {
  for (const name of ['orderDeadlineMs', 'sweepIntervalMs', 'sweepBatchMax', 'deductDeadlineMs'] as const) {
    const value = args[name];
    if (value !== undefined && !(Number.isSafeInteger(value) && value > 0)) throw new Error(`order replica: ${name} must be a positive integer, got ${value}`);
  }
  if ((args.sweepBatchMax ?? 0) > 1_024) throw new Error('order replica: sweepBatchMax must be at most 1024');
}

export default defineReplicaActor<OrderApp, OrderAppMessage, OrderReplicaArgs, OrderMachine>({
  createStateMachine,
  parseQuery: parseOrderQuery,
  stateMachineModule: { url: import.meta.url, exportName: 'createStateMachine' },
  init(replica, args, context) {
    checkArgs(args);
    const catalog = catalogClient(context, args.catalogMembers);
    learnCatalogFromPeers(catalog, replica, context);
    const deadlineMs = args.orderDeadlineMs ?? orderDeadlineMsDefault;
    // Often enough that an order is fenced soon after its deadline, whatever the deadline.
    const sweepMs = args.sweepIntervalMs ?? Math.max(100, Math.min(2_000, Math.floor(deadlineMs / 4)));
    context.setTimer('sweepPending', { type: 'sweepPending' }, sweepMs, { repeat: true });
    if (args.faults?.rejectWithoutFence) context.log.warn({ replica: args.name }, `${args.name}: planted bug on: the deadline rejects orders without fencing the catalog`);
    return { catalog, sagas: new Map(), args, context, hooks: sagaHooks(args.testHooks), cursor: null, publishedWatermark: 0 };
  },
  isMessage: isOrderAppMessage,
  onSoftState(app, replica, softState) {
    // A new leader can read its pending orders once its no-op commits; ReadIndex waits for exactly that.
    if (softState.role === 'leader') void sweepPending(app, replica);
  },
  receive(app, replica, message, context) {
    switch (message.type) {
      case 'order': {
        const known = message.knownConfigIndex;
        if (!replica.isLeader) return replica.withConfiguration({ ok: false, error: 'notLeader', leader: replica.leader }, known);
        const reply = context.deferReply();
        runSaga(app, message.orderId, () => commitPending(app, replica, message)).then((answer) => reply.resolve(replica.withConfiguration(ownAnswer(answer, message), known)));
        return undefined;
      }
      case 'sweepPending':
        void sweepPending(app, replica);
        return undefined;
      case 'catalogMembers':
        app.catalog.setMembers(message.members, message.configIndex);
        return undefined;
      case 'catalogConfiguration':
        return app.catalog.configuration;
      default:
        return assertNever(message, 'order message');
    }
  },
});
