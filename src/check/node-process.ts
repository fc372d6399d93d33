// `pygmy node` child processes, optionally inside a network namespace (`ip netns exec`, which execs node itself,
// so the child's pid is the node's and a signal reaches it directly), and the cluster layout file they read.
//
// Promises: a started process is killed (SIGKILL) when this process exits or is interrupted, even if nobody
// stopped it; its output is kept, bounded, for error reports; temp dirs made here are removed the same way.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { NodeAddress } from '../runtime/transport/node-transport.js';
import { onProcessExit } from './hosts.js';
import { tailOutput } from './output-tail.js';

const mainScript = fileURLToPath(new URL('../cli/main.js', import.meta.url));
const outputCharsMax = 400_000;

export interface LayoutNode extends NodeAddress {
  readonly gateway?: { host: string; port: number };
}

export interface NodeProcess {
  readonly name: string;
  readonly child: ChildProcess;
  /** The gateway's URL when started with `waitReady`, else null. */
  readonly url: string | null;
  /** The last part of what the process printed (standard output and error), bounded. */
  output(): string;
  /** SIGKILL (a crash of the host's process) and wait for the exit. */
  kill(): Promise<void>;
  /** SIGTERM, SIGKILL after 10 s; resolves with the exit code. */
  stop(): Promise<number | null>;
}

export interface NodeProcessOptions {
  readonly name: string;
  readonly config: string;
  readonly dataDir: string;
  readonly env: Record<string, string>;
  /** The network namespace to run in; the current one when absent. */
  readonly namespace?: string;
  /** Wait for `pygmy: ready at URL` (a gateway node with both groups led) instead of `listening`. */
  readonly waitReady?: boolean;
  readonly timeoutMs?: number;
  readonly logLevel?: string;
}

export function writeLayout(directory: string, nodes: readonly LayoutNode[], tickMs = 50): string {
  const file = join(directory, 'cluster.json');
  writeFileSync(file, JSON.stringify({ tickMs, nodes }, null, 2));
  return file;
}

/** A temp dir removed at process exit at the latest (remove it earlier with `rmSync`). */
export function makeTempDir(prefix: string): string {
  const directory = mkdtempSync(join(tmpdir(), prefix));
  onProcessExit(() => rmSync(directory, { recursive: true, force: true }));
  return directory;
}

function spawnNode(options: NodeProcessOptions): ChildProcess {
  const nodeArgs = [mainScript, 'node', '--config', options.config, '--node', options.name, '--data-dir', options.dataDir];
  const [command, args] = options.namespace === undefined ? [process.execPath, nodeArgs] : ['ip', ['netns', 'exec', options.namespace, process.execPath, ...nodeArgs]];
  const level = options.logLevel ?? process.env.PYGMY_TEST_LOG_LEVEL ?? 'info';
  return spawn(command, args, { env: { ...process.env, LOG_LEVEL: level, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Starts `pygmy node`; resolves once it printed that it listens (and, with `waitReady`, that its gateway is ready). */
export async function startNodeProcess(options: NodeProcessOptions): Promise<NodeProcess> {
  const child = spawnNode(options);
  const unregister = onProcessExit(() => child.kill('SIGKILL'));
  const output = tailOutput(child, outputCharsMax);
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => {
    unregister();
    resolve(code);
  }));
  const pattern = options.waitReady ? /pygmy: ready at (http:\/\/\S+)/ : /pygmy: node \S+ listening/;
  const match = await new Promise<RegExpExecArray>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`node ${options.name} not up in time; output:\n${output().slice(-3000)}`));
    }, options.timeoutMs ?? 30_000);
    const check = () => {
      const found = pattern.exec(output());
      if (found) {
        clearTimeout(timer);
        resolve(found);
      }
    };
    child.stdout!.on('data', check);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`node ${options.name} exited with ${code}; output:\n${output().slice(-3000)}`));
    });
  });
  const running = () => child.exitCode === null && child.signalCode === null;
  return {
    name: options.name,
    child,
    url: options.waitReady ? match[1]! : null,
    output,
    async kill() {
      if (running()) child.kill('SIGKILL');
      await exited;
    },
    async stop() {
      if (!running()) return child.exitCode;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}
