// The scale run of `pygmy bench --scenario scale [--orders N]` (not part of --quick, nor of a run without names):
// what a cluster holding N orders (2,000,000 by default) does when it must bring back a wiped follower.
//
// Steps: start `pygmy start` fresh once and time its start (the same-run baseline: nothing on disk), stop it;
// preload N committed orders with 128-character ids into the three order replicas' databases through a bulk path
// (one INSERT … SELECT per 200,000 rows, the same rows in every replica, so their state hashes agree; sequence 0,
// as orders from before sequences, which the dedupe watermark ignores); start again on those databases and time it;
// take orders for a phase (the "before" throughput); then remove one follower of each group and add a member of
// a new name in its place (DELETE and POST /admin/groups/:group/members, the membership repair of a wiped disk;
// a learner, so that the catch-up is what is timed), while orders go on, until each new member has applied the
// index its leader had committed when it was added.
// Figures: preload time, start-up time (empty, and with N orders), catch-up time per group and its phases (the
// image's build, stream and install, from the replicas' activity in /cluster; the rest is the log after it), peak RSS of the
// process before and during the catch-up (/proc), the longest event-loop delay of either leader's thread during
// it (pygmy_thread_event_loop_delay_max_seconds, a 10 s window, scraped every second), orders per second during
// the catch-up against before, and elections (a group's highest term moving) during it.
// Promises: every loop is bounded in time (the catch-up by catchUpSecondsMax); the server and temp dir are removed
// whatever happens. Targets (docs/bench.md): catch-up ≤ 60 s, RSS ≤ 1 GiB, no election, ≥ 0.7× orders, start ≤ 3 s.
// `--start-only` (scaleStart): the same data dir, then only starts on it, timed, startOnlyRuns times (no load).
import { join } from 'node:path';
import { Agent, request } from 'node:http';
import Database from 'better-sqlite3';
import { snapshotChecksum } from '../src/raft/storage/checksum.js';
import { rssMiB } from './process-figures.js';
import { startPygmy, type RunningServer } from './servers.js';
import { deepStockItemsMax } from './scenarios.js';

export interface ScaleSettings {
  readonly orders: number;
  /** Seconds of orders before the catch-up. */
  readonly phaseSeconds: number;
  readonly connections: number;
}

export interface ScaleFigures {
  readonly orders: number;
  readonly preloadSeconds: number;
  readonly startEmptySeconds: number;
  readonly startLoadedSeconds: number;
  readonly catchUpSeconds: Readonly<Record<'order' | 'catalog', number | null>>;
  readonly imagePhases: Readonly<Record<'order' | 'catalog', ImagePhases>>;
  /** Restarts of each new member by its supervisor during the catch-up (a thread silent past the watchdog's bound). */
  readonly newMemberRestarts: Readonly<Record<'order' | 'catalog', number | null>>;
  readonly rssMiBBefore: number | null;
  readonly rssMiBPeak: number | null;
  readonly leaderStallMsMax: number | null;
  readonly ordersPerSecondBefore: number;
  readonly ordersPerSecondDuring: number;
  readonly electionsDuring: number;
  /** Orders the new order member holds once caught up (at least the preloaded ones: they came in an image). */
  readonly ordersInNewMember: number | null;
  /** A group whose follower could not be replaced, and why (its catch-up is then not measured). */
  readonly failures: readonly string[];
}

export const scaleOrdersDefault = 2_000_000;
const bulkRowsPerTransaction = 200_000;
const catchUpSecondsMax = 600;
const samplePeriodMs = 250;
const membershipAttemptsMax = 120;

/** The parts of a replica's activity (src/raft/activity.ts) the phases are read from: histogram sums, in seconds. */
interface ActivityView {
  readonly imageBuildSeconds?: { readonly sum: number };
  readonly imageSendSeconds?: { readonly sum: number };
  readonly imageReceiveSeconds?: { readonly sum: number };
  readonly imageInstallSeconds?: { readonly sum: number };
  readonly imageUnitsSent?: number;
}

/** Where one group's catch-up went: the leader's build and stream of the image, the new member's receive and install. */
export interface ImagePhases {
  readonly buildSeconds: number | null;
  readonly sendSeconds: number | null;
  readonly bytesSent: number | null;
  readonly receiveSeconds: number | null;
  readonly installSeconds: number | null;
}

interface ClusterView {
  readonly actors: ReadonlyArray<{ name: string; group: string; role: string | null; term: number | null; commitIndex: number | null; lastApplied: number | null; alive: boolean; restarts?: number; figures?: { replica?: { activity?: ActivityView | null } | null } }>;
  readonly leaders: Readonly<Record<string, string | null>>;
}

const agent = new Agent({ keepAlive: true, maxSockets: 256 });

function call(url: string, method: string, body?: string, headers: Record<string, string> = {}): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const outgoing = request(url, { method, agent, timeout: 30_000, headers: { ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) }) } }, (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (text += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, text }));
    });
    outgoing.on('timeout', () => outgoing.destroy(new Error(`${method} ${url}: timed out`)));
    outgoing.on('error', reject);
    outgoing.end(body);
  });
}

async function cluster(url: string): Promise<ClusterView> {
  const answer = await call(`${url}/cluster`, 'GET');
  if (answer.status !== 200) throw new Error(`/cluster answered ${answer.status}: ${answer.text.slice(0, 200)}`);
  return (JSON.parse(answer.text) as { result: ClusterView }).result;
}

/** N committed orders into each order replica's database, the same rows in each. */
function preload(dataDir: string, orders: number): void {
  for (const member of ['order-1', 'order-2', 'order-3']) {
    const database = new Database(join(dataDir, `${member}.db`));
    try {
      const insert = database.prepare(`WITH RECURSIVE n(i) AS (SELECT ? UNION ALL SELECT i + 1 FROM n WHERE i < ?)
        INSERT INTO order_orders (id, item, amount, total, status, created_at, reason, deadline_at, seq)
        SELECT printf('bulk-%0123d', i), 1 + i % ${deepStockItemsMax}, 1, 2.5, 'committed', 1700000000000 + i, NULL, 1700000030000 + i, 0 FROM n`);
      for (let first = 1; first <= orders; first += bulkRowsPerTransaction) {
        const last = Math.min(orders, first + bulkRowsPerTransaction - 1);
        database.transaction(() => insert.run(first, last))();
      }
      compactAll(database, ['order-1', 'order-2', 'order-3']);
      database.pragma('wal_checkpoint(TRUNCATE)');
    } finally {
      database.close();
    }
  }
  for (const member of ['catalog-1', 'catalog-2', 'catalog-3']) {
    const database = new Database(join(dataDir, `${member}.db`));
    try {
      compactAll(database, ['catalog-1', 'catalog-2', 'catalog-3']);
    } finally {
      database.close();
    }
  }
}

/** Orders in a replica's database, read beside the running cluster (WAL readers do not block it). */
function ordersIn(path: string): number {
  const database = new Database(path, { readonly: true, fileMustExist: true });
  try {
    return (database.prepare('SELECT count(*) AS count FROM order_orders').get() as { count: number }).count;
  } finally {
    database.close();
  }
}

/**
 * Compacts the whole applied log, as a replica's own compaction does (the snapshot row at lastApplied, the entries
 * up to it gone): the preloaded orders are in no log entry, so a new member must get them in an image, as one
 * would after a long run.
 */
function compactAll(database: Database.Database, peers: readonly string[]): void {
  const index = (database.prepare('SELECT last_applied FROM raft_applied WHERE id = 1').get() as { last_applied: number }).last_applied;
  const entry = database.prepare('SELECT term FROM raft_log WHERE log_index = ?').get(index) as { term: number } | undefined;
  const stored = database.prepare('SELECT snapshot_index, snapshot_term FROM raft_snapshot WHERE id = 1').get() as { snapshot_index: number; snapshot_term: number } | undefined;
  const term = entry?.term ?? (stored?.snapshot_index === index ? stored.snapshot_term : undefined);
  if (term === undefined) throw new Error(`no term at applied index ${index}`);
  const meta = { index, term, peers: [...peers] };
  database.transaction(() => {
    database.prepare('INSERT OR REPLACE INTO raft_snapshot (id, snapshot_index, snapshot_term, peers, data, checksum) VALUES (1, ?, ?, ?, \'\', ?)')
      .run(index, term, JSON.stringify(meta.peers), snapshotChecksum(meta, ''));
    database.prepare('DELETE FROM raft_log WHERE log_index <= ?').run(index);
  })();
}

/** Closed-loop order clients until `until()`; returns how many orders were bought. */
async function orderLoad(url: string, connections: number, tag: string, until: () => boolean): Promise<number> {
  let bought = 0;
  await Promise.all(Array.from({ length: connections }, async (_, worker) => {
    for (let position = 0; !until(); position += 1) {
      const item = 1 + ((worker * 7 + position) % deepStockItemsMax);
      const answer = await call(`${url}/order/${item}?amount=1`, 'POST', undefined, { 'idempotency-key': `${tag}-${worker}-${position}` }).catch(() => null);
      if (answer?.status === 200) bought += 1;
    }
  }));
  return bought;
}

async function timedStart(dataDir: string, catalogPath: string, fresh: boolean, nodeFlags: readonly string[] = []): Promise<{ server: RunningServer; seconds: number }> {
  const startedAt = performance.now();
  const server = await startPygmy({ dataDir, catalogPath, cacheEnabled: true, fresh, nodeFlags });
  return { server, seconds: (performance.now() - startedAt) / 1000 };
}

/** The largest pygmy_thread_event_loop_delay_max_seconds of the named threads, in ms. */
async function threadStallMs(url: string, threads: readonly string[]): Promise<number | null> {
  const answer = await call(`${url}/metrics`, 'GET').catch(() => null);
  if (answer?.status !== 200) return null;
  let most: number | null = null;
  for (const line of answer.text.split('\n')) {
    if (!line.startsWith('pygmy_thread_event_loop_delay_max_seconds{')) continue;
    const thread = /thread="([^"]+)"/.exec(line)?.[1];
    if (thread === undefined || !threads.includes(thread)) continue;
    const value = Number(line.slice(line.lastIndexOf(' ') + 1)) * 1000;
    if (Number.isFinite(value)) most = Math.max(most ?? 0, value);
  }
  return most;
}

/** The image phases of `group` as its leader (`leader`, when the catch-up began) and its new member report them. */
function imagePhases(view: ClusterView, leader: string | null | undefined, member: string): ImagePhases {
  const activity = (name: string | null | undefined) => view.actors.find((actor) => actor.name === name)?.figures?.replica?.activity ?? null;
  const source = activity(leader);
  const target = activity(member);
  return {
    buildSeconds: source?.imageBuildSeconds?.sum ?? null, sendSeconds: source?.imageSendSeconds?.sum ?? null, bytesSent: source?.imageUnitsSent ?? null,
    receiveSeconds: target?.imageReceiveSeconds?.sum ?? null, installSeconds: target?.imageInstallSeconds?.sum ?? null,
  };
}

function highestTerms(view: ClusterView): Record<string, number> {
  const terms: Record<string, number> = {};
  for (const actor of view.actors) if (actor.term !== null) terms[actor.group] = Math.max(terms[actor.group] ?? 0, actor.term);
  return terms;
}

/** An admin call, again on 503 (a membership change still committing), at most membershipAttemptsMax times. */
async function admin(url: string, method: string, body?: string): Promise<{ status: number; text: string }> {
  for (let attempt = 1; ; attempt += 1) {
    const answer = await call(url, method, body).catch((error: unknown) => ({ status: 0, text: String(error) }));
    if ((answer.status !== 503 && answer.status !== 0) || attempt >= membershipAttemptsMax) return answer;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

/** Removes a follower of `group` and adds `name` in its place as a learner; resolves with the index to reach. */
async function replaceFollower(url: string, view: ClusterView, group: 'order' | 'catalog', name: string): Promise<number> {
  const leader = view.leaders[group];
  const follower = view.actors.find((actor) => actor.group === group && actor.name !== leader && actor.role === 'follower');
  if (leader === null || leader === undefined || follower === undefined) throw new Error(`the ${group} group has no leader and follower to work with`);
  const removed = await admin(`${url}/admin/groups/${group}/members/${follower.name}`, 'DELETE');
  if (removed.status !== 200) throw new Error(`removing ${follower.name}: ${removed.status} ${removed.text.slice(0, 300)}`);
  const target = (await cluster(url)).actors.find((actor) => actor.name === leader)?.commitIndex ?? 0;
  const added = await admin(`${url}/admin/groups/${group}/members`, 'POST', JSON.stringify({ name, promote: false }));
  if (added.status !== 200) throw new Error(`adding ${name}: ${added.status} ${added.text.slice(0, 300)}`);
  return target;
}

/** The data dir of the scale run: an empty start (timed), stopped, then N orders preloaded (timed). */
async function scaleData(dataDir: string, catalogPath: string, orders: number, nodeFlags: readonly string[], say: (line: string) => void): Promise<{ startEmptySeconds: number; preloadSeconds: number }> {
  const empty = await timedStart(dataDir, catalogPath, true, nodeFlags);
  await empty.server.stop();
  say(`empty cluster ready in ${empty.seconds.toFixed(2)} s; preloading ${orders} orders…`);
  const preloadStartedAt = performance.now();
  preload(dataDir, orders);
  const preloadSeconds = (performance.now() - preloadStartedAt) / 1000;
  say(`preloaded in ${preloadSeconds.toFixed(1)} s; starting on them…`);
  return { startEmptySeconds: empty.seconds, preloadSeconds };
}

export interface ScaleStartFigures {
  readonly orders: number;
  readonly preloadSeconds: number;
  readonly startEmptySeconds: number;
  /** One start on the preloaded data dir per run, each after a clean stop of the one before. */
  readonly startLoadedSeconds: readonly number[];
}

const startOnlyRuns = 3;

/** `--start-only`: the scale run's data dir, then startOnlyRuns timed starts on it, each stopped cleanly. */
export async function scaleStart(root: string, catalogPath: string, orders: number, nodeFlags: readonly string[], say: (line: string) => void): Promise<ScaleStartFigures> {
  const dataDir = join(root, 'scale-data');
  const { startEmptySeconds, preloadSeconds } = await scaleData(dataDir, catalogPath, orders, nodeFlags, say);
  const startLoadedSeconds: number[] = [];
  for (let run = 1; run <= startOnlyRuns; run += 1) {
    const loaded = await timedStart(dataDir, catalogPath, false, nodeFlags);
    await loaded.server.stop();
    say(`start ${run}: ready in ${loaded.seconds.toFixed(2)} s`);
    startLoadedSeconds.push(loaded.seconds);
  }
  return { orders, preloadSeconds, startEmptySeconds, startLoadedSeconds };
}

export function formatScaleStart(figures: ScaleStartFigures): string {
  return [
    `scale start-up: ${figures.orders} orders preloaded in ${figures.preloadSeconds.toFixed(1)} s (bulk, not HTTP)`,
    `  start-up          ${figures.startLoadedSeconds.map((seconds) => seconds.toFixed(2)).join(', ')} s with them, ${figures.startEmptySeconds.toFixed(2)} s empty (target ≤ 3 s)`,
  ].join('\n');
}

export async function scale(root: string, catalogPath: string, settings: ScaleSettings, say: (line: string) => void): Promise<ScaleFigures> {
  const dataDir = join(root, 'scale-data');
  const { startEmptySeconds, preloadSeconds } = await scaleData(dataDir, catalogPath, settings.orders, [], say);
  const loaded = await timedStart(dataDir, catalogPath, false);
  const server = loaded.server;
  try {
    const url = server.url;
    const phaseEnds = Date.now() + settings.phaseSeconds * 1000;
    const before = await orderLoad(url, settings.connections, 'before', () => Date.now() > phaseEnds);
    const rssMiBBefore = rssMiB(server.pid);
    const view = await cluster(url);
    const termsBefore = highestTerms(view);
    const leaders = [view.leaders.order, view.leaders.catalog].filter((name): name is string => typeof name === 'string');
    say(`before: ${(before / settings.phaseSeconds).toFixed(0)} orders/s; replacing a follower of each group…`);
    const catchUpStartedAt = performance.now();
    let caughtUp = false;
    const deadline = Date.now() + catchUpSecondsMax * 1000;
    const during = orderLoad(url, settings.connections, 'during', () => caughtUp || Date.now() > deadline);
    // The catalog first: its image is small, and its change is then committed before the order member's image
    // keeps the process busy (on a loaded machine the second change could otherwise wait past its attempts).
    const failures: string[] = [];
    const attempt = (group: 'order' | 'catalog') => replaceFollower(url, view, group, `${group}-4`).catch((error: unknown) => {
      failures.push(`${group}: ${error instanceof Error ? error.message : String(error)}`);
      return null;
    });
    const catalogTarget = await attempt('catalog');
    const targets = { catalog: catalogTarget, order: await attempt('order') };
    const catchUpSeconds: Record<'order' | 'catalog', number | null> = { order: null, catalog: null };
    let rssMiBPeak = rssMiBBefore;
    let leaderStallMsMax: number | null = null;
    let lastScrape = 0;
    let lastView = view;
    while (!caughtUp && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, samplePeriodMs));
      const rss = rssMiB(server.pid);
      if (rss !== null) rssMiBPeak = Math.max(rssMiBPeak ?? 0, rss);
      if (Date.now() - lastScrape >= 1_000) {
        lastScrape = Date.now();
        const stall = await threadStallMs(url, leaders);
        if (stall !== null) leaderStallMsMax = Math.max(leaderStallMsMax ?? 0, stall);
      }
      lastView = await cluster(url).catch(() => lastView);
      for (const group of ['order', 'catalog'] as const) {
        const member = lastView.actors.find((actor) => actor.name === `${group}-4`);
        const target = targets[group];
        if (target !== null && catchUpSeconds[group] === null && (member?.lastApplied ?? 0) >= target) catchUpSeconds[group] = (performance.now() - catchUpStartedAt) / 1000;
      }
      caughtUp = (targets.order === null || catchUpSeconds.order !== null) && (targets.catalog === null || catchUpSeconds.catalog !== null);
    }
    const duringSeconds = (performance.now() - catchUpStartedAt) / 1000;
    const duringBought = await during;
    const termsAfter = highestTerms(lastView);
    const ordersInNewMember = catchUpSeconds.order === null ? null : ordersIn(join(dataDir, 'order-4.db'));
    const electionsDuring = Object.keys(termsBefore).reduce((sum, group) => sum + Math.max(0, (termsAfter[group] ?? 0) - (termsBefore[group] ?? 0)), 0);
    const phases = { order: imagePhases(lastView, view.leaders.order, 'order-4'), catalog: imagePhases(lastView, view.leaders.catalog, 'catalog-4') };
    const restartsOf = (name: string) => lastView.actors.find((actor) => actor.name === name)?.restarts ?? null;
    return {
      orders: settings.orders, preloadSeconds, startEmptySeconds, startLoadedSeconds: loaded.seconds, catchUpSeconds, imagePhases: phases,
      newMemberRestarts: { order: restartsOf('order-4'), catalog: restartsOf('catalog-4') },
      rssMiBBefore, rssMiBPeak, leaderStallMsMax, ordersPerSecondBefore: before / settings.phaseSeconds,
      ordersPerSecondDuring: duringBought / duringSeconds, electionsDuring, ordersInNewMember, failures,
    };
  } finally {
    await server.stop();
  }
}

export function formatScale(figures: ScaleFigures): string {
  const seconds = (value: number | null) => (value === null ? `not within ${catchUpSecondsMax} s` : `${value.toFixed(1)} s`);
  const ratio = figures.ordersPerSecondBefore > 0 ? figures.ordersPerSecondDuring / figures.ordersPerSecondBefore : 0;
  return [
    `scale: ${figures.orders} orders preloaded in ${figures.preloadSeconds.toFixed(1)} s (bulk, not HTTP)`,
    `  start-up          ${figures.startLoadedSeconds.toFixed(2)} s with them, ${figures.startEmptySeconds.toFixed(2)} s empty (target ≤ 3 s)`,
    `  catch-up          order ${seconds(figures.catchUpSeconds.order)}, catalog ${seconds(figures.catchUpSeconds.catalog)} (target ≤ 60 s)`,
    ...(['order', 'catalog'] as const).map((group) => `  image ${group.padEnd(12)}${formatPhases(figures.imagePhases[group], figures.catchUpSeconds[group])}`),
    `  RSS               ${figures.rssMiBPeak ?? '?'} MiB peak during, ${figures.rssMiBBefore ?? '?'} MiB before (target ≤ 1024)`,
    `  leader stall      ${figures.leaderStallMsMax === null ? '?' : figures.leaderStallMsMax.toFixed(0)} ms longest event-loop delay of a leader's thread`,
    `  orders/s          ${figures.ordersPerSecondDuring.toFixed(0)} during, ${figures.ordersPerSecondBefore.toFixed(0)} before: ${ratio.toFixed(2)}× (target ≥ 0.7×)`,
    `  elections         ${figures.electionsDuring} during the catch-up (target 0)`,
    `  restarts          order-4 ${figures.newMemberRestarts.order ?? '?'}, catalog-4 ${figures.newMemberRestarts.catalog ?? '?'} during the catch-up (its supervisor's)`,
    ...figures.failures.map((failure) => `  NOT MEASURED      ${failure.slice(0, 300)}`),
    `  new order member  holds ${figures.ordersInNewMember ?? '?'} orders once caught up (≥ ${figures.orders} preloaded: they came in an image)`,
  ].join('\n');
}

/** One group's phases: build, stream (with its rate), receive, install, and what is left of the catch-up. */
function formatPhases(phases: ImagePhases, catchUpSeconds: number | null): string {
  const seconds = (value: number | null) => (value === null ? '?' : `${value.toFixed(1)} s`);
  const megabytes = phases.bytesSent === null ? null : phases.bytesSent / 1e6;
  const rate = megabytes !== null && phases.sendSeconds !== null && phases.sendSeconds > 0 ? `, ${(megabytes / phases.sendSeconds).toFixed(1)} MB/s` : '';
  const known = [phases.buildSeconds, phases.sendSeconds, phases.installSeconds];
  const rest = catchUpSeconds !== null && known.every((value) => value !== null)
    ? `, the rest ${(catchUpSeconds - known.reduce((sum: number, value) => sum + value!, 0)).toFixed(1)} s` : '';
  return `build ${seconds(phases.buildSeconds)}, stream ${seconds(phases.sendSeconds)} (${megabytes?.toFixed(1) ?? '?'} MB${rate}; received in ${seconds(phases.receiveSeconds)}), install ${seconds(phases.installSeconds)}${rest}`;
}
