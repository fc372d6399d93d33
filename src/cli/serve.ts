// What `pygmy start` and `pygmy node` share as long-running commands: the `--admin` option, and running until
// SIGINT or SIGTERM.
// Promises: `untilSignal` closes once, however many signals or stop calls arrive, and resolves with the exit code
// `close` gives; a second signal while closing exits the process at once with 130.
import { parseAdminMode, type AdminMode } from '../http/authorization.js';
import { UsageError } from './usage-error.js';

/** `--admin on|off`: off turns the gateway's operations routes off, whatever PYGMY_ADMIN_TOKEN says. */
export function adminMode(value: string | undefined): AdminMode {
  const mode = parseAdminMode(value);
  if (mode === null) throw new UsageError(`--admin must be "on" or "off", got "${value}"`);
  return mode;
}

export interface Serving {
  /** The exit code, once closed. */
  readonly exited: Promise<number>;
  /** True from the first signal or stop call on. */
  readonly stopping: boolean;
  stop(): Promise<void>;
}

/** Runs until a signal or `stop()`, then calls `close` (once) and resolves `exited` with the code it returns. */
export function untilSignal(close: () => Promise<number>): Serving {
  let stopping = false;
  let resolveExited: (code: number) => void = () => undefined;
  const exited = new Promise<number>((resolve) => (resolveExited = resolve));
  const stop = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    resolveExited(await close());
  };
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) {
      console.error(`pygmy: ${signal} again, exiting now`);
      process.exit(130);
    }
    void stop();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    exited,
    get stopping() {
      return stopping;
    },
    stop,
  };
}
