// A replicated state machine as one replica runs it, for the state-machine tests: opened on an in-memory SQLite
// database, every command applied inside a transaction at the next log index.
import Database from 'better-sqlite3';
import * as assert from 'uvu/assert';

interface Machine {
  open(database: Database.Database): void;
  apply(data: string, index: number): unknown;
}

export interface InMemoryReplica<M extends Machine, C> {
  readonly database: Database.Database;
  readonly machine: M;
  /** Applies a command (or raw data, to test what decoding refuses) at the next index. */
  apply(command: C | string): ReturnType<M['apply']>;
}

/** Opens `machine` on a new in-memory database, which is pushed onto `opened` so the test can close it. */
export function openInMemory<M extends Machine, C>(machine: M, encode: (command: C) => string, opened: Database.Database[]): InMemoryReplica<M, C> {
  const database = new Database(':memory:');
  opened.push(database);
  machine.open(database);
  let index = 0;
  const apply = (command: C | string): ReturnType<M['apply']> => {
    index += 1;
    const data = typeof command === 'string' ? command : encode(command);
    return database.transaction(() => machine.apply(data, index))() as ReturnType<M['apply']>;
  };
  return { database, machine, apply };
}

/** Applies each of `bad` and requires a badCommand refusal for every one, with the machine's hash unmoved by each. */
export function assertAllBadCommands(replica: { apply(command: string): unknown; machine: { hash(): string } }, bad: readonly string[]): void {
  for (const data of bad) {
    const before = replica.machine.hash();
    const result = replica.apply(data) as { ok: boolean; reason?: string };
    assert.is(result.ok, false, data);
    assert.is(result.reason, 'badCommand', data);
    assert.is(replica.machine.hash(), before, `${data} changed the state`);
  }
}
