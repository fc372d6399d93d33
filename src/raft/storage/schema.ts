// The on-disk schema of one replica's Raft state, next to the application's own tables.
//
// Plain tables a person can read with the sqlite3 shell (README.md documents every column). The single-row tables
// pin their one row with CHECK (id = 1), so a second row can never appear and shadow the first. The version lives
// in PRAGMA user_version: a file written by a different format is refused instead of misread.
import type Database from 'better-sqlite3';
import type { HardState } from '../types.js';
import { hardStateChecksum } from './checksum.js';
import { StorageCorruptionError } from './errors.js';

export const schemaVersion = 1;

const createTablesSql = `
CREATE TABLE IF NOT EXISTS raft_log (
  log_index INTEGER PRIMARY KEY,
  term      INTEGER NOT NULL,
  type      TEXT    NOT NULL CHECK (type IN ('normal', 'noop', 'config')),
  data      TEXT    NOT NULL,
  checksum  INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS raft_hard_state (
  id           INTEGER PRIMARY KEY CHECK (id = 1),
  term         INTEGER NOT NULL,
  vote         TEXT,
  commit_index INTEGER NOT NULL,
  checksum     INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS raft_snapshot (
  id             INTEGER PRIMARY KEY CHECK (id = 1),
  snapshot_index INTEGER NOT NULL,
  snapshot_term  INTEGER NOT NULL,
  peers          TEXT    NOT NULL,
  data           TEXT    NOT NULL,
  checksum       INTEGER NOT NULL,
  learners       TEXT    NOT NULL DEFAULT '[]',
  config_index   INTEGER
);
CREATE TABLE IF NOT EXISTS raft_applied (
  id           INTEGER PRIMARY KEY CHECK (id = 1),
  last_applied INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS raft_identity (
  id         INTEGER PRIMARY KEY CHECK (id = 1),
  cluster_id TEXT    NOT NULL,
  replica_id TEXT    NOT NULL,
  voter      INTEGER NOT NULL CHECK (voter IN (0, 1)),
  created_at TEXT    NOT NULL
);
CREATE TABLE IF NOT EXISTS raft_peer_replicas (
  name       TEXT PRIMARY KEY,
  replica_id TEXT NOT NULL
);
`;

/**
 * A file written before configuration entries existed refuses them (its raft_log CHECK names only normal and noop):
 * the table is rebuilt with the current CHECK, rows unchanged, inside the opening transaction.
 */
function allowConfigEntries(database: Database.Database): void {
  const row = database.prepare("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'raft_log'").get() as { sql: string } | undefined;
  if (row === undefined || row.sql.includes("'config'")) return;
  database.exec('ALTER TABLE raft_log RENAME TO raft_log_before_config');
  database.exec(createTablesSql);
  database.exec('INSERT INTO raft_log (log_index, term, type, data, checksum) SELECT log_index, term, type, data, checksum FROM raft_log_before_config');
  database.exec('DROP TABLE raft_log_before_config');
}

/**
 * A file written before the snapshot record kept the whole configuration lacks its learners and config_index
 * columns: they are added, an old row reading as no learners and config_index NULL (checksummed the old way).
 */
function addConfigurationColumns(database: Database.Database): void {
  const columns = database.prepare('PRAGMA table_info(raft_snapshot)').all() as { name: string }[];
  const names = new Set(columns.map((column) => column.name));
  if (!names.has('learners')) database.exec("ALTER TABLE raft_snapshot ADD COLUMN learners TEXT NOT NULL DEFAULT '[]'");
  if (!names.has('config_index')) database.exec('ALTER TABLE raft_snapshot ADD COLUMN config_index INTEGER');
}

const initialHardState: HardState = { term: 0, vote: null, commit: 0 };

/** Creates the tables and their single rows in a fresh file; checks the version of an existing one. */
export function ensureSchema(database: Database.Database, path: string): void {
  const version = database.pragma('user_version', { simple: true }) as number;
  if (version !== 0 && version !== schemaVersion) {
    throw new StorageCorruptionError('unknown storage schema version', { path, version, expected: schemaVersion });
  }
  database.transaction(() => {
    database.exec(createTablesSql);
    allowConfigEntries(database);
    addConfigurationColumns(database);
    database
      .prepare('INSERT OR IGNORE INTO raft_hard_state (id, term, vote, commit_index, checksum) VALUES (1, ?, ?, ?, ?)')
      .run(initialHardState.term, initialHardState.vote, initialHardState.commit, hardStateChecksum(initialHardState));
    database.prepare('INSERT OR IGNORE INTO raft_applied (id, last_applied) VALUES (1, 0)').run();
    database.pragma(`user_version = ${schemaVersion}`);
  })();
}
