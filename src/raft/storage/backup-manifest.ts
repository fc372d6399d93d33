// The manifest of a Pygmy backup (manifest.json in the backup's directory) and the stream `POST /admin/backup`
// answers with.
//
// A backup is a directory: `order.db`, `catalog.db` (each one replica's database at one applied index, SQLite's
// own format, journal mode DELETE) and `manifest.json`, written last, so a directory without it is an unfinished
// backup. The stream: the manifest as one line of JSON, then the bytes of each file in the manifest's order,
// exactly `bytes` of each; the receiver checks each file's sha256 as it writes it.
// Promises: parseManifest accepts exactly what makeManifest makes and names the first field that is wrong.
import { readFileSync } from 'node:fs';
import type { GroupBackup } from '../../http/backend.js';

export const manifestFormat = 'pygmy-backup/1';
export const manifestFileName = 'manifest.json';
/** The longest manifest line the receiver reads before the files. */
export const manifestBytesMax = 64 * 1024;

export interface BackupManifest {
  readonly format: typeof manifestFormat;
  readonly pygmyVersion: string;
  readonly createdAt: string;
  readonly groups: readonly GroupBackup[];
}

export class ManifestError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ManifestError';
  }
}

let versionMemo: string | null = null;

/** The version in package.json (the one `pygmy --version` names). */
export function pygmyVersion(): string {
  if (versionMemo !== null) return versionMemo;
  const text = readFileSync(new URL('../../../../package.json', import.meta.url), 'utf8');
  const version = (JSON.parse(text) as { version?: unknown }).version;
  versionMemo = typeof version === 'string' ? version : 'unknown';
  return versionMemo;
}

export function makeManifest(groups: readonly GroupBackup[], now: Date): BackupManifest {
  return { format: manifestFormat, pygmyVersion: pygmyVersion(), createdAt: now.toISOString(), groups };
}

const stringFields = ['file', 'member', 'clusterId', 'stateHash', 'sha256', 'capturedAt'] as const;
const countFields = ['index', 'readIndex', 'term', 'items', 'orders', 'bytes'] as const;

function parseGroup(value: unknown, position: number): GroupBackup {
  const where = `groups[${position}]`;
  if (typeof value !== 'object' || value === null) throw new ManifestError(`${where} is not an object`);
  const record = value as Record<string, unknown>;
  if (record.group !== 'order' && record.group !== 'catalog') throw new ManifestError(`${where}.group must be "order" or "catalog"`);
  for (const field of stringFields) {
    if (typeof record[field] !== 'string') throw new ManifestError(`${where}.${field} must be a string`);
  }
  for (const field of countFields) {
    if (!Number.isSafeInteger(record[field]) || (record[field] as number) < 0) throw new ManifestError(`${where}.${field} must be a non-negative integer`);
  }
  if (record.file !== `${record.group}.db`) throw new ManifestError(`${where}.file must be ${String(record.group)}.db`);
  if (!/^[0-9a-f]{64}$/.test(record.sha256 as string)) throw new ManifestError(`${where}.sha256 must be 64 hex digits`);
  return record as unknown as GroupBackup;
}

export function parseManifest(text: string): BackupManifest {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new ManifestError(`not JSON (${(error as Error).message})`);
  }
  if (typeof value !== 'object' || value === null) throw new ManifestError('not an object');
  const record = value as Record<string, unknown>;
  if (record.format !== manifestFormat) throw new ManifestError(`format must be ${manifestFormat}, got ${JSON.stringify(record.format)}`);
  if (typeof record.pygmyVersion !== 'string' || typeof record.createdAt !== 'string') throw new ManifestError('pygmyVersion and createdAt must be strings');
  if (!Array.isArray(record.groups) || record.groups.length !== 2) throw new ManifestError('groups must list the order and catalog groups');
  const groups = record.groups.map(parseGroup);
  if (groups[0]!.group !== 'order' || groups[1]!.group !== 'catalog') throw new ManifestError('groups must be the order group, then the catalog group');
  return { format: manifestFormat, pygmyVersion: record.pygmyVersion, createdAt: record.createdAt, groups };
}
