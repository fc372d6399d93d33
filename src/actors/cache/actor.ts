// The cache actor: the gateway's cache of catalog reads, kept consistent by the catalog group's invalidations.
//
// Owns: a CachePolicy (LRU of lookups, the full list and searches, each tagged with the Raft index it reflects)
// and a client of the catalog group. Messages:
//   {type:'lookup', id} | {type:'list'} | {type:'search', topic}   ask → CacheAnswer (HIT, or MISS with servedBy);
//     list and search may name the knownIndex of the answer the asker holds: one still at it comes back unchanged
//   {type:'invalidate', items, index, previousChangeIndex}         from catalog replicas (tell): the one invalidation
//                                                                   path of a write
//   {type:'invalidate', items, index}                             ask from the operations route POST /invalidate/item
//   {type:'confirm', index}                                         ask → true once this cache has applied every
//     change up to index (read-your-writes for the gateway's own writes), false when the ask's deadline comes
//   {type:'invalidateAll'}                                          ask; drops every entry
//   {type:'renewLease'}                                             own timer: subscribe, and hear from the group
//   {type:'stats'}                                                  ask → CacheStats
//   {type:'mirrorLease'}                                            own timer: renew the gateway mirror's lease
// Tells to '$system' (notices.ts; the gateway's cache client keeps a mirror of this cache, mirror.ts):
// mirrorInvalidate {items, index} at every invalidation, mirrorForget whenever every entry is dropped, and
// mirrorLease {validUntilMs} every mirrorLeaseMs/4 while this cache's own lease stays valid until validUntilMs.
// Each is told before anything answered later (the link to '$system' is FIFO), so a `confirm` answered true
// reaches the gateway after the notices of the invalidations it confirms; and an answer says whether its entry is
// held (`held`): only held entries may be mirrored, since a load this cache refused to keep may be older than a
// forgotten change.
// Promises: a miss is a linearizable read (ReadIndex) on some catalog replica; a fill older than an invalidation
// already seen is not stored; concurrent misses on one key make one backend read; a cache that has not heard from
// the catalog group's leader for longer than its lease serves no hits (and forgets everything it had).
// The members it subscribes to and reads from are its catalog client's (client.ts), which follows the group's
// configuration from the replicas' answers; the catalog leader's configuration, named in each subscribe answer, is
// fed to it too. So a member added or removed while running is followed without a restart.
import { assertNever } from '../../assert.js';
import { parseConfiguration, type GroupClient } from '../../raft/client.js';
import { defineActor, type ActorContext } from '../../runtime/actor.js';
import { EpisodeLog, foldedSuffix } from '../../runtime/log-episodes.js';
import type { Item, Topic } from '../catalog/catalog.js';
import { catalogClient } from '../catalog/client.js';
import type { CatalogMachine, ItemsAnswer, LookupAnswer } from '../catalog/commands.js';
import { invalidateItemsMax, type MirrorNotice } from './notices.js';
import { CachePolicy, itemKey, listKey, searchKey, type CacheStats } from './policy.js';

export interface CacheArgs {
  readonly catalogMembers: readonly string[];
  readonly capacity?: number;
  readonly leaseMs?: number;
  /** False switches caching off: every read goes to the catalog group (the lookup-miss benchmark). */
  readonly enabled?: boolean;
  readonly readDeadlineMs?: number;
  /** How long one lease renewal lets the gateway's mirror serve hits (default 1000 ms, at most leaseMs / 2). */
  readonly mirrorLeaseMs?: number;
}

export interface CacheValue {
  readonly result: Item | null | readonly Item[];
  readonly topics: readonly Topic[];
}

export interface CacheAnswer extends CacheValue {
  readonly cache: 'HIT' | 'MISS';
  readonly servedBy: string | null;
  readonly index: number;
  /** True when this cache holds exactly this entry now (a hit, or a fill it kept): the gateway may mirror it. */
  readonly held: boolean;
  /**
   * The asker named this index as the one of the answer it holds (knownIndex), and the answer is still at it: result
   * and topics are left out (null and empty), so the items are not copied across threads again.
   */
  readonly unchanged?: true;
}

const systemEndpoint = '$system';

export type CacheMessage =
  | { readonly type: 'lookup'; readonly id: number }
  | { readonly type: 'list'; readonly knownIndex?: number }
  | { readonly type: 'search'; readonly topic: string; readonly knownIndex?: number }
  | { readonly type: 'invalidate'; readonly items: readonly number[]; readonly index: number; readonly previousChangeIndex?: number }
  | { readonly type: 'confirm'; readonly index: number }
  | { readonly type: 'invalidateAll' }
  | { readonly type: 'renewLease' }
  | { readonly type: 'stats' }
  | { readonly type: 'mirrorLease' };

/** The messages a cache answers from the catalog group. */
type CacheRead = Extract<CacheMessage, { readonly type: 'lookup' | 'list' | 'search' }>;

interface CacheState {
  readonly policy: CachePolicy<CacheValue>;
  readonly catalog: GroupClient<CatalogMachine>;
  readonly enabled: boolean;
  readonly readDeadlineMs: number;
  readonly mirrorLeaseMs: number;
  /** Confirmations waiting for the chain to reach their index; at most confirmWaitersMax. */
  readonly confirmations: Confirmation[];
  /** When a confirmation last made this cache renew (ask the replicas for their change index). */
  lastConfirmRenewalMs: number;
  /**
   * Every change up to this index is known to this cache: a replica that had applied through it reported a change
   * index the chain had already reached. Covers indexes of entries that changed nothing (a repeated deduct).
   */
  coveredThrough: number;
}

/** A `confirm` not yet answered: answered true when the chain reaches `index`, false at `deadlineMs`. */
interface Confirmation {
  readonly index: number;
  readonly deadlineMs: number;
  readonly reply: { resolve(value: unknown): void };
}

/** Confirmations waiting at once; past it a confirm is answered false at once (the gateway then reads around). */
export const confirmWaitersMax = 4_096;
/** The longest a confirm waits, whatever its ask's deadline. */
export const confirmWaitMsMax = 10_000;
/** A waiting confirmation asks the replicas for their change index at most this often. */
const confirmRenewalIntervalMs = 20;

const isPositiveId = (value: unknown): value is number => Number.isSafeInteger(value) && (value as number) > 0;
const isKnownIndex = (value: unknown): boolean => value === undefined || (Number.isSafeInteger(value) && (value as number) >= 0);

function isCacheMessage(message: unknown): message is CacheMessage {
  if (typeof message !== 'object' || message === null) return false;
  const candidate = message as Record<string, unknown>;
  switch (candidate.type) {
    case 'lookup':
      return isPositiveId(candidate.id);
    case 'search':
      return typeof candidate.topic === 'string' && candidate.topic.length <= 500 && isKnownIndex(candidate.knownIndex);
    case 'list':
      return isKnownIndex(candidate.knownIndex);
    case 'invalidate':
      return Array.isArray(candidate.items) && candidate.items.length <= invalidateItemsMax && candidate.items.every(isPositiveId) &&
        Number.isSafeInteger(candidate.index) && (candidate.index as number) >= 0 &&
        (candidate.previousChangeIndex === undefined ||
          (Number.isSafeInteger(candidate.previousChangeIndex) && (candidate.previousChangeIndex as number) >= 0 &&
            (candidate.previousChangeIndex as number) < (candidate.index as number)));
    case 'confirm':
      return Number.isSafeInteger(candidate.index) && (candidate.index as number) >= 0;
    case 'invalidateAll':
    case 'renewLease':
    case 'stats':
    case 'mirrorLease':
      return true;
    default:
      return false;
  }
}

/** The catalog group's answer to the query, as a cache value with the index it holds at and its change index. */
async function readCatalog(state: CacheState, query: CacheRead, deadlineAtMs: number): Promise<{ value: CacheValue & { servedBy: string }; index: number; changeIndex: number }> {
  // The replicas answer the query itself; knownIndex is between the asker and this cache.
  switch (query.type) {
    case 'lookup': {
      const answer = await state.catalog.read({ type: 'lookup', id: query.id }, deadlineAtMs);
      const value = { result: answer.result.item, topics: answer.result.topics, servedBy: answer.servedBy };
      return { value, index: answer.index, changeIndex: answer.result.changeIndex };
    }
    case 'list':
    case 'search': {
      const catalogQuery = query.type === 'list' ? { type: 'list' } as const : { type: 'search', topic: query.topic } as const;
      const answer = await state.catalog.read(catalogQuery, deadlineAtMs);
      const value = { result: answer.result.items, topics: answer.result.topics, servedBy: answer.servedBy };
      return { value, index: answer.index, changeIndex: answer.result.changeIndex };
    }
    default:
      return assertNever(query, 'cache read');
  }
}

function read(state: CacheState, key: string, query: CacheRead, context: ActorContext): Promise<CacheAnswer> {
  const load = async () => {
    const loaded = await readCatalog(state, query, context.now() + state.readDeadlineMs);
    state.policy.noteContact(context.now());
    return loaded;
  };
  if (!state.enabled) {
    return load().then((loaded) => ({ ...loaded.value, cache: 'MISS', servedBy: (loaded.value as { servedBy?: string }).servedBy ?? null, index: loaded.index, held: false }));
  }
  return state.policy.singleFlight(key, load).then((loaded) => {
    // A load may have moved the chain (a jump past a lost invalidation): confirmations may be answered now.
    settleConfirmations(state, context.now());
    const servedBy = (loaded.value as { servedBy?: string }).servedBy ?? null;
    const held = state.policy.holds(key, loaded.value);
    return { result: loaded.value.result, topics: loaded.value.topics, cache: 'MISS', servedBy, index: loaded.index, held };
  });
}

/**
 * The answer as sent: without its result and topics when the asker already holds the answer at this index (an
 * answer is a function of its query and index). A cached search is ~200 items, and copying them to the gateway's
 * thread and back into objects there was most of the work of a cached search on both threads.
 */
export function withoutWhatIsKnown(query: CacheMessage, answer: CacheAnswer): CacheAnswer {
  // A lookup names no index: the gateway mirrors lookups from their items.
  if (!('knownIndex' in query) || query.knownIndex !== answer.index) return answer;
  return { result: null, topics: [], cache: answer.cache, servedBy: answer.servedBy, index: answer.index, held: answer.held, unchanged: true };
}

function serve(state: CacheState, key: string, query: CacheRead, context: ActorContext): unknown {
  if (state.enabled) {
    const hit = state.policy.getEntry(key, context.now());
    if (hit !== undefined) {
      const answer: CacheAnswer = { result: hit.value.result, topics: hit.value.topics, cache: 'HIT', servedBy: null, index: hit.index, held: true };
      return withoutWhatIsKnown(query, answer);
    }
  }
  const reply = context.deferReply();
  read(state, key, query, context).then(
    (answer) => reply.resolve(withoutWhatIsKnown(query, answer)),
    (error: unknown) => reply.reject(error instanceof Error ? error : new Error(String(error))),
  );
  return undefined;
}

type SubscribeAnswer = {
  ok: boolean; role?: string; commitIndex?: number; lastApplied?: number; changeIndex?: number;
  voters?: readonly string[]; learners?: readonly string[]; configIndex?: number;
};

/**
 * A leader's configuration, fed to the catalog client: newer only, so an old leader cannot undo it (the client
 * then calls membersFollowed).
 */
function followConfiguration(state: CacheState, answer: SubscribeAnswer): void {
  const configuration = parseConfiguration({ index: answer.configIndex, voters: answer.voters, learners: answer.learners });
  if (configuration !== null) state.catalog.setMembers([...configuration.voters, ...configuration.learners], configuration.index);
}

/** The catalog client tries other members now: subscribe to, and read from, them (a member added, none removed). */
function membersFollowed(state: CacheState, members: readonly string[], configIndex: number, context: ActorContext): void {
  context.log.info({ members, configIndex, event: 'membersFollowed' }, `cache: the catalog group is now ${members.join(', ')} (configuration at index ${configIndex})`);
  renewLease(state, context);
}

/** Subscribes to every catalog replica; an answer from the leader renews the lease and names the members. */
function renewLease(state: CacheState, context: ActorContext): void {
  for (const member of state.catalog.configuration.members) {
    context.ask<SubscribeAnswer>(member, { type: 'subscribe', cache: context.self }, { timeoutMs: 500 }).then(
      (answer) => {
        if (!answer.ok) return;
        if (answer.role === 'leader') {
          state.policy.noteContact(context.now(), answer.commitIndex);
          renewMirrorLease(state, context);
          followConfiguration(state, answer);
        }
        if (typeof answer.changeIndex === 'number' && !state.policy.observeChangeIndex(answer.changeIndex)) {
          context.log.warn({ member, changeIndex: answer.changeIndex, event: 'chainGap' },
            `cache: ${member} is at change ${answer.changeIndex}, past what this cache was told; dropping every entry`);
        }
        // The replica pushed every change it applied before answering, and the chain has reached its change index.
        if (typeof answer.changeIndex === 'number' && Number.isSafeInteger(answer.lastApplied)) {
          state.coveredThrough = Math.max(state.coveredThrough, answer.lastApplied as number);
        }
        settleConfirmations(state, context.now());
      },
      () => {},
    );
  }
}

/**
 * Whether the chain has reached `index`: this cache applied the invalidation of every change up to it (or forgot
 * everything past it), or a replica showed there was no change it missed up to it.
 */
function confirmed(state: CacheState, index: number): boolean {
  return state.policy.knowsChange(index) || index <= state.coveredThrough;
}

/** Answers every waiting confirmation whose index the chain has reached (true) or whose wait is over (false). */
function settleConfirmations(state: CacheState, nowMs: number): void {
  if (state.confirmations.length === 0) return;
  let kept = 0;
  for (const waiting of state.confirmations) {
    if (confirmed(state, waiting.index)) waiting.reply.resolve(true);
    else if (nowMs >= waiting.deadlineMs) waiting.reply.resolve(false);
    else state.confirmations[kept++] = waiting;
  }
  state.confirmations.length = kept;
}

/**
 * Read-your-writes for a write the asker made at `index`: true once this cache has applied every change up to it.
 * The replicas push each change before they answer anything later, so the push of a write the asker saw committed
 * is usually here already; if not, this cache asks the replicas for their change index (a gap then makes it forget
 * everything, which also confirms). The answer follows the mirror notices of what it confirms (FIFO to '$system').
 */
function confirm(state: CacheState, index: number, context: ActorContext): unknown {
  if (confirmed(state, index)) return true;
  if (state.confirmations.length >= confirmWaitersMax) return false;
  const nowMs = context.now();
  const reply = context.deferReply();
  // The ask's own deadline (its time remaining, carried by the runtime): past it nobody waits for the answer.
  state.confirmations.push({ index, deadlineMs: Math.min(reply.deadlineAtMs, nowMs + confirmWaitMsMax), reply });
  if (nowMs - state.lastConfirmRenewalMs >= confirmRenewalIntervalMs) {
    state.lastConfirmRenewalMs = nowMs;
    renewLease(state, context);
  }
  return undefined;
}

/** Lets the gateway's mirror serve until now + mirrorLeaseMs, but only if this cache's own lease lasts as long. */
function renewMirrorLease(state: CacheState, context: ActorContext): void {
  if (!state.enabled) return;
  const validUntilMs = context.now() + state.mirrorLeaseMs;
  if (!state.policy.leaseValid(validUntilMs)) return;
  context.tell(systemEndpoint, { type: 'mirrorLease', validUntilMs } satisfies MirrorNotice);
}

export default defineActor<CacheState, CacheMessage, CacheArgs>({
  init(args, context) {
    const leaseMs = args.leaseMs ?? 3_000;
    const mirrorLeaseMs = args.mirrorLeaseMs ?? Math.min(1_000, Math.floor(leaseMs / 2));
    if (!(Number.isSafeInteger(mirrorLeaseMs) && mirrorLeaseMs >= 4 && mirrorLeaseMs <= leaseMs / 2)) {
      throw new Error(`cache: mirrorLeaseMs must be an integer in 4..leaseMs/2 (${leaseMs / 2}), got ${mirrorLeaseMs}`);
    }
    // The mirror must never outlive what this cache would serve: everything it may hold goes with this cache's.
    const onForgetEverything = () => context.tell(systemEndpoint, { type: 'mirrorForget' } satisfies MirrorNotice);
    const failoverEpisodes = new EpisodeLog(10_000);
    const catalog = catalogClient(context, args.catalogMembers, {
      onFailover: (from, _to, reason) => {
        // One line per episode: while a replica is slow, every miss tried on it would otherwise write one.
        const note = failoverEpisodes.note(context.now());
        if (note.write) context.log.info({ from, reason, event: 'failover' }, `cache: ${from} did not answer (${reason}); trying the next replica${foldedSuffix(note)}`);
      },
      onMembersChanged: (members, configIndex) => membersFollowed(state, members, configIndex, context),
    });
    const state: CacheState = {
      policy: new CachePolicy<CacheValue>({ capacity: args.capacity ?? 10_000, leaseMs, now: () => context.now(), onForgetEverything }),
      catalog,
      enabled: args.enabled ?? true,
      readDeadlineMs: args.readDeadlineMs ?? 4_000,
      mirrorLeaseMs,
      confirmations: [],
      lastConfirmRenewalMs: Number.NEGATIVE_INFINITY,
      coveredThrough: 0,
    };
    context.setTimer('renewLease', { type: 'renewLease' }, Math.max(50, Math.floor(leaseMs / 4)), { repeat: true });
    // Renewed four times per mirror lease, so a renewal delayed by a busy thread rarely lets the mirror lapse.
    context.setTimer('mirrorLease', { type: 'mirrorLease' }, Math.max(1, Math.floor(mirrorLeaseMs / 4)), { repeat: true });
    renewLease(state, context);
    return state;
  },
  isMessage: isCacheMessage,
  receive(state, message, context) {
    switch (message.type) {
      case 'lookup':
        return serve(state, itemKey(message.id), message, context);
      case 'list':
        return serve(state, listKey, message, context);
      case 'search':
        return serve(state, searchKey(message.topic), message, context);
      case 'invalidate':
        // Replicas' pushes carry the change chain; an operator's explicit invalidation does not.
        // Every replica pushes each change: the copies after the first have nothing left to do (nor to mirror).
        if (message.previousChangeIndex !== undefined && state.policy.knowsChange(message.index)) return true;
        if (message.previousChangeIndex !== undefined && !state.policy.followChange(message.index, message.previousChangeIndex)) {
          context.log.warn({ index: message.index, previous: message.previousChangeIndex, event: 'chainGap' },
            `cache: an invalidation before index ${message.index} never arrived; dropping every entry`);
        }
        for (const item of message.items) state.policy.invalidate(item, message.index);
        context.tell(systemEndpoint, { type: 'mirrorInvalidate', items: message.items, index: message.index } satisfies MirrorNotice);
        settleConfirmations(state, context.now());
        return true;
      case 'confirm':
        return confirm(state, message.index, context);
      case 'invalidateAll':
        state.policy.clear();
        context.tell(systemEndpoint, { type: 'mirrorForget' } satisfies MirrorNotice);
        return true;
      case 'mirrorLease':
        renewMirrorLease(state, context);
        // Also the clock of the confirmations' waits: one whose wait is over is answered false here.
        settleConfirmations(state, context.now());
        return undefined;
      case 'renewLease':
        renewLease(state, context);
        return undefined;
      case 'stats':
        return state.policy.stats() satisfies CacheStats;
    }
  },
  status(state) {
    return { cache: state.policy.stats(), enabled: state.enabled };
  },
});
