// A database written before configuration entries existed: its raft_log refuses type 'config' until opened by
// this version, which rebuilds the table with the current CHECK and keeps every row.
import Database from 'better-sqlite3';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ensureSchema } from '../../src/raft/storage/schema.js';

test('an old raft_log is rebuilt to accept config entries, its rows kept', () => {
  const database = new Database(':memory:');
  database.exec(`CREATE TABLE raft_log (
    log_index INTEGER PRIMARY KEY, term INTEGER NOT NULL, type TEXT NOT NULL CHECK (type IN ('normal', 'noop')),
    data TEXT NOT NULL, checksum INTEGER NOT NULL)`);
  database.prepare('INSERT INTO raft_log VALUES (1, 1, ?, ?, 7)').run('noop', '');
  assert.throws(() => database.prepare('INSERT INTO raft_log VALUES (2, 1, ?, ?, 8)').run('config', '{}'), 'the old CHECK accepted config');
  ensureSchema(database, ':memory:');
  database.prepare('INSERT INTO raft_log VALUES (2, 1, ?, ?, 8)').run('config', '{"voters":["a"],"learners":[]}');
  const rows = database.prepare('SELECT log_index, type FROM raft_log ORDER BY log_index').all();
  assert.equal(rows, [{ log_index: 1, type: 'noop' }, { log_index: 2, type: 'config' }]);
  assert.throws(() => database.prepare('INSERT INTO raft_log VALUES (3, 1, ?, ?, 9)').run('bogus', ''));
  database.close();
});

test.run();
