// The invariants of the stored Raft state, asserted on every write (they stay on in production).
import type { Entry, HardState, SnapshotMeta } from '../types.js';
import { assertInvariant } from './errors.js';

/** What the storage knows of itself between transactions; replaced only after a transaction commits. */
export interface DurableState {
  readonly hardState: HardState;
  readonly snapshotMeta: SnapshotMeta | null;
  readonly lastApplied: number;
  readonly lastIndex: number;
  readonly lastTerm: number;
}

/** Indexes rise by one and terms never fall within a batch. */
export function assertBatchContiguous(entries: readonly Entry[]): void {
  for (let position = 1; position < entries.length; position += 1) {
    const previous = entries[position - 1]!;
    const entry = entries[position]!;
    assertInvariant(entry.index === previous.index + 1, 'entries not contiguous', {
      previous: previous.index,
      index: entry.index,
    });
    assertInvariant(entry.term >= previous.term, 'entry terms decrease', {
      index: entry.index,
      term: entry.term,
      previousTerm: previous.term,
    });
  }
}

/** Term and commit never go back; a vote, once cast, holds for the whole term; commit stays within the log. */
export function assertHardStateStep(current: HardState, next: HardState, lastIndex: number): void {
  assertInvariant(next.term >= current.term, 'term went backwards', { current: current.term, next: next.term });
  if (next.term === current.term && current.vote !== null) {
    assertInvariant(next.vote === current.vote, 'vote changed within a term', {
      term: next.term,
      current: current.vote,
      next: next.vote,
    });
  }
  assertInvariant(next.commit >= current.commit, 'commit went backwards', {
    current: current.commit,
    next: next.commit,
  });
  assertInvariant(next.commit <= lastIndex, 'commit beyond the stored log', { commit: next.commit, lastIndex });
}

/** snapshot index <= lastApplied <= commit <= last index, each checked on its own so a failure names one fact. */
export function assertDurableState(state: DurableState): void {
  const snapshotIndex = state.snapshotMeta?.index ?? 0;
  const commit = state.hardState.commit;
  assertInvariant(state.lastApplied >= snapshotIndex, 'lastApplied below snapshot', {
    lastApplied: state.lastApplied,
    snapshotIndex,
  });
  assertInvariant(state.lastApplied <= commit, 'lastApplied beyond commit', { lastApplied: state.lastApplied, commit });
  assertInvariant(commit <= state.lastIndex, 'commit beyond last index', { commit, lastIndex: state.lastIndex });
  assertInvariant(state.lastIndex >= snapshotIndex, 'log ends before the snapshot', {
    lastIndex: state.lastIndex,
    snapshotIndex,
  });
}
