// A real `pygmy start` process for end-to-end tests, over the checker's process helpers (src/check/process.ts):
// a fresh data dir under the OS temp dir unless one is given, a free port, logs at info (tests read log lines), a
// clean stop that the test follows with removeDataDir. Also HTTP helpers and a view of /cluster.
import {
  clusterView,
  eventually as eventuallyEvery,
  http,
  makeDataDir as makeDataDirWithPrefix,
  removeDataDir,
  sleep,
  startPygmy as startProcess,
  type ClusterView,
  type HttpAnswer,
  type PygmyProcess,
} from '../../src/check/process.js';

export { http, removeDataDir, sleep, type ClusterView, type HttpAnswer, type PygmyProcess };

export interface StartOptions {
  readonly dataDir?: string;
  readonly args?: readonly string[];
  readonly env?: Record<string, string>;
  readonly readyTimeoutMs?: number;
}

export function makeDataDir(): string {
  return makeDataDirWithPrefix('pygmy-test-');
}

export function startPygmy(options: StartOptions = {}): Promise<PygmyProcess> {
  return startProcess({
    ...options,
    dataDir: options.dataDir ?? makeDataDir(),
    env: { LOG_LEVEL: process.env.PYGMY_TEST_LOG_LEVEL ?? 'info', ...options.env },
  });
}

/** Polls `probe` every 50 ms until it returns a value other than undefined, or throws after `timeoutMs`. */
export function eventually<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 10_000, everyMs = 50): Promise<T> {
  return eventuallyEvery(what, probe, timeoutMs, everyMs);
}

/** Stops `pygmy` (when it was started) and removes its data dir; resolves with the exit code, or null. */
export async function stopAndRemove(pygmy: PygmyProcess | null): Promise<number | null> {
  if (pygmy === null) return null;
  const code = await pygmy.stop();
  removeDataDir(pygmy.dataDir);
  return code;
}

export function cluster(url: string): Promise<ClusterView> {
  return clusterView(url);
}
