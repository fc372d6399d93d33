// The reference experiments on the real image and compose file: seven podman containers made from Containerfile
// and compose.yaml, driven from outside as a person would with `docker compose up`, `docker stop catalog-1` and
// `docker start catalog-1`, through the gateway's published port on 127.0.0.1.
//
// How: two local base images are made from this machine's own Debian packages (scripts/container-base.sh: one with
// the toolchain for the build stage, one with node alone for the runtime stage), since no registry image can be
// pulled here; the real Containerfile is built on them (BUILD_BASE and BASE); compose.yaml, copied byte for byte
// into a temp dir beside a generated .env, is brought up with podman-compose. Then: MISS then HIT with the exact
// bytes; stop the catalog-1 container (the log says whether it led); lookups and an order still served; six of
// book 3 take it from 25 to 19; start catalog-1 again and it catches up. Containers, volumes, networks and images
// are removed at the end, on failure too, and a later run removes what a killed run left.
// Without root, podman or podman-compose the file skips with a printed reason; with CI=true it must run.
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { eventually, http, sleep } from '../support/pygmy-process.js';
import { alive, existingContainers, podmanEnvironment, podmanUnavailableReason, removeDeadRuns, removeRun, run, runChecked, runPrefix } from '../support/podman.js';
import type { ClusterStatus } from '../../src/http/backend.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const services = ['catalog-1', 'catalog-2', 'catalog-3', 'order-1', 'order-2', 'order-3', 'frontend'] as const;
const project = `${runPrefix}${process.pid}`;
const appImage = `localhost/${project}-app:latest`;
const cacheDirectory = process.env.PYGMY_CONTAINER_CACHE ?? '/var/cache/pygmy-containers';
const lockDirectory = join(tmpdir(), 'pygmy-compose-test.lock');
const secret = randomBytes(32).toString('hex');
const adminToken = randomBytes(32).toString('hex');
const admin = { authorization: `Bearer ${adminToken}` };
/** The whole file's budget: the test must stay under ten minutes even when the image is built from nothing. */
const budgetMs = 9 * 60_000;

const lookup1Body = '{"ok":true,"result":{"id":1,"name":"How to get a good grade in 677 in 20 minutes a day","stock":10,"price":19.9,"topic":1},"topics":[{"id":1,"name":"Distributed systems"}]}';
const lookup2Body = '{"ok":true,"result":{"id":2,"name":"RPCs for Dummies","stock":20,"price":29.9,"topic":1},"topics":[{"id":1,"name":"Distributed systems"}]}';
const lookup3Body = (stock: number) =>
  `{"ok":true,"result":{"id":3,"name":"Xen and the Art of Surviving Graduate School","stock":${stock},"price":9.9,"topic":2},"topics":[{"id":2,"name":"Graduate School"}]}`;

const skipReason = podmanUnavailableReason();
if (skipReason !== null && process.env.CI === 'true') throw new Error(`the container test must run in CI but cannot: ${skipReason}`);

interface Context {
  /** Whether this run's containers were made (so their logs, not someone else's, are worth printing). */
  composed: boolean;
  directory: string;
  url: string;
  locked: boolean;
  startedAt: number;
  timings: string[];
}

const test = suite<Context>('the reference experiments on seven podman containers', { composed: false, directory: '', url: '', locked: false, startedAt: Date.now(), timings: [] });

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** The container names are fixed (catalog-1, …), so one run at a time on a machine: a lock directory holds its pid. */
async function takeLock(timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      mkdirSync(lockDirectory);
      writeFileSync(join(lockDirectory, 'pid'), String(process.pid));
      return;
    } catch {
      const holder = Number(readFileSync(join(lockDirectory, 'pid'), { encoding: 'utf8', flag: 'a+' }) || 0);
      if (holder > 0 && !alive(holder)) rmSync(lockDirectory, { recursive: true, force: true });
      else if (Date.now() > deadline) throw new Error(`another container test (pid ${holder}) holds ${lockDirectory}`);
      else await sleep(1_000);
    }
  }
}

function cleanUp(context: Context): void {
  if (process.env.PYGMY_TEST_KEEP_CONTAINERS === '1') return console.log(`kept project ${project} (PYGMY_TEST_KEEP_CONTAINERS=1)`);
  removeRun(project);
  if (context.directory !== '') rmSync(context.directory, { recursive: true, force: true });
  if (context.locked) rmSync(lockDirectory, { recursive: true, force: true });
  context.locked = false;
}

async function timed<T>(context: Context, what: string, work: () => Promise<T>): Promise<T> {
  const startedAt = Date.now();
  const value = await work();
  context.timings.push(`${what} ${((Date.now() - startedAt) / 1000).toFixed(1)} s`);
  return value;
}

const compose = (context: Context, args: readonly string[], timeoutMs: number) =>
  runChecked('podman-compose', ['-p', project, '-f', join(context.directory, 'compose.yaml'), ...args], {
    timeoutMs,
    cwd: context.directory,
    env: podmanEnvironment({ PYGMY_IMAGE: appImage, PYGMY_PUBLISH: new URL(context.url).host }),
  });
const podman = (args: readonly string[], timeoutMs = 60_000) => runChecked('podman', args, { timeoutMs });

async function clusterView(url: string): Promise<ClusterStatus> {
  const answer = await http('GET', `${url}/cluster`, { headers: admin });
  if (answer.status !== 200) throw new Error(`/cluster answered ${answer.status}: ${answer.text}`);
  return answer.json().result;
}

async function printLogs(...names: string[]): Promise<void> {
  for (const name of names) {
    const logs = await run('podman', ['logs', '--tail', '30', name], { timeoutMs: 20_000 });
    console.error(`--- last lines of ${name}\n${logs.stdout}${logs.stderr}`);
  }
}

test.before(async (context) => {
  if (skipReason !== null) return;
  try {
    await setUp(context);
  } catch (error) {
    // uvu prints nothing of an error in a before hook, and runs no after hook then.
    console.error(`container test set-up failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    if (context.composed) await printLogs('frontend', 'catalog-1');
    cleanUp(context);
    throw error;
  }
});

async function setUp(context: Context): Promise<void> {
  context.startedAt = Date.now();
  const onSignal = () => {
    cleanUp(context);
    process.exit(143);
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  await takeLock(120_000);
  context.locked = true;
  const removed = removeDeadRuns();
  if (removed.length > 0) console.log(`removed what earlier runs left: ${removed.join(', ')}`);
  const taken = existingContainers(services);
  if (taken.size > 0) throw new Error(`containers already named ${[...taken.keys()].join(', ')} exist (not made by this test); remove them first`);
  context.directory = mkdtempSync(join(tmpdir(), `${project}-`));
  copyFileSync(join(root, 'compose.yaml'), join(context.directory, 'compose.yaml'));
  mkdirSync(join(context.directory, 'examples'));
  copyFileSync(join(root, 'examples', 'cluster-compose.json'), join(context.directory, 'examples', 'cluster-compose.json'));
  writeFileSync(join(context.directory, '.env'), `PYGMY_CLUSTER_SECRET=${secret}\nPYGMY_ADMIN_TOKEN=${adminToken}\n`, { mode: 0o600 });
  context.url = `http://127.0.0.1:${await freePort()}`;

  const script = join(root, 'scripts', 'container-base.sh');
  const [buildBase, runtimeBase] = await timed(context, 'base images', () =>
    Promise.all(
      (['build', 'runtime'] as const).map(async (kind) => {
        const tag = `localhost/${project}-base-${kind}:latest`;
        await runChecked('bash', [script, kind, tag, cacheDirectory], { timeoutMs: 180_000 });
        return tag;
      }),
    ),
  );
  mkdirSync(join(cacheDirectory, 'npm'), { recursive: true });
  // The real Containerfile; --format docker keeps its HEALTHCHECK; npm's download cache is kept between runs.
  await timed(context, 'image build', () =>
    runChecked(
      'podman',
      ['build', '--format', 'docker', '--layers=false', '--force-rm', '--build-arg', `BUILD_BASE=${buildBase}`, '--build-arg', `BASE=${runtimeBase}`,
        '-v', `${join(cacheDirectory, 'npm')}:/root/.npm`, '-t', appImage, '-f', join(root, 'Containerfile'), root],
      { timeoutMs: 360_000 },
    ),
  );
  context.composed = true;
  await timed(context, 'compose up', () => compose(context, ['up', '-d'], 120_000));
  // podman-compose exits 0 even when a container failed to start: look at each one.
  for (const name of services) {
    const state = await podman(['inspect', name, '--format', '{{.State.Status}}']);
    if (state.stdout.trim() !== 'running') throw new Error(`${name} is ${state.stdout.trim()} after compose up`);
  }
  await timed(context, 'ready', () =>
    eventually('the gateway in the frontend container to be ready', async () => ((await http('GET', `${context.url}/ready`, { timeoutMs: 2_000, headers: admin })).status === 200 ? true : undefined), 120_000, 500),
  );
}

test.after((context) => {
  if (skipReason !== null) return;
  cleanUp(context);
  const left = existingContainers(services);
  console.log(`container test: ${context.timings.join(', ')}; ${((Date.now() - context.startedAt) / 1000).toFixed(0)} s in all`);
  assert.is(left.size, 0, `containers left behind: ${[...left.keys()].join(', ')}`);
});

test('MISS then HIT with the exact bytes; the image runs as node with data on a volume; health checks pass', async (context) => {
  if (skipReason !== null) return console.log(`skipped: ${skipReason}`);
  const miss = await http('GET', `${context.url}/lookup/1`);
  assert.is(miss.status, 200);
  assert.is(miss.headers.get('x-cache'), 'MISS');
  assert.match(miss.headers.get('x-served-by') ?? '', /^catalog-[123]$/);
  assert.is(miss.text, lookup1Body);
  const hit = await http('GET', `${context.url}/lookup/1`);
  assert.is(hit.headers.get('x-cache'), 'HIT');
  assert.is(hit.text, lookup1Body);

  const user = await podman(['exec', 'catalog-2', 'id', '-u']);
  assert.is(user.stdout.trim(), '1000', 'the node runs as the unprivileged node user');
  const mounts = await podman(['inspect', 'catalog-2', '--format', '{{range .Mounts}}{{.Name}}={{.Destination}} {{end}}']);
  assert.match(mounts.stdout, new RegExp(`${project}_catalog-2-data=/data`));
  const files = await podman(['exec', 'catalog-2', 'ls', '/data']);
  assert.ok(files.stdout.trim().length > 0, 'the replica keeps its database on /data');
  // Without systemd podman does not schedule health checks; `podman healthcheck run` runs the image's check once.
  for (const name of ['frontend', 'catalog-2', 'order-3']) {
    const health = await run('podman', ['healthcheck', 'run', name], { timeoutMs: 30_000 });
    assert.is(health.code, 0, `${name} unhealthy: ${health.stdout}${health.stderr}`);
  }
  const leaderLog = await podman(['logs', 'frontend']);
  assert.match(leaderLog.stdout + leaderLog.stderr, /pygmy: ready at http:\/\/0\.0\.0\.0:34800/);
});

test('docker stop catalog-1: lookups and orders still served; six of book 3 → 19; docker start catalog-1 catches up', async (context) => {
  if (skipReason !== null) return console.log(`skipped: ${skipReason}`);
  const before = await clusterView(context.url);
  const wasLeader = before.leaders.catalog === 'catalog-1';
  console.log(`catalog-1 ${wasLeader ? 'was' : 'was not'} the catalog leader when stopped (leader: ${before.leaders.catalog}, term ${before.actors.find((actor) => actor.name === before.leaders.catalog)?.term})`);
  await podman(['stop', 'catalog-1'], 60_000);
  const state = await podman(['inspect', 'catalog-1', '--format', '{{.State.Status}}']);
  assert.is(state.stdout.trim(), 'exited');

  const cached = await http('GET', `${context.url}/lookup/1`);
  assert.is(cached.text, lookup1Body);
  const lookup2 = await eventually('lookup/2 with catalog-1 stopped', async () => {
    const answer = await http('GET', `${context.url}/lookup/2`, { timeoutMs: 8_000 });
    return answer.status === 200 ? answer : undefined;
  }, 30_000, 200);
  assert.is(lookup2.text, lookup2Body);
  assert.is(lookup2.headers.get('x-cache'), 'MISS');
  assert.match(lookup2.headers.get('x-served-by') ?? '', /^catalog-[23]$/);

  const stocked = await http('GET', `${context.url}/lookup/3`);
  assert.is(stocked.text, lookup3Body(25));
  assert.is((await http('GET', `${context.url}/lookup/3`)).headers.get('x-cache'), 'HIT');
  const bought = await http('POST', `${context.url}/order/3?amount=6`, { timeoutMs: 15_000 });
  assert.is(bought.status, 200, bought.text);
  assert.is(bought.text, 'true');
  const after = await http('GET', `${context.url}/lookup/3`);
  assert.is(after.text, lookup3Body(19));
  assert.is(after.headers.get('x-cache'), 'MISS');

  const during = await clusterView(context.url);
  assert.ok(during.leaders.catalog === 'catalog-2' || during.leaders.catalog === 'catalog-3', `leader ${during.leaders.catalog}`);
  const leader = during.actors.find((actor) => actor.name === during.leaders.catalog)!;
  const stoppedView = during.actors.find((actor) => actor.name === 'catalog-1')!;
  assert.is(stoppedView.alive, false, 'the gateway sees catalog-1 down');

  await podman(['start', 'catalog-1'], 60_000);
  const caughtUp = await eventually('catalog-1 to catch up after docker start', async () => {
    const view = await clusterView(context.url);
    const replica = view.actors.find((actor) => actor.name === 'catalog-1');
    return replica?.alive === true && (replica.lastApplied ?? 0) >= (leader.commitIndex ?? Infinity) ? replica : undefined;
  }, 60_000, 250);
  assert.ok((caughtUp.lastApplied ?? 0) >= (leader.commitIndex ?? 0));
  const log = await podman(['logs', 'catalog-1']);
  assert.match(log.stdout + log.stderr, /pygmy: node catalog-1 listening on catalog-1:34900/);
  // Reads through a replica that came back: the stock it serves is the one after the order.
  const again = await http('GET', `${context.url}/lookup/3`);
  assert.is(again.text, lookup3Body(19));
});

test('a node killed with kill -9 is restarted by its restart policy and resumes from its volume', async (context) => {
  if (skipReason !== null) return console.log(`skipped: ${skipReason}`);
  const pid = Number((await podman(['inspect', 'order-3', '--format', '{{.State.Pid}}'])).stdout.trim());
  assert.ok(Number.isSafeInteger(pid) && pid > 1, `pid ${pid}`);
  process.kill(pid, 'SIGKILL');
  const restarted = await eventually('order-3 to be restarted by restart: unless-stopped', async () => {
    const state = (await podman(['inspect', 'order-3', '--format', '{{.RestartCount}} {{.State.Status}} {{.State.Pid}}'])).stdout.trim().split(' ');
    return Number(state[0]) >= 1 && state[1] === 'running' && Number(state[2]) !== pid ? state : undefined;
  }, 60_000, 250);
  assert.ok(Number(restarted[0]) >= 1);
  // The restarted replica reads its log back from the volume (the first start had applied nothing).
  await eventually('order-3 to load its log from its volume', async () => {
    const log = await podman(['logs', 'order-3']);
    return /order-3 loaded from disk: term [1-9]\d*, applied [1-9]/.test(log.stdout + log.stderr) ? true : undefined;
  }, 60_000, 500);
  const bought = await http('POST', `${context.url}/order/4?amount=1`, { timeoutMs: 15_000 });
  assert.is(bought.text, 'true');
  assert.ok(Date.now() - context.startedAt < budgetMs, `the container test took ${Date.now() - context.startedAt} ms, over its ${budgetMs} ms budget`);
});

test.run();
