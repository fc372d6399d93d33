// What a replica did since it started, for the operator's metrics: leader changes seen, proposals, the time of its
// synced writes (transaction + fsync) and of applying entries, and the images it built, sent and received, with the
// time of each phase of an image (built, streamed, received, installed).
//
// Owns: plain counters and fixed-bucket duration histograms, kept in the replica's own thread; a status call
// copies them (figures()), the gateway turns them into Prometheus families at scrape time. Recording is a bucket
// search and a few additions: nothing here allocates per observation. The bucket rule (bucketOf) is also the
// gateway's request-latency histogram's.
// Promises: counts only grow; a histogram's count is the sum of its bucket counts; figures() is a copy.

/** Upper bounds of the duration buckets, in seconds (the last bucket, +Inf, holds the rest). */
export const durationBucketsSeconds: readonly number[] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** A histogram as it crosses the control plane: per-bucket (not cumulative) counts, +Inf last; sum in seconds. */
export interface HistogramFigures {
  readonly counts: readonly number[];
  readonly sum: number;
  readonly count: number;
}

/**
 * The bucket of an observation among ascending upper bounds, as Prometheus counts it: the first bound at or above
 * it, or the last bucket (+Inf, index bounds.length) when it is above them all. A linear search: the bounds are few.
 */
export function bucketOf(boundsSeconds: readonly number[], seconds: number): number {
  let bucket = 0;
  while (bucket < boundsSeconds.length && seconds > boundsSeconds[bucket]!) bucket += 1;
  return bucket;
}

export class DurationHistogram {
  private readonly counts = new Array<number>(durationBucketsSeconds.length + 1).fill(0);
  private sum = 0;
  private count = 0;

  observe(seconds: number): void {
    this.counts[bucketOf(durationBucketsSeconds, seconds)]! += 1;
    this.sum += seconds;
    this.count += 1;
  }

  figures(): HistogramFigures {
    return { counts: [...this.counts], sum: this.sum, count: this.count };
  }
}

export interface ReplicaActivity {
  /** Times the replica saw its group's leader change to another (known) replica. */
  readonly leaderChanges: number;
  /** Proposals the core took (this replica led), those answered committed, and those answered with a failure. */
  readonly proposalsProposed: number;
  readonly proposalsCommitted: number;
  readonly proposalsFailed: number;
  /** Proposals taken and not answered yet. */
  readonly proposalsPending: number;
  /** Time of each synced write: the transaction and its fsync (storage.ts's `synced` durability). */
  readonly fsyncSeconds: HistogramFigures;
  /** Time of applying each batch of committed entries to the state machine. */
  readonly applySeconds: HistogramFigures;
  /** Images of the state built for followers behind the log: their build time, and their code units together. */
  readonly imageBuildSeconds: HistogramFigures;
  readonly imageUnitsBuilt: number;
  /** Code units of images delivered whole to followers, and of images received whole from a leader. */
  readonly imageUnitsSent: number;
  readonly imageUnitsReceived: number;
  /**
   * The phases of an image after its build, each observed as it ends: on the leader, streamed to a follower (its
   * first chunk sent to its last acknowledged); on the follower, received (its first chunk to its last) and
   * installed (the synced write that puts it in the tables). Absent from the status of a node that does not time
   * them (an earlier version, across a socket).
   */
  readonly imageSendSeconds?: HistogramFigures;
  readonly imageReceiveSeconds?: HistogramFigures;
  readonly imageInstallSeconds?: HistogramFigures;
}

/** The mutable counters behind ReplicaActivity; the driver records, status() reads figures(). */
export class ActivityCounters {
  leaderChanges = 0;
  proposalsProposed = 0;
  proposalsCommitted = 0;
  proposalsFailed = 0;
  readonly applySeconds = new DurationHistogram();
  readonly imageBuildSeconds = new DurationHistogram();
  imageUnitsBuilt = 0;
  imageUnitsSent = 0;
  imageUnitsReceived = 0;
  readonly imageSendSeconds = new DurationHistogram();
  readonly imageReceiveSeconds = new DurationHistogram();
  readonly imageInstallSeconds = new DurationHistogram();
  /** Length and start of the image streaming to each peer, until it is delivered. */
  private readonly streaming = new Map<string, { readonly units: number; readonly startedMs: number }>();
  /** When the first chunk of the image being received arrived (null: none is being received). */
  private receiveStartedMs: number | null = null;

  streamStarted(peer: string, units: number, nowMs: number): void {
    this.streaming.set(peer, { units, startedMs: nowMs });
  }

  streamCompleted(peer: string, nowMs: number): void {
    const stream = this.streaming.get(peer);
    if (stream === undefined) return;
    this.imageUnitsSent += stream.units;
    this.imageSendSeconds.observe((nowMs - stream.startedMs) / 1_000);
    this.streaming.delete(peer);
  }

  /** The first chunk of an image from a leader (a new image, or one started again from its beginning). */
  receiveStarted(nowMs: number): void {
    this.receiveStartedMs = nowMs;
  }

  /** The last chunk of the image being received arrived: it is whole. */
  receiveCompleted(units: number, nowMs: number): void {
    this.imageUnitsReceived += units;
    if (this.receiveStartedMs !== null) this.imageReceiveSeconds.observe((nowMs - this.receiveStartedMs) / 1_000);
    this.receiveStartedMs = null;
  }

  figures(proposalsPending: number, fsyncSeconds: HistogramFigures): ReplicaActivity {
    return {
      leaderChanges: this.leaderChanges,
      proposalsProposed: this.proposalsProposed,
      proposalsCommitted: this.proposalsCommitted,
      proposalsFailed: this.proposalsFailed,
      proposalsPending,
      fsyncSeconds,
      applySeconds: this.applySeconds.figures(),
      imageBuildSeconds: this.imageBuildSeconds.figures(),
      imageUnitsBuilt: this.imageUnitsBuilt,
      imageUnitsSent: this.imageUnitsSent,
      imageUnitsReceived: this.imageUnitsReceived,
      imageSendSeconds: this.imageSendSeconds.figures(),
      imageReceiveSeconds: this.imageReceiveSeconds.figures(),
      imageInstallSeconds: this.imageInstallSeconds.figures(),
    };
  }
}

const isCount = (value: unknown): value is number => typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;

function histogramOf(value: unknown): HistogramFigures | null {
  if (typeof value !== 'object' || value === null) return null;
  const { counts, sum, count } = value as Record<string, unknown>;
  if (!Array.isArray(counts) || counts.length !== durationBucketsSeconds.length + 1 || !counts.every(isCount)) return null;
  if (!isCount(count) || typeof sum !== 'number' || !Number.isFinite(sum) || sum < 0) return null;
  if (counts.reduce((total: number, bucket: number) => total + bucket, 0) !== count) return null;
  return { counts: [...counts] as number[], sum, count };
}

const activityCounts = ['leaderChanges', 'proposalsProposed', 'proposalsCommitted', 'proposalsFailed', 'proposalsPending', 'imageUnitsBuilt', 'imageUnitsSent', 'imageUnitsReceived'] as const;
const activityHistograms = ['fsyncSeconds', 'applySeconds', 'imageBuildSeconds'] as const;
/** Histograms a node of an earlier version does not send: absent is no fault, malformed is. */
const activityHistogramsOptional = ['imageSendSeconds', 'imageReceiveSeconds', 'imageInstallSeconds'] as const;

/** A replica's activity as it arrived in a status (from another node, over a socket): checked field by field. */
export function activityOf(value: unknown): ReplicaActivity | null {
  if (typeof value !== 'object' || value === null) return null;
  const fields = value as Record<string, unknown>;
  const result: Record<string, unknown> = {};
  for (const name of activityCounts) {
    if (!isCount(fields[name])) return null;
    result[name] = fields[name];
  }
  for (const name of activityHistograms) {
    const histogram = histogramOf(fields[name]);
    if (histogram === null) return null;
    result[name] = histogram;
  }
  for (const name of activityHistogramsOptional) {
    if (fields[name] === undefined) continue;
    const histogram = histogramOf(fields[name]);
    if (histogram === null) return null;
    result[name] = histogram;
  }
  return result as unknown as ReplicaActivity;
}
