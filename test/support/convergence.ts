// The convergence promise as a checker: replicas of a group that have applied the same index have the same state
// hash. Returns the anomalies found (empty when the promise holds). Also reads the digests of a group's replicas
// once they have applied the same index.
import { eventually } from './pygmy-process.js';

/** What can ask a replica for its state hash: an actor system, or a probe's. */
interface Asker {
  ask<T>(name: string, message: unknown): Promise<T>;
}
export interface ReplicaDigest {
  readonly name: string;
  readonly index: number;
  readonly hash: string;
}

export function convergenceAnomalies(digests: readonly ReplicaDigest[]): string[] {
  const byIndex = new Map<number, ReplicaDigest[]>();
  for (const digest of digests) byIndex.set(digest.index, [...(byIndex.get(digest.index) ?? []), digest]);
  const anomalies: string[] = [];
  for (const [index, group] of byIndex) {
    const hashes = new Set(group.map((digest) => digest.hash));
    if (hashes.size > 1) anomalies.push(`at index ${index}: ${group.map((digest) => `${digest.name}=${digest.hash.slice(0, 12)}`).join(', ')}`);
  }
  return anomalies;
}

/** The state hashes of `members`, asked until all of them answer at the same applied index. */
export function digestsAtOneIndex(system: Asker, members: readonly string[]): Promise<ReplicaDigest[]> {
  return eventually('the replicas to apply the same index', async () => {
    const answers = await Promise.all(members.map((name) => system.ask<{ index: number; hash: string }>(name, { type: 'hash' })));
    const digests = answers.map((answer, position) => ({ name: members[position]!, ...answer }));
    return new Set(digests.map((digest) => digest.index)).size === 1 ? digests : undefined;
  });
}
