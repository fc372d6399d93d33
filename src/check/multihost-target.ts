// The multi-host target of `pygmy check --multihost`: four network-namespace hosts on a private bridge (a
// gateway host running the cache and the HTTP gateway; host-a, host-b, host-c each running one catalog and one
// order replica, host-a a second HTTP gateway too, which reaches the cache actor on the gateway host over the
// transport), one `pygmy node` process per host, reached only at the addresses created here. Clients are spread
// over both gateways, so the checkers judge one history across them.
//
// Host faults: `crash-host` kills a host's process with SIGKILL (the host of a group leader half of the time, the
// gateway host included), keeps it down for the hold time, and restarts it on the same data dir; `partition` cuts
// one replica host off (from every other host, or from the other replica hosts only, so the gateway still reaches
// a deposed leader) with blackhole routes, then heals. Admin-route faults go through the gateway, which forwards
// them to the owning node. Everything is removed by `close()`, and by hosts.ts's exit and signal handlers.
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { SeededRandom } from '../raft/sim/random.js';
import type { FinalState } from './history.js';
import { createTestHosts, namespaceUnavailableReason, type TestHosts } from './hosts.js';
import { makeTempDir, startNodeProcess, writeLayout, type LayoutNode, type NodeProcess } from './node-process.js';
import { clusterView, sleep } from './process.js';
import { readDigests, type CheckTarget, type HostFaultKind, type ReplicaGroups } from './target.js';

export interface MultihostTargetOptions {
  readonly log: (line: string) => void;
  readonly tickMs?: number;
}

const hostNames = ['gateway', 'host-a', 'host-b', 'host-c'] as const;
type HostName = (typeof hostNames)[number];
const gatewayIndex = 0;
/** The host of the second gateway (beside catalog-1 and order-1). */
const secondGatewayIndex = 1;
const replicaHostIndexes = [1, 2, 3] as const;
const transportPort = 34_900;
const gatewayPort = 34_800;
const gatewayReadyTimeoutMs = 60_000;

function layoutFor(addresses: readonly string[]): LayoutNode[] {
  return [
    { name: 'gateway', host: addresses[0]!, port: transportPort, actors: ['cache'], gateway: { host: addresses[0]!, port: gatewayPort } },
    { name: 'host-a', host: addresses[1]!, port: transportPort, actors: ['catalog-1', 'order-1'], gateway: { host: addresses[1]!, port: gatewayPort } },
    { name: 'host-b', host: addresses[2]!, port: transportPort, actors: ['catalog-2', 'order-2'] },
    { name: 'host-c', host: addresses[3]!, port: transportPort, actors: ['catalog-3', 'order-3'] },
  ];
}

class MultihostTarget implements CheckTarget {
  readonly headers: Readonly<Record<string, string>>;
  readonly url: string;
  readonly gatewayUrls: readonly string[];
  private readonly nodes = new Map<HostName, NodeProcess>();
  private readonly cuts = new Set<{ index: number; others: readonly number[] }>();
  private gatewayRestart: Promise<void> | null = null;
  private closed = false;

  constructor(
    private readonly hosts: TestHosts,
    private readonly layout: readonly LayoutNode[],
    private readonly config: string,
    private readonly dataRoot: string,
    private readonly environment: Record<string, string>,
  ) {
    this.headers = { authorization: `Bearer ${environment.PYGMY_ADMIN_TOKEN}` };
    this.url = `http://${hosts.addresses[gatewayIndex]}:${gatewayPort}`;
    this.gatewayUrls = [this.url, `http://${hosts.addresses[secondGatewayIndex]}:${gatewayPort}`];
  }

  async startHost(index: number): Promise<void> {
    const name = hostNames[index]!;
    const node = await startNodeProcess({
      name,
      config: this.config,
      dataDir: join(this.dataRoot, name),
      env: this.environment,
      namespace: this.hosts.namespaces[index]!,
      waitReady: index === gatewayIndex || index === secondGatewayIndex,
      timeoutMs: index === gatewayIndex || index === secondGatewayIndex ? gatewayReadyTimeoutMs : 30_000,
      logLevel: process.env.PYGMY_CHECK_LOG_LEVEL ?? 'warn',
    });
    this.nodes.set(name, node);
  }

  async reachable(url: string = this.url): Promise<void> {
    if (this.gatewayRestart && url === this.url) await this.gatewayRestart.catch(() => {});
  }

  /** A host index: half of the time the host of a group's leader (when one is known), else any allowed host. */
  private async chooseHost(random: SeededRandom, allowed: readonly number[]): Promise<number> {
    if (random.chance(0.5)) {
      const view = await clusterView(this.url, this.headers).catch(() => null);
      const leader = view?.leaders[random.chance(0.5) ? 'catalog' : 'order'];
      const node = view?.actors.find((actor) => actor.name === leader)?.node;
      const index = hostNames.indexOf(node as HostName);
      if (allowed.includes(index)) return index;
    }
    return random.pick(allowed);
  }

  private actorsOn(index: number): string {
    return this.layout.find((node) => node.name === hostNames[index])!.actors.join(', ') || 'no actors';
  }

  async injectHostFault(kind: HostFaultKind, random: SeededRandom, holdMs: number, record: (what: string) => void): Promise<void> {
    switch (kind) {
      case 'crash-host':
        return this.crashHost(await this.chooseHost(random, [gatewayIndex, ...replicaHostIndexes]), holdMs, record);
      case 'partition':
        return this.partition(await this.chooseHost(random, replicaHostIndexes), random.chance(0.5), holdMs, record);
      case 'crash-process':
        throw new Error('a multi-host run crashes one host at a time (crash-host), not one whole process');
      case 'pause-process':
        throw new Error('a multi-host run does not pause processes (pause-process is for the single-process target)');
      default: {
        const never: never = kind;
        throw new Error(`unknown host fault ${String(never)}`);
      }
    }
  }

  private async crashHost(index: number, holdMs: number, record: (what: string) => void): Promise<void> {
    const name = hostNames[index]!;
    record(`kill -9 ${name} (${this.actorsOn(index)}), restart after ${holdMs} ms on the same data`);
    const restart = (async () => {
      await this.nodes.get(name)!.kill();
      this.nodes.delete(name);
      await sleep(holdMs);
      await this.startHost(index);
    })();
    if (index === gatewayIndex) this.gatewayRestart = restart;
    try {
      await restart;
    } finally {
      if (index === gatewayIndex) this.gatewayRestart = null;
    }
  }

  private async partition(index: number, fromEveryHost: boolean, holdMs: number, record: (what: string) => void): Promise<void> {
    const others = fromEveryHost ? hostNames.map((_, other) => other).filter((other) => other !== index) : replicaHostIndexes.filter((other) => other !== index);
    record(`partition ${hostNames[index]} (${this.actorsOn(index)}) from ${others.map((other) => hostNames[other]).join(', ')} for ${holdMs} ms`);
    const cut = { index, others };
    this.hosts.cut(index, others);
    this.cuts.add(cut);
    try {
      await sleep(holdMs);
    } finally {
      this.hosts.heal(index, others);
      this.cuts.delete(cut);
    }
  }

  async healHosts(): Promise<void> {
    await this.reachable();
    for (const cut of this.cuts) this.hosts.heal(cut.index, cut.others);
    this.cuts.clear();
    for (let index = hostNames.length - 1; index >= 0; index -= 1) {
      if (!this.nodes.has(hostNames[index]!)) await this.startHost(index);
    }
  }

  async killAndDigest(groups: ReplicaGroups): Promise<FinalState['digests']> {
    await Promise.all([...this.nodes.values()].map((node) => node.kill()));
    this.nodes.clear();
    const hostOf = (replica: string) => this.layout.find((node) => node.actors.includes(replica))!.name;
    return readDigests((replica) => join(this.dataRoot, hostOf(replica)), groups);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.gatewayRestart?.catch(() => {});
    await Promise.all([...this.nodes.values()].map((node) => node.kill()));
    this.nodes.clear();
    this.hosts.cleanup();
    rmSync(this.dataRoot, { recursive: true, force: true });
  }
}

/** Builds the hosts and starts one node per host; throws (having removed everything) when it cannot. */
export async function startMultihostTarget(options: MultihostTargetOptions): Promise<CheckTarget> {
  const unavailable = namespaceUnavailableReason();
  if (unavailable !== null) throw new Error(`--multihost needs network namespaces: ${unavailable}`);
  const hosts = createTestHosts(hostNames.length);
  const dataRoot = makeTempDir('pygmy-check-multihost-');
  const layout = layoutFor(hosts.addresses);
  const environment = { PYGMY_CLUSTER_SECRET: randomBytes(32).toString('hex'), PYGMY_ADMIN_TOKEN: randomBytes(16).toString('hex') };
  const target = new MultihostTarget(hosts, layout, writeLayout(dataRoot, layout, options.tickMs ?? 50), dataRoot, environment);
  try {
    await Promise.all(replicaHostIndexes.map((index) => target.startHost(index)));
    await target.startHost(gatewayIndex);
  } catch (error) {
    await target.close();
    throw error;
  }
  options.log(`check: hosts ${hostNames.map((name, index) => `${name} ${hosts.addresses[index]}`).join(', ')}; gateways ${target.gatewayUrls.join(', ')}`);
  return target;
}
