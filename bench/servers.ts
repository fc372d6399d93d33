// The servers under load, each in its own child process so that the load generator (this process) and the
// server never share an event loop: the figures then show the server's cost, not a tug of war between the two.
//
// Owns: spawning `pygmy start` (fresh temp data dir, the generated catalog, logs at warn level and discarded)
// and the baseline server, waiting for their ready line (bounded), and stopping them (SIGTERM, then SIGKILL after
// a deadline). Promises: `stop()` always resolves and leaves no child behind; `stopAllServers()` does the same
// for every child still running, one still starting included (a signal handler's job); the temp dir is the
// caller's.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { stopChild } from './stop-child.js';

export interface RunningServer {
  readonly url: string;
  /** The process that answers the load (etcd: the leader member). */
  readonly pid: number;
  /** Every process the server is made of (one for Pygmy and the baseline, one per member for etcd). */
  readonly pids: readonly number[];
  /** Pygmy's operations listener, when it was started with one (`--ops-port`). */
  readonly operationsUrl?: string;
  stop(): Promise<void>;
}

const cliPath = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const baselinePath = fileURLToPath(new URL('./baseline-server.js', import.meta.url));
const readyTimeoutMs = 60_000;
const stopTimeoutMs = 15_000;
const outputTailBytesMax = 4_096;

/** The URLs of the ready line: group 1 the server's, group 2 (when the pattern has one) its operations listener's. */
function waitReady(child: ChildProcess, pattern: RegExp, what: string): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    let seen = '';
    let tail = '';
    const timer = setTimeout(() => finish(new Error(`${what} did not print its ready line within ${readyTimeoutMs} ms:\n${tail}`)), readyTimeoutMs);
    const onData = (chunk: Buffer) => {
      seen = (seen + chunk.toString('utf8')).slice(-outputTailBytesMax);
      const match = pattern.exec(seen);
      if (match?.[1] !== undefined) finish(null, match);
    };
    const onError = (chunk: Buffer) => {
      tail = (tail + chunk.toString('utf8')).slice(-outputTailBytesMax);
    };
    const onExit = (code: number | null) => finish(new Error(`${what} exited with ${code} before it was ready:\n${tail}`));
    function finish(error: Error | null, match?: RegExpExecArray) {
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.off('exit', onExit);
      // Keep draining both pipes so a chatty child never blocks on a full pipe.
      child.stdout?.resume();
      if (error) reject(error);
      else resolve(match!);
    }
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onError);
    child.once('exit', onExit);
  });
}

function stopper(child: ChildProcess): () => Promise<void> {
  let stopping: Promise<void> | null = null;
  return () => {
    stopping ??= stopChild(child, stopTimeoutMs);
    return stopping;
  };
}

/** The stop of every child started and not yet seen to exit. */
const running = new Set<() => Promise<void>>();

/** Stops every server child still running or starting; resolves once all have exited. */
export async function stopAllServers(): Promise<void> {
  await Promise.all([...running].map((stop) => stop()));
}

async function launch(args: string[], pattern: RegExp, what: string, environment: NodeJS.ProcessEnv): Promise<RunningServer> {
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: environment });
  const stop = stopper(child);
  running.add(stop);
  child.once('exit', () => running.delete(stop));
  try {
    const match = await waitReady(child, pattern, what);
    return { url: match[1]!, pid: child.pid!, pids: [child.pid!], stop, ...(match[2] === undefined ? {} : { operationsUrl: match[2] }) };
  } catch (error) {
    await stop();
    throw error;
  }
}

export interface PygmyServerOptions {
  readonly dataDir: string;
  readonly catalogPath: string;
  readonly cacheEnabled: boolean;
  /** Wipe the data dir first (true unless false: the scale run starts again on the databases it preloaded). */
  readonly fresh?: boolean;
  /** Extra node flags for the server process, for example `--cpu-prof`. */
  readonly nodeFlags?: readonly string[];
  /** Start an operations listener too (`--ops-port 0`); its URL is in RunningServer.operationsUrl. */
  readonly operationsListener?: boolean;
}

export function startPygmy(options: PygmyServerOptions): Promise<RunningServer> {
  const args = [
    ...(options.nodeFlags ?? []),
    cliPath, 'start', '--port', '0', ...(options.fresh === false ? [] : ['--fresh']), '--data-dir', options.dataDir, '--catalog', options.catalogPath,
    ...(options.cacheEnabled ? [] : ['--no-cache']),
    ...(options.operationsListener === true ? ['--ops-port', '0'] : []),
  ];
  const ready = options.operationsListener === true ? /ready at (http:\/\/\S+)[^]*operations at (http:\/\/\S+)/ : /ready at (http:\/\/\S+)/;
  // The bench's cluster is its own, on loopback: an admin token exported in the shell would lock the bench out of
  // /cluster and the fault routes, so it is not passed on.
  return launch(args, ready, 'pygmy start', { ...process.env, PYGMY_ADMIN_TOKEN: undefined, LOG_LEVEL: 'warn' });
}

export function startBaseline(nodeFlags: readonly string[] = []): Promise<RunningServer> {
  return launch([...nodeFlags, baselinePath], /baseline: ready at (http:\/\/\S+)/, 'the baseline server', process.env);
}
