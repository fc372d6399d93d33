// `pygmy bench`: the autocannon load benchmark, whose entry is bench/main.ts. It is loaded by its path at run time
// rather than imported: the benchmark measures the product and imports it, so the product does not import it
// back (nothing in src/ imports bench/). `npm run bench` comes through here too.
// Promises: a checkout whose benchmark is not built says so in one line (exit 1) instead of a stack.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Where `tsc` puts the benchmark's entry beside this file's: dist/bench/main.js next to dist/src/cli/bench.js. */
const benchEntry = new URL('../../bench/main.js', import.meta.url);

interface BenchEntry {
  main(argv: string[]): Promise<number>;
}

function isBenchEntry(value: unknown): value is BenchEntry {
  return typeof value === 'object' && value !== null && typeof (value as { main?: unknown }).main === 'function';
}

export async function main(argv: string[]): Promise<number> {
  const path = fileURLToPath(benchEntry);
  if (!existsSync(path)) {
    console.error(`pygmy bench: the benchmark is not built here (${path} is missing); build a checkout with npm run build`);
    return 1;
  }
  const entry: unknown = await import(benchEntry.href);
  if (!isBenchEntry(entry)) {
    console.error(`pygmy bench: ${path} does not export main(argv)`);
    return 1;
  }
  return entry.main(argv);
}
