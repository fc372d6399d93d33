// The prepared SQL of the storage, in one place, with the row shapes SQLite returns.
import type Database from 'better-sqlite3';
import type { HardState, SnapshotMeta } from '../types.js';
import { hardStateChecksum, snapshotChecksum } from './checksum.js';
import type { StoredEntryRow } from './recovery.js';

export interface HardStateRow {
  readonly term: number;
  readonly vote: string | null;
  readonly commit_index: number;
  readonly checksum: number;
}

export interface SnapshotRow {
  readonly snapshot_index: number;
  readonly snapshot_term: number;
  readonly peers: string;
  readonly learners: string;
  /** NULL in a record written before the configuration's index was kept. */
  readonly config_index: number | null;
  readonly data: string;
  readonly checksum: number;
}

export interface IdentityRow {
  readonly cluster_id: string;
  readonly replica_id: string;
  readonly voter: number;
  readonly created_at: string;
}

export interface Statements {
  readonly insertEntry: Database.Statement<[number, number, string, string, number]>;
  readonly deleteEntriesFrom: Database.Statement<[number]>;
  readonly deleteEntriesThrough: Database.Statement<[number]>;
  readonly selectEntry: Database.Statement<[number], StoredEntryRow>;
  readonly selectAllEntries: Database.Statement<[], StoredEntryRow>;
  readonly selectEntriesBetween: Database.Statement<[number, number], StoredEntryRow>;
  readonly selectHardState: Database.Statement<[], HardStateRow>;
  readonly upsertHardState: Database.Statement<[number, string | null, number, number]>;
  readonly selectSnapshot: Database.Statement<[], SnapshotRow>;
  readonly upsertSnapshot: Database.Statement<[number, number, string, string, number, string, number]>;
  readonly selectLastApplied: Database.Statement<[], { last_applied: number }>;
  readonly updateLastApplied: Database.Statement<[number]>;
  readonly selectIdentity: Database.Statement<[], IdentityRow>;
  readonly insertIdentity: Database.Statement<[string, string, number, string]>;
  readonly updateIdentityVoter: Database.Statement<[number]>;
  readonly selectPeerReplicas: Database.Statement<[], { name: string; replica_id: string }>;
  readonly insertPeerReplica: Database.Statement<[string, string]>;
}

const entryColumns = 'log_index, term, type, data, checksum';

export function prepareStatements(database: Database.Database): Statements {
  return {
    insertEntry: database.prepare(`INSERT INTO raft_log (${entryColumns}) VALUES (?, ?, ?, ?, ?)`),
    deleteEntriesFrom: database.prepare('DELETE FROM raft_log WHERE log_index >= ?'),
    deleteEntriesThrough: database.prepare('DELETE FROM raft_log WHERE log_index <= ?'),
    selectEntry: database.prepare(`SELECT ${entryColumns} FROM raft_log WHERE log_index = ?`),
    selectAllEntries: database.prepare(`SELECT ${entryColumns} FROM raft_log ORDER BY log_index`),
    selectEntriesBetween: database.prepare(
      `SELECT ${entryColumns} FROM raft_log WHERE log_index >= ? AND log_index <= ? ORDER BY log_index`,
    ),
    selectHardState: database.prepare('SELECT term, vote, commit_index, checksum FROM raft_hard_state WHERE id = 1'),
    upsertHardState: database.prepare(
      `INSERT INTO raft_hard_state (id, term, vote, commit_index, checksum) VALUES (1, ?, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET term = excluded.term, vote = excluded.vote,
         commit_index = excluded.commit_index, checksum = excluded.checksum`,
    ),
    selectSnapshot: database.prepare(
      'SELECT snapshot_index, snapshot_term, peers, learners, config_index, data, checksum FROM raft_snapshot WHERE id = 1',
    ),
    upsertSnapshot: database.prepare(
      `INSERT INTO raft_snapshot (id, snapshot_index, snapshot_term, peers, data, checksum, learners, config_index)
         VALUES (1, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET snapshot_index = excluded.snapshot_index,
         snapshot_term = excluded.snapshot_term, peers = excluded.peers, data = excluded.data,
         checksum = excluded.checksum, learners = excluded.learners, config_index = excluded.config_index`,
    ),
    selectLastApplied: database.prepare('SELECT last_applied FROM raft_applied WHERE id = 1'),
    updateLastApplied: database.prepare('UPDATE raft_applied SET last_applied = ? WHERE id = 1'),
    selectIdentity: database.prepare('SELECT cluster_id, replica_id, voter, created_at FROM raft_identity WHERE id = 1'),
    insertIdentity: database.prepare(
      'INSERT INTO raft_identity (id, cluster_id, replica_id, voter, created_at) VALUES (1, ?, ?, ?, ?)',
    ),
    updateIdentityVoter: database.prepare('UPDATE raft_identity SET voter = ? WHERE id = 1'),
    selectPeerReplicas: database.prepare('SELECT name, replica_id FROM raft_peer_replicas ORDER BY name'),
    insertPeerReplica: database.prepare('INSERT OR IGNORE INTO raft_peer_replicas (name, replica_id) VALUES (?, ?)'),
  };
}

/**
 * The snapshot record as it is written now: with the whole configuration. A snapshot from a leader that sent no
 * configIndex (an older version) took effect at its own index, as the core restores it.
 */
export function snapshotRecordOf(given: SnapshotMeta): SnapshotMeta {
  return { ...given, learners: [...(given.learners ?? [])], configIndex: given.configIndex ?? given.index };
}

/** Writes the snapshot record (metadata only: its `data` column stays empty, the state is in the tables). */
export function writeSnapshotRecord(statements: Statements, given: SnapshotMeta): SnapshotMeta {
  const meta = snapshotRecordOf(given);
  statements.upsertSnapshot.run(meta.index, meta.term, JSON.stringify(meta.peers), '', snapshotChecksum(meta, ''), JSON.stringify(meta.learners), meta.configIndex!);
  return meta;
}

export function writeHardStateRecord(statements: Statements, hardState: HardState): void {
  statements.upsertHardState.run(hardState.term, hardState.vote, hardState.commit, hardStateChecksum(hardState));
}
