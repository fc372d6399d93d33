// The contract between the Raft replica and the application it replicates.
//
// The application keeps its state in tables of the replica's own SQLite database, beside the Raft log, so that
// applying an entry and recording lastApplied commit in one transaction: after a crash the state and the
// applied index always agree. The replica calls these methods from one thread, one at a time.
import type Database from 'better-sqlite3';

export interface StateMachine {
  /** Create the application's tables if absent and prepare statements. Called once after the database opens. */
  open(database: Database.Database): void;
  /**
   * Apply one committed command. Runs inside the transaction that records lastApplied = index, so it must not
   * open or commit transactions of its own. Deterministic: the same commands in the same order give the same
   * state and results on every replica (no clocks, no randomness: such values travel inside the command).
   * A command the application cannot accept is answered with an error result, never by throwing; a throw means
   * the replica itself is broken and it stops.
   */
  apply(data: string, index: number): unknown;
  /** Answer a read from the current state. Never writes. */
  query(query: unknown): unknown;
  /** The whole state as one string: the image a leader sends to a follower behind its compacted log. */
  snapshot(): string;
  /** Replace the whole state with a snapshot's image. Runs inside a transaction of the caller's. */
  restore(data: string): void;
  /**
   * The application's tables were replaced under it by an image file's (storage/image-file.ts), inside a
   * transaction of the caller's: forget whatever it keeps in memory about them.
   */
  tablesReplaced?(): void;
  /** A digest of the whole state; equal on replicas that applied the same entries. */
  hash(): string;
}
