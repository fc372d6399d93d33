// The generation of a restored cluster: a random value `pygmy restore` writes into every data dir it lays out
// (`cluster-generation.json`), which goes into the cluster id of every group (identity.ts, clusterIdFor). A
// cluster bootstrapped by `pygmy start` or `pygmy node` has none, and its ids are derived from names alone; a
// restored one has ids no replica of the old cluster (or of another restore from the same backup) can carry, so
// the old cluster's replicas are refused by the restored ones (otherCluster), and an old database put into a
// restored data dir (or a restored one whose generation file was removed) is refused when it opens.
// Promises: a missing file is no generation; a damaged one throws, naming the file, rather than be read as none.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export const generationFileName = 'cluster-generation.json';

/** The file's shape, as `pygmy restore` writes it. */
export interface ClusterGeneration {
  readonly generation: string;
  /** What the restore brought back, for the operator: the backup's groups, indexes and time. */
  readonly restoredFrom: unknown;
}

const generationPattern = /^[0-9a-f]{16,64}$/;

export function readClusterGeneration(dataDir: string): string | null {
  const path = join(dataDir, generationFileName);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = null;
  }
  const generation = (parsed as { generation?: unknown } | null)?.generation;
  if (typeof generation !== 'string' || !generationPattern.test(generation)) {
    throw new Error(`${path} is damaged: it must hold {"generation": "<16-64 hex digits>"}; restore the data dir again`);
  }
  return generation;
}
