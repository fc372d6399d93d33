// The convergence promise as a checker: replicas of a group that have applied the same index have the same state
// hash. Returns the anomalies found (empty when the promise holds).
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
