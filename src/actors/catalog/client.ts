// The catalog group as another actor asks it: the cache actor for its misses, each order replica for its saga's
// deducts. A GroupClient whose asks go through the asking actor's own context.
//
// Promises: a member that answers ACTOR_UNAVAILABLE (stopped, restarting, isolated) is skipped for a while; one
// attempt on a member is bounded by catalogAttemptMs, after which the next member is tried. The members follow the
// catalog group's configuration from its answers (client.ts).
// Needs: the asking actor's context and the catalog members it starts from.
import { GroupClient, type GroupClientOptions } from '../../raft/client.js';
import type { ActorContext } from '../../runtime/actor.js';
import { isRuntimeError } from '../../runtime/errors.js';
import type { CatalogMachine } from './commands.js';

/** The bound of one attempt on one catalog member. */
export const catalogAttemptMs = 1_000;

/** What the asking actor hears from its client: a failover, and the members tried changing. */
export type CatalogClientHooks = Pick<GroupClientOptions, 'onFailover' | 'onMembersChanged'>;

export function catalogClient(context: ActorContext, members: readonly string[], hooks: CatalogClientHooks = {}): GroupClient<CatalogMachine> {
  return new GroupClient<CatalogMachine>({
    group: 'catalog',
    members,
    ask: (target, message, timeoutMs) => context.ask(target, message, { timeoutMs }),
    isUnavailable: (error) => isRuntimeError(error, 'ACTOR_UNAVAILABLE'),
    attemptTimeoutMs: catalogAttemptMs,
    ...hooks,
  });
}
