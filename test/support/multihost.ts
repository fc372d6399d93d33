// Multi-host test support: `pygmy node` processes (optionally inside network namespaces), test hosts built with
// `ip netns` + veth pairs on a private bridge, partitions by blackhole routes, and a probe node that speaks the
// transport from the test process (to ask one replica directly, as another node of the cluster would).
// Everything created here is removed by `cleanup()` and, as a last resort, by a process 'exit' handler.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { ActorSystem } from '../../src/runtime/system.js';
import { NodeTransport, type NodeAddress } from '../../src/runtime/transport/node-transport.js';

const mainScript = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

export interface LayoutNode extends NodeAddress {
  readonly gateway?: { host: string; port: number };
}

export interface NodeProcess {
  readonly name: string;
  readonly child: ChildProcess;
  output(): string;
  kill(): Promise<void>;
  stop(): Promise<number | null>;
}

const living = new Set<ChildProcess>();
const cleanups: Array<() => void> = [];
process.on('exit', () => {
  for (const child of living) child.kill('SIGKILL');
  for (const cleanup of cleanups.splice(0)) cleanup();
});

export function writeLayout(directory: string, nodes: readonly LayoutNode[], tickMs = 50): string {
  const file = join(directory, 'cluster.json');
  writeFileSync(file, JSON.stringify({ tickMs, nodes }, null, 2));
  return file;
}

export function makeTempDir(prefix: string): string {
  const directory = mkdtempSync(join(tmpdir(), prefix));
  cleanups.push(() => rmSync(directory, { recursive: true, force: true }));
  return directory;
}

/** Starts `pygmy node`; resolves once it printed that it listens (and, with `waitReady`, that its gateway is ready). */
export async function startNodeProcess(options: { name: string; config: string; dataDir: string; env: Record<string, string>; namespace?: string; waitReady?: boolean; timeoutMs?: number }): Promise<NodeProcess & { url: string | null }> {
  const nodeArgs = [mainScript, 'node', '--config', options.config, '--node', options.name, '--data-dir', options.dataDir];
  const [command, args] = options.namespace === undefined ? [process.execPath, nodeArgs] : ['ip', ['netns', 'exec', options.namespace, process.execPath, ...nodeArgs]];
  const child = spawn(command, args, { env: { ...process.env, LOG_LEVEL: process.env.PYGMY_TEST_LOG_LEVEL ?? 'info', ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  living.add(child);
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => {
    living.delete(child);
    resolve(code);
  }));
  const pattern = options.waitReady ? /pygmy: ready at (http:\/\/\S+)/ : /pygmy: node \S+ listening/;
  const match = await new Promise<RegExpExecArray>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`node ${options.name} not up in time; output:\n${output.slice(-3000)}`)), options.timeoutMs ?? 30_000);
    const check = () => {
      const found = pattern.exec(output);
      if (found) {
        clearTimeout(timer);
        resolve(found);
      }
    };
    child.stdout!.on('data', check);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`node ${options.name} exited with ${code}; output:\n${output.slice(-3000)}`));
    });
  });
  return {
    name: options.name,
    child,
    url: options.waitReady ? match[1]! : null,
    output: () => output,
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

/** Why namespace tests cannot run here, or null when they can. */
export function namespaceUnavailableReason(): string | null {
  if (process.getuid?.() !== 0) return 'not root';
  const probe = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  if (probe.error !== undefined || probe.status !== 0) return `ip netns unavailable: ${probe.error?.message ?? probe.stderr}`;
  return null;
}

function ip(...args: string[]): void {
  const result = spawnSync('ip', args, { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`ip ${args.join(' ')} failed: ${result.stderr || result.error?.message}`);
}

const ipQuiet = (...args: string[]) => void spawnSync('ip', args, { encoding: 'utf8' });

export interface TestHosts {
  readonly namespaces: readonly string[];
  readonly addresses: readonly string[];
  /** Drops every packet between host `index` and the hosts in `others` (both directions), with blackhole routes. */
  cut(index: number, others: readonly number[]): void;
  heal(index: number, others: readonly number[]): void;
  cleanup(): void;
}

/** Builds `count` hosts on a private bridge: 10.77.S.(10+i)/24, S derived from the pid so runs do not collide. */
export function createTestHosts(count: number): TestHosts {
  const tag = `pg${process.pid % 100_000}`;
  const subnet = `10.77.${process.pid % 250}`;
  const bridge = `${tag}br`;
  const namespaces = Array.from({ length: count }, (_, index) => `${tag}h${index}`);
  const addresses = namespaces.map((_, index) => `${subnet}.${10 + index}`);
  const cleanup = () => {
    for (const namespace of namespaces) ipQuiet('netns', 'del', namespace);
    for (let index = 0; index < count; index += 1) ipQuiet('link', 'del', `${tag}v${index}`);
    ipQuiet('link', 'del', bridge);
  };
  cleanups.push(cleanup);
  cleanup();
  ip('link', 'add', bridge, 'type', 'bridge');
  ip('addr', 'add', `${subnet}.1/24`, 'dev', bridge);
  ip('link', 'set', bridge, 'up');
  namespaces.forEach((namespace, index) => {
    const outside = `${tag}v${index}`;
    const inside = `${tag}p${index}`;
    ip('netns', 'add', namespace);
    ip('link', 'add', outside, 'type', 'veth', 'peer', 'name', inside);
    ip('link', 'set', inside, 'netns', namespace);
    ip('link', 'set', outside, 'master', bridge);
    ip('link', 'set', outside, 'up');
    ip('-n', namespace, 'addr', 'add', `${addresses[index]}/24`, 'dev', inside);
    ip('-n', namespace, 'link', 'set', inside, 'up');
    ip('-n', namespace, 'link', 'set', 'lo', 'up');
  });
  const route = (action: 'add' | 'del', index: number, others: readonly number[]) => {
    for (const other of others) {
      ipQuiet('-n', namespaces[index]!, 'route', action, 'blackhole', `${addresses[other]}/32`);
      ipQuiet('-n', namespaces[other]!, 'route', action, 'blackhole', `${addresses[index]}/32`);
    }
  };
  return { namespaces, addresses, cut: (index, others) => route('add', index, others), heal: (index, others) => route('del', index, others), cleanup };
}

/** A node without actors, in the test process: asks any actor of the cluster directly over the transport. */
export async function startProbe(name: string, nodes: readonly NodeAddress[], secret: Buffer): Promise<{ system: ActorSystem; transport: NodeTransport; close(): Promise<void> }> {
  const log = pino({ level: 'silent' });
  const transport = new NodeTransport({ self: name, nodes, secret, log });
  const system = new ActorSystem({ logger: log, remote: transport });
  transport.attachSystem(system);
  await transport.listen();
  return {
    system,
    transport,
    async close() {
      await system.shutdown();
      await transport.close();
    },
  };
}
