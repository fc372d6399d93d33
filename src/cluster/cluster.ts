// The single-process cluster: supervisor, N catalog replicas, N order replicas (N odd, 1–7, default 3), the cache,
// the gateway.
//
// Owns: the child specs of the bookstore, start-up until both groups have a leader, and the orderly stop
// (gateway first, then children in reverse start order, each closing its database).
// Used by `pygmy start`, the benchmarks and the checker; tests run it as a real process through `pygmy start`.
import { existsSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Logger } from 'pino';
import type { CacheArgs } from '../actors/cache/actor.js';
import type { Catalog } from '../actors/catalog/catalog.js';
import type { CatalogReplicaArgs } from '../actors/catalog/actor.js';
import type { OrderReplicaArgs, OrderTestHooksSpec } from '../actors/order/actor.js';
import { ActorBackend } from '../http/actor-backend.js';
import { MembershipRefusedError } from '../http/backend.js';
import { backlogShortfall } from '../http/connections.js';
import { createGateway, type Gateway } from '../http/gateway.js';
import type { AdminMode } from '../http/authorization.js';
import { checkTimeouts, timeoutsDefault, type Timeouts } from '../http/timeouts.js';
import { ActorSystem, type ChildSpec } from '../runtime/system.js';

export interface ClusterOptions {
  readonly host: string;
  readonly port: number;
  readonly dataDir: string;
  readonly fresh: boolean;
  readonly catalog?: Catalog;
  readonly logger: Logger;
  readonly adminToken?: string | null;
  /** The gateway's operations listener (`--ops-port`; 0 picks a free port); absent: none. */
  readonly operationsPort?: number;
  /** `off` turns the gateway's operations routes off (`--admin off`); /health and /ready stay. */
  readonly admin?: AdminMode;
  /** False switches the cache off (every read is a linearizable read on a replica). */
  readonly cacheEnabled?: boolean;
  readonly cacheCapacity?: number;
  /** False keeps the gateway's near cache (a mirror of the cache actor in its thread) off; on by default. */
  readonly nearCache?: boolean;
  /** Milliseconds per Raft tick; elections take 10–20 ticks. */
  readonly tickMs?: number;
  /** Test hook for the order saga: wait between deduct and commit. */
  readonly holdAfterDeductMs?: number;
  /** How long an order may stay pending before it is fenced and rejected (default 30 s). */
  readonly orderDeadlineMs?: number;
  /** Bytes of log a leader keeps for followers behind it (default: src/raft/compaction.ts). */
  readonly logRetainBytesMax?: number;
  /** Compact a replica's log every this many applied entries (default: src/raft/replica.ts); tests use a few. */
  readonly snapshotEntriesInterval?: number;
  /** The order group publishes the dedupe watermark (see OrderReplicaArgs.dedupePruning); on unless false. */
  readonly dedupePruning?: boolean;
  /** Planted bug for the checker: the deadline rejects without fencing the catalog. */
  readonly orderBugRejectWithoutFence?: boolean;
  /** Test hook: replicas accept {type:'injectDiskFault', code} (the next disk write fails). */
  readonly diskFaultInjection?: boolean;
  readonly readyTimeoutMs?: number;
  readonly requestDeadlineMs?: number;
  /** The steps inside a request (src/http/timeouts.ts); checked against requestDeadlineMs before anything starts. */
  readonly timeouts?: Partial<Omit<Timeouts, 'requestDeadlineMs'>>;
  readonly onEscalate?: (reason: string) => void;
  /** Supervisor intensity: more than maxRestarts restarts of one actor within restartWindowMs escalates. */
  readonly maxRestarts?: number;
  readonly restartWindowMs?: number;
  /** Replicas in each group at bootstrap: odd, 1 to 7 (default 3). */
  readonly replicas?: number;
  /**
   * The members of each group as the caller knows them (a multi-host layout, where this node's data dir holds only
   * its own replicas); absent: the members this data dir runs (membersOnDisk).
   */
  readonly members?: { readonly catalog: readonly string[]; readonly order: readonly string[] };
}

export interface RunningCluster {
  readonly url: string;
  readonly port: number;
  /** The operations listener's URL, or null when there is none. */
  readonly operationsUrl: string | null;
  readonly system: ActorSystem;
  readonly gateway: Gateway;
  readonly backend: ActorBackend;
  readonly startedInMs: number;
  close(): Promise<void>;
}

/**
 * The size on disk of a replica's database under `dataDir` (its SQLite file, WAL and shared memory, named as
 * src/raft/replica.ts names them), or null when this node holds none for that actor. Read at scrape time.
 */
export function databaseBytesIn(dataDir: string): (actor: string) => number | null {
  const sizeOf = (path: string) => {
    try {
      return statSync(path).size;
    } catch {
      return null;
    }
  };
  return (actor) => {
    const main = sizeOf(resolve(dataDir, `${actor}.db`));
    if (main === null) return null;
    return main + (sizeOf(resolve(dataDir, `${actor}.db-wal`)) ?? 0) + (sizeOf(resolve(dataDir, `${actor}.db-shm`)) ?? 0);
  };
}

/**
 * A removed member's files — its database (with WAL and shared memory) and its member marker — renamed to
 * NAME.removed-TIMESTAMP.*, never deleted: what it held stays readable, and the name may be used again.
 */
export function retireDatabase(dataDir: string, name: string, log: Logger): void {
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  for (const suffix of ['.db', '.db-wal', '.db-shm', '.identity']) {
    const from = resolve(dataDir, `${name}${suffix}`);
    if (!existsSync(from)) continue;
    const to = resolve(dataDir, `${name}.removed-${stamp}${suffix}`);
    renameSync(from, to);
    log.info({ member: name, from, to, event: 'databaseRetired' }, `${name}: ${from} kept as ${to}`);
  }
}

export const catalogMembers = ['catalog-1', 'catalog-2', 'catalog-3'] as const;
export const orderMembers = ['order-1', 'order-2', 'order-3'] as const;
export const cacheName = 'cache';

export const replicasDefault = 3;

/** Why `replicas` is not a group size we run (odd, 1–7), or null when it is. */
export function replicasProblem(replicas: number): string | null {
  if (!Number.isSafeInteger(replicas) || replicas < 1 || replicas > 7 || replicas % 2 === 0) {
    return `replicas must be an odd integer from 1 to 7, got ${replicas}`;
  }
  return null;
}

/** The timeouts of a cluster: the defaults, with the request deadline and the steps the options name. */
export function clusterTimeouts(options: Pick<ClusterOptions, 'requestDeadlineMs' | 'timeouts'>): Timeouts {
  return { ...timeoutsDefault, ...options.timeouts, requestDeadlineMs: options.requestDeadlineMs ?? timeoutsDefault.requestDeadlineMs };
}

/** The bootstrap members of a group of `replicas`: catalog-1..catalog-N, order-1..order-N. */
export function groupMembers(group: 'catalog' | 'order', replicas = replicasDefault): string[] {
  const problem = replicasProblem(replicas);
  if (problem !== null) throw new RangeError(problem);
  return Array.from({ length: replicas }, (_unused, position) => `${group}-${position + 1}`);
}

const catalogModule = new URL('../actors/catalog/actor.js', import.meta.url);
const orderModule = new URL('../actors/order/actor.js', import.meta.url);
const cacheModule = new URL('../actors/cache/actor.js', import.meta.url);

/** The hooks a test asked for, as the order replica's args carry them. */
function orderTestHooks(options: ClusterOptions): OrderTestHooksSpec {
  return {
    ...(options.diskFaultInjection ? { diskFaults: true } : {}),
    ...(options.holdAfterDeductMs ? { holdAfterDeductMs: options.holdAfterDeductMs } : {}),
  };
}

/**
 * The catalog group's members as this node knows them now (its gateway's catalog client follows every change):
 * what a restarted order replica or cache actor starts from, so one restarted after the catalog moved to other
 * members still finds it. Absent on a node without a gateway: the actors learn the members from their peers and
 * the replicas' answers.
 */
export type CatalogMembersNow = () => readonly string[];

/**
 * The child spec of one replica. A member added later gets the bootstrap members as its peers (they name the
 * cluster id, and it learns the configuration in use from the leader's log).
 */
export function replicaSpec(options: ClusterOptions, group: 'catalog' | 'order', name: string, catalogNow?: CatalogMembersNow): ChildSpec {
  const dataDir = resolve(options.dataDir);
  const tickMs = options.tickMs ?? 50;
  const catalogMembers = groupMembers('catalog', options.replicas);
  const catalogRun = membersOnDisk(options, 'catalog');
  if (group === 'catalog') {
    const args: CatalogReplicaArgs = {
      name, peers: catalogMembers, dataDir, tickMs, subscribers: [cacheName],
      ...(options.catalog ? { catalog: options.catalog } : {}),
      ...(options.diskFaultInjection ? { testHooks: { diskFaults: true } } : {}),
      ...(options.logRetainBytesMax === undefined ? {} : { logRetainBytesMax: options.logRetainBytesMax }),
      ...(options.snapshotEntriesInterval === undefined ? {} : { snapshotEntriesInterval: options.snapshotEntriesInterval }),
    };
    return { name, module: catalogModule, args, restart: 'permanent' };
  }
  const args: OrderReplicaArgs = {
    name, peers: groupMembers('order', options.replicas), dataDir, tickMs, catalogMembers: catalogRun,
    deductDeadlineMs: clusterTimeouts(options).sagaDeductMs,
    ...(options.orderDeadlineMs ? { orderDeadlineMs: options.orderDeadlineMs } : {}),
    ...(options.orderBugRejectWithoutFence ? { faults: { rejectWithoutFence: true } } : {}),
    ...(options.diskFaultInjection || options.holdAfterDeductMs ? { testHooks: orderTestHooks(options) } : {}),
    ...(options.logRetainBytesMax === undefined ? {} : { logRetainBytesMax: options.logRetainBytesMax }),
    ...(options.dedupePruning === false ? { dedupePruning: false } : {}),
    ...(options.snapshotEntriesInterval === undefined ? {} : { snapshotEntriesInterval: options.snapshotEntriesInterval }),
  };
  return { name, module: orderModule, args, ...(catalogNow ? { argsAtStart: () => withCatalogMembers(args, catalogNow) } : {}), restart: 'permanent' };
}

/** `args` with the catalog members as they are now (the start-up list while the gateway knows none). */
function withCatalogMembers<Args extends { readonly catalogMembers: readonly string[] }>(args: Args, catalogNow: CatalogMembersNow): Args {
  const members = catalogNow();
  return members.length === 0 ? args : { ...args, catalogMembers: [...members] };
}

/**
 * The members of a group this data dir runs: the bootstrap members, less those removed (their database was
 * renamed NAME.removed-…), plus members added since (a NAME.db beyond the bootstrap names). So a restart runs
 * the group a membership change left, and the gateway and the order saga list it.
 */
export function membersOnDisk(options: ClusterOptions, group: 'catalog' | 'order'): string[] {
  if (options.members !== undefined) return [...options.members[group]];
  const bootstrap = groupMembers(group, options.replicas);
  let files: string[];
  try {
    files = readdirSync(resolve(options.dataDir));
  } catch {
    return bootstrap;
  }
  const removed = (name: string) => !files.includes(`${name}.db`) && files.some((file) => file.startsWith(`${name}.removed-`));
  const pattern = new RegExp(`^(${group}-[0-9]+)\\.db$`);
  const added = files.map((file) => pattern.exec(file)?.[1]).filter((name): name is string => name !== undefined && !bootstrap.includes(name));
  const numbered = (name: string) => Number(name.slice(group.length + 1));
  return [...bootstrap.filter((name) => !removed(name)), ...added.sort((left, right) => numbered(left) - numbered(right))];
}

export function clusterSpecs(options: ClusterOptions, catalogNow?: CatalogMembersNow): ChildSpec[] {
  const catalogMembers = membersOnDisk(options, 'catalog');
  const orderMembers = membersOnDisk(options, 'order');
  const catalogs = catalogMembers.map((name) => replicaSpec(options, 'catalog', name));
  const orders = orderMembers.map((name) => replicaSpec(options, 'order', name, catalogNow));
  const cacheArgs: CacheArgs = {
    catalogMembers, enabled: options.cacheEnabled ?? true, capacity: options.cacheCapacity ?? 20_000, readDeadlineMs: clusterTimeouts(options).cacheReadMs,
  };
  const cache: ChildSpec = { name: cacheName, module: cacheModule, args: cacheArgs, ...(catalogNow ? { argsAtStart: () => withCatalogMembers(cacheArgs, catalogNow) } : {}), restart: 'permanent' };
  return [...catalogs, ...orders, cache];
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

async function waitReady(backend: ActorBackend, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await backend.ready().catch(() => false)) return true;
    await sleep(25);
  }
  return false;
}

export async function startCluster(options: ClusterOptions): Promise<RunningCluster> {
  const startedAt = Date.now();
  const log = options.logger;
  // Before anything starts: a step that cannot fit inside the request deadline is a configuration error.
  const timeouts = checkTimeouts(clusterTimeouts(options));
  if (options.fresh) rmSync(options.dataDir, { recursive: true, force: true });
  const system = new ActorSystem({
    logger: log,
    onEscalate: options.onEscalate ?? (() => {}),
    ...(options.maxRestarts === undefined ? {} : { maxRestarts: options.maxRestarts }),
    ...(options.restartWindowMs === undefined ? {} : { withinMs: options.restartWindowMs }),
  });
  const nearCache = (options.cacheEnabled ?? true) && (options.nearCache ?? true);
  // Read at each start of an order replica or the cache actor; the backend exists before any of them starts.
  const catalogNow: CatalogMembersNow = () => backend.catalogMembersNow();
  const backend = new ActorBackend({
    actors: system,
    catalogMembers: membersOnDisk(options, 'catalog'),
    orderMembers: membersOnDisk(options, 'order'),
    cacheName,
    log,
    deadlineMs: timeouts.requestDeadlineMs - 250,
    timeouts,
    // The runtime's hook on the cache actor feeds the near cache; made before the cache starts, so its first
    // lease grant is not missed.
    nearCache: nearCache ? { capacity: options.cacheCapacity ?? 20_000, watch: (name, watcher) => system.watchActor(name, watcher) } : null,
    readThroughCache: options.cacheEnabled ?? true,
    retireDatabase: (name) => retireDatabase(resolve(options.dataDir), name, log),
    memberNodeProblem: (node) => (node === null ? null : 'pygmy start runs on one host: leave "node" out'),
    startMember: async (group, name, node) => {
      if (node !== null) throw new MembershipRefusedError('pygmy start runs on one host: leave "node" out');
      await system.start([replicaSpec(options, group, name, catalogNow)]);
    },
  });
  await system.start(clusterSpecs(options, catalogNow));
  if (!(await waitReady(backend, options.readyTimeoutMs ?? 15_000))) {
    await system.shutdown();
    throw new Error('the catalog and order groups did not elect leaders in time');
  }
  const gateway = createGateway({
    backend,
    logger: log,
    host: options.host,
    port: options.port,
    adminToken: options.adminToken ?? null,
    admin: options.admin ?? 'on',
    requestDeadlineMs: timeouts.requestDeadlineMs,
    operations: options.operationsPort === undefined ? null : { port: options.operationsPort },
  });
  gateway.metrics.databaseBytesOf = databaseBytesIn(options.dataDir);
  let address;
  try {
    address = await gateway.listen();
  } catch (error) {
    await system.shutdown();
    throw error;
  }
  const shortfall = backlogShortfall(address.backlog);
  if (shortfall !== null) log.warn({ event: 'listenBacklog', ...address.backlog }, shortfall);
  const urlOf = (listening: { host: string; port: number }) => `http://${listening.host.includes(':') ? `[${listening.host}]` : listening.host}:${listening.port}`;
  const url = urlOf(address);
  let closing: Promise<void> | null = null;
  return {
    url,
    port: address.port,
    operationsUrl: address.operations === null ? null : urlOf(address.operations),
    system,
    gateway,
    backend,
    startedInMs: Date.now() - startedAt,
    close() {
      closing ??= (async () => {
        await gateway.close().catch(() => {});
        backend.close();
        await system.shutdown();
      })();
      return closing;
    },
  };
}
