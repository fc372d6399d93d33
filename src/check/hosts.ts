// Test hosts on one machine: network namespaces joined by veth pairs to a private bridge, so `pygmy node`
// processes run on separate network stacks with their own addresses, and a host's links can be cut (blackhole
// routes) to make partitions. Used by `pygmy check --multihost` and the multi-host tests.
//
// Promises: names are unique per run (the pid and a per-process counter, in base 36); the addresses are a
// private /24 (10.77.S.0/24) that no interface of this machine already uses; everything created is removed by
// `cleanup()`, and as a last resort when the process exits or receives SIGINT/SIGTERM, even after a failure.
// Needs: root and iproute2 (`ip netns`). `namespaceUnavailableReason()` says why not, when not.
import { spawnSync } from 'node:child_process';

/** Last-resort cleanups, run newest first on exit or on a terminating signal. */
const exitCleanups = new Set<() => void>();
let handlersInstalled = false;

function runExitCleanups(): void {
  for (const cleanup of [...exitCleanups].reverse()) {
    exitCleanups.delete(cleanup);
    try {
      cleanup();
    } catch {
      // A cleanup that fails must not keep the others from running.
    }
  }
}

function onTerminatingSignal(signal: NodeJS.Signals): void {
  runExitCleanups();
  process.exit(signal === 'SIGINT' ? 130 : 143);
}

/** Registers `cleanup` to run when the process exits or is interrupted; returns a function that unregisters it. */
export function onProcessExit(cleanup: () => void): () => void {
  if (!handlersInstalled) {
    handlersInstalled = true;
    process.on('exit', runExitCleanups);
    process.once('SIGINT', onTerminatingSignal);
    process.once('SIGTERM', onTerminatingSignal);
  }
  exitCleanups.add(cleanup);
  return () => void exitCleanups.delete(cleanup);
}

/** Why namespace hosts cannot be built here, or null when they can. */
export function namespaceUnavailableReason(): string | null {
  if (process.getuid?.() !== 0) return 'not root (network namespaces need root)';
  const probe = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  if (probe.error !== undefined) return `ip netns unavailable: ${probe.error.message} (install iproute2)`;
  if (probe.status !== 0) return `ip netns unavailable: ${probe.stderr.trim()}`;
  return null;
}

function ip(...args: string[]): void {
  const result = spawnSync('ip', args, { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`ip ${args.join(' ')} failed: ${result.stderr || result.error?.message}`);
}

const ipQuiet = (...args: string[]) => void spawnSync('ip', args, { encoding: 'utf8' });

/** The third octet of a 10.77.S.0/24 that no interface of this machine uses, starting from the pid's. */
function freeSubnet(): string {
  const listing = spawnSync('ip', ['-o', '-4', 'addr', 'show'], { encoding: 'utf8' }).stdout ?? '';
  const used = new Set([...listing.matchAll(/inet 10\.77\.(\d+)\./g)].map((match) => Number(match[1])));
  const subnetsMax = 250;
  for (let offset = 0; offset < subnetsMax; offset += 1) {
    const candidate = (process.pid + offset) % subnetsMax;
    if (!used.has(candidate)) return `10.77.${candidate}`;
  }
  throw new Error(`no free 10.77.S.0/24 subnet among ${subnetsMax}`);
}

export interface TestHosts {
  readonly namespaces: readonly string[];
  readonly addresses: readonly string[];
  /** The bridge's own address, the root namespace's address on the hosts' network. */
  readonly bridgeAddress: string;
  /** Drops every packet between host `index` and the hosts in `others` (both directions), with blackhole routes. */
  cut(index: number, others: readonly number[]): void;
  heal(index: number, others: readonly number[]): void;
  /** Removes the namespaces, links and bridge; safe to call twice. */
  cleanup(): void;
}

let hostSetsCreated = 0;

/** Builds `count` hosts on a private bridge: 10.77.S.(10+i)/24, S free on this machine and derived from the pid. */
export function createTestHosts(count: number): TestHosts {
  if (!Number.isInteger(count) || count < 1 || count > 200) throw new Error(`createTestHosts: count must be 1–200, got ${count}`);
  hostSetsCreated += 1;
  const tag = `pg${process.pid.toString(36)}${hostSetsCreated.toString(36)}`;
  const subnet = freeSubnet();
  const bridge = `${tag}br`;
  const namespaces = Array.from({ length: count }, (_, index) => `${tag}h${index}`);
  const addresses = namespaces.map((_, index) => `${subnet}.${10 + index}`);
  const cleanup = () => {
    for (const namespace of namespaces) ipQuiet('netns', 'del', namespace);
    for (let index = 0; index < count; index += 1) ipQuiet('link', 'del', `${tag}v${index}`);
    ipQuiet('link', 'del', bridge);
  };
  const unregister = onProcessExit(cleanup);
  try {
    ip('link', 'add', bridge, 'type', 'bridge');
    ip('addr', 'add', `${subnet}.1/24`, 'dev', bridge);
    ip('link', 'set', bridge, 'up');
    namespaces.forEach((namespace, index) => addHost(bridge, namespace, `${tag}v${index}`, `${tag}p${index}`, addresses[index]!));
  } catch (error) {
    cleanup();
    unregister();
    throw error;
  }
  const route = (action: 'add' | 'del', index: number, others: readonly number[]) => {
    for (const other of others) {
      ipQuiet('-n', namespaces[index]!, 'route', action, 'blackhole', `${addresses[other]}/32`);
      ipQuiet('-n', namespaces[other]!, 'route', action, 'blackhole', `${addresses[index]}/32`);
    }
  };
  return {
    namespaces,
    addresses,
    bridgeAddress: `${subnet}.1`,
    cut: (index, others) => route('add', index, others),
    heal: (index, others) => route('del', index, others),
    cleanup: () => {
      cleanup();
      unregister();
    },
  };
}

function addHost(bridge: string, namespace: string, outside: string, inside: string, address: string): void {
  ip('netns', 'add', namespace);
  ip('link', 'add', outside, 'type', 'veth', 'peer', 'name', inside);
  ip('link', 'set', inside, 'netns', namespace);
  ip('link', 'set', outside, 'master', bridge);
  ip('link', 'set', outside, 'up');
  ip('-n', namespace, 'addr', 'add', `${address}/24`, 'dev', inside);
  ip('-n', namespace, 'link', 'set', inside, 'up');
  ip('-n', namespace, 'link', 'set', 'lo', 'up');
}
