// The timeouts of one request, in one place, and the relations between them, checked once at start-up.
//
// A request has one deadline, made by the gateway (src/http/deadlines.ts) and carried with every ask as time
// remaining. The other timeouts bound one step inside it: an attempt on one replica before the group client tries
// the next (src/raft/client.ts), the order saga's wait for the catalog's deduct (src/actors/order/actor.ts), the
// cache actor's read of a miss (src/actors/cache/actor.ts), the cache's confirmation of a write
// (src/actors/cache/client.ts). Each must fit inside the request deadline, or the client is answered 503 while
// the step is still running: an order would then be "outcome unknown" for want of time, on every request.
// checkTimeouts() refuses such a configuration with a message naming both values; the cluster assembly calls it
// before it starts anything (src/cluster/cluster.ts, src/cli/multihost.ts).

import { confirmTimeoutMsMax } from '../actors/cache/client.js';

export interface Timeouts {
  /** The gateway's deadline of every request. */
  readonly requestDeadlineMs: number;
  /** One attempt on one catalog replica, then the next is tried. */
  readonly catalogAttemptMs: number;
  /** One attempt on one order replica, then the next is tried. */
  readonly orderAttemptMs: number;
  /** How long the order saga waits for the catalog group to take an order's deduct. */
  readonly sagaDeductMs: number;
  /** How long the cache actor waits for the catalog group to answer a miss. */
  readonly cacheReadMs: number;
}

export const timeoutsDefault: Timeouts = {
  requestDeadlineMs: 5_000,
  catalogAttemptMs: 1_000,
  orderAttemptMs: 2_500,
  sagaDeductMs: 4_000,
  cacheReadMs: 4_000,
};

export class TimeoutsError extends Error {
  override readonly name = 'TimeoutsError';
}

/** What is wrong with these timeouts, one sentence each; empty when they fit together. */
export function timeoutsProblems(timeouts: Timeouts): string[] {
  const problems: string[] = [];
  for (const [name, value] of Object.entries(timeouts)) {
    if (!(Number.isSafeInteger(value) && value > 0)) problems.push(`${name} must be a positive integer number of ms, got ${value}`);
  }
  if (problems.length > 0) return problems;
  const request = `the request deadline (requestDeadlineMs = ${timeouts.requestDeadlineMs} ms)`;
  const inside = (name: keyof Timeouts, what: string, otherwise: string) => {
    if (timeouts[name] >= timeouts.requestDeadlineMs) {
      problems.push(`${what} (${name} = ${timeouts[name]} ms) must be shorter than ${request}: ${otherwise}`);
    }
  };
  inside('sagaDeductMs', "the order saga's wait for the catalog", 'orders would be answered 503 while their saga still waits');
  inside('cacheReadMs', "the cache's read of a miss", 'a miss the catalog answers slowly would be answered 503 while the cache still waits');
  inside('catalogAttemptMs', 'an attempt on one catalog replica', 'a slow replica would use up the request before the next one is tried');
  inside('orderAttemptMs', 'an attempt on one order replica', 'a slow replica would use up the request before the next one is tried');
  if (confirmTimeoutMsMax >= timeouts.requestDeadlineMs) {
    problems.push(`the cache's confirmation of a write (at most ${confirmTimeoutMsMax} ms) must be shorter than ${request}`);
  }
  return problems;
}

/** Returns the timeouts when they fit together; throws TimeoutsError naming every problem otherwise. */
export function checkTimeouts(timeouts: Timeouts): Timeouts {
  const problems = timeoutsProblems(timeouts);
  if (problems.length > 0) throw new TimeoutsError(`timeouts do not fit together: ${problems.join('; ')}`);
  return timeouts;
}
