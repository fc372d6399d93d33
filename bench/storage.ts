// What group commit buys: entries per second persisted with 1 entry per transaction versus 64.
//
// Each transaction is one fsync of the WAL (synchronous=FULL), so the figure is dominated by the disk's fsync
// latency; batching divides that cost by the batch size. Bounded by an entry count and a time limit per run.
// Usage: node dist/bench/storage.js [entriesMax] [secondsMax]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RaftStorage } from '../src/raft/storage/index.js';
import type { Entry } from '../src/raft/types.js';
import { KvStateMachine, kvCommand } from '../test/raft/fixtures/kv-state-machine.js';

interface RunResult {
  readonly entriesPerTransaction: number;
  readonly entries: number;
  readonly transactions: number;
  readonly seconds: number;
}

function makeBatch(firstIndex: number, count: number): Entry[] {
  const batch: Entry[] = [];
  for (let index = firstIndex; index < firstIndex + count; index += 1) {
    const data = kvCommand({ kind: 'put', key: `book-${index % 1000}`, value: 'x'.repeat(100) });
    batch.push({ index, term: 1, type: 'normal', data });
  }
  return batch;
}

function run(directory: string, entriesPerTransaction: number, entriesMax: number, secondsMax: number): RunResult {
  const storage = RaftStorage.open({
    path: join(directory, `bench-${entriesPerTransaction}.sqlite`),
    stateMachine: new KvStateMachine(),
  });
  const started = process.hrtime.bigint();
  const deadline = started + BigInt(Math.round(secondsMax * 1e9));
  let nextIndex = 1;
  while (nextIndex <= entriesMax && process.hrtime.bigint() < deadline) {
    storage.persist({ snapshot: null, entries: makeBatch(nextIndex, entriesPerTransaction), hardState: null });
    nextIndex += entriesPerTransaction;
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const stats = storage.stats();
  storage.close();
  return { entriesPerTransaction, entries: stats.entriesWritten, transactions: stats.transactions, seconds };
}

function main(): void {
  const entriesMax = Number(process.argv[2] ?? 100_000);
  const secondsMax = Number(process.argv[3] ?? 5);
  const directory = mkdtempSync(join(tmpdir(), 'pygmy-storage-bench-'));
  try {
    for (const entriesPerTransaction of [1, 64]) {
      const result = run(directory, entriesPerTransaction, entriesMax, secondsMax);
      const entriesPerSecond = Math.round(result.entries / result.seconds);
      const fsyncsPerSecond = Math.round(result.transactions / result.seconds);
      console.log(
        `${String(entriesPerTransaction).padStart(2)} entries/transaction: ${entriesPerSecond} entries/s, ` +
          `${fsyncsPerSecond} fsyncs/s (${result.entries} entries in ${result.seconds.toFixed(2)} s)`,
      );
    }
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
}

main();
