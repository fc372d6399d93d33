// Figures of a server process the bench started, read from /proc/PID (Linux only): its resident memory.
// Promises: a process that is gone, or a system without /proc, gives null, never an error.
import { readFileSync } from 'node:fs';

/** The resident set (VmRSS) of process `pid` in MiB, rounded; null when it cannot be read. */
export function rssMiB(pid: number): number | null {
  try {
    const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((entry) => entry.startsWith('VmRSS:'));
    return line === undefined ? null : Math.round(Number(line.split(/\s+/)[1]) / 1024);
  } catch {
    return null;
  }
}
