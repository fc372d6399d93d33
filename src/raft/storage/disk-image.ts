// Reads everything the storage keeps for Raft and checks it before anyone may use it.
//
// Every record is verified against its checksum, and the records against each other
// (snapshot index <= lastApplied <= commit <= last log index). A failure is a StorageCorruptionError naming the
// file and the record. The log's own verdict (intact, torn tail, corrupt) comes from recovery.ts and is returned
// to the caller, which decides whether dropping a torn tail is allowed at that moment.
import type { HardState, SnapshotMeta } from '../types.js';
import { hardStateChecksum, snapshotChecksum } from './checksum.js';
import { StorageCorruptionError } from './errors.js';
import { judgeLog, type LogVerdict } from './recovery.js';
import type { HardStateRow, SnapshotRow, Statements } from './statements.js';

export interface DiskImage {
  readonly hardState: HardState;
  /** The latest snapshot's metadata: the log was compacted up to it; the state itself is in the tables. */
  readonly snapshot: SnapshotMeta | null;
  readonly lastApplied: number;
  readonly verdict: LogVerdict;
}

function decodeHardState(row: HardStateRow | undefined, path: string): HardState {
  if (row === undefined) throw new StorageCorruptionError('hard state row missing', { path });
  const hardState: HardState = { term: row.term, vote: row.vote, commit: row.commit_index };
  if (hardStateChecksum(hardState) !== row.checksum) {
    throw new StorageCorruptionError('hard state checksum mismatch', { path, hardState });
  }
  return hardState;
}

function decodeNames(text: string, column: string, path: string): readonly string[] {
  try {
    const names: unknown = JSON.parse(text);
    if (Array.isArray(names) && names.every((name) => typeof name === 'string')) return names as string[];
  } catch {
    // Reported below with the file name, as any other damaged record.
  }
  throw new StorageCorruptionError(`snapshot ${column} are not a list of node ids`, { path, [column]: text });
}

/** The configuration columns: a row from before they existed holds no learners and a NULL config_index. */
function decodeConfiguration(row: SnapshotRow, path: string): Pick<SnapshotMeta, 'learners' | 'configIndex'> {
  const learners = decodeNames(row.learners, 'learners', path);
  if (row.config_index === null) {
    if (learners.length > 0) throw new StorageCorruptionError('snapshot learners without a config_index', { path });
    return {};
  }
  if (!Number.isSafeInteger(row.config_index) || row.config_index < 0 || row.config_index > row.snapshot_index) {
    throw new StorageCorruptionError('snapshot config_index out of range', { path, configIndex: row.config_index });
  }
  return { learners, configIndex: row.config_index };
}

/** The record's checksum covers its `data` column too, which Pygmy writes empty (see README.md). */
function decodeSnapshot(row: SnapshotRow | undefined, path: string): SnapshotMeta | null {
  if (row === undefined) return null;
  const meta: SnapshotMeta = {
    index: row.snapshot_index,
    term: row.snapshot_term,
    peers: decodeNames(row.peers, 'peers', path),
    ...decodeConfiguration(row, path),
  };
  if (snapshotChecksum(meta, row.data) !== row.checksum) {
    throw new StorageCorruptionError('snapshot checksum mismatch', { path, index: meta.index, term: meta.term });
  }
  return meta;
}

function lastIndexOf(verdict: LogVerdict, snapshotIndex: number): number {
  if (verdict.kind === 'corrupt') return snapshotIndex;
  const last = verdict.entries[verdict.entries.length - 1];
  return last === undefined ? snapshotIndex : last.index;
}

function checkOrdering(image: DiskImage, path: string): void {
  const snapshotIndex = image.snapshot?.index ?? 0;
  const commit = image.hardState.commit;
  const lastIndex = lastIndexOf(image.verdict, snapshotIndex);
  const facts = { path, snapshotIndex, lastApplied: image.lastApplied, commit, lastIndex };
  if (image.lastApplied < snapshotIndex) throw new StorageCorruptionError('lastApplied below snapshot', facts);
  if (image.lastApplied > commit) throw new StorageCorruptionError('lastApplied beyond commit', facts);
  if (commit > lastIndex) throw new StorageCorruptionError('commit beyond the stored log', facts);
}

export function readDiskImage(statements: Statements, path: string): DiskImage {
  const hardState = decodeHardState(statements.selectHardState.get(), path);
  const snapshot = decodeSnapshot(statements.selectSnapshot.get(), path);
  const appliedRow = statements.selectLastApplied.get();
  if (appliedRow === undefined) throw new StorageCorruptionError('lastApplied row missing', { path });
  const verdict = judgeLog(statements.selectAllEntries.all(), {
    snapshotIndex: snapshot?.index ?? 0,
    snapshotTerm: snapshot?.term ?? 0,
    commit: hardState.commit,
  });
  if (verdict.kind === 'corrupt') {
    throw new StorageCorruptionError(`log corrupt: ${verdict.reason}`, { path, index: verdict.index });
  }
  const image: DiskImage = { hardState, snapshot, lastApplied: appliedRow.last_applied, verdict };
  checkOrdering(image, path);
  return image;
}
