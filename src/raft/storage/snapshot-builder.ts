// Builds an image of a replica's state away from the replica's thread, when its leader must bring back a follower
// that needs entries the compacted log no longer holds (compaction itself needs no image: the state is in the
// database's tables).
//
// Why: an image is the whole state, so building it takes time in proportion to the state (380 ms for 200,000
// orders); on the replica's own thread that time is a stall, long enough at scale to let the followers of a
// stalled leader elect another. Here, in a worker of its own, the image is read on a second, read-only
// connection inside one read transaction: WAL mode gives that transaction a consistent view of the database as of
// its first read while the replica keeps writing, so the image, lastApplied and the term at lastApplied all
// belong to one instant. Promises: posts `{ ok: true, index, term, data }` with index = lastApplied in that view
// (0 when nothing is applied, and then no image), or `{ ok: false, error }`; never writes.
// Needs (workerData): the database path and how to make the application's state machine: a module URL, the name
// of its factory export, and the factory's argument.

import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import type { StateMachine } from '../state-machine.js';
import { prepareStatements } from './statements.js';

export interface StateMachineFactory {
  /** URL of a module exporting `exportName(args): StateMachine`. */
  readonly moduleUrl: string;
  readonly exportName: string;
  readonly args: unknown;
}

export interface SnapshotBuildRequest {
  readonly path: string;
  readonly factory: StateMachineFactory;
}

export type SnapshotBuildResult =
  | { readonly ok: true; readonly index: number; readonly term: number; readonly data: string }
  | { readonly ok: false; readonly error: string };

async function build(request: SnapshotBuildRequest): Promise<SnapshotBuildResult> {
  const module = (await import(request.factory.moduleUrl)) as Record<string, unknown>;
  const create = module[request.factory.exportName];
  if (typeof create !== 'function') return { ok: false, error: `${request.factory.moduleUrl} has no function ${request.factory.exportName}` };
  const database = new Database(request.path, { readonly: true });
  try {
    const machine = (create as (args: unknown) => StateMachine)(request.factory.args);
    machine.open(database); // Its schema statements are no-ops on an existing database; it reads only.
    const statements = prepareStatements(database);
    database.prepare('BEGIN').run();
    try {
      const index = statements.selectLastApplied.get()?.last_applied ?? 0;
      if (index === 0) return { ok: true, index: 0, term: 0, data: '' };
      const entry = statements.selectEntry.get(index);
      const stored = statements.selectSnapshot.get();
      const term = entry?.term ?? (stored?.snapshot_index === index ? stored.snapshot_term : undefined);
      if (term === undefined) return { ok: false, error: `no term stored for applied index ${index}` };
      return { ok: true, index, term, data: machine.snapshot() };
    } finally {
      database.prepare('COMMIT').run();
    }
  } finally {
    database.close();
  }
}

if (parentPort !== null && workerData !== null && typeof workerData === 'object' && 'factory' in (workerData as object)) {
  const port = parentPort;
  build(workerData as SnapshotBuildRequest).then(
    (result) => port.postMessage(result),
    (error: unknown) => port.postMessage({ ok: false, error: error instanceof Error ? error.message : String(error) } satisfies SnapshotBuildResult),
  );
}
