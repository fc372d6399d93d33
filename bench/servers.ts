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

export interface RunningServer {
  readonly url: string;
  /** The process that answers the load (etcd: the leader member). */
  readonly pid: number;
  /** Every process the server is made of (one for Pygmy and the baseline, one per member for etcd). */
  readonly pids: readonly number[];
  stop(): Promise<void>;
}

const cliPath = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const baselinePath = fileURLToPath(new URL('./baseline-server.js', import.meta.url));
const readyTimeoutMs = 60_000;
const stopTimeoutMs = 15_000;
const outputTailBytesMax = 4_096;

function waitReady(child: ChildProcess, pattern: RegExp, what: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let seen = '';
    let tail = '';
    const timer = setTimeout(() => finish(new Error(`${what} did not print its ready line within ${readyTimeoutMs} ms:\n${tail}`)), readyTimeoutMs);
    const onData = (chunk: Buffer) => {
      seen = (seen + chunk.toString('utf8')).slice(-outputTailBytesMax);
      const match = pattern.exec(seen);
      if (match?.[1] !== undefined) finish(null, match[1]);
    };
    const onError = (chunk: Buffer) => {
      tail = (tail + chunk.toString('utf8')).slice(-outputTailBytesMax);
    };
    const onExit = (code: number | null) => finish(new Error(`${what} exited with ${code} before it was ready:\n${tail}`));
    function finish(error: Error | null, url?: string) {
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.off('exit', onExit);
      // Keep draining both pipes so a chatty child never blocks on a full pipe.
      child.stdout?.resume();
      if (error) reject(error);
      else resolve(url!);
    }
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onError);
    child.once('exit', onExit);
  });
}

function stopper(child: ChildProcess): () => Promise<void> {
  let stopping: Promise<void> | null = null;
  return () => {
    stopping ??= new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      const killTimer = setTimeout(() => child.kill('SIGKILL'), stopTimeoutMs);
      child.once('exit', () => {
        clearTimeout(killTimer);
        resolve();
      });
      child.kill('SIGTERM');
    });
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
    const url = await waitReady(child, pattern, what);
    return { url, pid: child.pid!, pids: [child.pid!], stop };
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
}

export function startPygmy(options: PygmyServerOptions): Promise<RunningServer> {
  const args = [
    ...(options.nodeFlags ?? []),
    cliPath, 'start', '--port', '0', ...(options.fresh === false ? [] : ['--fresh']), '--data-dir', options.dataDir, '--catalog', options.catalogPath,
    ...(options.cacheEnabled ? [] : ['--no-cache']),
  ];
  // The bench's cluster is its own, on loopback: an admin token exported in the shell would lock the bench out of
  // /cluster and the fault routes, so it is not passed on.
  return launch(args, /ready at (http:\/\/\S+)/, 'pygmy start', { ...process.env, PYGMY_ADMIN_TOKEN: undefined, LOG_LEVEL: 'warn' });
}

export function startBaseline(nodeFlags: readonly string[] = []): Promise<RunningServer> {
  return launch([...nodeFlags, baselinePath], /baseline: ready at (http:\/\/\S+)/, 'the baseline server', process.env);
}
