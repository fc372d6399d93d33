// The process that runs the full quick_check of one replica's file (integrity.ts), started by replica.ts:
// `node integrity-process.js <database path>`. Why a process and not a thread: quick_check is one native call
// that nothing can interrupt, and at 2 GiB it runs for seconds; a thread running it would hold up the replica's
// stop until it returned, a process is killed at once. It also runs at the lowest CPU priority (its parent sets
// it), so it takes the cores only when the replicas do not need them.
// Promises: writes one line of JSON to stdout, `{"problems":[...]}` ([] for an intact file), and exits 0; any
// failure to check exits non-zero with the reason on stderr. Never writes to the database.
import { checkWholeFile } from './integrity.js';

const path = process.argv[2];
if (path === undefined || path === '') {
  process.stderr.write('usage: integrity-process.js <database path>\n');
  process.exit(2);
}
process.stdout.write(`${JSON.stringify({ problems: checkWholeFile(path) })}\n`);
