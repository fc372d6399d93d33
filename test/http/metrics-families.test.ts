// /metrics as an operator reads it:
// - against a real in-process cluster, the scrape parses as Prometheus text (every sample belongs to a family
//   with a TYPE, every value is a number), has every family named in docs/metrics.md's tables, and has per-actor
//   and per-thread series for every actor /cluster lists; the parser is first shown to refuse broken text;
// - a status that gains an actor (as membership adds one) gains its series, and one that loses it loses them.
import { readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startCluster } from '../../src/cluster/cluster.js';
import { createLogger } from '../../src/cli/logger.js';
import type { ActorStatus, ClusterStatus } from '../../src/http/backend.js';
import { GatewayMetrics } from '../../src/http/metrics.js';
import { activityOf, DurationHistogram, type ReplicaActivity } from '../../src/raft/activity.js';
import { http, makeDataDir, removeDataDir } from '../support/pygmy-process.js';

interface Sample {
  readonly name: string;
  readonly labels: Record<string, string>;
  readonly value: number;
}

const sampleLine = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$/;
const labelPair = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)/g;
const histogramSuffixes = ['_bucket', '_sum', '_count'];

/** A strict reader of the Prometheus text format: throws on any line it cannot read or a sample of no family. */
function parsePrometheus(text: string): { families: Map<string, string>; samples: Sample[] } {
  const families = new Map<string, string>();
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('# HELP ')) continue;
    if (line.startsWith('# TYPE ')) {
      const [name, type] = line.slice(7).split(' ');
      if (name === undefined || !['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(type ?? '')) throw new Error(`bad TYPE line: ${line}`);
      families.set(name, type!);
      continue;
    }
    const match = sampleLine.exec(line);
    if (match === null) throw new Error(`unreadable line: ${line}`);
    const value = Number(match[4] === '+Inf' ? Infinity : match[4]);
    if (Number.isNaN(value) && match[4] !== 'NaN') throw new Error(`not a number: ${line}`);
    const labels: Record<string, string> = {};
    if (match[3] !== undefined && match[3] !== '') {
      const consumed = [...match[3].matchAll(labelPair)];
      if (consumed.map((pair) => pair[0]).join('') !== match[3]) throw new Error(`bad labels: ${line}`);
      for (const pair of consumed) labels[pair[1]!] = pair[2]!;
    }
    const name = match[1]!;
    const family = families.has(name) ? name : histogramSuffixes.map((suffix) => (name.endsWith(suffix) ? name.slice(0, -suffix.length) : '')).find((base) => families.has(base));
    if (family === undefined) throw new Error(`sample of no declared family: ${line}`);
    samples.push({ name, labels, value });
  }
  return { families, samples };
}

/** The families named in docs/metrics.md's tables (first column, in backticks). */
function documentedFamilies(): string[] {
  const doc = readFileSync(new URL('../../../docs/metrics.md', import.meta.url), 'utf8');
  return [...doc.matchAll(/^\| `([a-z_0-9]+)` \|/gm)].map((match) => match[1]!);
}

test('the parser refuses broken text (so it can fail)', () => {
  assert.throws(() => parsePrometheus('# TYPE a gauge\na{x="1" 2\n'), /unreadable|bad labels/);
  assert.throws(() => parsePrometheus('b 1\n'), /no declared family/);
  assert.throws(() => parsePrometheus('# TYPE a gauge\na one\n'), /unreadable|not a number/);
  assert.is(parsePrometheus('# TYPE h histogram\nh_bucket{le="+Inf"} 1\nh_sum 2\nh_count 1\n').samples.length, 3);
  assert.ok(documentedFamilies().length >= 40, 'the docs table lists the families');
});

test('a cluster scrape parses, has every documented family, and series for every actor and thread', async () => {
  const dataDir = makeDataDir();
  const logger = createLogger({ level: 'warn', pretty: false, destination: { write: () => true } });
  const cluster = await startCluster({ host: '127.0.0.1', port: 0, dataDir, fresh: true, logger });
  try {
    await http('GET', `${cluster.url}/lookup/1`);
    await http('POST', `${cluster.url}/order/1?amount=1`);
    const scrape = await http('GET', `${cluster.url}/metrics`);
    assert.is(scrape.status, 200);
    const { families, samples } = parsePrometheus(scrape.text);
    const missing = documentedFamilies().filter((family) => !families.has(family));
    assert.equal(missing, [], 'every family of docs/metrics.md is exported');
    const actors = (await http('GET', `${cluster.url}/cluster`)).json().result.actors as Array<{ name: string; group: string }>;
    assert.is(actors.length, 7);
    const has = (name: string, labels: Record<string, string>) => samples.some((sample) => sample.name === name && Object.entries(labels).every(([key, value]) => sample.labels[key] === value));
    for (const actor of actors) {
      for (const family of ['pygmy_actor_mailbox_depth', 'pygmy_actor_mailbox_refusals_total', 'pygmy_actor_dead_letters_total', 'pygmy_actor_restarts']) {
        assert.ok(has(family, { actor: actor.name, group: actor.group }), `${family} for ${actor.name}`);
      }
      assert.ok(has('pygmy_thread_heap_used_bytes', { thread: actor.name }), `thread heap of ${actor.name}`);
      assert.ok(has('pygmy_thread_event_loop_delay_p99_seconds', { thread: actor.name }), `thread delay of ${actor.name}`);
      if (actor.group !== 'cache') assert.ok(has('pygmy_raft_has_leader', { actor: actor.name }), `has-leader of ${actor.name}`);
    }
    assert.ok(has('pygmy_thread_heap_used_bytes', { thread: 'gateway' }));
    // The order went through both groups: their leaders committed proposals, every replica fsynced and applied.
    const total = (name: string, group: string) => samples.filter((sample) => sample.name === name && sample.labels.group === group).reduce((sum, sample) => sum + sample.value, 0);
    for (const group of ['catalog', 'order']) {
      assert.ok(total('pygmy_raft_proposals_committed_total', group) >= 1, `${group}: a proposal committed`);
      assert.ok(total('pygmy_raft_fsync_duration_seconds_count', group) >= 3, `${group}: fsyncs timed`);
      assert.ok(total('pygmy_raft_apply_duration_seconds_count', group) >= 3, `${group}: applies timed`);
      assert.ok(total('pygmy_raft_leader_changes_total', group) >= 3, `${group}: every replica saw its first leader`);
    }
    assert.ok(has('pygmy_gateway_admitted_total', { class: 'order' }));
  } finally {
    await cluster.close();
    removeDataDir(dataDir);
  }
});

/** Two fsyncs (0.4 ms and 3 ms), one apply (20 ms), one image built and installed (8 s), and the rest of a replica's activity. */
function activity(): ReplicaActivity {
  const installSeconds = new DurationHistogram();
  installSeconds.observe(8);
  const fsyncSeconds = new DurationHistogram();
  fsyncSeconds.observe(0.0004);
  fsyncSeconds.observe(0.003);
  const applySeconds = new DurationHistogram();
  applySeconds.observe(0.02);
  return {
    leaderChanges: 2, proposalsProposed: 11, proposalsCommitted: 9, proposalsFailed: 1, proposalsPending: 1,
    fsyncSeconds: fsyncSeconds.figures(), applySeconds: applySeconds.figures(), imageBuildSeconds: applySeconds.figures(),
    imageUnitsBuilt: 500, imageUnitsSent: 400, imageUnitsReceived: 300, imageInstallSeconds: installSeconds.figures(),
  };
}

test('a replica\'s activity is checked as it arrives: a histogram whose buckets do not add up is refused', () => {
  assert.equal(activityOf(activity()), activity());
  const broken = { ...activity(), fsyncSeconds: { ...activity().fsyncSeconds, count: 3 } };
  assert.is(activityOf(broken), null);
  assert.is(activityOf({ ...activity(), leaderChanges: -1 }), null);
  assert.is(activityOf('garbage'), null);
});

function actor(name: string, group: string): ActorStatus {
  return {
    name, group, node: 'local', alive: true, role: 'follower', term: 2, commitIndex: 9, lastApplied: 8, restarts: 0,
    figures: {
      mailboxDepth: 3, refused: 1, deadLetters: 2, dropped: 1, processed: 50,
      thread: { heapUsedBytes: 1_000, heapTotalBytes: 2_000, eventLoopDelayP50Ms: 1, eventLoopDelayP99Ms: 5, eventLoopDelayMaxMs: 9, eventLoopUtilization: 0.5 },
      replica: { leader: 'catalog-1', lastIndex: 9, snapshotIndex: 4, fsyncs: 7, imageStreamsStalled: 1, imageChunksRefused: 2, imagesInstalled: 3, activity: activity() },
    },
  };
}

/** Every one of `series` (sample lines, value included) is in the scrape `text`. */
function assertHasSeries(text: string, series: readonly string[]): void {
  for (const line of series) assert.match(text, line);
}

test('an actor added to the status gains its series; one removed loses them', async () => {
  const metrics = new GatewayMetrics(undefined, 0, { defaultMetrics: false });
  const three: ClusterStatus = { actors: [actor('catalog-1', 'catalog'), actor('catalog-2', 'catalog'), actor('catalog-3', 'catalog')], leaders: { catalog: 'catalog-1' } };
  const four: ClusterStatus = { ...three, actors: [...three.actors, actor('catalog-4', 'catalog')] };
  metrics.updateCluster(three);
  assert.not.match(await metrics.text(), 'catalog-4');
  metrics.updateCluster(four);
  const text = await metrics.text();
  assertHasSeries(text, [
    'pygmy_actor_mailbox_depth{actor="catalog-4",group="catalog"} 3',
    'pygmy_actor_mailbox_refusals_total{actor="catalog-4",group="catalog"} 1',
    'pygmy_raft_log_entries{actor="catalog-4",group="catalog"} 5',
    'pygmy_raft_image_streams_stalled_total{actor="catalog-4",group="catalog"} 1',
    'pygmy_raft_image_chunks_refused_total{actor="catalog-4",group="catalog"} 2',
    'pygmy_thread_event_loop_delay_p99_seconds{thread="catalog-4"} 0.005',
    'pygmy_raft_leader_changes_total{actor="catalog-4",group="catalog"} 2',
    'pygmy_raft_proposals_committed_total{actor="catalog-4",group="catalog"} 9',
    'pygmy_raft_proposals_pending{actor="catalog-4",group="catalog"} 1',
    'pygmy_raft_fsync_duration_seconds_bucket{le="0.0005",actor="catalog-4",group="catalog"} 1',
    'pygmy_raft_fsync_duration_seconds_bucket{le="0.005",actor="catalog-4",group="catalog"} 2',
    'pygmy_raft_fsync_duration_seconds_count{actor="catalog-4",group="catalog"} 2',
    'pygmy_raft_apply_duration_seconds_bucket{le="0.01",actor="catalog-4",group="catalog"} 0',
    'pygmy_raft_apply_duration_seconds_bucket{le="0.025",actor="catalog-4",group="catalog"} 1',
    'pygmy_raft_snapshot_sent_bytes_total{actor="catalog-4",group="catalog"} 400',
    'pygmy_raft_snapshot_install_duration_seconds_count{actor="catalog-4",group="catalog"} 1',
    'pygmy_raft_snapshot_install_duration_seconds_bucket{le="5",actor="catalog-4",group="catalog"} 0',
  ]);
  // A phase the replica does not time (an earlier node's status) has no series.
  assert.not.match(text, 'pygmy_raft_snapshot_send_duration_seconds_count{', 'no send phase reported: no series');
  metrics.updateCluster(three);
  assert.not.match(await metrics.text(), 'catalog-4', 'a removed actor leaves the scrape');
  metrics.close();
});

test('peer links appear per peer node when the node has a transport, and not otherwise', async () => {
  const metrics = new GatewayMetrics(undefined, 0, { defaultMetrics: false });
  assert.not.match(await metrics.text(), 'pygmy_transport_bytes_sent_total{', 'no transport: no series');
  const link = { peer: 'host-b', connected: true, bytesSent: 1_234, bytesReceived: 99, framesSent: 7, framesReceived: 5, reconnects: 2, sendQueueBytes: 64, roundTripMs: null };
  metrics.peerLinksOf = () => [link];
  assert.not.match(await metrics.text(), 'pygmy_transport_round_trip_seconds{', 'no round trip measured yet: no series');
  metrics.peerLinksOf = () => [{ ...link, roundTripMs: 1.5 }];
  const text = await metrics.text();
  assertHasSeries(text, [
    'pygmy_transport_connected{peer="host-b"} 1',
    'pygmy_transport_bytes_sent_total{peer="host-b"} 1234',
    'pygmy_transport_frames_received_total{peer="host-b"} 5',
    'pygmy_transport_reconnects_total{peer="host-b"} 2',
    'pygmy_transport_send_queue_bytes{peer="host-b"} 64',
    'pygmy_transport_round_trip_seconds{peer="host-b"} 0.0015',
  ]);
  metrics.close();
});

test.run();
