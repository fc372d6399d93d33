// Checksums of the stored Raft records.
//
// Each record is hashed with CRC-32 over an unambiguous encoding of every field, so that a flipped byte in any
// field, or a field copied from another row, is noticed when the record is read back. The encodings are part of
// the on-disk format: changing one makes every existing database unreadable, so they are spelled out in
// README.md and must only change together with the schema version.
import { crc32 } from 'node:zlib';
import type { Entry, HardState, SnapshotMeta } from '../types.js';

/** CRC-32 of `index:term:type:` followed by the data; numbers and the type contain no colon, so it is unambiguous. */
export function entryChecksum(entry: Pick<Entry, 'index' | 'term' | 'type' | 'data'>): number {
  const header = `${entry.index}:${entry.term}:${entry.type}:`;
  return crc32(entry.data, crc32(header));
}

/** CRC-32 of the JSON array [term, vote, commit]; JSON keeps a null vote apart from any node name. */
export function hardStateChecksum(hardState: HardState): number {
  return crc32(JSON.stringify([hardState.term, hardState.vote, hardState.commit]));
}

/**
 * CRC-32 of the JSON array [index, term, peers, learners, configIndex] followed by the snapshot data; a record
 * written before learners and configIndex were stored (`configIndex` absent) hashes [index, term, peers].
 */
export function snapshotChecksum(meta: SnapshotMeta, data: string): number {
  const fields = meta.configIndex === undefined
    ? [meta.index, meta.term, meta.peers]
    : [meta.index, meta.term, meta.peers, meta.learners ?? [], meta.configIndex];
  return crc32(data, crc32(JSON.stringify(fields)));
}
