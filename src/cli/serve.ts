// What `pygmy start` and `pygmy node` share as long-running commands: the `--admin` option and the other flags
// both take (integers, ports), LOG_FORMAT, and running until SIGINT, SIGTERM or an escalation of the supervisor.
// Promises: `untilSignal` closes once, however many signals or stop calls arrive, and resolves with the exit code
// `close` gives; a second signal while closing exits the process at once with 130. A flag that is wrong is a
// UsageError naming it.
import type { Logger } from 'pino';
import { parseAdminMode, type AdminMode } from '../http/authorization.js';
import type { LoggerOptions } from './logger.js';
import { UsageError } from './usage-error.js';

/** `--admin on|off`: off turns the gateway's operations routes off, whatever PYGMY_ADMIN_TOKEN says. */
export function adminMode(value: string | undefined): AdminMode {
  const mode = parseAdminMode(value);
  if (mode === null) throw new UsageError(`--admin must be "on" or "off", got "${value}"`);
  return mode;
}

/** An integer flag: `fallback` when absent, else an integer ≥ `minimum`. */
export function integerFlag(value: string | undefined, name: string, fallback: number, minimum = 1): number {
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (!Number.isSafeInteger(parsed) || parsed < minimum) throw new UsageError(`${name} must be an integer ≥ ${minimum}, got "${value}"`);
  return parsed;
}

/** A port flag (`--ops-port`): 0 to 65535, 0 picking a free one. */
export function portFlag(value: string, name: string): number {
  const port = Number(value);
  if (!Number.isSafeInteger(port) || port < 0 || port > 65_535) throw new UsageError(`${name} must be a port number (0–65535), got "${value}"`);
  return port;
}

/** LOG_FORMAT=pretty|json overrides the logger's default (pretty on a terminal, JSON otherwise); anything else does not. */
export function logFormatOptions(env: NodeJS.ProcessEnv = process.env): Pick<LoggerOptions, 'pretty'> {
  const format = env.LOG_FORMAT;
  return format === 'pretty' || format === 'json' ? { pretty: format === 'pretty' } : {};
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

export interface Escalation {
  /** For the supervisor: logs why it gave up and stops the command (once it serves). */
  readonly onEscalate: (reason: string) => void;
  /** untilSignal around `close`, whose exit code is 1 after an escalation and 0 otherwise. */
  serve(close: () => Promise<void>): Serving;
}

/** The escalation path both commands give their supervisor: an escalation stops the command, which exits 1. */
export function escalationStop(logger: Logger): Escalation {
  let escalated: string | null = null;
  let serving: Serving | null = null;
  return {
    onEscalate: (reason) => {
      escalated = reason;
      logger.fatal({ reason, event: 'escalate' }, `supervisor gave up: ${reason}; stopping`);
      void serving?.stop();
    },
    serve(close) {
      serving = untilSignal(async () => {
        await close();
        return escalated === null ? 0 : 1;
      });
      return serving;
    },
  };
}
