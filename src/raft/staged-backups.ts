// Backup copies a replica keeps on its own host for a gateway on another host, read back in checked chunks over
// the transport (DESIGN.md: a backup taken "from any replica").
//
// Owns: the staging directory beside the replica's database (`<database>.backup-staging/`), at most one staged
// copy in it at a time (a new one replaces the old), and the chunks read from it. Promises: a chunk is at most
// backupChunkBytes of the file from the asked offset, with the sha256 of exactly those bytes; a name that is not
// one this replica staged (a path, a stranger's name) reads nothing; a copy nobody read for stagedBackupIdleMs is
// removed at the next call; the directory is emptied when the replica starts (a copy staged before a crash).
// Needs: the database path, a clock.

import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';

/** Bytes of a staged copy per chunk: base64 makes it ~350 KB in a message, far under the transport's frame bound. */
export const backupChunkBytes = 256 * 1024;
/** A staged copy unread for this long is removed (its gateway gave up). */
export const stagedBackupIdleMs = 10 * 60_000;

export type BackupChunk =
  | { readonly ok: true; readonly offset: number; readonly data: string; readonly sha256: string; readonly end: boolean }
  | { readonly ok: false; readonly error: string };

const stagedName = /^staged-[0-9a-f]{16}\.db$/;

export function isStagedName(name: unknown): name is string {
  return typeof name === 'string' && stagedName.test(name);
}

export class StagedBackups {
  private readonly directory: string;
  private current: { readonly name: string; lastUsedMs: number } | null = null;

  constructor(
    databasePath: string,
    private readonly nowMs: () => number,
  ) {
    this.directory = `${databasePath}.backup-staging`;
    rmSync(this.directory, { recursive: true, force: true });
  }

  /** A fresh path for the next copy; the previous staged copy, if any, is removed. */
  stage(): { readonly name: string; readonly path: string } {
    this.dropCurrent();
    mkdirSync(this.directory, { recursive: true });
    const name = `staged-${randomBytes(8).toString('hex')}.db`;
    this.current = { name, lastUsedMs: this.nowMs() };
    return { name, path: join(this.directory, name) };
  }

  /** The copy failed: forget its name (the capture left no file). */
  abandon(name: string): void {
    if (this.current?.name === name) this.dropCurrent();
  }

  async read(name: string, offset: number): Promise<BackupChunk> {
    this.sweep();
    if (!isStagedName(name) || this.current?.name !== name) return { ok: false, error: `no staged backup named ${String(name).slice(0, 80)} here` };
    if (!Number.isSafeInteger(offset) || offset < 0) return { ok: false, error: `bad offset ${offset}` };
    this.current.lastUsedMs = this.nowMs();
    const file = await open(join(this.directory, name), 'r');
    try {
      const size = (await file.stat()).size;
      if (offset > size) return { ok: false, error: `offset ${offset} is past the end (${size} bytes)` };
      const buffer = Buffer.alloc(Math.min(backupChunkBytes, size - offset));
      const { bytesRead } = await file.read(buffer, 0, buffer.length, offset);
      const bytes = buffer.subarray(0, bytesRead);
      return { ok: true, offset, data: bytes.toString('base64'), sha256: createHash('sha256').update(bytes).digest('hex'), end: offset + bytesRead >= size };
    } finally {
      await file.close();
    }
  }

  drop(name: string): void {
    if (this.current?.name === name) this.dropCurrent();
  }

  /** Removes the staged copy when nobody read it for stagedBackupIdleMs. */
  sweep(): void {
    if (this.current !== null && this.nowMs() - this.current.lastUsedMs > stagedBackupIdleMs) this.dropCurrent();
  }

  /** Files in the staging directory now (tests). */
  files(): string[] {
    try {
      return readdirSync(this.directory);
    } catch {
      return [];
    }
  }

  private dropCurrent(): void {
    if (this.current === null) return;
    rmSync(join(this.directory, this.current.name), { force: true });
    this.current = null;
  }
}
