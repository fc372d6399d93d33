// The order replica actor: the order log replicated by Raft, and the order saga run by its leader.
//
// Owns: one order replica and, on the leader, the sagas in flight. The saga (DESIGN.md §3):
//   1. commit pending(orderId, item, amount) in the order group (a repeat returns the existing order);
//   2. ask the catalog leader to commit deduct(orderId, item, amount), idempotent by orderId;
//   3. commit committed(orderId, total) or rejected(orderId, reason), then answer.
// A new leader finishes every pending order it inherits, and the leader sweeps pending orders periodically, so an
// order whose saga was cut short (a crash between steps, a catalog outage) is finished exactly once.
// Messages beyond the replica protocol:
//   {type:'order', orderId, item, amount, createdAt}   ask (leader only) → {ok:true, index, result: OrderOutcome}
//   {type:'sweepPending'}                             the leader's own timer
import { GroupClient, GroupUnavailableError } from '../../raft/client.js';
import { defineReplicaActor, type Replica, type ReplicaArgs } from '../../raft/replica.js';
import type { ActorContext } from '../../runtime/actor.js';
import { isRuntimeError } from '../../runtime/errors.js';
import { encodeCatalogCommand, type DeductResult } from '../catalog/commands.js';
import { encodeOrderCommand, OrderStateMachine, type Order, type OrderResult } from './state.js';

export interface OrderReplicaArgs extends ReplicaArgs {
  readonly catalogMembers: readonly string[];
  /** How long one saga may keep trying to reach the catalog group before leaving the order pending. */
  readonly deductDeadlineMs?: number;
  readonly sweepIntervalMs?: number;
  /** Test hook: wait this long between the deduct and the final commit, widening the crash window. */
  readonly holdAfterDeductMs?: number;
}

export const sagasInFlightMax = 4_096;

export interface OrderOutcome {
  readonly bought: boolean;
  readonly order: Order;
  /** Catalog index of the deduct that decided the order (0 when it was decided earlier and is only repeated). */
  readonly catalogIndex: number;
}

export type OrderAppMessage =
  | { readonly type: 'order'; readonly orderId: string; readonly item: number; readonly amount: number; readonly createdAt: number }
  | { readonly type: 'sweepPending' };

interface OrderApp {
  readonly catalog: GroupClient;
  readonly sagas: Map<string, Promise<SagaAnswer>>;
  readonly args: OrderReplicaArgs;
  readonly context: ActorContext;
}

type SagaAnswer =
  | { readonly ok: true; readonly index: number; readonly result: OrderOutcome }
  | { readonly ok: false; readonly error: string; readonly leader: string | null };

function isOrderAppMessage(message: unknown): message is OrderAppMessage {
  if (typeof message !== 'object' || message === null) return false;
  const candidate = message as Record<string, unknown>;
  if (candidate.type === 'sweepPending') return true;
  return (
    candidate.type === 'order' && typeof candidate.orderId === 'string' && candidate.orderId.length > 0 && candidate.orderId.length <= 128 &&
    Number.isSafeInteger(candidate.item) && (candidate.item as number) > 0 &&
    Number.isSafeInteger(candidate.amount) && (candidate.amount as number) > 0 && Number.isSafeInteger(candidate.createdAt)
  );
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function outcomeOf(order: Order, catalogIndex: number): OrderOutcome {
  return { bought: order.status === 'committed', order, catalogIndex };
}

async function commitPending(app: OrderApp, replica: Replica, message: Extract<OrderAppMessage, { type: 'order' }>): Promise<SagaAnswer> {
  const pending = await replica.propose(
    encodeOrderCommand({ type: 'pending', orderId: message.orderId, item: message.item, amount: message.amount, createdAt: message.createdAt }),
  );
  if (!pending.ok) return pending;
  const result = pending.result as OrderResult;
  if (!result.ok) return { ok: false, error: `badCommand: ${result.detail}`, leader: replica.leader };
  if (result.order.status !== 'pending') return { ok: true, index: pending.index, result: outcomeOf(result.order, 0) };
  return finish(app, replica, result.order);
}

/** Steps 2 and 3 of the saga for an order already pending; safe to run again (deduct is idempotent by orderId). */
async function finish(app: OrderApp, replica: Replica, order: Order): Promise<SagaAnswer> {
  const deadlineAtMs = Date.now() + (app.args.deductDeadlineMs ?? 4_000);
  let deduct;
  try {
    deduct = await app.catalog.propose(encodeCatalogCommand({ type: 'deduct', orderId: order.id, item: order.item, amount: order.amount }), deadlineAtMs);
  } catch (error) {
    if (error instanceof GroupUnavailableError) return { ok: false, error: 'catalogUnavailable', leader: replica.leader };
    throw error;
  }
  if (app.args.holdAfterDeductMs) await sleep(app.args.holdAfterDeductMs);
  const decided = deduct.result as DeductResult | { ok: false; reason: 'badCommand'; detail: string };
  const command = decided.ok
    ? encodeOrderCommand({ type: 'committed', orderId: order.id, total: decided.total })
    : encodeOrderCommand({ type: 'rejected', orderId: order.id, reason: decided.reason });
  const final = await replica.propose(command);
  if (!final.ok) return final;
  const finalResult = final.result as OrderResult;
  if (!finalResult.ok) return { ok: false, error: `badCommand: ${finalResult.detail}`, leader: replica.leader };
  const outcome = outcomeOf(finalResult.order, deduct.index);
  // Per request, so debug: the demo shows it, production logs (info) do not.
  app.context.log.debug(
    { orderId: order.id, item: order.item, amount: order.amount, status: finalResult.order.status, event: 'order' },
    `order ${order.id}: ${order.amount} of item ${order.item} ${outcome.bought ? `bought for ${decided.ok ? decided.total : 0}` : `rejected (${decided.ok ? '' : decided.reason})`}`,
  );
  return { ok: true, index: final.index, result: outcome };
}

/** One saga per order id at a time: a retry joins the saga in flight instead of racing it. */
function runSaga(app: OrderApp, orderId: string, run: () => Promise<SagaAnswer>): Promise<SagaAnswer> {
  const existing = app.sagas.get(orderId);
  if (existing !== undefined) return existing;
  if (app.sagas.size >= sagasInFlightMax) return Promise.resolve({ ok: false, error: 'busy', leader: null });
  const saga = run()
    .catch((error: unknown): SagaAnswer => ({ ok: false, error: `saga failed: ${error instanceof Error ? error.message : String(error)}`, leader: null }))
    .finally(() => app.sagas.delete(orderId));
  app.sagas.set(orderId, saga);
  return saga;
}

/** The leader finishes the orders it inherited pending (or whose saga was cut short). */
async function sweepPending(app: OrderApp, replica: Replica): Promise<void> {
  if (!replica.isLeader) return;
  const answer = await replica.read({ type: 'pending' });
  if (!answer.ok || !Array.isArray(answer.result)) return;
  const pending = (answer.result as Order[]).filter((order) => !app.sagas.has(order.id));
  if (pending.length > 0) app.context.log.info({ replica: replica.name, pending: pending.length }, `${replica.name} finishes ${pending.length} pending order(s) it inherited`);
  for (const order of pending.slice(0, 256)) void runSaga(app, order.id, () => finish(app, replica, order));
}

/** The order group's state machine; also what a snapshot builder thread imports by name. */
export function createStateMachine(): OrderStateMachine {
  return new OrderStateMachine();
}

export default defineReplicaActor<OrderApp, OrderAppMessage, OrderReplicaArgs>({
  createStateMachine,
  stateMachineModule: { url: import.meta.url, exportName: 'createStateMachine' },
  init(_replica, args, context) {
    const catalog = new GroupClient({
      group: 'catalog',
      members: args.catalogMembers,
      ask: (target, message, timeoutMs) => context.ask(target, message, { timeoutMs }),
      isUnavailable: (error) => isRuntimeError(error, 'ACTOR_UNAVAILABLE'),
      attemptTimeoutMs: 1_000,
    });
    context.setTimer('sweepPending', { type: 'sweepPending' }, args.sweepIntervalMs ?? 2_000, { repeat: true });
    return { catalog, sagas: new Map(), args, context };
  },
  isMessage: isOrderAppMessage,
  onSoftState(app, replica, softState) {
    // A new leader can read its pending orders once its no-op commits; ReadIndex waits for exactly that.
    if (softState.role === 'leader') void sweepPending(app, replica);
  },
  receive(app, replica, message, context) {
    switch (message.type) {
      case 'order': {
        if (!replica.isLeader) return { ok: false, error: 'notLeader', leader: replica.leader };
        const reply = context.deferReply();
        runSaga(app, message.orderId, () => commitPending(app, replica, message)).then((answer) => reply.resolve(answer));
        return undefined;
      }
      case 'sweepPending':
        void sweepPending(app, replica);
        return undefined;
    }
  },
});
