// POST /admin/backup through the real gateway over a backend that writes files of its own: one backup at a time
// (a second is 409 while one runs), the answer is the manifest line and then each file's exact bytes, the staging
// directory is removed after the answer and after a caller that went away mid-stream (and the next backup runs),
// and a backend with no replica that can take one answers 503 saying why; the pace (maxBytesPerSecond, the
// default when absent) reaches the backend, a bad one is 400, and the stream keeps to it.
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BackupFailedError, type BackupOptions, type GroupBackup } from '../../src/http/backend.js';
import { backupBytesPerSecondDefault } from '../../src/raft/storage/byte-rate.js';
import { createGateway } from '../../src/http/gateway.js';
import { parseManifest } from '../../src/raft/storage/backup-manifest.js';
import { FakeBackend } from '../http/fake-backend.js';
import { capturingLogger } from '../http/helpers.js';

class FileBackend extends FakeBackend {
  directories: string[] = [];
  release: (() => void) | null = null;
  failWith: string | null = null;
  fileBytes = 3 * 1024 * 1024;
  paces: Array<number | null> = [];
  hold = true;

  override async backup(directory: string, options?: BackupOptions): Promise<readonly GroupBackup[]> {
    this.directories.push(directory);
    this.paces.push(options?.bytesPerSecond ?? null);
    if (this.failWith !== null) throw new BackupFailedError(this.failWith);
    if (this.hold) await new Promise<void>((resolve) => (this.release = resolve));
    return (['order', 'catalog'] as const).map((group) => {
      const bytes = randomBytes(this.fileBytes);
      writeFileSync(join(directory, `${group}.db`), bytes);
      return {
        group, file: `${group}.db`, member: `${group}-2`, clusterId: 'c0ffee00c0ffee00', index: 10, readIndex: 9, term: 1, stateHash: '0'.repeat(64),
        items: 0, orders: 0, bytes: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex'), capturedAt: new Date().toISOString(),
      };
    });
  }
}

function post(port: number, path: string, onHead?: (stop: () => void) => void): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const outgoing = request({ host: '127.0.0.1', port, method: 'POST', path, agent: false }, (incoming) => {
      const chunks: Buffer[] = [];
      if (onHead !== undefined) {
        onHead(() => incoming.destroy());
        incoming.once('close', () => resolve({ status: incoming.statusCode ?? 0, body: Buffer.concat(chunks) }));
      }
      incoming.on('data', (chunk: Buffer) => chunks.push(chunk));
      incoming.on('end', () => resolve({ status: incoming.statusCode ?? 0, body: Buffer.concat(chunks) }));
      incoming.on('error', () => resolve({ status: incoming.statusCode ?? 0, body: Buffer.concat(chunks) }));
    });
    outgoing.on('error', reject);
    outgoing.end();
  });
}

async function waitFor(what: string, check: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

test('one backup at a time, the exact bytes, the staging directory removed, 503 with a reason', async () => {
  const backend = new FileBackend();
  const gateway = createGateway({ backend, logger: capturingLogger('silent').logger, host: '127.0.0.1', port: 0, requestDeadlineMs: 1_000 });
  const { port } = await gateway.listen();
  try {
    const first = post(port, '/admin/backup');
    await waitFor('the backup to start', () => backend.release !== null);
    const second = await post(port, '/admin/backup');
    assert.is(second.status, 409, second.body.toString());
    backend.release!();
    const answer = await first;
    assert.is(answer.status, 200);
    const newline = answer.body.indexOf(10);
    const manifest = parseManifest(answer.body.subarray(0, newline).toString());
    let offset = newline + 1;
    for (const group of manifest.groups) {
      const bytes = answer.body.subarray(offset, offset + group.bytes);
      assert.is(createHash('sha256').update(bytes).digest('hex'), group.sha256, group.file);
      offset += group.bytes;
    }
    assert.is(offset, answer.body.length, 'nothing after the files');
    await waitFor('the staging directory to go', () => !existsSync(backend.directories[0]!));

    // A caller that goes away mid-stream: the staging directory goes all the same, and the next backup runs.
    backend.release = null;
    backend.fileBytes = 32 * 1024 * 1024;
    const cut = post(port, '/admin/backup', (stop) => setTimeout(stop, 5));
    await waitFor('the second backup to start', () => backend.release !== null);
    backend.release!();
    await cut;
    await waitFor('the staging directory of the cut backup to go', () => !existsSync(backend.directories.at(-1)!), 10_000);

    backend.failWith = 'no order replica could take a backup (order-1: dropped)';
    const failed = await post(port, '/admin/backup');
    assert.is(failed.status, 503);
    assert.match(failed.body.toString(), 'no order replica could take a backup');
    await waitFor('the failed backup\'s staging directory to go', () => !existsSync(backend.directories.at(-1)!));
    const wrongMethod = await new Promise<number>((resolve) => {
      request({ host: '127.0.0.1', port, method: 'GET', path: '/admin/backup', agent: false }, (incoming) => {
        incoming.resume();
        resolve(incoming.statusCode ?? 0);
      }).end();
    });
    assert.is(wrongMethod, 405);
  } finally {
    await gateway.close();
  }
});

test('the pace reaches the replicas, a bad one is 400, and the stream keeps to it', async () => {
  const backend = new FileBackend();
  backend.hold = false;
  backend.fileBytes = 512 * 1024;
  const gateway = createGateway({ backend, logger: capturingLogger('silent').logger, host: '127.0.0.1', port: 0, requestDeadlineMs: 1_000 });
  const { port } = await gateway.listen();
  try {
    for (const bad of ['fast', '1000', '-5']) {
      const refused = await post(port, `/admin/backup?maxBytesPerSecond=${bad}`);
      assert.is(refused.status, 400, bad);
      assert.match(refused.body.toString(), /bytes per second/);
    }
    assert.is((await post(port, '/admin/backup?pace=1')).status, 400, 'an unknown parameter');
    assert.equal(backend.paces, [], 'no backup was started by a refused request');
    assert.is((await post(port, '/admin/backup')).status, 200);
    assert.equal(backend.paces, [backupBytesPerSecondDefault]);
    // Two files of 512 KiB at 1 MiB/s: at least a second's worth, less two bursts of 100 ms.
    const startedMs = performance.now();
    const paced = await post(port, '/admin/backup?maxBytesPerSecond=1048576');
    const elapsedMs = performance.now() - startedMs;
    assert.is(paced.status, 200);
    assert.equal(backend.paces, [backupBytesPerSecondDefault, 1_048_576]);
    assert.ok(elapsedMs >= 1_000 - 200, `1 MiB streamed at 1 MiB/s in ${Math.round(elapsedMs)} ms`);
  } finally {
    await gateway.close();
  }
});

test.run();
