// The in-memory Raft log of one node: the entries after the last snapshot, plus the indices that say how far
// they are committed, applied, durable and handed to the driver.
//
// Owns: entries (snapshotIndex+1 .. lastIndex), commit, applied, persistedIndex and the "unstable" cursor.
// Promises: indices are contiguous and terms never decrease (checked on every append); a committed entry is never
// truncated; entries handed to the driver in a Ready are counted durable only when the driver advances past them
// and their term still matches (a truncation in between makes them unstable again).
// Needs: nothing; it is plain data driven by RaftNode.
import type { Entry, SnapshotMeta } from '../types.js';
import { invariant } from './errors.js';

export class RaftLog {
  snapshotIndex: number;
  snapshotTerm: number;
  commit: number;
  applied: number;
  /** Every entry at or below this index is on the driver's disk. */
  persistedIndex: number;
  /** First index not yet handed to the driver in a Ready. */
  unstableFrom: number;
  private entries: Entry[];

  constructor(
    private readonly describe: () => string,
    snapshot: SnapshotMeta | null,
    entries: readonly Entry[],
    commit: number,
    applied: number,
  ) {
    this.snapshotIndex = snapshot?.index ?? 0;
    this.snapshotTerm = snapshot?.term ?? 0;
    this.entries = [];
    this.commit = Math.max(commit, this.snapshotIndex);
    this.appendChecked(entries);
    this.persistedIndex = this.lastIndex();
    this.unstableFrom = this.lastIndex() + 1;
    invariant(this.commit <= this.lastIndex(), () => `${this.describe()}: restored commit ${commit} beyond last index ${this.lastIndex()}`);
    this.applied = Math.max(applied, this.snapshotIndex);
    invariant(this.applied <= this.commit, () => `${this.describe()}: restored applied ${applied} beyond commit ${this.commit}`);
  }

  firstIndex(): number {
    return this.snapshotIndex + 1;
  }

  lastIndex(): number {
    return this.snapshotIndex + this.entries.length;
  }

  lastTerm(): number {
    return this.entries.length === 0 ? this.snapshotTerm : this.entries[this.entries.length - 1]!.term;
  }

  /** The term at `index`, or undefined when the index is compacted away or beyond the end. */
  term(index: number): number | undefined {
    if (index === this.snapshotIndex) return this.snapshotTerm;
    if (index < this.snapshotIndex || index > this.lastIndex()) return undefined;
    return this.entries[index - this.snapshotIndex - 1]!.term;
  }

  matchTerm(index: number, term: number): boolean {
    return this.term(index) === term;
  }

  /** Entries in [from, toInclusive], clamped to what is held in memory. */
  slice(from: number, toInclusive: number): Entry[] {
    const start = Math.max(from, this.firstIndex()) - this.snapshotIndex - 1;
    const end = Math.min(toInclusive, this.lastIndex()) - this.snapshotIndex;
    return start >= end ? [] : this.entries.slice(start, end);
  }

  isUpToDate(lastLogIndex: number, lastLogTerm: number): boolean {
    const ownTerm = this.lastTerm();
    return lastLogTerm > ownTerm || (lastLogTerm === ownTerm && lastLogIndex >= this.lastIndex());
  }

  /**
   * Appends entries that follow `prevIndex`, skipping those already present with the same term and truncating
   * from the first conflict. Returns the index of the last entry now known to match the sender.
   */
  appendAfter(prevIndex: number, entries: readonly Entry[]): number {
    let position = 0;
    while (position < entries.length && this.matchTerm(entries[position]!.index, entries[position]!.term)) position += 1;
    if (position < entries.length) {
      const conflictIndex = entries[position]!.index;
      invariant(conflictIndex > this.commit, () => `${this.describe()}: append would truncate committed index ${conflictIndex} (commit ${this.commit})`);
      this.truncateFrom(conflictIndex);
      this.appendChecked(entries.slice(position));
    }
    return prevIndex + entries.length;
  }

  /** Appends at the end (the leader's own proposals). */
  appendOwn(entry: Entry): void {
    invariant(entry.index === this.lastIndex() + 1, () => `${this.describe()}: own entry index ${entry.index} after last ${this.lastIndex()}`);
    this.appendChecked([entry]);
  }

  private truncateFrom(index: number): void {
    invariant(index > this.snapshotIndex, () => `${this.describe()}: truncate at ${index} inside snapshot ${this.snapshotIndex}`);
    this.entries.length = index - this.snapshotIndex - 1;
    this.persistedIndex = Math.min(this.persistedIndex, index - 1);
    this.unstableFrom = Math.min(this.unstableFrom, index);
  }

  private appendChecked(entries: readonly Entry[]): void {
    for (const entry of entries) {
      invariant(entry.index === this.lastIndex() + 1, () => `${this.describe()}: entry index ${entry.index} is not contiguous after ${this.lastIndex()}`);
      invariant(entry.term >= this.lastTerm(), () => `${this.describe()}: entry ${entry.index} term ${entry.term} below previous term ${this.lastTerm()}`);
      this.entries.push(entry);
    }
  }

  commitTo(index: number): boolean {
    if (index <= this.commit) return false;
    invariant(index <= this.lastIndex(), () => `${this.describe()}: commit ${index} beyond last index ${this.lastIndex()}`);
    this.commit = index;
    return true;
  }

  /** Drops entries up to `index` (already captured by a snapshot the application took at that index). */
  compact(index: number): void {
    if (index <= this.snapshotIndex) return;
    invariant(index <= this.applied, () => `${this.describe()}: compact at ${index} beyond applied ${this.applied}`);
    const term = this.term(index);
    invariant(term !== undefined, () => `${this.describe()}: compact at unknown index ${index}`);
    this.entries = this.entries.slice(index - this.snapshotIndex);
    this.snapshotIndex = index;
    this.snapshotTerm = term;
  }

  /** Replaces the whole log with a snapshot received from the leader. */
  restore(meta: SnapshotMeta): void {
    invariant(meta.index > this.commit, () => `${this.describe()}: restore snapshot ${meta.index} not beyond commit ${this.commit}`);
    this.entries = [];
    this.snapshotIndex = meta.index;
    this.snapshotTerm = meta.term;
    this.commit = meta.index;
    this.persistedIndex = meta.index;
    this.unstableFrom = meta.index + 1;
  }
}
