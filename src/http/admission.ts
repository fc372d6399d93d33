// Admission control at the gateway: how much work of each class may be in flight, adapted to the queueing delay
// measured on that work. Work over the bound is answered at once (503) instead of waiting in a queue.
//
// Classes (DESIGN.md §1 "Overload"):
// - `order`: POST /order — a saga over two Raft groups, the most expensive work;
// - `read`: reads that go to the actors (the cache actor, and on a miss a linearizable read on a replica), and the
//   order queries;
// - near-cache hits are answered inline from the gateway's own mirror, in microseconds and with no queue behind
//   them, so they are never admitted or shed: they keep answering while orders are shed;
// - operations routes (/health, /ready, /metrics, admin, dashboard) are never admitted or shed either: they read
//   the control plane, not the data path, so client work cannot starve them.
//
// The bound of a class is a concurrency limit that adapts, in the manner of CoDel's reading of a queue: over each
// interval the *minimum* latency of the work completed is taken; when even the fastest request of an interval
// waited longer than the target, there is a standing queue (work is waiting behind other work, not just being
// served), and the limit is cut by a tenth. When the minimum is under the target and the limit was reached
// during the interval (more work wanted in), the limit grows by an eighth (at least one). Latency above the target
// that only some requests see (a burst that drains) does not cut the limit; only a queue that does not drain does.
// Intervals without a completed request change nothing. The limit stays within [inFlightMin, inFlightMax].
//
// Pure: time is the caller's `nowMs` (the gateway passes performance.now(), tests a hand-stepped clock).

import type { RouteKind } from './routes.js';
import { assert, assertNever } from '../assert.js';

export type AdmittedClass = 'order' | 'read';

export const admittedClasses: readonly AdmittedClass[] = ['order', 'read'];

export interface ClassBounds {
  /** A standing queue is one where even the fastest request of an interval took longer than this. */
  readonly targetDelayMs: number;
  /** How often the limit is reconsidered. */
  readonly intervalMs: number;
  readonly inFlightInitial: number;
  readonly inFlightMin: number;
  readonly inFlightMax: number;
}

export type AdmissionBounds = Readonly<Record<AdmittedClass, ClassBounds>>;

/**
 * Defaults, from the bench on one 2-core machine (DESIGN.md's cluster of three replicas per group): orders commit in
 * group-committed batches, so their throughput grows with the orders in flight (1.5k orders/s at 64, 2.9k at 500,
 * 3.1k at 2,000 with a p50 of 560 ms) — a limit under a few hundred collapses goodput, whatever the latency. And a
 * shed answer is not free: a client that ignores Retry-After sends again at once, so shedding more does not
 * lighten the gateway's thread, only starves the work it admitted. So the bound is wide and its target is the one
 * that protects the request deadline: even the fastest order of an interval waiting a second means a standing
 * queue that would soon reach the deadline (5 s in `pygmy start`). Reads through the actors are one round trip:
 * half a second.
 */
export const defaultAdmissionBounds: AdmissionBounds = {
  order: { targetDelayMs: 1_000, intervalMs: 100, inFlightInitial: 1_024, inFlightMin: 256, inFlightMax: 8_192 },
  read: { targetDelayMs: 500, intervalMs: 100, inFlightInitial: 2_048, inFlightMin: 256, inFlightMax: 8_192 },
};

/** What the limit did at the end of an interval (for the log and the tests). */
export type LimitChange =
  | { readonly kind: 'decreased'; readonly limit: number; readonly minimumLatencyMs: number }
  | { readonly kind: 'increased'; readonly limit: number; readonly minimumLatencyMs: number }
  | { readonly kind: 'unchanged'; readonly limit: number };

export function checkClassBounds(name: string, bounds: ClassBounds): void {
  for (const [field, value] of Object.entries(bounds)) {
    assert(Number.isInteger(value) && value > 0, `${name}.${field} must be a positive integer, got ${value}`);
  }
  assert(bounds.inFlightMin <= bounds.inFlightInitial && bounds.inFlightInitial <= bounds.inFlightMax, `${name}: need inFlightMin ≤ inFlightInitial ≤ inFlightMax`);
}

/** The adaptive limit of one class. */
export class AdaptiveLimit {
  limit: number;
  inFlight = 0;
  admittedCount = 0;
  shedCount = 0;
  private intervalEndsAtMs: number;
  private minimumLatencyMs = Number.POSITIVE_INFINITY;
  private completedInInterval = 0;
  private limitedInInterval = false;

  constructor(
    readonly bounds: ClassBounds,
    nowMs: number,
  ) {
    checkClassBounds('bounds', bounds);
    this.limit = bounds.inFlightInitial;
    this.intervalEndsAtMs = nowMs + bounds.intervalMs;
  }

  /** True when the work may start now (the caller must call complete() once it settles); false: answer it at once. */
  tryAdmit(nowMs: number): boolean {
    this.advance(nowMs);
    if (this.inFlight >= this.limit) {
      this.shedCount += 1;
      this.limitedInInterval = true;
      return false;
    }
    this.inFlight += 1;
    this.admittedCount += 1;
    return true;
  }

  /** The work admitted at `admittedAtMs` settled at `nowMs` (answered, failed or past its deadline). */
  complete(admittedAtMs: number, nowMs: number): LimitChange | null {
    assert(this.inFlight > 0, 'complete() without an admitted request');
    assert(nowMs >= admittedAtMs, `clock went back: admitted at ${admittedAtMs}, completed at ${nowMs}`);
    this.inFlight -= 1;
    this.minimumLatencyMs = Math.min(this.minimumLatencyMs, nowMs - admittedAtMs);
    this.completedInInterval += 1;
    return this.advance(nowMs);
  }

  /** Ends the interval when it is over: one adaptation however many intervals went by without a call. */
  advance(nowMs: number): LimitChange | null {
    if (nowMs < this.intervalEndsAtMs) return null;
    const change = this.adapt();
    this.intervalEndsAtMs = nowMs + this.bounds.intervalMs;
    this.minimumLatencyMs = Number.POSITIVE_INFINITY;
    this.completedInInterval = 0;
    this.limitedInInterval = false;
    return change;
  }

  private adapt(): LimitChange {
    if (this.completedInInterval === 0) return { kind: 'unchanged', limit: this.limit };
    const minimumLatencyMs = this.minimumLatencyMs;
    if (minimumLatencyMs > this.bounds.targetDelayMs) {
      this.limit = Math.max(this.bounds.inFlightMin, Math.floor(this.limit * 0.9));
      return { kind: 'decreased', limit: this.limit, minimumLatencyMs };
    }
    if (this.limitedInInterval && this.limit < this.bounds.inFlightMax) {
      this.limit = Math.min(this.bounds.inFlightMax, this.limit + Math.max(1, Math.floor(this.limit / 8)));
      return { kind: 'increased', limit: this.limit, minimumLatencyMs };
    }
    return { kind: 'unchanged', limit: this.limit };
  }
}

/** One adaptive limit per admitted class. */
export class Admission {
  readonly classes: Readonly<Record<AdmittedClass, AdaptiveLimit>>;

  constructor(bounds: AdmissionBounds, nowMs: number) {
    this.classes = { order: new AdaptiveLimit(bounds.order, nowMs), read: new AdaptiveLimit(bounds.read, nowMs) };
  }

  tryAdmit(workClass: AdmittedClass, nowMs: number): boolean {
    return this.classes[workClass].tryAdmit(nowMs);
  }

  complete(workClass: AdmittedClass, admittedAtMs: number, nowMs: number): LimitChange | null {
    return this.classes[workClass].complete(admittedAtMs, nowMs);
  }
}

/** The class a route's work is admitted under; null for work that is never shed (operations, errors, the dashboard). */
export function admissionClassOf(kind: RouteKind): AdmittedClass | null {
  switch (kind) {
    case 'order':
      return 'order';
    case 'lookup':
    case 'list':
    case 'search':
    case 'getOrder':
    case 'ordersOfItem':
      return 'read';
    case 'health':
    case 'ready':
    case 'cluster':
    case 'metrics':
    case 'actorAction':
    case 'groupMembers':
    case 'removeMember':
    case 'addMember':
    case 'updateItem':
    case 'invalidateItem':
    case 'dashboard':
    case 'events':
    case 'backup':
    case 'badRequest':
    case 'notFound':
    case 'methodNotAllowed':
      return null;
    default:
      return assertNever(kind);
  }
}
