// POST /admin/backup: an online backup of both groups, streamed to the caller (`pygmy backup`).
//
// The replicas write their copies into a staging directory beside the gateway (the single-process cluster: every
// replica shares this host's disk); the answer streams the manifest line, then each file, from disk in chunks
// with backpressure, so memory stays bounded whatever the size; the staging directory is removed afterwards,
// whether the caller read it all or went away. One backup at a time per gateway (409 otherwise). Paced: the
// replicas' copies and checksums, and this stream, move at most `bytesPerSecond` (the route's maxBytesPerSecond,
// src/raft/storage/byte-rate.ts's default when absent), so that a backup leaves the disk and the CPU to the fsyncs.
// Format: raft/storage/backup-manifest.ts.
import { createReadStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { performance } from 'node:perf_hooks';
import { ByteRate } from '../raft/storage/byte-rate.js';
import type { Logger } from 'pino';
import { makeManifest } from '../raft/storage/backup-manifest.js';
import { BackupFailedError, type Backend } from './backend.js';

export const backupContentType = 'application/vnd.pygmy.backup';

let running = false;

function answerError(response: ServerResponse, status: number, error: string): number {
  const body = `${JSON.stringify({ error })}\n`;
  response.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  response.end(body);
  return status;
}

/** Serves one backup request; resolves with the status it answered. */
/** Passes chunks on at the pace of `rate`, holding each one that runs ahead for as long as the pace says. */
function paced(rate: ByteRate): Transform {
  return new Transform({
    transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback) {
      const waitMs = rate.take(chunk.length, performance.now());
      if (waitMs === 0) callback(null, chunk);
      else setTimeout(() => callback(null, chunk), waitMs);
    },
  });
}

export async function serveBackup(backend: Backend, response: ServerResponse, logger: Logger, bytesPerSecond: number): Promise<number> {
  if (backend.backup === undefined) return answerError(response, 501, 'this gateway cannot take backups');
  if (running) return answerError(response, 409, 'a backup is already running on this gateway; try again when it is done');
  running = true;
  const staging = await mkdtemp(join(tmpdir(), 'pygmy-backup-'));
  try {
    let groups;
    try {
      groups = await backend.backup(staging, { bytesPerSecond });
    } catch (error) {
      if (!(error instanceof BackupFailedError)) throw error;
      logger.warn({ event: 'backup' }, `backup failed: ${error.message}`);
      return answerError(response, 503, error.message);
    }
    const manifest = makeManifest(groups, new Date());
    logger.info({ event: 'backup', groups: groups.map((group) => ({ group: group.group, member: group.member, index: group.index })) }, 'backup taken; streaming it');
    const total = groups.reduce((sum, group) => sum + group.bytes, 0);
    const header = `${JSON.stringify(manifest)}\n`;
    response.writeHead(200, { 'content-type': backupContentType, 'content-length': String(Buffer.byteLength(header) + total) });
    response.write(header);
    const rate = new ByteRate(bytesPerSecond, performance.now());
    try {
      for (const group of groups) {
        await pipeline(createReadStream(join(staging, group.file), { highWaterMark: 1 << 20 }), paced(rate), response, { end: false });
      }
    } catch (error) {
      if (!response.destroyed) throw error;
      logger.warn({ event: 'backup' }, 'backup: the caller went away before the files were sent; nothing kept');
      return 200;
    }
    response.end();
    return 200;
  } finally {
    running = false;
    await rm(staging, { recursive: true, force: true });
  }
}
