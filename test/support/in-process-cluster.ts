// `pygmy start`'s cluster in the test process, for the end-to-end tests that reach inside it (stop a replica, ask
// an actor directly): on a fresh data dir of its own, on loopback with a port the system picks, logging nothing.
// Promises: however the body ends, the cluster is closed and its data dir removed. Needs nothing but a writable
// temporary directory.
import { startCluster, type ClusterOptions, type RunningCluster } from '../../src/cluster/cluster.js';
import { createLogger } from '../../src/cli/logger.js';
import { makeDataDir, removeDataDir } from './pygmy-process.js';

/** Options laid over the defaults (`tickMs` 20, a fresh catalog); the place, the data dir and the logger are fixed. */
export type InProcessClusterOptions = Partial<Omit<ClusterOptions, 'host' | 'port' | 'dataDir' | 'logger'>>;

/** Starts the cluster, runs `body` on it, then closes it and removes its data dir. */
export async function withInProcessCluster(body: (cluster: RunningCluster) => Promise<void>, options: InProcessClusterOptions = {}): Promise<void> {
  const dataDir = makeDataDir();
  const logger = createLogger({ level: 'warn', pretty: false, destination: { write: () => true } });
  try {
    const cluster = await startCluster({ fresh: true, tickMs: 20, ...options, host: '127.0.0.1', port: 0, dataDir, logger });
    try {
      await body(cluster);
    } finally {
      await cluster.close();
    }
  } finally {
    removeDataDir(dataDir);
  }
}
