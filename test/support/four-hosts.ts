// Four hosts on network namespaces, for the multi-host tests that stop, wipe or hold back one host: a gateway host
// and three hosts each with one catalog and one order replica, one `pygmy node` process per host, and a probe node
// in the test process (multihost.ts) to ask single replicas directly.
// Promises: the context is filled as the hosts come up, so stopFourHosts cleans up whatever a start that failed
// half-way left (processes, the probe, the namespaces, the data dirs); every run has its own cluster secret and
// admin token. Needs root and `ip netns`; without them `multihostSkipReason` says why (and throws under CI=true).
import { randomBytes } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createTestHosts, namespaceUnavailableReason, type TestHosts } from '../../src/check/hosts.js';
import { makeTempDir, startNodeProcess, writeLayout, type LayoutNode, type NodeProcess } from '../../src/check/node-process.js';
import { startProbe, type Probe } from './multihost.js';

export const fourHostNames = ['gateway', 'host-a', 'host-b', 'host-c'] as const;
export type FourHostName = (typeof fourHostNames)[number];

export interface FourHosts {
  readonly secret: string;
  readonly adminToken: string;
  hosts: TestHosts | null;
  nodes: Map<string, NodeProcess>;
  layout: LayoutNode[];
  config: string;
  dataRoot: string;
  /** The gateway host's URL, once it has started. */
  url: string;
  probe: Probe | null;
}

export interface FourHostsOptions {
  /** Prefix of the temporary directory that holds the layout and one data dir a host. */
  readonly dataDirPrefix: string;
  /** Added to the process id to choose the probe's port, so that files running at once do not collide. */
  readonly probePortOffset: number;
  /** Fields laid over the generated cluster config (for example `logRetainBytes`). */
  readonly config?: Readonly<Record<string, unknown>>;
}

/** Why multi-host tests cannot run here (no root, no `ip netns`), or null; under CI=true they must run, so it throws. */
export function multihostSkipReason(): string | null {
  const reason = namespaceUnavailableReason();
  if (reason !== null && process.env.CI === 'true') throw new Error(`multi-host tests must run in CI but cannot: ${reason}`);
  return reason;
}

/** A context with nothing started yet, and a fresh cluster secret and admin token. */
export function fourHosts(): FourHosts {
  return {
    secret: randomBytes(32).toString('hex'),
    adminToken: randomBytes(16).toString('hex'),
    hosts: null,
    nodes: new Map(),
    layout: [],
    config: '',
    dataRoot: '',
    url: '',
    probe: null,
  };
}

/** Starts (again) the `pygmy node` of host `index` (0 is the gateway host) on its data dir. */
export async function startHost(context: FourHosts, index: number, waitReady = false): Promise<NodeProcess> {
  const name = fourHostNames[index]!;
  const started = await startNodeProcess({
    name,
    config: context.config,
    dataDir: join(context.dataRoot, name),
    env: { PYGMY_CLUSTER_SECRET: context.secret, PYGMY_ADMIN_TOKEN: context.adminToken },
    namespace: context.hosts!.namespaces[index]!,
    waitReady,
  });
  context.nodes.set(name, started);
  if (started.url !== null) context.url = started.url;
  return started;
}

/** Creates the namespaces and the layout, starts the three replica hosts, then the gateway host, then the probe. */
export async function startFourHosts(context: FourHosts, options: FourHostsOptions): Promise<void> {
  context.hosts = createTestHosts(4);
  context.dataRoot = makeTempDir(options.dataDirPrefix);
  const port = 34900;
  const addresses = context.hosts.addresses;
  context.layout = [
    { name: 'a-probe', host: addresses[0]!.replace(/\.\d+$/, '.1'), port: 20_000 + ((process.pid + options.probePortOffset) % 10_000), actors: [] },
    { name: 'gateway', host: addresses[0]!, port, actors: ['cache'], gateway: { host: addresses[0]!, port: 34800 } },
    { name: 'host-a', host: addresses[1]!, port, actors: ['catalog-1', 'order-1'] },
    { name: 'host-b', host: addresses[2]!, port, actors: ['catalog-2', 'order-2'] },
    { name: 'host-c', host: addresses[3]!, port, actors: ['catalog-3', 'order-3'] },
  ];
  context.config = writeLayout(context.dataRoot, context.layout);
  if (options.config !== undefined) {
    const config = JSON.parse(readFileSync(context.config, 'utf8')) as Record<string, unknown>;
    writeFileSync(context.config, JSON.stringify({ ...config, ...options.config }, null, 2));
  }
  await Promise.all([1, 2, 3].map((index) => startHost(context, index)));
  await startHost(context, 0, true);
  context.probe = await startProbe('a-probe', context.layout, Buffer.from(context.secret));
}

/** Stops every node and the probe, removes the namespaces and the data dirs. */
export async function stopFourHosts(context: FourHosts): Promise<void> {
  await Promise.all([...context.nodes.values()].map((node) => node.stop()));
  await context.probe?.close();
  context.hosts?.cleanup();
  if (context.dataRoot !== '') rmSync(context.dataRoot, { recursive: true, force: true });
}
