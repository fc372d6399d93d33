// The backup capture (src/raft/storage/backup.ts) as `pygmy backup` runs it, in a worker thread of its own, for the
// tests that capture a real replica database; and the source they capture from: an order replica's database with
// its identity recorded. Promises: the worker is terminated once it has answered; an error in it rejects.
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { OrderStateMachine } from '../../src/actors/order/state.js';
import type { BackupCaptureRequest, BackupCaptureResult } from '../../src/raft/storage/backup.js';
import { RaftStorage } from '../../src/raft/storage/storage.js';

const backupWorker = new URL('../../src/raft/storage/backup.js', import.meta.url);

/** Runs one capture in a new worker and resolves with its answer. */
export function captureInWorker(request: BackupCaptureRequest): Promise<BackupCaptureResult> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(backupWorker, { workerData: request });
    worker.once('message', (result: BackupCaptureResult) => {
      void worker.terminate();
      resolve(result);
    });
    worker.once('error', reject);
  });
}

/** order-1's database in `directory`, empty but for a recorded identity (cluster c0ffee00c0ffee00, replica r1). */
export function openOrderSource(directory: string): RaftStorage {
  const source = RaftStorage.open({ path: join(directory, 'order-1.db'), stateMachine: new OrderStateMachine(), logger: { warn: () => undefined } });
  source.recordIdentity({ clusterId: 'c0ffee00c0ffee00', replicaId: 'r1', voter: true, createdAt: new Date(0).toISOString() });
  return source;
}
