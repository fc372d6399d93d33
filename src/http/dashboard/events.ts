// The dashboard's event feed, derived by comparing successive samples of the cluster status and of the gateway's
// per-second numbers — never one event per request.
//
// Owns: the words of each event and the memory needed to tell a failover (which leader was lost, since when).
// Promises: `observeCluster`, `countWrites` and `observeWrites` are pure — (memory, observation, nowMs) →
// (memory, events) — so the same sequence of observations always tells the same story; `EventRing` keeps at most
// `eventsMax` events and numbers them with a sequence that only grows.
// Needs: cluster statuses in the shape of `Backend.cluster()`, samples from the LiveSampler.

import type { ActorStatus, ClusterStatus } from '../backend.js';
import type { Sample } from './sampler.js';
import { assert } from '../../assert.js';

export type FeedEventKind = 'election' | 'leader' | 'failover' | 'down' | 'up' | 'restart' | 'invalidation' | 'status';

export interface FeedEvent {
  /** Grows by one per event, so a client can tell which events it has already seen. */
  readonly sequence: number;
  readonly atMs: number;
  readonly kind: FeedEventKind;
  readonly text: string;
}

export type NewEvent = Omit<FeedEvent, 'sequence'>;

interface GroupMemory {
  readonly leader: string | null;
  /** When the current leader was last seen leading (the last observation, while it has one). */
  readonly leaderSeenMs: number;
  /** The leader this group lost and when it was last seen leading, until a new one is seen; null while it has one. */
  readonly lost: { readonly leader: string | null; readonly lastSeenMs: number } | null;
  readonly term: number;
}

export interface FeedMemory {
  readonly status: ClusterStatus | null;
  readonly groups: Readonly<Record<string, GroupMemory>>;
  /** True while the last attempt to read the cluster status failed (the failure is told once, not per poll). */
  readonly statusFailing: boolean;
}

export const emptyMemory: FeedMemory = { status: null, groups: {}, statusFailing: false };

/** Compares one cluster status with the previous one and tells what changed, in plain words. */
export function observeCluster(memory: FeedMemory, status: ClusterStatus, nowMs: number): { memory: FeedMemory; events: NewEvent[] } {
  const events: NewEvent[] = [];
  const say = (kind: FeedEventKind, text: string) => events.push({ atMs: nowMs, kind, text });
  if (memory.statusFailing) say('status', 'cluster status answers again');
  const previousByName = new Map((memory.status?.actors ?? []).map((actor) => [actor.name, actor]));
  for (const actor of status.actors) {
    const previous = previousByName.get(actor.name);
    if (previous !== undefined) compareActor(previous, actor, say);
  }
  const groups: Record<string, GroupMemory> = {};
  for (const group of Object.keys(status.leaders).sort()) {
    groups[group] = compareGroup(group, memory.groups[group], status, nowMs, say);
  }
  return { memory: { status, groups, statusFailing: false }, events };
}

/** A failed status read is told once; the next successful one says it is back. */
export function observeStatusFailure(memory: FeedMemory, reason: string, nowMs: number): { memory: FeedMemory; events: NewEvent[] } {
  if (memory.statusFailing) return { memory, events: [] };
  const events: NewEvent[] = [{ atMs: nowMs, kind: 'status', text: `cluster status unavailable: ${reason}` }];
  return { memory: { ...memory, statusFailing: true }, events };
}

function compareActor(previous: ActorStatus, actor: ActorStatus, say: (kind: FeedEventKind, text: string) => void): void {
  if (actor.restarts > previous.restarts) {
    const times = actor.restarts - previous.restarts;
    say('restart', `supervisor restarted ${actor.name} (${times === 1 ? 'once' : `${times} times`}; ${actor.restarts} in all)`);
  }
  if (previous.alive && !actor.alive) say('down', `${actor.name} is down`);
  if (!previous.alive && actor.alive) say('up', `${actor.name} is up again`);
  if (actor.alive && actor.role === 'candidate' && previous.role !== 'candidate') {
    say('election', `${actor.name} stands for election in term ${actor.term ?? '?'}`);
  }
}

function groupTerm(status: ClusterStatus, group: string): number {
  let term = 0;
  for (const actor of status.actors) {
    if (actor.group === group && actor.alive && actor.term !== null) term = Math.max(term, actor.term);
  }
  return term;
}

function compareGroup(
  group: string,
  previous: GroupMemory | undefined,
  status: ClusterStatus,
  nowMs: number,
  say: (kind: FeedEventKind, text: string) => void,
): GroupMemory {
  const leader = status.leaders[group] ?? null;
  const term = groupTerm(status, group);
  if (previous === undefined) {
    // The first observation: tell the current state, there is no change to tell yet.
    if (leader !== null) say('leader', `${leader} leads ${group} in term ${term}`);
    else say('election', `${group} has no leader yet`);
    return { leader, term, leaderSeenMs: nowMs, lost: leader === null ? { leader: null, lastSeenMs: nowMs } : null };
  }
  if (term > previous.term && leader === previous.leader) say('election', `${group} moved to term ${term}`);
  if (leader === previous.leader) {
    return { leader, term, leaderSeenMs: leader === null ? previous.leaderSeenMs : nowMs, lost: previous.lost };
  }
  if (leader === null) {
    say('election', `${group} lost its leader ${previous.leader ?? 'none'}; election under way`);
    return { leader, term, leaderSeenMs: previous.leaderSeenMs, lost: { leader: previous.leader, lastSeenMs: previous.leaderSeenMs } };
  }
  // The leader changed between two polls without a leaderless poll in between: it was lost after it was last seen.
  const lost = previous.lost ?? (previous.leader === null ? null : { leader: previous.leader, lastSeenMs: previous.leaderSeenMs });
  say('leader', `${leader} became leader of ${group} in term ${term}`);
  if (lost !== null && lost.leader !== null && lost.leader !== leader) {
    // An upper bound: the old leader may have stopped leading any time after it was last seen.
    const withinMs = Math.max(0, nowMs - lost.lastSeenMs);
    say('failover', `failover: ${group} moved from ${lost.leader} to ${leader} within ${withinMs} ms`);
  }
  return { leader, term, leaderSeenMs: nowMs, lost: null };
}

/** The routes whose successful answers invalidate cached catalog entries. */
export const invalidatingRoutes = ['order', 'updateItem', 'invalidateItem'] as const;

/** Adds the invalidating answers of one sample to a running count (a new object; the inputs are not changed). */
export function countWrites(counts: Readonly<Record<string, number>>, sample: Sample): Record<string, number> {
  const sum: Record<string, number> = { ...counts };
  for (const route of invalidatingRoutes) sum[route] = (sum[route] ?? 0) + (sample.succeededByRoute[route] ?? 0);
  return sum;
}

/** Orders, item updates and explicit invalidations answered in a window each invalidated cached entries. */
export function observeWrites(counts: Readonly<Record<string, number>>, atMs: number): NewEvent[] {
  const orders = counts['order'] ?? 0;
  const updates = counts['updateItem'] ?? 0;
  const explicit = counts['invalidateItem'] ?? 0;
  if (orders + updates + explicit === 0) return [];
  const causes: string[] = [];
  if (orders > 0) causes.push(plural(orders, 'order'));
  if (updates > 0) causes.push(plural(updates, 'item update'));
  if (explicit > 0) causes.push(plural(explicit, 'explicit invalidation'));
  return [{ atMs, kind: 'invalidation', text: `cache invalidated after ${causes.join(', ')}` }];
}

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}

/** The last `eventsMax` events, oldest first. */
export class EventRing {
  readonly eventsMax: number;
  private readonly events: FeedEvent[] = [];
  private nextSequence = 1;

  constructor(eventsMax = 200) {
    assert(Number.isInteger(eventsMax) && eventsMax > 0, `eventsMax must be a positive integer, got ${eventsMax}`);
    this.eventsMax = eventsMax;
  }

  push(event: NewEvent): FeedEvent {
    const numbered: FeedEvent = { sequence: this.nextSequence, ...event };
    this.nextSequence += 1;
    this.events.push(numbered);
    if (this.events.length > this.eventsMax) this.events.shift();
    return numbered;
  }

  /** Events with a sequence above `sequence`, oldest first. */
  after(sequence: number): FeedEvent[] {
    const result: FeedEvent[] = [];
    for (const event of this.events) if (event.sequence > sequence) result.push(event);
    return result;
  }

  get lastSequence(): number {
    return this.nextSequence - 1;
  }

  get size(): number {
    return this.events.length;
  }
}
