// The cluster as the gateway reports it (/cluster, /metrics, the dashboard, a group's members): the runtime's
// actor statuses read field by field — a remote node's status crossed a socket — into the shapes of backend.ts.
//
// Owns: that reading only; pure, no I/O.
import { isThreadFigures } from '../runtime/thread-metrics.js';
import type { ActorStatus as RuntimeActorStatus } from '../runtime/system.js';
import type { ReplicaStatus } from '../raft/replica.js';
import { activityOf } from '../raft/activity.js';
import { UnavailableError, type ActorFigures, type ActorStatus, type ClusterStatus, type GroupMembers, type ReplicaFigures, type ReplicaGroup } from './backend.js';

const count = (value: unknown): number => (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 ? value : 0);

function imageFigures(value: unknown): Pick<ReplicaFigures, 'imageStreamsStalled' | 'imageChunksRefused' | 'imagesInstalled'> {
  const counters = (typeof value === 'object' && value !== null ? value : {}) as Record<string, unknown>;
  return {
    imageStreamsStalled: count(counters.streamsStalled),
    imageChunksRefused: count(counters.chunksRefusedChecksum) + count(counters.chunksRefusedGap) + count(counters.chunksRefusedSize),
    imagesInstalled: count(counters.imagesInstalled),
  };
}

/** The runtime figures of one actor's status, checked field by field (a remote node's status crossed a socket). */
function figuresOf(status: RuntimeActorStatus, replica: Partial<ReplicaStatus> | null): ActorFigures {
  const replicaFigures: ReplicaFigures | null =
    replica === null
      ? null
      : { leader: typeof replica.leader === 'string' ? replica.leader : null, lastIndex: count(replica.lastIndex), snapshotIndex: count(replica.snapshotIndex), fsyncs: count(replica.fsyncs),
        ...imageFigures(replica.snapshotStream), activity: activityOf(replica.activity) };
  return {
    mailboxDepth: count(status.mailboxDepth),
    refused: count(status.refused),
    deadLetters: count(status.deadLetters),
    dropped: count(status.dropped),
    processed: count(status.processed),
    thread: status.alive && isThreadFigures(status.thread) ? status.thread : null,
    replica: replicaFigures,
  };
}

/** Whose view of a group's configuration to report: a leader's, then the most recent configuration. */
function rankOf(status: Partial<ReplicaStatus>): number {
  // A leader of the highest term first; among followers, the most recent configuration.
  return status.role === 'leader' ? 2 ** 40 + (status.term ?? 0) : Math.min(status.configIndex ?? 0, 2 ** 39);
}

export function groupOf(name: string): string {
  const dash = name.lastIndexOf('-');
  return dash > 0 ? name.slice(0, dash) : name;
}

/** The status of every actor and the leader of each group, from the runtime's statuses. */
export function clusterStatus(statuses: readonly RuntimeActorStatus[], nodeOf: ((actor: string) => string) | undefined): ClusterStatus {
  const actors: ActorStatus[] = statuses.map((status) => {
    const replica = (status.alive ? status.custom : null) as Partial<ReplicaStatus> | null;
    const isReplica = replica !== null && typeof replica === 'object' && typeof replica.term === 'number';
    return {
      name: status.name,
      group: groupOf(status.name),
      node: nodeOf?.(status.name) ?? 'local',
      alive: status.alive && !status.isolated,
      role: isReplica ? (replica.role ?? null) : null,
      term: isReplica ? (replica.term ?? null) : null,
      commitIndex: isReplica ? (replica.commitIndex ?? null) : null,
      lastApplied: isReplica ? (replica.lastApplied ?? null) : null,
      restarts: status.restarts,
      figures: figuresOf(status, isReplica ? replica : null),
    };
  });
  const leaders: Record<string, string | null> = { catalog: null, order: null };
  for (const actor of actors) {
    if (actor.role !== 'leader' || !actor.alive) continue;
    const current = leaders[actor.group];
    const currentTerm = actors.find((other) => other.name === current)?.term ?? -1;
    if (current === null || current === undefined || (actor.term ?? 0) > currentTerm) leaders[actor.group] = actor.name;
  }
  return { actors, leaders };
}

/** A group's configuration as its leader (or, without one, its most recent member) reports it. */
export function membersView(statuses: readonly RuntimeActorStatus[], group: ReplicaGroup): GroupMembers {
  let best: { name: string; status: Partial<ReplicaStatus> } | null = null;
  for (const status of statuses) {
    if (groupOf(status.name) !== group || !status.alive || status.isolated) continue;
    const replica = status.custom as Partial<ReplicaStatus> | null;
    if (replica === null || typeof replica !== 'object' || !Array.isArray(replica.voters)) continue;
    if (best === null || rankOf(replica) > rankOf(best.status)) best = { name: status.name, status: replica };
  }
  if (best === null) throw new UnavailableError(`no ${group} replica answered with its configuration`);
  const view = best.status;
  return {
    voters: view.voters ?? [], learners: view.learners ?? [], configIndex: view.configIndex ?? 0,
    leader: view.role === 'leader' ? best.name : (view.leader ?? null),
  };
}
