// Stopping a server the bench started: SIGTERM, then SIGKILL when it has not exited within the deadline.

import type { ChildProcess } from 'node:child_process';

/** Resolves once `child` has exited (at once if it already has); SIGKILL after `timeoutMs`. */
export function stopChild(child: ChildProcess, timeoutMs: number): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const killTimer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('exit', () => {
      clearTimeout(killTimer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}
