// The dashboard's pure parts and its feed, without a browser: the per-second sampler (rates, percentiles, bounds),
// the events told from successive cluster statuses (elections, leader changes, failovers, restarts, down/up,
// invalidations), the bounded event ring, and the feed's polling, backpressure and subscriber bound.

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { ActorStatus, ClusterStatus } from '../../src/http/backend.js';
import { EventRing, countWrites, emptyMemory, observeCluster, observeStatusFailure, observeWrites, type FeedMemory, type NewEvent } from '../../src/http/dashboard/events.js';
import { DashboardFeed, type Snapshot, type Subscriber } from '../../src/http/dashboard/feed.js';
import { LiveSampler, bucketUpperMs, latencyBucketOf } from '../../src/http/dashboard/sampler.js';

// ---- sampler ----

const sampler = suite('live sampler');

sampler('rates divide by the real interval; p50 and p99 land in the right log bucket', () => {
  // 100 requests in 2 s (a late roll): 50 per second, not 100. 98 answers at 1 ms and 2 at 100 ms: p50 is about
  // 1 ms and p99 about 100 ms, within one bucket (19%).
  const live = new LiveSampler(0);
  const lookup = live.forRoute('lookup');
  const order = live.forRoute('order');
  for (let index = 0; index < 98; index += 1) live.record(lookup, 200, 0.001);
  live.record(order, 503, 0.1);
  live.record(order, 400, 0.1);
  live.recordCache(true);
  live.recordCache(true);
  live.recordCache(true);
  live.recordCache(false);
  const sample = live.roll(2_000);
  assert.is(sample.requestsPerSecond, 50);
  assert.equal(sample.requestsPerSecondByRoute, { lookup: 49, order: 1 });
  assert.equal(sample.succeededByRoute, { lookup: 98 });
  assert.ok(sample.latencyP50Ms! >= 1 && sample.latencyP50Ms! < 1.2, `p50 ${sample.latencyP50Ms}`);
  assert.ok(sample.latencyP99Ms! >= 100 && sample.latencyP99Ms! < 120, `p99 ${sample.latencyP99Ms}`);
  assert.is(sample.cacheHitRatio, 0.75);
  assert.is(sample.errorsPerSecond, 0.5);
  assert.is(sample.clientErrorsPerSecond, 0.5);
});

sampler('an idle second has no percentiles and no hit ratio; the counters restart at zero after a roll', () => {
  // Rolls twice: the second interval must not carry the first one's requests.
  const live = new LiveSampler(0);
  live.record(live.forRoute('lookup'), 200, 0.002);
  live.roll(1_000);
  const idle = live.roll(2_000);
  assert.is(idle.requestsPerSecond, 0);
  assert.equal(idle.requestsPerSecondByRoute, {});
  assert.is(idle.latencyP50Ms, null);
  assert.is(idle.cacheHitRatio, null);
});

sampler('the ring keeps samplesMax seconds, oldest first', () => {
  // 75 rolls into a ring of 60: the first 15 are gone, the last is the newest.
  const live = new LiveSampler(0, 60);
  for (let second = 1; second <= 75; second += 1) live.roll(second * 1_000);
  assert.is(live.samples().length, 60);
  assert.is(live.samples()[0]!.atMs, 16_000);
  assert.is(live.samples()[59]!.atMs, 75_000);
  assert.throws(() => new LiveSampler(0, 0), /samplesMax/);
});

sampler('latency buckets are monotonic and every latency is at most its bucket bound', () => {
  // Walks latencies from 0.5 µs to 200 s: the bucket never decreases and its upper bound covers the latency
  // (except the last, shared bucket).
  let previous = 0;
  for (let seconds = 5e-7; seconds < 200; seconds *= 1.07) {
    const bucket = latencyBucketOf(seconds);
    assert.ok(bucket >= previous, `bucket went down at ${seconds}`);
    if (seconds < 200) assert.ok(bucketUpperMs(bucket) >= seconds * 1000 * 0.9999, `bucket ${bucket} too low for ${seconds}`);
    previous = bucket;
  }
});

sampler.run();

// ---- events ----

function actor(name: string, fields: Partial<ActorStatus> = {}): ActorStatus {
  const group = name.split('-')[0]!;
  return { name, group, node: 'local', alive: true, role: 'follower', term: 1, commitIndex: 5, lastApplied: 5, restarts: 0, ...fields };
}

function cluster(catalogLeader: string | null, changes: Record<string, Partial<ActorStatus>> = {}): ClusterStatus {
  const names = ['catalog-1', 'catalog-2', 'catalog-3', 'order-1', 'order-2', 'order-3'];
  const actors = names.map((name) => {
    const role = name === catalogLeader || name === 'order-1' ? 'leader' : 'follower';
    return actor(name, { role, ...changes[name] });
  });
  return { actors, leaders: { catalog: catalogLeader, order: 'order-1' } };
}

function run(statuses: Array<[number, ClusterStatus]>): NewEvent[] {
  let memory: FeedMemory = emptyMemory;
  const events: NewEvent[] = [];
  for (const [nowMs, status] of statuses) {
    const observed = observeCluster(memory, status, nowMs);
    memory = observed.memory;
    events.push(...observed.events);
  }
  return events;
}

const events = suite('feed events');

events('a stopped leader is told as down, election, new leader and a failover with its duration', () => {
  // catalog-1 leads (seen at 1000 and 1200), is stopped (down, no leader), then catalog-3 wins term 2: the story
  // must say all of it, with the failover bounded from the last poll that saw catalog-1 lead.
  const told = run([
    [1_000, cluster('catalog-1')],
    [1_200, cluster('catalog-1')],
    [1_400, cluster(null, { 'catalog-1': { alive: false, role: null } })],
    [2_200, cluster('catalog-3', { 'catalog-1': { alive: false, role: null }, 'catalog-3': { term: 2 }, 'catalog-2': { term: 2 } })],
  ]);
  const texts = told.map((event) => event.text);
  assert.equal(texts, [
    'catalog-1 leads catalog in term 1',
    'order-1 leads order in term 1',
    'catalog-1 is down',
    'catalog lost its leader catalog-1; election under way',
    'catalog-3 became leader of catalog in term 2',
    'failover: catalog moved from catalog-1 to catalog-3 within 1000 ms',
  ]);
  assert.equal(told.map((event) => event.kind), ['leader', 'leader', 'down', 'election', 'leader', 'failover']);
});

events('a leader change seen in one poll is still a failover; restarts, candidates and recovery are told', () => {
  // No leaderless poll in between: the failover is bounded by the poll interval. Then catalog-1 restarts twice and
  // comes back.
  const told = run([
    [0, cluster('catalog-1')],
    [400, cluster('catalog-2', { 'catalog-1': { alive: false, role: null }, 'catalog-3': { role: 'candidate', term: 2 } })],
    [800, cluster('catalog-2', { 'catalog-1': { restarts: 2 } })],
  ]).map((event) => event.text);
  assert.ok(told.includes('failover: catalog moved from catalog-1 to catalog-2 within 400 ms'), told.join('\n'));
  assert.ok(told.includes('catalog-3 stands for election in term 2'), told.join('\n'));
  assert.ok(told.includes('supervisor restarted catalog-1 (2 times; 2 in all)'), told.join('\n'));
  assert.ok(told.includes('catalog-1 is up again'), told.join('\n'));
});

events('an unchanged cluster tells nothing; a failing status is told once, its return once', () => {
  // Three identical polls after the first produce no event; two failures produce one; a success after them one.
  const quiet = run([[0, cluster('catalog-1')], [400, cluster('catalog-1')], [800, cluster('catalog-1')]]);
  assert.is(quiet.length, 2);
  let memory = observeCluster(emptyMemory, cluster('catalog-1'), 0).memory;
  const first = observeStatusFailure(memory, 'no answer within 2000 ms', 400);
  const second = observeStatusFailure(first.memory, 'no answer within 2000 ms', 800);
  assert.is(first.events.length, 1);
  assert.is(second.events.length, 0);
  memory = second.memory;
  assert.equal(observeCluster(memory, cluster('catalog-1'), 1_200).events.map((event) => event.text), ['cluster status answers again']);
});

events('orders, updates and invalidations summed over seconds make one invalidation event; reads make none', () => {
  // Two samples: only the invalidating routes are summed, lookups are ignored.
  const base = { atMs: 5_000, intervalMs: 1_000, requestsPerSecond: 0, requestsPerSecondByRoute: {}, latencyP50Ms: null, latencyP99Ms: null, cacheHitRatio: null, errorsPerSecond: 0, clientErrorsPerSecond: 0 };
  const readsOnly = countWrites({}, { ...base, succeededByRoute: { lookup: 500 } });
  assert.equal(observeWrites(readsOnly, 5_000), []);
  const counts = countWrites(countWrites({}, { ...base, succeededByRoute: { order: 2, lookup: 9 } }), { ...base, succeededByRoute: { order: 1, updateItem: 1, invalidateItem: 2 } });
  assert.equal(observeWrites(counts, 6_000), [{ atMs: 6_000, kind: 'invalidation', text: 'cache invalidated after 3 orders, 1 item update, 2 explicit invalidations' }]);
});

events('the ring keeps eventsMax events with growing sequences', () => {
  const ring = new EventRing(3);
  for (let index = 0; index < 5; index += 1) ring.push({ atMs: index, kind: 'status', text: `event ${index}` });
  assert.is(ring.size, 3);
  assert.equal(ring.after(0).map((event) => event.sequence), [3, 4, 5]);
  assert.equal(ring.after(4).map((event) => event.text), ['event 4']);
  assert.is(ring.lastSequence, 5);
  assert.throws(() => new EventRing(0), /eventsMax/);
});

events.run();

// ---- feed ----

interface Recorded extends Subscriber {
  readonly snapshots: Snapshot[];
  closed: boolean;
  buffered: number;
}

function recorder(): Recorded {
  const recorded: Recorded = {
    snapshots: [],
    closed: false,
    buffered: 0,
    write(text) {
      const data = /^event: snapshot\ndata: (.*)\n\n$/s.exec(text);
      assert.ok(data !== null, `not a snapshot frame: ${text.slice(0, 80)}`);
      recorded.snapshots.push(JSON.parse(data[1]!) as Snapshot);
      return true;
    },
    bufferedBytes: () => recorded.buffered,
    close() {
      recorded.closed = true;
    },
  };
  return recorded;
}

const feed = suite('dashboard feed');
const settle = () => new Promise((resolve) => setTimeout(resolve, 10));

feed('a subscriber gets the picture at once, then one snapshot per poll with only new events', async () => {
  // Polls by hand (the timers are slow on purpose): the first snapshot has the series, the second the cluster and
  // the first events, a quiet poll none, and series only after a roll.
  let status = cluster('catalog-1');
  const live = new LiveSampler(0);
  const dashboard = new DashboardFeed({ clusterStatus: async () => status, sampler: live, rollIntervalMs: 0, pollIntervalMs: 60_000, clock: () => 1_000 });
  try {
    dashboard.roll();
    const watcher = recorder();
    assert.ok(dashboard.subscribe(watcher));
    assert.is(watcher.snapshots.length, 1);
    assert.is(watcher.snapshots[0]!.series!.length, 1);
    await settle(); // the first poll, which subscribe starts
    const [, second] = watcher.snapshots;
    assert.is(second!.cluster!.leaders.catalog, 'catalog-1');
    assert.equal(second!.events.map((event) => event.text), ['catalog-1 leads catalog in term 1', 'order-1 leads order in term 1']);
    await dashboard.poll();
    assert.equal(watcher.snapshots[2]!.events, []);
    assert.is(watcher.snapshots[2]!.series, null);
    status = cluster('catalog-2');
    dashboard.roll();
    await dashboard.poll();
    assert.ok(watcher.snapshots[3]!.events.some((event) => event.kind === 'failover'));
    assert.is(watcher.snapshots[3]!.series!.length, 1 + 1);
  } finally {
    dashboard.close();
  }
});

feed('subscribers are bounded, slow ones are dropped, and close ends everyone', async () => {
  // Two slots: the third subscriber is refused. One subscriber reports more unsent bytes than allowed: the next
  // broadcast drops and closes it, the other keeps receiving. close() ends the rest.
  const dashboard = new DashboardFeed({
    clusterStatus: async () => cluster('catalog-1'),
    sampler: new LiveSampler(0),
    rollIntervalMs: 0,
    pollIntervalMs: 60_000,
    subscribersMax: 2,
    subscriberBufferBytesMax: 1_000,
  });
  const fast = recorder();
  const slow = recorder();
  try {
    assert.ok(dashboard.subscribe(fast));
    assert.ok(dashboard.subscribe(slow));
    assert.not.ok(dashboard.subscribe(recorder()));
    await settle();
    slow.buffered = 5_000;
    await dashboard.poll();
    assert.ok(slow.closed);
    assert.is(dashboard.subscriberCount, 1);
    assert.is(fast.snapshots.length, 3);
  } finally {
    dashboard.close();
  }
  assert.ok(fast.closed);
  assert.is(dashboard.subscriberCount, 0);
});

feed('a status source slower than its deadline is a failure told once, and polls never overlap', async () => {
  // The source never answers: the poll fails after statusTimeoutMs with a clusterError; a second poll started
  // while the first is in flight returns at once without asking the source again.
  let asked = 0;
  const dashboard = new DashboardFeed({
    clusterStatus: () => {
      asked += 1;
      return new Promise<ClusterStatus>(() => undefined);
    },
    sampler: new LiveSampler(0),
    rollIntervalMs: 0,
    pollIntervalMs: 60_000,
    statusTimeoutMs: 50,
  });
  const watcher = recorder();
  try {
    dashboard.subscribe(watcher); // starts one poll
    await dashboard.poll(); // overlaps: skipped
    assert.is(asked, 1);
    await new Promise((resolve) => setTimeout(resolve, 120));
    const last = watcher.snapshots.at(-1)!;
    assert.match(last.clusterError ?? '', /no answer within 50 ms/);
    assert.equal(last.events.map((event) => event.kind), ['status']);
  } finally {
    dashboard.close();
  }
});

feed('invalidations are told at once, then at most once per window, summed', async () => {
  // Orders answered in seconds 1, 2 and 3 with a 5 s window: second 1 is told at once, seconds 2 and 3 wait and
  // are told together at second 6.
  let nowMs = 0;
  const live = new LiveSampler(0);
  const dashboard = new DashboardFeed({ clusterStatus: async () => cluster('catalog-1'), sampler: live, rollIntervalMs: 0, pollIntervalMs: 60_000, clock: () => nowMs });
  const watcher = recorder();
  try {
    dashboard.subscribe(watcher);
    await settle();
    const order = live.forRoute('order');
    const told: string[] = [];
    for (let second = 1; second <= 6; second += 1) {
      if (second <= 3) live.record(order, 200, 0.01);
      nowMs = second * 1_000;
      dashboard.roll();
      await dashboard.poll();
      told.push(...watcher.snapshots.at(-1)!.events.filter((event) => event.kind === 'invalidation').map((event) => `${second}: ${event.text}`));
    }
    assert.equal(told, ['1: cache invalidated after 1 order', '6: cache invalidated after 2 orders']);
  } finally {
    dashboard.close();
  }
});

feed.run();
