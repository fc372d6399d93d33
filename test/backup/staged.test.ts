// A backup read from a replica on another host (src/raft/staged-backups.ts, ActorBackend's chunked read):
// - the staging rule alone: one staged copy at a time, chunks of at most backupChunkBytes with the sha256 of
//   their bytes, a name that is not the staged one (a path, another name) reads nothing, a copy unread for
//   stagedBackupIdleMs goes at the next call (hand-stepped clock), a restart empties the directory;
// - through a real cluster whose replicas the backend is told are on another node: the copies are staged by the
//   replicas, read in checked chunks, verify against their records, and the staging directories are left empty;
//   a chunk damaged once on the way is asked again and the backup succeeds; one damaged every time fails the
//   backup with the checksum named, and no file is left at the destination.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { factoryOf } from '../../src/cli/backup-files.js';
import { cacheName, catalogMembers, orderMembers, startCluster } from '../../src/cluster/cluster.js';
import { createLogger } from '../../src/cli/logger.js';
import { ActorBackend, type ActorPort } from '../../src/http/actor-backend.js';
import { BackupFailedError } from '../../src/http/backend.js';
import { backupChunkBytes, stagedBackupIdleMs, StagedBackups } from '../../src/raft/staged-backups.js';
import { verifyBackupFile } from '../../src/raft/storage/backup.js';
import { http, makeDataDir, removeDataDir } from '../support/pygmy-process.js';

test('one staged copy at a time, checked chunks, strangers refused, idle copies swept, emptied at start', async () => {
  const directory = mkdtempSync(join(tmpdir(), 'pygmy-staged-'));
  let nowMs = 0;
  try {
    const database = join(directory, 'order-2.db');
    const staged = new StagedBackups(database, () => nowMs);
    const first = staged.stage();
    writeFileSync(first.path, Buffer.alloc(backupChunkBytes + 10, 7));
    const second = staged.stage();
    assert.is(existsSync(first.path), false, 'a new copy replaces the old');
    writeFileSync(second.path, Buffer.alloc(backupChunkBytes + 10, 9));
    const head = await staged.read(second.name, 0);
    assert.ok(head.ok && !head.end && Buffer.from(head.data, 'base64').length === backupChunkBytes);
    const tail = await staged.read(second.name, backupChunkBytes);
    assert.ok(tail.ok && tail.end && Buffer.from(tail.data, 'base64').length === 10);
    for (const stranger of [first.name, '../order-2.db', 'staged-0000000000000000.db']) {
      const refused = await staged.read(stranger, 0);
      assert.is(refused.ok, false, stranger);
    }
    nowMs += stagedBackupIdleMs + 1;
    assert.is((await staged.read(second.name, 0)).ok, false, 'unread for too long: gone');
    assert.equal(staged.files(), []);
    const third = staged.stage();
    writeFileSync(third.path, 'left by a crash');
    assert.equal(new StagedBackups(database, () => nowMs).files(), [], 'a restart empties the staging directory');
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
});

/** The cluster's actors, with backupRead answers damaged as `damage` says (by attempt number). */
function damaging(actors: ActorPort, damage: (attempt: number) => boolean): ActorPort {
  let attempt = 0;
  return {
    status: () => actors.status(), kill: (name) => actors.kill(name), stop: (name) => actors.stop(name),
    startActor: (name) => actors.startActor(name), isolate: (name) => actors.isolate(name), heal: (name) => actors.heal(name),
    async ask<R>(target: string, message: unknown, options?: { timeoutMs?: number }): Promise<R> {
      const answer = await actors.ask<R>(target, message, options);
      if ((message as { type?: string }).type !== 'backupRead' || !damage(++attempt)) return answer;
      const chunk = answer as unknown as { data: string };
      const bytes = Buffer.from(chunk.data, 'base64');
      bytes[0] = bytes[0]! ^ 0xff;
      return { ...chunk, data: bytes.toString('base64') } as R;
    },
  };
}

test('replicas on another node: staged, read in checked chunks, verified; damage retried, then refused', async () => {
  const dataDir = makeDataDir();
  const logger = createLogger({ level: 'warn', pretty: false, destination: { write: () => true } });
  const cluster = await startCluster({ host: '127.0.0.1', port: 0, dataDir, fresh: true, logger });
  const backups = mkdtempSync(join(tmpdir(), 'pygmy-staged-backup-'));
  try {
    for (let index = 0; index < 5; index += 1) assert.is((await http('POST', `${cluster.url}/order/1?amount=1`)).text, 'true');
    const remoteBackend = (actors: ActorPort) => new ActorBackend({
      actors, catalogMembers, orderMembers, cacheName, log: logger, nodeOf: (actor) => (actor === cacheName ? 'gateway-host' : 'replica-host'), localNode: 'gateway-host',
    });
    const clean = join(backups, 'clean');
    const groups = await remoteBackend(cluster.system).backup(mkdir(clean), { bytesPerSecond: null });
    for (const group of groups) await verifyBackupFile(join(clean, group.file), group, factoryOf(group.group));
    assert.is(groups.find((group) => group.group === 'order')!.orders, 5);
    await until('the staged copies dropped', () => stagedFiles(dataDir).length === 0);
    const once = join(backups, 'damaged-once');
    const retried = await remoteBackend(damaging(cluster.system, (attempt) => attempt === 1)).backup(mkdir(once), { bytesPerSecond: null });
    for (const group of retried) await verifyBackupFile(join(once, group.file), group, factoryOf(group.group));
    const always = join(backups, 'damaged-always');
    const failed = await remoteBackend(damaging(cluster.system, () => true)).backup(mkdir(always), { bytesPerSecond: null }).then(() => null, (error: unknown) => error);
    assert.instance(failed, BackupFailedError);
    assert.match((failed as Error).message, /failed its checksum/);
    assert.is(existsSync(join(always, 'order.db')), false, 'no file left from a refused copy');
    await until('the staged copies of the refused backup dropped', () => stagedFiles(dataDir).length === 0);
  } finally {
    await cluster.close();
    removeDataDir(dataDir);
    rmSync(backups, { recursive: true, force: true });
  }
});

function mkdir(path: string): string {
  mkdirSync(path, { recursive: true });
  return path;
}

/** Files left in the replicas' staging directories. */
function stagedFiles(dataDir: string): string[] {
  return [...catalogMembers, ...orderMembers].flatMap((name) => {
    const staging = join(dataDir, `${name}.db.backup-staging`);
    return existsSync(staging) ? readdirSync(staging).map((file) => `${name}: ${file}`) : [];
  });
}

async function until(what: string, condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const startedAt = Date.now();
  while (!condition()) {
    if (Date.now() - startedAt > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

test.run();
