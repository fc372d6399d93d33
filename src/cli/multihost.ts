// The multi-host cluster: the layout file, and one node's part of it (its actors, its transport, its gateway).
//
// Owns: parsing and checking cluster.json (every bookstore actor placed exactly once, unique node names and
// addresses), the secret (PYGMY_CLUSTER_SECRET, else the file named by `secretFile`), and the start and orderly
// stop of one node: transport listening, local children started under their own supervisor, gateway (when the
// node runs one) over a ClusterPort so asks go wherever the actor lives. Used by `pygmy node` and the tests.
import { readFileSync, rmSync } from 'node:fs';
import { isIP } from 'node:net';
import { dirname, resolve } from 'node:path';
import type { Logger } from 'pino';
import { ActorBackend } from '../http/actor-backend.js';
import { backlogShortfall } from '../http/connections.js';
import { createGateway, type Gateway } from '../http/gateway.js';
import type { AdminMode } from '../http/authorization.js';
import { ActorSystem } from '../runtime/system.js';
import { ClusterPort } from '../runtime/transport/cluster-port.js';
import { NodeTransport, type NodeAddress, type TlsFiles } from '../runtime/transport/node-transport.js';
import { cacheName, catalogMembers, clusterSpecs, clusterTimeouts, databaseBytesIn, orderMembers, replicaSpec, retireDatabase, type ClusterOptions } from '../cluster/cluster.js';
import { checkTimeouts } from '../http/timeouts.js';
import { MembershipRefusedError } from '../http/backend.js';
import { memberFilesIn } from '../raft/storage/marker.js';

export interface GatewayPlacement {
  readonly host: string;
  readonly port: number;
}

export interface NodeLayout extends NodeAddress {
  readonly gateway: GatewayPlacement | null;
}

export interface ClusterLayout {
  readonly nodes: readonly NodeLayout[];
  readonly secretFile: string | null;
  readonly tls: TlsFiles | null;
  readonly tickMs: number;
  /** Bytes of log a leader keeps for followers behind it (`logRetainBytes`; default: compaction.ts). */
  readonly logRetainBytes: number | null;
  /** `"dedupePruning": false` stops the catalog pruning settled deduct records (on by default: see OrderReplicaArgs). */
  readonly dedupePruning: boolean;
  /** Addresses the transport accepts connections from besides the nodes' own (e.g. peers behind NAT). */
  readonly allowFrom?: readonly string[];
}

/** Members of either group: the bootstrap ones (catalog-1..3, order-1..3) and any added since (catalog-4, …). */
const memberActorPattern = /^(catalog|order)-[1-9][0-9]{0,2}$/;
const isBookstoreActor = (actor: unknown): actor is string => typeof actor === 'string' && (actor === cacheName || memberActorPattern.test(actor));

/** The members of `group` the layout places, in layout order. */
export function layoutMembers(layout: ClusterLayout, group: 'catalog' | 'order'): string[] {
  return layout.nodes.flatMap((node) => node.actors).filter((actor) => actor.startsWith(`${group}-`));
}

function fail(where: string, why: string): never {
  throw new Error(`cluster config: ${where}: ${why}`);
}

function parseNode(value: unknown, index: number): NodeLayout {
  const where = `nodes[${index}]`;
  if (typeof value !== 'object' || value === null) fail(where, 'must be an object');
  const node = value as Record<string, unknown>;
  if (typeof node.name !== 'string' || !/^[a-z0-9][a-z0-9-]{0,31}$/.test(node.name)) fail(where, 'name must be 1–32 of a-z, 0-9, -');
  if (typeof node.host !== 'string' || node.host.length === 0) fail(where, 'host must be a string');
  if (!Number.isInteger(node.port) || (node.port as number) < 1 || (node.port as number) > 65535) fail(where, 'port must be 1–65535');
  if (!Array.isArray(node.actors) || !node.actors.every(isBookstoreActor)) {
    fail(where, `actors must be a list of ${cacheName}, catalog-N and order-N (N from 1 to 999)`);
  }
  let gateway: GatewayPlacement | null = null;
  if (node.gateway !== undefined) {
    const placement = node.gateway as Record<string, unknown>;
    if (typeof placement !== 'object' || placement === null || typeof placement.host !== 'string' || !Number.isInteger(placement.port)) fail(where, 'gateway must be { host, port }');
    gateway = { host: placement.host, port: placement.port as number };
  }
  return { name: node.name, host: node.host, port: node.port as number, actors: node.actors as string[], gateway };
}

/** Checks a layout; paths in it are taken relative to `baseDirectory` (the config file's directory). */
export function parseLayout(json: unknown, baseDirectory: string): ClusterLayout {
  if (typeof json !== 'object' || json === null) fail('top level', 'must be an object');
  const config = json as Record<string, unknown>;
  if (!Array.isArray(config.nodes) || config.nodes.length < 2 || config.nodes.length > 64) fail('nodes', 'must list 2–64 nodes');
  const nodes = config.nodes.map(parseNode);
  const names = new Set(nodes.map((node) => node.name));
  if (names.size !== nodes.length) fail('nodes', 'node names must be unique');
  const placed = nodes.flatMap((node) => node.actors);
  for (const actor of new Set([...placed, cacheName])) {
    const count = placed.filter((name) => name === actor).length;
    if (count !== 1) fail('nodes', `${actor} must be placed on exactly one node (found ${count})`);
  }
  // A member added since bootstrap is listed where it runs, and a removed one left out; each group keeps one.
  for (const group of ['catalog', 'order']) {
    if (!placed.some((actor) => actor.startsWith(`${group}-`))) fail('nodes', `no ${group} member is placed`);
  }
  if (!nodes.some((node) => node.gateway !== null)) fail('nodes', 'at least one node must run a gateway');
  const path = (value: unknown, where: string) => (typeof value === 'string' ? resolve(baseDirectory, value) : fail(where, 'must be a path'));
  const tls = config.tls === undefined ? null : { cert: path((config.tls as any)?.cert, 'tls.cert'), key: path((config.tls as any)?.key, 'tls.key'), ca: path((config.tls as any)?.ca, 'tls.ca') };
  const tickMs = config.tickMs === undefined ? 50 : Number(config.tickMs);
  if (!Number.isInteger(tickMs) || tickMs < 5) fail('tickMs', 'must be an integer ≥ 5');
  const logRetainBytes = config.logRetainBytes === undefined ? null : Number(config.logRetainBytes);
  if (logRetainBytes !== null && (!Number.isSafeInteger(logRetainBytes) || logRetainBytes < 0)) fail('logRetainBytes', 'must be an integer ≥ 0');
  const allowFrom = config.allowFrom ?? [];
  if (!Array.isArray(allowFrom) || !allowFrom.every((address) => typeof address === 'string' && isIP(address) !== 0)) fail('allowFrom', 'must be a list of IP addresses');
  if (config.dedupePruning !== undefined && typeof config.dedupePruning !== 'boolean') fail('dedupePruning', 'must be true or false');
  const dedupePruning = config.dedupePruning !== false;
  return { nodes, secretFile: config.secretFile === undefined ? null : path(config.secretFile, 'secretFile'), tls, tickMs, logRetainBytes, dedupePruning, allowFrom: allowFrom as string[] };
}

export function readLayout(file: string): ClusterLayout {
  return parseLayout(JSON.parse(readFileSync(file, 'utf8')), dirname(resolve(file)));
}

export function clusterSecret(layout: ClusterLayout, environment: NodeJS.ProcessEnv): Buffer | null {
  const fromEnvironment = environment.PYGMY_CLUSTER_SECRET;
  if (fromEnvironment !== undefined && fromEnvironment.length > 0) return Buffer.from(fromEnvironment);
  if (layout.secretFile !== null) return Buffer.from(readFileSync(layout.secretFile, 'utf8').trim());
  return null;
}

export interface NodeOptions {
  readonly layout: ClusterLayout;
  readonly node: string;
  readonly dataDir: string;
  readonly fresh: boolean;
  /** With `fresh`: allowed to wipe a data dir that holds members of a bootstrapped cluster. */
  readonly startNewCluster?: boolean;
  readonly secret: Buffer | null;
  readonly logger: Logger;
  /** Overrides the transport's bind address (e.g. 0.0.0.0 behind NAT); defaults to the node's host. */
  readonly listenHost?: string;
  readonly adminToken?: string | null;
  /** `off` turns the gateway's operations routes off (`--admin off`); /health and /ready stay. */
  readonly admin?: AdminMode;
  readonly onEscalate?: (reason: string) => void;
  /** How long an order may stay pending before it is fenced and rejected (default 30 s). */
  readonly orderDeadlineMs?: number;
  /** The gateway's operations listener on the gateway's host (`--ops-port`; 0 picks a free port); absent: none. */
  readonly operationsPort?: number;
  /**
   * The cluster config file, read again when a member is added on a node this one does not know yet (a host that
   * joined: the operator added it to the file). Absent: only the nodes of `layout` can take new members.
   */
  readonly configFile?: string;
}

const memberNamePattern = memberActorPattern;

/**
 * Where a new member may be started: a node this one knows (the layout's, or one admitted since), or one the
 * config file names now. Returns the node's address, or why not.
 */
function findNode(options: NodeOptions, transport: NodeTransport, node: string): NodeAddress | string {
  const known = transport.knownNodes().find((candidate) => candidate.name === node);
  if (known !== undefined) return known;
  if (options.configFile === undefined) return `${node} is not a node of the cluster config`;
  let layout: ClusterLayout;
  try {
    layout = readLayout(options.configFile);
  } catch (error) {
    return `${options.configFile} cannot be read again: ${error instanceof Error ? error.message : String(error)}`;
  }
  const listed = layout.nodes.find((candidate) => candidate.name === node);
  return listed ?? `${node} is not in ${options.configFile}: add it there (name, host, port, "actors": []) and start it with pygmy node`;
}

/**
 * Whether `node` runs now and answers its control service within nodeAnswerWaitMs, asked before anything is proposed: a member added for
 * a node that is not up would stay a learner that replicates to nobody. Admits the node first (harmless if the
 * add goes no further: it is only dialed).
 */
const nodeAnswerWaitMs = 3_000;

async function nodeAnswers(self: string, transport: NodeTransport, port: ClusterPort, node: NodeAddress): Promise<string | null> {
  if (node.name === self) return null;
  await transport.admitNode(node);
  // Within the gateway's request deadline (5 s), leaving the rest of the add its own time.
  const deadlineMs = Date.now() + nodeAnswerWaitMs;
  for (;;) {
    try {
      await port.control(node.name, { type: 'status' }, 1_000);
      return null;
    } catch (error) {
      if (Date.now() > deadlineMs) {
        return `${node.name} (${node.host}:${node.port}) does not answer: start it with pygmy node and the cluster's secret first (${error instanceof Error ? error.message : String(error)})`;
      }
      await sleep(250);
    }
  }
}

/**
 * Starts member `name` on `node`: every reachable node admits `node` (if it joined since they started) and routes
 * `name` there, then `node` spawns it. A node that does not answer is logged and skipped: it learns of the new
 * node when it is restarted with the updated config.
 */
async function startMemberOn(options: NodeOptions, transport: NodeTransport, port: ClusterPort, spawnHere: (name: string) => Promise<void>, name: string, node: string): Promise<void> {
  const address = findNode(options, transport, node);
  if (typeof address === 'string') throw new MembershipRefusedError(address);
  await transport.admitNode(address);
  await transport.place(name, address.name);
  port.placed(name, address);
  for (const other of transport.knownNodes()) {
    if (other.name === options.node) continue;
    try {
      if (other.name !== address.name) await port.control(other.name, { type: 'admitNode', node: { ...address, actors: [] } });
      await port.control(other.name, { type: 'place', name, node: address.name });
    } catch (error) {
      options.logger.warn({ node: other.name, member: name, event: 'placeSkipped' }, `${other.name} did not learn that ${name} lives on ${address.name}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  if (address.name === options.node) await spawnHere(name);
  else await port.control(address.name, { type: 'spawn', name }, 30_000);
}

/**
 * `--fresh` wipes the data dir — but a data dir whose replicas were members of a bootstrapped cluster is refused
 * unless the operator says a new cluster is meant: restarted empty, a member would forget the votes it cast and
 * the entries it acknowledged (promise 8).
 */
function wipeForNewCluster(dataDir: string, startNewCluster: boolean): void {
  const members = memberFilesIn(dataDir);
  if (members.length > 0 && !startNewCluster) {
    throw new DataDirInUseError(
      `--fresh refused: ${dataDir} holds members of a bootstrapped cluster (${members.join(', ')}). Wiping it would make ` +
      'them forget the votes they cast and the entries they acknowledged. To bring a replaced host back, start it ' +
      'without --fresh; to start a whole new cluster on every host, add --start-new-cluster (this destroys the data).',
    );
  }
  rmSync(dataDir, { recursive: true, force: true });
}

export class DataDirInUseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DataDirInUseError';
  }
}

export interface RunningNode {
  readonly system: ActorSystem;
  readonly transport: NodeTransport;
  readonly gateway: Gateway | null;
  readonly backend: ActorBackend | null;
  /** The gateway's URL, null on a node without one. */
  readonly url: string | null;
  /** Resolves when both groups have a leader (at once on a node without a gateway). */
  ready(timeoutMs: number): Promise<boolean>;
  close(): Promise<void>;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export async function startNode(options: NodeOptions): Promise<RunningNode> {
  const { layout, logger: log } = options;
  const self = layout.nodes.find((node) => node.name === options.node);
  if (self === undefined) throw new Error(`node ${options.node} is not in the cluster config (${layout.nodes.map((node) => node.name).join(', ')})`);
  // Before anything starts: a step that cannot fit inside the request deadline is a configuration error.
  const timeouts = checkTimeouts(clusterTimeouts({}));
  if (options.fresh) wipeForNewCluster(options.dataDir, options.startNewCluster === true);
  const members = { catalog: layoutMembers(layout, 'catalog'), order: layoutMembers(layout, 'order') };
  const specOptions: ClusterOptions = { host: '', port: 0, dataDir: options.dataDir, fresh: false, logger: log, tickMs: layout.tickMs, members, ...(layout.logRetainBytes === null ? {} : { logRetainBytesMax: layout.logRetainBytes }), dedupePruning: layout.dedupePruning, ...(options.orderDeadlineMs === undefined ? {} : { orderDeadlineMs: options.orderDeadlineMs }) };
  // The gateway's catalog client, once this node has one: what a restarted order replica or cache actor starts from.
  let catalogMembersNow: () => readonly string[] = () => [];
  const catalogNow = () => catalogMembersNow();
  let spawnInto: ActorSystem | null = null;
  const spawnHere = async (name: string) => {
    const group = memberNamePattern.exec(name)?.[1] as 'catalog' | 'order' | undefined;
    if (group === undefined || spawnInto === null) throw new MembershipRefusedError(`${self.name} makes only catalog-N and order-N members, not ${name}`);
    log.info({ member: name, event: 'memberSpawned' }, `${self.name}: starting new member ${name}`);
    await spawnInto.start([replicaSpec(specOptions, group, name, catalogNow)]);
  };
  // A member removed from its group, asked by the gateway that removed it: stopped for good, its files renamed
  // NAME.removed-TIMESTAMP.* (as `pygmy start` does), never deleted.
  const retireHere = async (name: string) => {
    if (!memberNamePattern.test(name) || spawnInto === null) throw new MembershipRefusedError(`${self.name} retires only catalog-N and order-N members, not ${name}`);
    await spawnInto.stop(name);
    retireDatabase(resolve(options.dataDir), name, log);
    log.info({ member: name, event: 'memberRetired' }, `${self.name}: removed member ${name} stopped, its database kept aside`);
  };
  const transport = new NodeTransport({
    self: self.name,
    nodes: layout.nodes,
    secret: options.secret,
    log,
    spawn: spawnHere,
    retire: retireHere,
    ...(options.listenHost === undefined ? {} : { listenHost: options.listenHost }),
    ...(layout.tls === null ? {} : { tls: layout.tls }),
    ...(layout.allowFrom === undefined ? {} : { allowFrom: layout.allowFrom }),
  });
  const system = new ActorSystem({ logger: log, remote: transport, onEscalate: options.onEscalate ?? (() => {}) });
  spawnInto = system;
  transport.attachSystem(system);
  await transport.listen();
  const specs = clusterSpecs(specOptions, catalogNow).filter((spec) => self.actors.includes(spec.name));
  try {
    await system.start(specs);
  } catch (error) {
    await transport.close();
    throw error;
  }
  const port = new ClusterPort({ self: self.name, nodes: layout.nodes, system });
  let gateway: Gateway | null = null;
  let backend: ActorBackend | null = null;
  let url: string | null = null;
  if (self.gateway !== null) {
    // The near cache needs the cache actor's notices in this process: only when the cache runs on this node.
    const cacheHere = self.actors.includes(cacheName);
    backend = new ActorBackend({
      actors: port, catalogMembers: members.catalog, orderMembers: members.order, cacheName, log, nodeOf: (actor) => port.nodeOf(actor), localNode: self.name, deadlineMs: timeouts.requestDeadlineMs - 250, timeouts,
      nearCache: cacheHere ? { capacity: 20_000, watch: (name, watcher) => system.watchActor(name, watcher) } : null,
      memberNodeProblem: (node) => {
        if (node === null) return 'a multi-host cluster needs the node of the new member: "node": "host-d" (--node host-d)';
        const found = findNode(options, transport, node);
        return typeof found === 'string' ? found : nodeAnswers(self.name, transport, port, found);
      },
      startMember: (_group, name, node) => startMemberOn(options, transport, port, spawnHere, name, node!),
      retireDatabase: (name) => retireDatabase(resolve(options.dataDir), name, log),
      retireElsewhere: async (name, timeoutMs) => {
        await port.control(port.nodeOf(name), { type: 'retire', name }, timeoutMs);
      },
    });
    const own = backend;
    catalogMembersNow = () => own.catalogMembersNow();
    gateway = createGateway({ backend, logger: log, host: self.gateway.host, port: self.gateway.port, adminToken: options.adminToken ?? null, admin: options.admin ?? 'on', requestDeadlineMs: timeouts.requestDeadlineMs, operations: options.operationsPort === undefined ? null : { port: options.operationsPort } });
    gateway.metrics.databaseBytesOf = databaseBytesIn(options.dataDir);
    gateway.metrics.peerLinksOf = () => transport.linkFigures();
    const address = await gateway.listen();
    const shortfall = backlogShortfall(address.backlog);
    if (shortfall !== null) log.warn({ event: 'listenBacklog', ...address.backlog }, shortfall);
    url = `http://${address.host.includes(':') ? `[${address.host}]` : address.host}:${address.port}`;
    if (address.operations !== null) log.info({ event: 'operationsListener', ...address.operations }, `gateway: operations listener on ${address.operations.host}:${address.operations.port}`);
  }
  let closing: Promise<void> | null = null;
  return {
    system,
    transport,
    gateway,
    backend,
    url,
    async ready(timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      while (backend !== null && Date.now() < deadline) {
        if (await backend.ready().catch(() => false)) return true;
        await sleep(100);
      }
      return backend === null;
    },
    close() {
      closing ??= (async () => {
        await gateway?.close().catch(() => {});
        backend?.close();
        await system.shutdown();
        await transport.close();
      })();
      return closing;
    },
  };
}
