// POST /admin/backup: an online backup of both groups, streamed to the caller (`pygmy backup`).
//
// The replicas write their copies into a staging directory beside the gateway (the single-process cluster: every
// replica shares this host's disk); the answer streams the manifest line, then each file, from disk in chunks
// with backpressure, so memory stays bounded whatever the size; the staging directory is removed afterwards,
// whether the caller read it all or went away. One backup at a time per gateway (409 otherwise).
// Format: raft/storage/backup-manifest.ts.
import { createReadStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
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
export async function serveBackup(backend: Backend, response: ServerResponse, logger: Logger): Promise<number> {
  if (backend.backup === undefined) return answerError(response, 501, 'this gateway cannot take backups');
  if (running) return answerError(response, 409, 'a backup is already running on this gateway; try again when it is done');
  running = true;
  const staging = await mkdtemp(join(tmpdir(), 'pygmy-backup-'));
  try {
    let groups;
    try {
      groups = await backend.backup(staging);
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
    try {
      for (const group of groups) {
        await pipeline(createReadStream(join(staging, group.file), { highWaterMark: 1 << 20 }), response, { end: false });
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
