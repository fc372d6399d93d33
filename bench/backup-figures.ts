// Figures for backup and restore (docs/operations.md): time and peak memory of `pygmy backup` and `pygmy restore`
// for a bookstore with many orders, and order throughput during a backup against without.
//
// Preload: a backup directory is made directly — an order database with N committed orders (one transaction of
// plain INSERTs into the order table, a snapshot marker at index N) and a catalog database with the N deducts
// that bought them, their manifest computed as `pygmy backup` computes it — and `pygmy restore` turns it into a
// cluster, which `pygmy start` then runs. So the restore measured is of an N-order backup, and the backup measured
// is of the N-order cluster it made.
// Throughput: C clients order for the length of one backup with no backup running, then for the length of one
// backup with one running, alternating, R rounds each (the machine may be shared: alternation spreads the noise).
// Usage: node dist/bench/backup-figures.js [--orders 2000000] [--rounds 3] [--clients 16] [--work DIR]
//        [--max-bytes-per-second N] (passed to `pygmy backup`; absent: its default pace)
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import { CatalogStateMachine } from '../src/actors/catalog/state.js';
import { OrderStateMachine } from '../src/actors/order/state.js';
import { factoryOf } from '../src/cli/backup-files.js';
import { catalogMembers, orderMembers } from '../src/cluster/cluster.js';
import { clusterIdFor } from '../src/raft/identity.js';
import { readBackupFile, sha256OfFile } from '../src/raft/storage/backup.js';
import { makeManifest } from '../src/raft/storage/backup-manifest.js';
import { hardStateChecksum, snapshotChecksum } from '../src/raft/storage/checksum.js';
import { RaftStorage } from '../src/raft/storage/storage.js';
import type { GroupBackup } from '../src/http/backend.js';

const mainScript = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const items = [1, 2, 3, 4];
const quiet = { warn: () => undefined };

function markAt(path: string, index: number, members: readonly string[], group: string): void {
  const database = new Database(path);
  const meta = { index, term: 1, peers: [...members] };
  const hardState = { term: 1, vote: null, commit: index };
  database.prepare('UPDATE raft_hard_state SET term = 1, vote = NULL, commit_index = ?, checksum = ? WHERE id = 1').run(index, hardStateChecksum(hardState));
  database.prepare("INSERT OR REPLACE INTO raft_snapshot (id, snapshot_index, snapshot_term, peers, data, checksum) VALUES (1, ?, 1, ?, '', ?)")
    .run(index, JSON.stringify(meta.peers), snapshotChecksum(meta, ''));
  database.prepare('UPDATE raft_applied SET last_applied = ? WHERE id = 1').run(index);
  database.prepare("INSERT INTO raft_identity (id, cluster_id, replica_id, voter, created_at) VALUES (1, ?, 'preload', 1, ?)")
    .run(clusterIdFor('pygmy', members), new Date().toISOString());
  database.pragma('journal_mode = DELETE');
  database.close();
  void group;
}

async function preload(directory: string, orders: number): Promise<void> {
  mkdirSync(directory, { recursive: true });
  const perItem = Math.ceil(orders / items.length);
  const initial = perItem + 1_000_000;
  const orderPath = join(directory, 'order.db');
  RaftStorage.open({ path: orderPath, stateMachine: new OrderStateMachine(), logger: quiet }).close();
  const catalogPath = join(directory, 'catalog.db');
  const catalog = { topics: [{ id: 1, name: 'all' }], items: items.map((id) => ({ id, name: `Book ${id}`, stock: initial, price: 2, topic: 1 })) };
  RaftStorage.open({ path: catalogPath, stateMachine: new CatalogStateMachine(catalog), logger: quiet }).close();
  const orderDatabase = new Database(orderPath);
  const catalogDatabase = new Database(catalogPath);
  const insertOrder = orderDatabase.prepare("INSERT INTO order_orders (id, item, amount, total, status, created_at, reason, deadline_at) VALUES (?, ?, 1, 2, 'committed', ?, NULL, ?)");
  const insertDeduct = catalogDatabase.prepare('INSERT INTO catalog_deducts (order_id, item, amount, outcome) VALUES (?, ?, 1, ?)');
  const batch = 100_000;
  for (let from = 0; from < orders; from += batch) {
    orderDatabase.transaction(() => {
      catalogDatabase.transaction(() => {
        for (let position = from; position < Math.min(orders, from + batch); position += 1) {
          const id = `preload-${String(position).padStart(9, '0')}`;
          const item = items[position % items.length]!;
          insertOrder.run(id, item, 1_700_000_000_000 + position, 1_700_000_030_000 + position);
          insertDeduct.run(id, item, JSON.stringify({ ok: true, price: 2, total: 2, stock: 0, changed: [item], repeated: false }));
        }
      })();
    })();
  }
  const sold = new Map<number, number>();
  for (let position = 0; position < orders; position += 1) sold.set(items[position % items.length]!, (sold.get(items[position % items.length]!) ?? 0) + 1);
  for (const [item, amount] of sold) catalogDatabase.prepare('UPDATE catalog_items SET stock = stock - ?, deducted = ? WHERE id = ?').run(amount, amount, item);
  orderDatabase.close();
  catalogDatabase.close();
  markAt(orderPath, orders + 1, orderMembers, 'order');
  markAt(catalogPath, orders + 1, catalogMembers, 'catalog');
  const groups: GroupBackup[] = [];
  for (const group of ['order', 'catalog'] as const) {
    const file = `${group}.db`;
    const facts = await readBackupFile(join(directory, file), factoryOf(group));
    const { sha256, bytes } = await sha256OfFile(join(directory, file));
    groups.push({ group, file, member: `${group}-preload`, ...facts, readIndex: facts.index, bytes, sha256, capturedAt: new Date().toISOString() });
  }
  writeFileSync(join(directory, 'manifest.json'), `${JSON.stringify(makeManifest(groups, new Date()), null, 2)}\n`);
}

interface Timed {
  readonly code: number | null;
  readonly output: string;
  readonly elapsedMs: number;
  readonly peakRssKiB: number;
}

/** A pygmy subcommand under /usr/bin/time -v: its wall time and its peak resident memory. */
function timed(args: readonly string[]): Promise<Timed> {
  return new Promise((resolve) => {
    const started = performance.now();
    const child = spawn('/usr/bin/time', ['-v', process.execPath, mainScript, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('exit', (code) => {
      const peak = Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(output)?.[1] ?? 0);
      resolve({ code, output, elapsedMs: performance.now() - started, peakRssKiB: peak });
    });
  });
}

function rssKiB(pid: number): number {
  try {
    return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
  } catch {
    return 0;
  }
}

async function orderLoad(url: string, clients: number, untilDone: () => boolean): Promise<number> {
  let acknowledged = 0;
  let next = 0;
  await Promise.all(Array.from({ length: clients }, async () => {
    while (!untilDone()) {
      const item = items[next++ % items.length]!;
      const answer = await fetch(`${url}/order/${item}?amount=1`, { method: 'POST' }).catch(() => null);
      if (answer !== null) {
        await answer.text();
        if (answer.status === 200) acknowledged += 1;
      }
    }
  }));
  return acknowledged;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { orders: { type: 'string' }, rounds: { type: 'string' }, clients: { type: 'string' }, work: { type: 'string' }, 'max-bytes-per-second': { type: 'string' } } });
  const pace = values['max-bytes-per-second'] === undefined ? [] : ['--max-bytes-per-second', values['max-bytes-per-second']];
  const orders = Number(values.orders ?? 2_000_000);
  const rounds = Number(values.rounds ?? 3);
  const clients = Number(values.clients ?? 16);
  const work = values.work ?? join(tmpdir(), `pygmy-backup-figures-${process.pid}`);
  rmSync(work, { recursive: true, force: true });
  const preloadStarted = performance.now();
  await preload(join(work, 'preloaded'), orders);
  console.log(`preload: ${orders} orders in ${Math.round(performance.now() - preloadStarted)} ms`);
  const restore = await timed(['restore', '--from', join(work, 'preloaded'), '--data-dir', join(work, 'data')]);
  if (restore.code !== 0) throw new Error(restore.output);
  console.log(`restore: ${Math.round(restore.elapsedMs)} ms, peak RSS ${Math.round(restore.peakRssKiB / 1024)} MiB`);
  rmSync(join(work, 'preloaded'), { recursive: true, force: true });
  const server = spawn(process.execPath, [mainScript, 'start', '--port', '0', '--data-dir', join(work, 'data')], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LOG_LEVEL: 'warn' } });
  try {
    const url = await new Promise<string>((resolve, reject) => {
      let output = '';
      const timer = setTimeout(() => reject(new Error(`not ready: ${output}`)), 120_000);
      server.stdout.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        const match = /ready at (http:\/\/\S+) \(started in (\d+) ms\)/.exec(output);
        if (match) {
          clearTimeout(timer);
          console.log(`start on the restored data dir: ${match[2]} ms`);
          resolve(match[1]!);
        }
      });
    });
    const idleRss = rssKiB(server.pid!);
    for (let round = 1; round <= rounds; round += 1) {
      // With a backup: orders flow while it runs; the server's RSS is sampled meanwhile.
      let done = false;
      let peakRss = rssKiB(server.pid!);
      const sampler = setInterval(() => (peakRss = Math.max(peakRss, rssKiB(server.pid!))), 100);
      const out = join(work, `backup-${round}`);
      const backupStarted = performance.now();
      const backup = timed(['backup', '--gateway', url, '--out', out, ...pace]).finally(() => (done = true));
      const during = await orderLoad(url, clients, () => done);
      const taken = await backup;
      clearInterval(sampler);
      const backupMs = performance.now() - backupStarted;
      if (taken.code !== 0) throw new Error(taken.output);
      rmSync(out, { recursive: true, force: true });
      // Without: the same length of time.
      const quietStarted = performance.now();
      const without = await orderLoad(url, clients, () => performance.now() - quietStarted > backupMs);
      const quietMs = performance.now() - quietStarted;
      const rateDuring = during / (backupMs / 1000);
      const rateWithout = without / (quietMs / 1000);
      console.log(`round ${round}: backup ${Math.round(backupMs)} ms (CLI peak RSS ${Math.round(taken.peakRssKiB / 1024)} MiB; server RSS ${Math.round(idleRss / 1024)} → peak ${Math.round(peakRss / 1024)} MiB); `
        + `orders/s during ${rateDuring.toFixed(1)}, without ${rateWithout.toFixed(1)}, ratio ${(rateDuring / rateWithout).toFixed(2)}`);
    }
  } finally {
    server.kill('SIGTERM');
    await new Promise((resolve) => server.once('exit', resolve));
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
