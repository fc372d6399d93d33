// One run of the end-to-end checker: a fresh cluster (one `pygmy start` process, or with `multihost` one
// `pygmy node` process per network-namespace host), C clients issuing lookups, list reads, searches, orders (with
// idempotency keys, retried on timeout as a real client would) and restocks through the gateway, while a nemesis
// driven by the seed kills, stops or isolates replicas (leaders included) through the admin routes and injects
// the target's own faults (kill -9 of the whole process or of one host's process and a restart on the same
// data; a partition of one host). Then every fault is healed, the cluster is left to settle, the final state is
// read, and the history is checked and written to a file.
//
// With `ambiguous`, the run goes looking for orders of unknown outcome: half the clients are impatient (a timeout
// of 5–200 ms, no retry), the target runs with a short order deadline and a widened window between deduct and
// commit, and the nemesis adds catalog outages (orders race their deadline), kills of the order leader (between
// deduct and commit) and SIGSTOP pauses of the whole process. Every such order must be resolved by the final log.
// `plantedBug` starts the target with a bug the checkers must find (see src/actors/order/saga.ts).
//
// Bounded: the run lasts `durationMs`, every request has a deadline, an order is retried at most
// `orderAttemptsMax` times, the history holds at most `operationsMax` operations.
import { backoffDelayMs, order503Outcome } from '../cli/backoff.js';
import { SeededRandom } from '../raft/sim/random.js';
import { checkHistory, type CheckReport } from './checkers.js';
import { HistoryRecorder, writeHistory, type FinalState, type History } from './history.js';
import { startMultihostTarget } from './multihost-target.js';
import { clusterView, eventually, http, makeDataDir, removeDataDir, sleep, startPygmy, type PygmyProcess } from './process.js';
import { readDigests, replicaGroups, type CheckTarget, type HostFaultKind, type NemesisKind, type ReplicaGroups } from './target.js';

export type { NemesisKind } from './target.js';
/** The faults of a single-process run, and of a multi-host run. */
export const nemesisKinds = ['kill', 'stop', 'isolate', 'crash-process', 'catalog-outage', 'kill-order-leader', 'pause-process'] as const satisfies readonly NemesisKind[];
/** The faults of an ambiguous run (`--ambiguous`) when none are named. */
export const ambiguousNemesisKinds = ['catalog-outage', 'kill-order-leader', 'pause-process', 'kill', 'stop'] as const satisfies readonly NemesisKind[];
export const plantedBugs = ['reject-without-fence'] as const;
export type PlantedBug = (typeof plantedBugs)[number];
export const multihostNemesisKinds = ['kill', 'stop', 'isolate', 'crash-host', 'partition'] as const satisfies readonly NemesisKind[];

export interface CheckRunOptions {
  readonly durationMs: number;
  readonly seed: number;
  readonly clients: number;
  readonly nemesis: readonly NemesisKind[];
  readonly historyPath: string;
  readonly log: (line: string) => void;
  readonly operationsMax?: number;
  readonly statesMaxPerItem?: number;
  /** Run against `pygmy node` processes on network-namespace hosts instead of one `pygmy start` process. */
  readonly multihost?: boolean;
  /** Go looking for orders of unknown outcome (see the top of this file). */
  readonly ambiguous?: boolean;
  /** The target's order deadline; default 1500 ms in an ambiguous run, the target's own (30 s) otherwise. */
  readonly orderDeadlineMs?: number;
  readonly plantedBug?: PlantedBug;
  /** Replicas per group of the single-process target (`pygmy start --replicas`); default 3. */
  readonly replicas?: number;
}

export interface CheckRunResult {
  readonly history: History;
  readonly report: CheckReport;
  readonly faults: number;
  /** Longest time with no write (order or restock) acknowledged, while the run lasted. */
  readonly writeUnavailableMsMax: number;
}

const items = [1, 2, 3, 4] as const;
const restockAmount = 5;
const requestTimeoutMs = 3_000;
const orderAttemptsMax = 6;
/** An impatient client's timeout range: it gives up well before a saga (a deduct, then a commit) can answer. */
const impatientTimeoutMs = { min: 5, max: 200 } as const;
/** The gateway's request deadline under `pygmy start`: a request a client gave up on is settled by then. */
const gatewayDeadlineMs = 5_000;
const baseStartArgs = ['--max-restarts', '10000', '--restart-window-ms', '60000'];

/** The target's order deadline: as asked, 1.5 s in an ambiguous run, else the default of `pygmy start`. */
function orderDeadlineOf(options: CheckRunOptions): number {
  return options.orderDeadlineMs ?? (options.ambiguous ? 1_500 : 30_000);
}

function startArgsFor(options: CheckRunOptions): string[] {
  const args = [...baseStartArgs];
  if (options.orderDeadlineMs !== undefined || options.ambiguous) args.push('--order-deadline-ms', String(orderDeadlineOf(options)));
  if (options.ambiguous) args.push('--hold-after-deduct-ms', '150');
  if (options.plantedBug !== undefined) args.push('--bug', options.plantedBug);
  if (options.replicas !== undefined) args.push('--replicas', String(options.replicas));
  return args;
}

/** One `pygmy start` process; replaced when the nemesis crashes and restarts it. */
class SingleProcessTarget implements CheckTarget {
  readonly headers = {};
  private restarting: Promise<void> | null = null;
  private paused = false;

  constructor(private process: PygmyProcess, private readonly startArgs: readonly string[]) {}

  get url(): string {
    return this.process.url;
  }

  get gatewayUrls(): readonly string[] {
    return [this.process.url];
  }

  async reachable(_url?: string): Promise<void> {
    if (this.restarting) await this.restarting.catch(() => {});
  }

  async injectHostFault(kind: HostFaultKind, _random: SeededRandom, holdMs: number, record: (what: string) => void): Promise<void> {
    if (kind === 'pause-process') return this.pause(holdMs, record);
    if (kind !== 'crash-process') throw new Error(`a single-process run cannot inject ${kind}`);
    record('kill -9 the whole process, restart on the same data');
    const restart = (async () => {
      await this.process.kill();
      this.process = await startPygmy({ dataDir: this.process.dataDir, args: this.startArgs });
    })();
    this.restarting = restart;
    try {
      await restart;
    } finally {
      this.restarting = null;
    }
  }

  /** SIGSTOP, hold, SIGCONT: the process misses its own timers, heartbeats and deadlines, then resumes. */
  private async pause(holdMs: number, record: (what: string) => void): Promise<void> {
    await this.reachable();
    const pid = this.process.child.pid;
    if (pid === undefined || this.process.child.exitCode !== null) return;
    record(`SIGSTOP the whole process for ${holdMs} ms, then SIGCONT`);
    process.kill(pid, 'SIGSTOP');
    this.paused = true;
    try {
      await sleep(holdMs);
    } finally {
      this.resume();
    }
  }

  private resume(): void {
    if (!this.paused) return;
    this.paused = false;
    const pid = this.process.child.pid;
    if (pid !== undefined && this.process.child.exitCode === null && this.process.child.signalCode === null) process.kill(pid, 'SIGCONT');
  }

  async healHosts(): Promise<void> {
    this.resume();
    await this.reachable();
  }

  async killAndDigest(groups: ReplicaGroups): Promise<FinalState['digests']> {
    this.resume();
    await this.process.kill();
    return readDigests(() => this.process.dataDir, groups);
  }

  async close(): Promise<void> {
    this.resume();
    await this.process.kill();
    removeDataDir(this.process.dataDir);
  }
}

class WriteGaps {
  private lastAckMs = 0;
  maxMs = 0;

  /** `endMs`: the run's end. Past it clients send no new write: a later ack (a retry) counts as at the end. */
  constructor(private readonly endMs: number) {}

  acknowledged(atMs: number): void {
    const clampedMs = Math.min(atMs, this.endMs);
    this.maxMs = Math.max(this.maxMs, clampedMs - this.lastAckMs);
    this.lastAckMs = Math.max(this.lastAckMs, clampedMs);
  }

  finish(atMs: number): void {
    this.acknowledged(atMs);
  }
}

interface Shared {
  readonly target: CheckTarget;
  readonly recorder: HistoryRecorder;
  readonly gaps: WriteGaps;
  readonly seed: number;
  readonly recordFault: (what: string) => void;
  readonly ambiguous: boolean;
}

async function attempt(target: CheckTarget, method: string, path: string, headers: Record<string, string> = {}, body?: string, timeoutMs = requestTimeoutMs) {
  await target.reachable();
  return http(method, `${target.url}${path}`, { headers: { ...target.headers, ...headers }, timeoutMs, ...(body === undefined ? {} : { body }) });
}

async function readOne(shared: Shared, client: number, item: number): Promise<void> {
  const id = shared.recorder.invoke(client, 'read', item, 0, '');
  try {
    const answer = await attempt(shared.target, 'GET', `/lookup/${item}`);
    if (answer.status === 200) shared.recorder.complete(id, 'ok', answer.json().result.stock as number, '');
    else shared.recorder.complete(id, 'fail', null, `status ${answer.status}`);
  } catch (error) {
    shared.recorder.complete(id, 'fail', null, String(error));
  }
}

async function readMany(shared: Shared, client: number, path: string): Promise<void> {
  const invokeMs = shared.recorder.elapsedMs();
  try {
    const answer = await attempt(shared.target, 'GET', path);
    if (answer.status !== 200) return;
    for (const book of answer.json().result as Array<{ id: number; stock: number }>) shared.recorder.completedRead(client, book.id, invokeMs, book.stock, path);
  } catch {
    // A read that got no answer had no effect and says nothing: it is left out of the history.
  }
}

async function order(shared: Shared, client: number, item: number, amount: number, key: string): Promise<void> {
  const id = shared.recorder.invoke(client, 'order', item, amount, key);
  const notes: string[] = [];
  // Shed answers (503 + x-order-outcome: not-taken) certainly did nothing; any other 503 or no answer may have.
  let everUncertain = false;
  for (let attempts = 1; attempts <= orderAttemptsMax; attempts += 1) {
    let retryAfter: string | null = null;
    try {
      const answer = await attempt(shared.target, 'POST', `/order/${item}?amount=${amount}`, { 'idempotency-key': key });
      if (answer.status === 200 && answer.headers.get('x-order-reason') === 'timeout') {
        // Rejected by its deadline: nothing was bought, and the answer says nothing of the stock.
        shared.recorder.complete(id, 'fail', null, `rejected: timeout${attempts > 1 ? ` after ${notes.join(', ')}` : ''}`);
        return;
      }
      if (answer.status === 200) {
        shared.recorder.complete(id, 'ok', answer.text === 'true', attempts > 1 ? `after ${notes.join(', ')}` : '');
        shared.gaps.acknowledged(shared.recorder.elapsedMs());
        return;
      }
      if (answer.status !== 503) {
        shared.recorder.complete(id, 'fail', null, `status ${answer.status}: ${answer.text.slice(0, 80)}`);
        return;
      }
      const shed = order503Outcome(answer.headers) === 'not-taken';
      everUncertain ||= !shed;
      notes.push(shed ? '503 not taken' : '503');
      retryAfter = answer.headers.get('retry-after');
    } catch (error) {
      everUncertain = true;
      notes.push(error instanceof Error && error.name === 'TimeoutError' ? 'timeout' : 'no answer');
    }
    await sleep(backoffDelayMs({ attempt: attempts, retryAfter, random: Math.random }));
  }
  // Every attempt shed: the order certainly did not happen.
  shared.recorder.complete(id, everUncertain ? 'unknown' : 'fail', null, notes.join(', '));
}

/**
 * An impatient client: one try with a short timeout, no retry. No answer, or a 503 that does not say the order
 * was not taken, leaves the outcome unknown; the final order log must resolve it.
 */
async function impatientOrder(shared: Shared, client: number, item: number, amount: number, key: string, timeoutMs: number): Promise<void> {
  const id = shared.recorder.invoke(client, 'order', item, amount, key);
  try {
    const answer = await attempt(shared.target, 'POST', `/order/${item}?amount=${amount}`, { 'idempotency-key': key }, undefined, timeoutMs);
    if (answer.status === 200 && answer.headers.get('x-order-reason') === 'timeout') {
      shared.recorder.complete(id, 'fail', null, `impatient, ${timeoutMs} ms: rejected: timeout`);
    } else if (answer.status === 200) {
      shared.recorder.complete(id, 'ok', answer.text === 'true', `impatient, ${timeoutMs} ms`);
      shared.gaps.acknowledged(shared.recorder.elapsedMs());
    } else if (answer.status === 503 && answer.headers.get('x-order-outcome') === 'not-taken') {
      shared.recorder.complete(id, 'fail', null, 'status 503, not taken');
    } else if (answer.status === 503) {
      shared.recorder.complete(id, 'unknown', null, `status 503 (impatient), x-order-id ${answer.headers.get('x-order-id') ?? 'missing'}`);
    } else {
      shared.recorder.complete(id, 'fail', null, `status ${answer.status}: ${answer.text.slice(0, 80)}`);
    }
  } catch (error) {
    shared.recorder.complete(id, 'unknown', null, `impatient: no answer within ${timeoutMs} ms`);
  }
}

async function restock(shared: Shared, client: number, item: number): Promise<void> {
  const id = shared.recorder.invoke(client, 'restock', item, restockAmount, '');
  try {
    const answer = await attempt(shared.target, 'POST', `/admin/items/${item}`, { 'content-type': 'application/json' }, JSON.stringify({ restock: restockAmount }));
    if (answer.status === 200) {
      shared.recorder.complete(id, 'ok', null, '');
      shared.gaps.acknowledged(shared.recorder.elapsedMs());
    } else if (answer.status === 503) shared.recorder.complete(id, 'unknown', null, 'status 503');
    else shared.recorder.complete(id, 'fail', null, `status ${answer.status}`);
  } catch (error) {
    // Not idempotent across retries: a restock without an answer may or may not have happened.
    shared.recorder.complete(id, 'unknown', null, String(error));
  }
}

/** The target as one client sees it: the same cluster through gateway clientId mod the number of gateways. */
function throughGateway(target: CheckTarget, clientId: number): CheckTarget {
  return {
    get url() {
      return target.gatewayUrls[clientId % target.gatewayUrls.length]!;
    },
    get gatewayUrls() {
      return target.gatewayUrls;
    },
    headers: target.headers,
    reachable: () => target.reachable(target.gatewayUrls[clientId % target.gatewayUrls.length]!),
    injectHostFault: (kind, random, holdMs, record) => target.injectHostFault(kind, random, holdMs, record),
    healHosts: () => target.healHosts(),
    killAndDigest: (groups) => target.killAndDigest(groups),
    close: () => target.close(),
  };
}

async function client(sharedByAll: Shared, clientId: number, deadlineMs: number): Promise<void> {
  const shared: Shared = { ...sharedByAll, target: throughGateway(sharedByAll.target, clientId) };
  const random = new SeededRandom(shared.seed * 7_919 + clientId);
  const impatient = shared.ambiguous && clientId % 2 === 1;
  for (let sequence = 0; shared.recorder.elapsedMs() < deadlineMs && !shared.recorder.full; sequence += 1) {
    const item = random.pick(items);
    const draw = random.next();
    if (draw < 0.35) await readOne(shared, clientId, item);
    else if (draw < 0.42) await readMany(shared, clientId, '/lookup');
    else if (draw < 0.48) await readMany(shared, clientId, random.chance(0.5) ? '/search/sys' : '/search/grad');
    else if (draw < 0.85 && impatient) {
      const timeoutMs = random.integer(impatientTimeoutMs.min, impatientTimeoutMs.max);
      await impatientOrder(shared, clientId, item, random.integer(1, 3), `s${shared.seed}-c${clientId}-${sequence}`, timeoutMs);
    } else if (draw < 0.85) await order(shared, clientId, item, random.integer(1, 3), `s${shared.seed}-c${clientId}-${sequence}`);
    else await restock(shared, clientId, item);
  }
}

interface NemesisState {
  readonly faults: Array<{ atMs: number; what: string }>;
}

async function admin(target: CheckTarget, name: string, action: string): Promise<boolean> {
  try {
    return (await attempt(target, 'POST', `/admin/actors/${name}/${action}`)).status === 200;
  } catch {
    return false;
  }
}

/**
 * The groups' members as their leaders see them now (voters and learners), so faults, healing, the wait for quiet
 * and the final digests cover every member, also ones a membership change added; when the gateway cannot say (a
 * group without a leader at that moment), the members it said last (at first, the bootstrap members).
 */
export async function liveGroups(target: CheckTarget): Promise<ReplicaGroups> {
  const known = lastKnownGroups.get(target) ?? replicaGroups;
  const membersOf = async (group: 'catalog' | 'order'): Promise<readonly string[]> => {
    const answer = await attempt(target, 'GET', `/admin/groups/${group}/members`).catch(() => null);
    const result = answer?.status === 200 ? (answer.json() as { result?: { voters?: unknown; learners?: unknown } }).result : undefined;
    const names = [result?.voters, result?.learners].flatMap((list) => (Array.isArray(list) ? list : []));
    return names.length > 0 && names.every((name) => typeof name === 'string') ? names as string[] : known[group];
  };
  const groups = { catalog: await membersOf('catalog'), order: await membersOf('order') };
  lastKnownGroups.set(target, groups);
  return groups;
}

/** What liveGroups last learnt per target: the answer while a group has no leader for a moment. */
const lastKnownGroups = new WeakMap<CheckTarget, ReplicaGroups>();

async function liveActorNames(target: CheckTarget): Promise<string[]> {
  const groups = await liveGroups(target);
  return [...groups.catalog, ...groups.order, 'cache'];
}

async function chooseVictim(target: CheckTarget, random: SeededRandom): Promise<string> {
  if (random.chance(0.5)) {
    const view = await clusterView(target.url, target.headers).catch(() => null);
    const leader = view?.leaders[random.chance(0.5) ? 'catalog' : 'order'];
    if (leader) return leader;
  }
  return random.pick(await liveActorNames(target));
}

async function injectOne(shared: Shared, kind: NemesisKind, random: SeededRandom, state: NemesisState, until: number): Promise<void> {
  const record = (what: string) => {
    state.faults.push({ atMs: shared.recorder.elapsedMs(), what });
    shared.recordFault(what);
  };
  const holdMs = Math.min(random.integer(800, 3_000), Math.max(0, until - shared.recorder.elapsedMs()));
  switch (kind) {
    case 'kill': {
      const victim = await chooseVictim(shared.target, random);
      if (await admin(shared.target, victim, 'kill')) record(`kill ${victim}`);
      return;
    }
    case 'stop':
    case 'isolate': {
      const victim = await chooseVictim(shared.target, random);
      if (!(await admin(shared.target, victim, kind))) return;
      record(`${kind} ${victim} for ${holdMs} ms`);
      await sleep(holdMs);
      await admin(shared.target, victim, kind === 'stop' ? 'start' : 'heal');
      return;
    }
    case 'catalog-outage': {
      // A majority of the catalog's members: no quorum, so deducts wait (or are refused) while their orders' deadlines pass.
      const members = [...(await liveGroups(shared.target)).catalog];
      const victims: string[] = [];
      while (victims.length < Math.floor(members.length / 2) + 1) victims.push(...members.splice(random.integer(0, members.length - 1), 1));
      const stopped = [];
      for (const victim of victims) if (await admin(shared.target, victim, 'stop')) stopped.push(victim);
      if (stopped.length === 0) return;
      record(`stop ${stopped.join(' and ')} for ${holdMs} ms (no catalog quorum)`);
      await sleep(holdMs);
      for (const victim of stopped) await admin(shared.target, victim, 'start');
      return;
    }
    case 'kill-order-leader': {
      const view = await clusterView(shared.target.url, shared.target.headers).catch(() => null);
      const leader = view?.leaders.order;
      if (leader && (await admin(shared.target, leader, 'kill'))) record(`kill the order leader ${leader} (between deduct and commit for the sagas in its window)`);
      return;
    }
    case 'crash-process':
    case 'crash-host':
    case 'partition':
    case 'pause-process':
      await shared.target.injectHostFault(kind, random, kind === 'pause-process' ? Math.min(holdMs, 2_500) : holdMs, record);
      return;
    default: {
      const never: never = kind;
      throw new Error(`unknown nemesis ${String(never)}`);
    }
  }
}

async function nemesis(shared: Shared, kinds: readonly NemesisKind[], deadlineMs: number, state: NemesisState): Promise<void> {
  if (kinds.length === 0) return;
  const random = new SeededRandom(shared.seed);
  await sleep(1_000);
  while (shared.recorder.elapsedMs() < deadlineMs - 1_500) {
    await injectOne(shared, random.pick(kinds), random, state, deadlineMs).catch((error: unknown) => shared.recordFault(`nemesis error: ${String(error)}`));
    await sleep(random.integer(500, 2_000));
  }
}

/** Undo every fault: start stopped actors, heal isolated ones, wait until both groups serve. */
async function healAll(target: CheckTarget): Promise<void> {
  await target.healHosts();
  for (const name of await liveActorNames(target)) {
    await admin(target, name, 'heal');
    await admin(target, name, 'start');
  }
  await eventually('the cluster to be ready after healing', async () => ((await attempt(target, 'GET', '/ready')).status === 200 ? true : undefined), 30_000, 200);
}

async function readOrders(target: CheckTarget): Promise<FinalState['orders']> {
  const orders: Array<FinalState['orders'][number]> = [];
  for (const item of items) {
    // Every page, following `next` (bounded: a page holds at least one order, and the log is finite).
    for (let after: string | null = null, first = true; first || after !== null; first = false) {
      const path = `/orders?item=${item}&limit=1000${after === null ? '' : `&after=${after}`}`;
      const answer = await attempt(target, 'GET', path);
      if (answer.status !== 200) throw new Error(`${path} answered ${answer.status}`);
      const page = answer.json() as { result: Array<{ id: string; item: number; amount: number; status: string }>; next: string | null };
      for (const stored of page.result) orders.push({ id: stored.id, item: stored.item, amount: stored.amount, status: stored.status });
      after = page.next;
    }
  }
  return orders;
}

/**
 * The order log once nothing is pending any more (a new leader finishes inherited sagas, and every order settles
 * by its deadline), or as it is then: waits at most the order deadline and 10 s more.
 */
async function settledOrders(target: CheckTarget, orderDeadlineMs: number): Promise<FinalState['orders']> {
  const deadline = Date.now() + orderDeadlineMs + 10_000;
  for (;;) {
    const orders = await readOrders(target);
    if (!orders.some((stored) => stored.status === 'pending') || Date.now() > deadline) return orders;
    await sleep(250);
  }
}

async function readStocks(target: CheckTarget): Promise<Record<number, number>> {
  const answer = await attempt(target, 'GET', '/lookup');
  if (answer.status !== 200) throw new Error(`/lookup answered ${answer.status}`);
  const stocks: Record<number, number> = {};
  for (const book of answer.json().result as Array<{ id: number; stock: number }>) stocks[book.id] = book.stock;
  return stocks;
}

/** Waits until every replica of each group has applied the same index, so their hashes can be compared. */
async function quiet(target: CheckTarget, groups: ReplicaGroups): Promise<boolean> {
  return eventually('replicas to reach the same applied index', async () => {
    const view = await clusterView(target.url, target.headers);
    for (const members of Object.values(groups)) {
      const replicas = view.actors.filter((actor) => (members as readonly string[]).includes(actor.name));
      if (replicas.length !== members.length || replicas.some((actor) => !actor.alive)) return undefined;
      if (new Set(replicas.map((actor) => actor.lastApplied)).size !== 1) return undefined;
    }
    return true;
  }, 15_000, 200).catch(() => false);
}

async function finalState(target: CheckTarget, initialStock: Record<number, number>, orderDeadlineMs: number, log: (line: string) => void): Promise<FinalState> {
  await healAll(target);
  // A request a client gave up on may still be running in the gateway: let every one reach its deadline, so the
  // order log read next holds every order that will ever exist.
  await sleep(gatewayDeadlineMs);
  const orders = await settledOrders(target, orderDeadlineMs);
  const finalStock = await readStocks(target);
  const groups = await liveGroups(target);
  if (!(await quiet(target, groups))) log('check: replicas did not reach one applied index; hashes compared where indexes match');
  // kill -9 with the cluster quiet: every applied entry is already durable, and the files stay as they are.
  return { initialStock, finalStock, orders, digests: await target.killAndDigest(groups) };
}

async function startSingleProcessTarget(args: readonly string[]): Promise<CheckTarget> {
  const dataDir = makeDataDir();
  try {
    return new SingleProcessTarget(await startPygmy({ dataDir, args }), args);
  } catch (error) {
    removeDataDir(dataDir);
    throw error;
  }
}

export async function runCheck(options: CheckRunOptions): Promise<CheckRunResult> {
  for (const kind of options.nemesis) {
    const known: readonly NemesisKind[] = options.multihost ? multihostNemesisKinds : nemesisKinds;
    if (!known.includes(kind)) throw new Error(`nemesis ${kind} is not available ${options.multihost ? 'with' : 'without'} --multihost (known: ${known.join(', ')})`);
  }
  if (options.multihost && (options.ambiguous || options.plantedBug !== undefined)) throw new Error('--ambiguous and --bug run against the single-process target only');
  const target = options.multihost ? await startMultihostTarget({ log: options.log }) : await startSingleProcessTarget(startArgsFor(options));
  try {
    const initialStock = await readStocks(target);
    await liveGroups(target); // both groups have a leader now: what a later moment without one falls back to
    const recorder = new HistoryRecorder(() => Date.now(), options.operationsMax ?? 2_000_000);
    const nemesisState: NemesisState = { faults: [] };
    const gaps = new WriteGaps(options.durationMs);
    const shared: Shared = {
      target, recorder, gaps, seed: options.seed, ambiguous: options.ambiguous ?? false,
      recordFault: (what) => options.log(`nemesis ${(recorder.elapsedMs() / 1000).toFixed(1)} s: ${what}`),
    };
    const clients = Array.from({ length: options.clients }, (_, clientId) => client(shared, clientId, options.durationMs));
    await Promise.all([...clients, nemesis(shared, options.nemesis, options.durationMs, nemesisState)]);
    // The tail counts up to the run's end (or the recorder's filling): past it clients send no new write, while one
    // may still retry and the nemesis may still wait for a restart.
    gaps.finish(recorder.elapsedMs());
    const final = await finalState(target, initialStock, orderDeadlineOf(options), options.log);
    const history: History = { operations: recorder.snapshot(), final, faults: nemesisState.faults };
    writeHistory(options.historyPath, history);
    const report = checkHistory(history, options.statesMaxPerItem === undefined ? {} : { statesMaxPerItem: options.statesMaxPerItem });
    return { history, report, faults: nemesisState.faults.length, writeUnavailableMsMax: gaps.maxMs };
  } finally {
    await target.close();
  }
}
