// Judges the stored Raft log when a replica opens: intact, a torn tail to drop, or corruption that must stop it.
//
// Pure: rows in, verdict out, no database. The rule: a write that was never fsynced can only ever be the last
// thing in the file, and nothing beyond the durable commit index was ever acknowledged by this replica's
// commit. So bad records that form the whole end of the log, all above the commit index, are a crash mid-write
// and may be dropped. Anything else (a bad record at or below the commit index, a bad record followed by a good
// one, a gap, a term that goes backwards) means the disk lost acknowledged data: refuse to run.
import type { Entry, EntryType } from '../types.js';
import { entryChecksum } from './checksum.js';

/** One row of the raft_log table as SQLite returns it. */
export interface StoredEntryRow {
  readonly log_index: number;
  readonly term: number;
  readonly type: string;
  readonly data: string;
  readonly checksum: number;
}

export type LogVerdict =
  | { readonly kind: 'intact'; readonly entries: readonly Entry[] }
  | {
      readonly kind: 'tornTail';
      readonly entries: readonly Entry[];
      readonly firstDroppedIndex: number;
      readonly droppedCount: number;
    }
  | { readonly kind: 'corrupt'; readonly reason: string; readonly index: number };

export interface LogBounds {
  /** Index of the last entry the snapshot covers (0 without a snapshot); the log must start right after it. */
  readonly snapshotIndex: number;
  readonly snapshotTerm: number;
  /** The durable commit index from the hard state. */
  readonly commit: number;
}

function isEntryType(type: string): type is EntryType {
  return type === 'normal' || type === 'noop' || type === 'config';
}

function rowChecksumHolds(row: StoredEntryRow): boolean {
  if (!isEntryType(row.type)) return false;
  const entry = { index: row.log_index, term: row.term, type: row.type, data: row.data };
  return entryChecksum(entry) === row.checksum;
}

export function rowToEntry(row: StoredEntryRow): Entry {
  if (!isEntryType(row.type)) throw new TypeError(`unknown entry type ${JSON.stringify(row.type)}`);
  return { index: row.log_index, term: row.term, type: row.type, data: row.data };
}

/** Finds the first row that is not a valid continuation of the log, with the reason; -1 when all are. */
function findFirstBadRow(rows: readonly StoredEntryRow[], bounds: LogBounds): { position: number; reason: string } {
  let expectedIndex = bounds.snapshotIndex + 1;
  let previousTerm = bounds.snapshotTerm;
  for (let position = 0; position < rows.length; position += 1) {
    const row = rows[position]!;
    if (!rowChecksumHolds(row)) return { position, reason: 'checksum mismatch' };
    if (row.log_index !== expectedIndex) return { position, reason: `expected index ${expectedIndex}` };
    if (row.term < previousTerm) return { position, reason: `term below previous term ${previousTerm}` };
    expectedIndex += 1;
    previousTerm = row.term;
  }
  return { position: -1, reason: '' };
}

export function judgeLog(rows: readonly StoredEntryRow[], bounds: LogBounds): LogVerdict {
  const bad = findFirstBadRow(rows, bounds);
  if (bad.position === -1) return { kind: 'intact', entries: rows.map(rowToEntry) };
  const badRow = rows[bad.position]!;
  // The index the bad row should have held: a gap reports the missing index, not the one found after it.
  const badIndex = Math.min(badRow.log_index, bounds.snapshotIndex + 1 + bad.position);
  if (badIndex <= bounds.commit) {
    return { kind: 'corrupt', reason: `committed entry damaged: ${bad.reason}`, index: badIndex };
  }
  if (!bad.reason.startsWith('checksum')) {
    return { kind: 'corrupt', reason: `log out of order: ${bad.reason}`, index: badIndex };
  }
  for (let position = bad.position + 1; position < rows.length; position += 1) {
    if (rowChecksumHolds(rows[position]!)) {
      return { kind: 'corrupt', reason: 'damaged entry followed by intact entries', index: badIndex };
    }
  }
  return {
    kind: 'tornTail',
    entries: rows.slice(0, bad.position).map(rowToEntry),
    firstDroppedIndex: badRow.log_index,
    droppedCount: rows.length - bad.position,
  };
}
