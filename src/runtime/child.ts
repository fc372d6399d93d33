// A child of the supervisor: its record (spec, state, worker, control plane, wiring, watchdog, restart timer) and
// the helpers that bound what is asked of its worker.
//
// Owns: nothing yet beyond the record's shape; system.ts mutates it. Promises: withTimeout and raceExit settle
// exactly once. Needs: nothing.

import type * as Comlink from 'comlink';
import type { Worker, MessagePort } from 'node:worker_threads';
import type { ActorName, Logger } from './actor.js';
import { assertNever } from './errors.js';
import type { ExitCause } from './supervisor-policy.js';
import type { ChildSpec, ChildState } from './system.js';
import type { ControlApi, LogLevel, WorkerStatus } from './wire.js';

export interface Child {
  readonly spec: Required<Omit<ChildSpec, 'module' | 'args'>> & { moduleUrl: string; args: unknown };
  state: ChildState;
  generation: number;
  worker: Worker | null;
  controlPort: MessagePort | null;
  control: Comlink.Remote<ControlApi> | null;
  exited: Promise<number>;
  exitIntent: 'stop' | 'kill' | 'hang' | null;
  /** Whether an init() failure goes to the policy (restarts) or is reported to the caller (start, startActor). */
  supervisedStartup: boolean;
  crashReason: string | null;
  restarts: number;
  isolated: boolean;
  lastStatus: WorkerStatus | null;
  /** Peers this incarnation has a direct channel with. */
  wiredPeers: Set<ActorName>;
  watchdog: NodeJS.Timeout | null;
  pingSentAtMs: number | null;
  restartTimer: NodeJS.Timeout | null;
}

/** The lowest level the logger writes (pino's isLevelEnabled), read at each spawn; every level when unknown. */
export function lowestEnabledLevel(logger: Logger): LogLevel {
  const isLevelEnabled = (logger as { isLevelEnabled?: (level: string) => boolean }).isLevelEnabled;
  if (typeof isLevelEnabled !== 'function') return 'debug';
  const levels: LogLevel[] = ['debug', 'info', 'warn', 'error'];
  return levels.find((level) => isLevelEnabled.call(logger, level)) ?? 'error';
}

export function exitCause(intent: Child['exitIntent'], code: number): ExitCause {
  switch (intent) {
    case 'stop':
      return 'normal';
    case 'kill':
      return 'killed';
    case 'hang':
      return 'hang';
    case null:
      return code === 0 ? 'normal' : 'crash';
    default:
      return assertNever(intent, 'exit intent');
  }
}

export function firstLine(text: string): string {
  const newline = text.indexOf('\n');
  return newline === -1 ? text : text.slice(0, newline);
}

export function withTimeout<T>(promise: Promise<T>, timeoutMs: number, message: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(message)), timeoutMs);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}

/** Settles with the call, or rejects when the worker exits first (a dead worker never answers comlink). */
export function raceExit<T>(promise: Promise<T>, exited: Promise<number>, message: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    const settle = (action: () => void): void => {
      if (settled) return;
      settled = true;
      action();
    };
    promise.then((value) => settle(() => resolve(value)), (error: unknown) => settle(() => reject(error)));
    void exited.then((code) => settle(() => reject(new Error(`${message} (code ${code})`))));
  });
}
