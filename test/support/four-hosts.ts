// Four hosts on network namespaces, for the multi-host tests that stop, wipe or hold back one host: a gateway host
// and three hosts each with one catalog and one order replica, one `pygmy node` process per host, and a probe node
// in the test process (multihost.ts) to ask single replicas directly. On request a fifth namespace waits for
// host-d, a host that is in no layout until the test adds it. For the tests that restore a backup onto new hosts:
// the same four-host layout, its hosts started on given data dirs, and the check that the restored cluster has
// every order it had.
// Promises: the context is filled as the hosts come up, so stopFourHosts cleans up whatever a start that failed
// half-way left (processes, the probe, the namespaces, the data dirs); every run has its own cluster secret and
// admin token. Needs root and `ip netns`; without them `multihostSkipReason` says why (and throws under CI=true).
import { randomBytes } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as assert from 'uvu/assert';
import { createTestHosts, namespaceUnavailableReason, type TestHosts } from '../../src/check/hosts.js';
import { makeTempDir, startNodeProcess, writeLayout, type LayoutNode, type NodeProcess } from '../../src/check/node-process.js';
import { startProbe, type Probe } from './multihost.js';
import { http } from './pygmy-process.js';

export const fourHostNames = ['gateway', 'host-a', 'host-b', 'host-c'] as const;
export type FourHostName = (typeof fourHostNames)[number];
/** The host a test may add to the cluster later, at index 4, when asked for with `spareHost`. */
const spareHostName = 'host-d';
const hostNames: readonly string[] = [...fourHostNames, spareHostName];

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
  /** Also create the namespace of host-d (index 4), which no layout names yet. */
  readonly spareHost?: boolean;
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

/** The gateway host (the cache only) and the three replica hosts, on namespaces 0 to 3 of `hosts`. */
export function fourHostLayout(hosts: TestHosts): LayoutNode[] {
  const port = 34900;
  const addresses = hosts.addresses;
  return [
    { name: 'gateway', host: addresses[0]!, port, actors: ['cache'], gateway: { host: addresses[0]!, port: 34800 } },
    { name: 'host-a', host: addresses[1]!, port, actors: ['catalog-1', 'order-1'] },
    { name: 'host-b', host: addresses[2]!, port, actors: ['catalog-2', 'order-2'] },
    { name: 'host-c', host: addresses[3]!, port, actors: ['catalog-3', 'order-3'] },
  ];
}

export interface LayoutHostsOptions {
  readonly hosts: TestHosts;
  /** The cluster.json the nodes read; `layout` is what it lays out, the gateway host first. */
  readonly config: string;
  readonly layout: readonly LayoutNode[];
  readonly dataDirOf: (name: string) => string;
  readonly secret: string;
  /** Given to the gateway host only, when present. */
  readonly adminToken?: string;
  readonly gatewayReadyTimeoutMs?: number;
}

/**
 * One `pygmy node` a host of the layout, the replica hosts first, then the gateway host; resolves with its URL once
 * it is ready. Each node is pushed onto `nodes` as it starts, so the caller stops whatever a failed start left.
 */
export async function startLayoutHosts(options: LayoutHostsOptions, nodes: NodeProcess[]): Promise<string> {
  const { hosts, config, layout, dataDirOf, secret, adminToken } = options;
  for (const [index, node] of layout.entries()) {
    if (index === 0) continue;
    nodes.push(await startNodeProcess({ name: node.name, config, dataDir: dataDirOf(node.name), env: { PYGMY_CLUSTER_SECRET: secret }, namespace: hosts.namespaces[index]! }));
  }
  const gateway = await startNodeProcess({
    name: layout[0]!.name,
    config,
    dataDir: dataDirOf(layout[0]!.name),
    env: { PYGMY_CLUSTER_SECRET: secret, ...(adminToken === undefined ? {} : { PYGMY_ADMIN_TOKEN: adminToken }) },
    namespace: hosts.namespaces[0]!,
    waitReady: true,
    ...(options.gatewayReadyTimeoutMs === undefined ? {} : { timeoutMs: options.gatewayReadyTimeoutMs }),
  });
  nodes.push(gateway);
  return gateway.url!;
}

/** Through the gateway at `url`: every order of `keys` is there, committed, and a new order is bought. */
export async function assertOrdersRestored(url: string, keys: readonly string[]): Promise<void> {
  for (const key of keys) {
    const answer = await http('GET', `${url}/orders/${key}`, { timeoutMs: 8_000 });
    assert.is(answer.status, 200, `${key}: ${answer.text}`);
    assert.is(answer.json().result.status, 'committed', key);
  }
  assert.is((await http('POST', `${url}/order/2?amount=1`, { timeoutMs: 8_000 })).text, 'true');
}

/** Starts (again) the `pygmy node` of host `index` (0 is the gateway host, 4 the spare host) on its data dir. */
export async function startHost(context: FourHosts, index: number, waitReady = false): Promise<NodeProcess> {
  const name = hostNames[index]!;
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
  context.hosts = createTestHosts(options.spareHost === true ? 5 : 4);
  context.dataRoot = makeTempDir(options.dataDirPrefix);
  const probeHost = context.hosts.addresses[0]!.replace(/\.\d+$/, '.1');
  context.layout = [
    { name: 'a-probe', host: probeHost, port: 20_000 + ((process.pid + options.probePortOffset) % 10_000), actors: [] },
    ...fourHostLayout(context.hosts),
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
