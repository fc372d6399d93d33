// The catalog replica actor: the catalog state machine replicated by Raft, plus cache invalidation pushes.
//
// Owns: one catalog replica (see src/raft/replica.ts for the replica protocol: propose, read, status, …) and the
// set of caches subscribed to it. Promises: after applying an entry that changed items, every subscribed cache
// is told `{type:'invalidate', items, index}` before this replica answers any later read, so a cache that fills
// from this replica has always seen the invalidations older than the fill (per-sender FIFO of the runtime).
// Every replica pushes, leader or not: a cache then never depends on one replica surviving to tell it.
import { assertNever } from '../../assert.js';
import { defineReplicaActor, type Replica, type ReplicaArgs } from '../../raft/replica.js';
import type { ActorContext } from '../../runtime/actor.js';
import type { Catalog } from './catalog.js';
import { parseCatalogQuery, type CatalogMachine, type CatalogResult } from './commands.js';
import initialCatalog from './initial.js';
import { CatalogStateMachine } from './state.js';

export interface CatalogReplicaArgs extends ReplicaArgs {
  /** The catalog every replica seeds when its database is new; the built-in four books by default. */
  readonly catalog?: Catalog;
  /** Caches subscribed from the start (the single-process cache); more may subscribe at run time. */
  readonly subscribers?: readonly string[];
}

export const subscribersMax = 64;

export type CatalogAppMessage = { readonly type: 'subscribe'; readonly cache: string };

interface CatalogApp {
  readonly subscribers: Set<string>;
}

function isCatalogAppMessage(message: unknown): message is CatalogAppMessage {
  if (typeof message !== 'object' || message === null) return false;
  const candidate = message as { type?: unknown; cache?: unknown };
  return candidate.type === 'subscribe' && typeof candidate.cache === 'string' && candidate.cache.length > 0 && candidate.cache.length <= 128;
}


/** The catalog's state machine; also what a snapshot builder thread imports by name. */
export function createStateMachine(args: CatalogReplicaArgs): CatalogStateMachine {
  return new CatalogStateMachine(args.catalog ?? initialCatalog);
}

export default defineReplicaActor<CatalogApp, CatalogAppMessage, CatalogReplicaArgs, CatalogMachine>({
  createStateMachine,
  parseQuery: parseCatalogQuery,
  stateMachineModule: { url: import.meta.url, exportName: 'createStateMachine' },
  init: (_replica, args) => ({ subscribers: new Set(args.subscribers ?? []) }),
  isMessage: isCatalogAppMessage,
  onApplied(app: CatalogApp, replica: Replica<CatalogMachine>, entry, result: CatalogResult, context: ActorContext) {
    const items = result.changed;
    if (items.length === 0) return;
    const previousChangeIndex = result.previousChangeIndex ?? 0;
    for (const cache of app.subscribers) context.tell(cache, { type: 'invalidate', items, index: entry.index, previousChangeIndex });
    if (replica.isLeader) {
      context.log.debug({ replica: replica.name, items, index: entry.index, event: 'invalidate' }, `invalidate item ${items.join(', ')} at index ${entry.index}`);
    }
  },
  receive(app, replica, message) {
    switch (message.type) {
      case 'subscribe': {
        if (!app.subscribers.has(message.cache) && app.subscribers.size >= subscribersMax) {
          return { ok: false, error: 'tooManySubscribers', leader: replica.leader };
        }
        app.subscribers.add(message.cache);
        const status = replica.status();
        // The change index lets the cache notice an invalidation it missed (see CachePolicy.observeChangeIndex).
        const changeIndex = replica.readLocal({ type: 'changeIndex' });
        // The configuration lets the cache follow membership changes: it subscribes to, and reads from, the members.
        return {
          ok: true, role: status.role, leader: status.leader, term: status.term, commitIndex: status.commitIndex, lastApplied: status.lastApplied, changeIndex,
          voters: status.voters, learners: status.learners, configIndex: status.configIndex,
        };
      }
      default:
        return assertNever(message.type, 'catalog message');
    }
  },
});
