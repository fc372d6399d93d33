// Images of the application's state as SQLite files, row by row: built from a consistent read of the replica's
// database, streamed in chunks of bytes (snapshot-stream.ts), installed by copying tables inside SQLite.
//
// Why: an image as one string is the whole state in one allocation on the builder, on the leader while it streams,
// on the follower while it receives and parses, and past V8's longest string (~4.4M orders) it cannot exist at all.
// A file holds it on disk instead: `buildImageFile` copies every application table (every table whose name does
// not start with `raft_` or `sqlite_`) into a new file with `INSERT … SELECT`, inside one read transaction of the
// source (WAL mode gives it a fixed view as of its first read, the replica keeps writing meanwhile), so neither
// rows nor pages pass through JavaScript; `copyImageTables` does the reverse on the follower, in the caller's
// transaction, from the file attached as schema `image`. The image holds no indexes (the follower has its own): the
// follower drops its indexes on those tables for the copy and makes them again from their own SQL after it, as a
// bulk load does, since one sort per index is several times faster than inserting every row into every index
// (1,000,000 orders and six indexes: 11 s against 17 s).
// The core and the text-image path know an image only as a string (Snapshot.data): a file image travels through
// them as a reference, `imageFileReference(path, bytes)`, a short string no application image can be (it starts
// with a NUL character; JSON text never does).
// Promises: buildImageFile never writes to the source (it only reads it) and leaves no file behind when it
// throws; copyImageTables replaces every application table of the database with the image's, leaves their indexes
// as they were defined (rebuilt over the new rows), and refuses (throws) an image with a table or column the
// database does not have. Needs: better-sqlite3, the same application schema
// on both sides.
import { rmSync, statSync } from 'node:fs';
import Database from 'better-sqlite3';

const referencePrefix = '\u0000pygmy-image-file:';

export interface ImageFile {
  readonly path: string;
  readonly bytes: number;
}

export function imageFileReference(file: ImageFile): string {
  return `${referencePrefix}${JSON.stringify({ path: file.path, bytes: file.bytes })}`;
}

/** The file an image string refers to, or null when it is an application's text image. */
export function parseImageFileReference(data: string): ImageFile | null {
  if (!data.startsWith(referencePrefix)) return null;
  const parsed = JSON.parse(data.slice(referencePrefix.length)) as Partial<ImageFile>;
  if (typeof parsed.path !== 'string' || typeof parsed.bytes !== 'number') throw new Error(`malformed image file reference ${data.slice(1, 200)}`);
  return { path: parsed.path, bytes: parsed.bytes };
}

export interface BuiltImageFile extends ImageFile {
  /** lastApplied in the view copied (0: nothing applied, and then no file). */
  readonly index: number;
  readonly term: number;
}

const applicationTables = "SELECT name, sql FROM %s.sqlite_master WHERE type = 'table' AND name NOT LIKE 'raft\\_%' ESCAPE '\\' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name";

function quoted(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/**
 * Copies the application's tables of the database at `sourcePath`, as of one read transaction, into a new file at
 * `destinationPath`. The source is attached to the new file's connection and only read.
 */
export function buildImageFile(sourcePath: string, destinationPath: string): BuiltImageFile {
  rmSync(destinationPath, { force: true });
  const image = new Database(destinationPath);
  try {
    image.pragma('journal_mode = OFF');
    image.pragma('synchronous = OFF');
    image.prepare('ATTACH DATABASE ? AS source').run(sourcePath);
    image.exec('BEGIN');
    let index: number;
    let term: number;
    try {
      // The first read fixes the source's view; every copy below reads that same view.
      index = (image.prepare('SELECT last_applied FROM source.raft_applied WHERE id = 1').get() as { last_applied: number } | undefined)?.last_applied ?? 0;
      term = termAt(image, index);
      const tables = image.prepare(applicationTables.replace('%s', 'source')).all() as Array<{ name: string; sql: string }>;
      for (const table of tables) {
        image.exec(table.sql);
        image.exec(`INSERT INTO main.${quoted(table.name)} SELECT * FROM source.${quoted(table.name)}`);
      }
      image.exec('COMMIT');
    } catch (error) {
      image.exec('ROLLBACK');
      throw error;
    }
    image.exec('DETACH DATABASE source');
    image.close();
    return { path: destinationPath, bytes: statSync(destinationPath).size, index, term };
  } catch (error) {
    if (image.open) image.close();
    rmSync(destinationPath, { force: true });
    throw error;
  }
}

function termAt(image: Database.Database, index: number): number {
  if (index === 0) return 0;
  const entry = image.prepare('SELECT term FROM source.raft_log WHERE log_index = ?').get(index) as { term: number } | undefined;
  if (entry !== undefined) return entry.term;
  const snapshot = image.prepare('SELECT snapshot_index, snapshot_term FROM source.raft_snapshot WHERE id = 1').get() as { snapshot_index: number; snapshot_term: number } | undefined;
  if (snapshot?.snapshot_index === index) return snapshot.snapshot_term;
  throw new Error(`no term stored for applied index ${index}`);
}

/**
 * Replaces every application table of `database` with the image's (attached as schema `image` by the caller,
 * outside its transaction), inside the caller's transaction. Columns are named, so a column added at the end by a
 * migration lines up; an image table or column this database lacks is refused.
 */
export function copyImageTables(database: Database.Database): void {
  const own = database.prepare(applicationTables.replace('%s', 'main')).all() as Array<{ name: string }>;
  const incoming = database.prepare(applicationTables.replace('%s', 'image')).all() as Array<{ name: string }>;
  const ownNames = new Set(own.map((table) => table.name));
  for (const table of incoming) {
    if (!ownNames.has(table.name)) throw new Error(`the image has a table ${table.name} this database does not`);
  }
  // Indexes SQLite made for a constraint (no SQL of their own) stay: they cannot be dropped.
  const indexes = (database.prepare("SELECT name, tbl_name AS tableName, sql FROM main.sqlite_master WHERE type = 'index' AND sql IS NOT NULL ORDER BY name").all() as Array<{ name: string; tableName: string; sql: string }>)
    .filter((index) => ownNames.has(index.tableName));
  for (const index of indexes) database.exec(`DROP INDEX main.${quoted(index.name)}`);
  for (const table of own) database.exec(`DELETE FROM main.${quoted(table.name)}`);
  for (const table of incoming) {
    const columnsOf = (schema: string) => (database.prepare(`SELECT name FROM pragma_table_info(?, ?)`).all(table.name, schema) as Array<{ name: string }>).map((column) => column.name);
    const ownColumns = new Set(columnsOf('main'));
    const columns = columnsOf('image');
    const missing = columns.filter((column) => !ownColumns.has(column));
    if (missing.length > 0) throw new Error(`the image's table ${table.name} has columns this database does not: ${missing.join(', ')}`);
    const list = columns.map(quoted).join(', ');
    database.exec(`INSERT INTO main.${quoted(table.name)} (${list}) SELECT ${list} FROM image.${quoted(table.name)}`);
  }
  for (const index of indexes) database.exec(index.sql);
}
