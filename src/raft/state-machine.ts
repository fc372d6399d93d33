// The contract between the Raft replica and the application it replicates, and the four types that application
// speaks: Command (what a write proposes), Result (what applying one gives back), Query (what a read asks) and
// Answer (what each kind of query is answered with, by the query's `type`). The replica actor (replica.ts) and
// the group client (client.ts) carry these types to their callers, so that a caller of the catalog group reads
// a LookupAnswer where it asked a lookup, without a cast.
//
// The application keeps its state in tables of the replica's own SQLite database, beside the Raft log, so that
// applying an entry and recording lastApplied commit in one transaction: after a crash the state and the
// applied index always agree. The replica calls these methods from one thread, one at a time.
// Commands travel, and are logged, as JSON text (encodeCommand); the log may hold commands written by an older
// version, so the state machine decodes and checks every one it applies (decodeCommand) rather than trust it.
import type Database from 'better-sqlite3';

/** A query names its kind in `type`; the answers are listed by kind. */
export interface QueryShape {
  readonly type: string;
  readonly [field: string]: unknown;
}

/** What each kind of query is answered with: { [query type]: answer }. */
export type AnswersOf<Query extends QueryShape> = { readonly [Type in Query['type']]: unknown };

export type DecodedCommand<Command> = { readonly ok: true; readonly command: Command } | { readonly ok: false; readonly detail: string };

export type ParsedQuery<Query> = { readonly ok: true; readonly query: Query } | { readonly ok: false; readonly detail: string };

export interface StateMachine<
  Command = unknown,
  Result = unknown,
  Query extends QueryShape = QueryShape,
  Answer extends AnswersOf<Query> = AnswersOf<Query>,
> {
  /** Create the application's tables if absent and prepare statements. Called once after the database opens. */
  open(database: Database.Database): void;
  /** The command in one entry's data, checked; never throws. */
  decodeCommand(data: string): DecodedCommand<Command>;
  /**
   * Apply one committed command. Runs inside the transaction that records lastApplied = index, so it must not
   * open or commit transactions of its own. Deterministic: the same commands in the same order give the same
   * state and results on every replica (no clocks, no randomness: such values travel inside the command).
   * A command the application cannot accept is answered with an error result, never by throwing; a throw means
   * the replica itself is broken and it stops.
   */
  apply(data: string, index: number): Result;
  /** Answer a read from the current state. Never writes. Answers a query of kind K with Answer[K]. */
  query(query: Query): Answer[Query['type']];
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

/** Any state machine: the bound of the type parameters that name one. */
export type AnyStateMachine = StateMachine<unknown, unknown, QueryShape, AnswersOf<QueryShape>>;

export type CommandOf<Machine> = Machine extends StateMachine<infer Command, unknown, QueryShape, AnswersOf<QueryShape>> ? Command : never;
export type ResultOf<Machine> = Machine extends { apply(data: string, index: number): infer Result } ? Result : never;
export type QueryOf<Machine> = Machine extends { query(query: infer Query): unknown } ? (Query extends QueryShape ? Query : never) : never;
/** The answer of `Machine` to a query of kind `Q['type']`. */
export type AnswerTo<Machine, Q extends QueryShape> = Machine extends StateMachine<unknown, unknown, infer Query, infer Answer>
  ? (Q['type'] extends Query['type'] ? Answer[Q['type']] : never)
  : never;

/** A command as the log carries it. The decoding side is each state machine's decodeCommand. */
export function encodeCommand<Command>(command: Command): string {
  return JSON.stringify(command);
}
