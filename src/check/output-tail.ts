// The last part of what a child process prints, for error reports: standard output and error together, bounded.
import type { ChildProcess } from 'node:child_process';

/** Collects `child`'s stdout and stderr; past `charsMax` characters the older half is dropped. */
export function tailOutput(child: ChildProcess, charsMax: number): () => string {
  let output = '';
  const collect = (chunk: Buffer): void => {
    output += chunk.toString();
    if (output.length > charsMax) output = output.slice(-charsMax / 2);
  };
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  return () => output;
}
