// Where a replica compacts its log: the interval in entries, held back for followers that are behind, and bounded
// in bytes.
//
// Promises: nothing past lastApplied is compacted (the state in the tables covers it), nor anything at or below
// the last compaction. Once the log holds `intervalEntries` applied entries past the last compaction, the older
// half of them goes — unless this replica leads and a follower still needs some of them (its match index is
// lower): then the log is kept from that follower's match on, so a follower a few seconds behind (restarted,
// partitioned briefly, slow) catches up from the log and needs no image. What is kept for followers is bounded by
// `retainBytesMax` (the newest entries up to that many bytes stay; etcd keeps a fixed window for the same reason):
// only a follower further behind than that needs an image.
// Pure: the log's sizes come through `logBytes`.

export interface CompactionInput {
  readonly lastApplied: number;
  readonly snapshotIndex: number;
  readonly intervalEntries: number;
  /** On a leader, the match index of each other member; null on a follower (it keeps only its interval). */
  readonly followerMatches: readonly number[] | null;
  /** Bytes of the entries in (afterIndex, toInclusive]. */
  readonly logBytes: (afterIndex: number, toInclusive: number) => number;
  readonly retainBytesMax: number;
}

/** Bytes counted per entry beyond its data (index, term, type, checksum, row). */
export const entryOverheadBytes = 32;

/** Default for the bytes of log kept for followers behind: at bench rates several seconds of orders. */
export const retainBytesMaxDefault = 32 * 1024 * 1024;

/**
 * Where to compact the log, or null for not yet: once it holds `interval` applied entries past the last
 * compaction, up to the older half of them. The newest half stays, so that a follower a little behind (one that
 * restarted, or lost some appends) catches up from the log instead of needing a whole image of the state.
 */
export function compactionIndex(lastApplied: number, snapshotIndex: number, interval: number): number | null {
  if (lastApplied - snapshotIndex < interval) return null;
  return lastApplied - Math.floor(interval / 2);
}

/** The compaction index under the whole policy (see the file's contract), or null for none now. */
export function compactionTarget(input: CompactionInput): number | null {
  const base = compactionIndex(input.lastApplied, input.snapshotIndex, input.intervalEntries);
  if (base === null) return null;
  if (input.followerMatches === null || input.followerMatches.length === 0) return base;
  const slowest = Math.min(...input.followerMatches);
  if (slowest >= base) return base;
  // Keep from the slowest follower's match on, unless that is more than retainBytesMax: then keep the newest
  // entries up to that many bytes (the smallest index whose tail fits), found by bisection on the tail's size.
  let low = Math.max(slowest, input.snapshotIndex);
  if (input.logBytes(low, input.lastApplied) <= input.retainBytesMax) return low > input.snapshotIndex ? low : null;
  let high = base; // the tail after base is half an interval: kept whatever its size
  while (high - low > 1) {
    const middle = Math.floor((low + high) / 2);
    if (input.logBytes(middle, input.lastApplied) <= input.retainBytesMax) high = middle;
    else low = middle;
  }
  return high;
}
