// `pygmy backup --gateway URL --out DIR`: an online backup of both groups, taken by a replica of each (a follower
// when one can) while orders flow, streamed by the gateway's POST /admin/backup and written to DIR.
// `pygmy backup verify DIR`: checks every file of a backup against its manifest and prints the manifest.
//
// The token for the operations routes comes from PYGMY_ADMIN_TOKEN. DIR must not exist or be empty. Each file is
// written as it arrives, its sha256 computed on the way and compared with the manifest's; manifest.json is written
// last (a directory without it is an unfinished backup), and then the whole backup is verified as `verify` does.
// --max-bytes-per-second N paces the replicas' copies and the gateway's stream (default: byte-rate.ts). The
// command itself runs at the lowest CPU priority (nice 19), so that it yields to replicas on the same host.
// Exit codes: 0 done, 1 the backup or its check failed (the message says why), 2 a usage mistake.
import { createWriteStream, existsSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { once } from 'node:events';
import { parseArgs } from 'node:util';
import { setPriority } from 'node:os';
import { manifestBytesMax, manifestFileName, parseManifest, ManifestError, type BackupManifest } from '../raft/storage/backup-manifest.js';
import { BackupVerifyError } from '../raft/storage/backup.js';
import { describeManifest, verifyBackupDirectory } from './backup-files.js';
import { UsageError } from './usage-error.js';
import { backupBytesPerSecondDefault, parseBytesPerSecond } from '../raft/storage/byte-rate.js';

export async function main(argv: string[]): Promise<number> {
  if (argv[0] === 'verify') return verifyMain(argv.slice(1));
  const { values } = parseArgs({ args: argv, options: { gateway: { type: 'string' }, out: { type: 'string' }, 'max-bytes-per-second': { type: 'string' }, help: { type: 'boolean', short: 'h' } }, strict: true });
  if (values.help) {
    console.log(`usage: pygmy backup --gateway URL --out DIR [--max-bytes-per-second N (default ${backupBytesPerSecondDefault})]     (token: PYGMY_ADMIN_TOKEN)\n       pygmy backup verify DIR`);
    return 0;
  }
  if (values.gateway === undefined || values.out === undefined) throw new UsageError('--gateway URL and --out DIR are both needed');
  const paceText = values['max-bytes-per-second'];
  const pace = paceText === undefined ? null : parseBytesPerSecond(paceText);
  if (pace !== null && !pace.ok) throw new UsageError(`--max-bytes-per-second: ${pace.error}`);
  const out = values.out;
  if (existsSync(out) && readdirSync(out).length > 0) throw new UsageError(`--out ${out} is not empty`);
  // The download and the verify (a sha256 and a state hash of every file) yield the CPU to the replicas when this
  // runs on one of their hosts: the lowest priority, best effort.
  try {
    setPriority(19);
  } catch {
    // Not allowed here: it runs at its normal priority.
  }
  const startedAt = performance.now();
  let manifest: BackupManifest;
  try {
    manifest = await download(values.gateway, out, pace === null ? null : pace.value);
  } catch (error) {
    // The gateway unreachable, or refusing (another backup running: 409, no replica could copy: 503): a failed
    // run, said in one line, not a usage error nor a stack.
    if (!(error instanceof BackupDownloadError)) throw error;
    console.error(`pygmy backup: ${error.message}`);
    return 1;
  }
  try {
    await verifyBackupDirectory(out);
  } catch (error) {
    console.error(`pygmy backup: the backup written to ${out} does not verify: ${(error as Error).message}`);
    return 1;
  }
  console.log(describeManifest(manifest));
  console.log(`pygmy backup: written to ${out} and verified in ${Math.round(performance.now() - startedAt)} ms`);
  return 0;
}

async function verifyMain(argv: string[]): Promise<number> {
  const { positionals } = parseArgs({ args: argv, allowPositionals: true, strict: true });
  if (positionals.length !== 1) throw new UsageError('give the backup directory: pygmy backup verify DIR');
  const directory = positionals[0]!;
  try {
    const manifest = await verifyBackupDirectory(directory);
    console.log(describeManifest(manifest));
    console.log(`pygmy backup verify: ${directory} is intact (every sha256 and state hash matches)`);
    return 0;
  } catch (error) {
    if (!(error instanceof BackupVerifyError) && !(error instanceof ManifestError)) throw error;
    console.error(`pygmy backup verify: ${directory} FAILED: ${error.message}`);
    return 1;
  }
}

/** The gateway could not be reached or refused the backup: nothing was written. */
class BackupDownloadError extends Error {
  override name = 'BackupDownloadError';
}

/** Readable.fromWeb() out of the fetch body, but read chunk by chunk: the manifest line, then each file. */
async function download(gateway: string, out: string, bytesPerSecond: number | null): Promise<BackupManifest> {
  const token = process.env.PYGMY_ADMIN_TOKEN;
  let response: Response;
  try {
    const url = new URL('/admin/backup', gateway);
    if (bytesPerSecond !== null) url.searchParams.set('maxBytesPerSecond', String(bytesPerSecond));
    response = await fetch(url, { method: 'POST', headers: token ? { authorization: `Bearer ${token}` } : {} });
  } catch (error) {
    throw new BackupDownloadError(`could not reach the gateway ${gateway}: ${error instanceof Error ? (error.cause instanceof Error ? error.cause.message : error.message) : String(error)}`);
  }
  if (response.status !== 200 || response.body === null) {
    const text = await response.text().catch(() => '');
    throw new BackupDownloadError(`the gateway answered ${response.status}: ${text.trim().slice(0, 500)}`);
  }
  mkdirSync(out, { recursive: true });
  const reader = new ChunkReader(Readable.fromWeb(response.body as import('node:stream/web').ReadableStream<Uint8Array>));
  const manifest = parseManifest((await reader.line(manifestBytesMax)).toString('utf8'));
  for (const group of manifest.groups) {
    const path = join(out, group.file);
    const file = createWriteStream(path, { flags: 'wx' });
    const digest = createHash('sha256');
    let left = group.bytes;
    while (left > 0) {
      const chunk = await reader.take(left);
      digest.update(chunk);
      left -= chunk.length;
      if (!file.write(chunk)) await once(file, 'drain');
    }
    file.end();
    await once(file, 'close');
    const sha256 = digest.digest('hex');
    if (sha256 !== group.sha256) {
      rmSync(path, { force: true });
      throw new Error(`${group.file} arrived with sha256 ${sha256}, the manifest says ${group.sha256}`);
    }
  }
  const temporary = join(out, `${manifestFileName}.tmp`);
  writeFileSync(temporary, `${JSON.stringify(manifest, null, 2)}\n`);
  renameSync(temporary, join(out, manifestFileName));
  return manifest;
}

/** Takes bytes from a stream in the sizes asked for, holding at most one of its chunks. */
class ChunkReader {
  private readonly iterator: AsyncIterator<Buffer>;
  private pending: Buffer = Buffer.alloc(0);

  constructor(stream: Readable) {
    this.iterator = stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  }

  private async fill(): Promise<void> {
    const next = await this.iterator.next();
    if (next.done === true) throw new Error('the gateway ended the backup stream early');
    this.pending = this.pending.length === 0 ? Buffer.from(next.value) : Buffer.concat([this.pending, next.value]);
  }

  /** Up to `most` bytes (at least one). */
  async take(most: number): Promise<Buffer> {
    if (this.pending.length === 0) await this.fill();
    const chunk = this.pending.subarray(0, most);
    this.pending = this.pending.subarray(chunk.length);
    return chunk;
  }

  /** The bytes before the next newline (the newline consumed), at most `most` of them. */
  async line(most: number): Promise<Buffer> {
    for (;;) {
      const end = this.pending.indexOf(10);
      if (end >= 0) {
        const line = this.pending.subarray(0, end);
        this.pending = this.pending.subarray(end + 1);
        return line;
      }
      if (this.pending.length > most) throw new Error(`the backup stream's manifest line is longer than ${most} bytes`);
      await this.fill();
    }
  }
}
