// Shared helpers for runtime tests: a capturing logger, fixture URLs, a system with short timings, polling.

import type { Logger } from '../../src/runtime/actor.js';
import { ActorSystem, type ChildSpec, type SystemOptions } from '../../src/runtime/system.js';

export interface LogLine {
  level: string;
  object: object;
  message: string;
}

export function capturingLogger(lines: LogLine[], echo = process.env.TEST_LOG === '1'): Logger {
  const at = (level: string) => (objectOrMessage: object | string, message?: string): void => {
    const line = typeof objectOrMessage === 'string' ? { level, object: {}, message: objectOrMessage } : { level, object: objectOrMessage, message: message ?? '' };
    lines.push(line);
    if (echo) console.log(`[${level}] ${line.message}`);
  };
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

export const counterModule = new URL('./fixtures/counter.js', import.meta.url);
export const sequenceModule = new URL('./fixtures/sequence.js', import.meta.url);

export function makeSystem(lines: LogLine[], options: SystemOptions = {}): ActorSystem {
  return new ActorSystem({
    logger: capturingLogger(lines),
    backoffInitialMs: 10,
    backoffMaxMs: 100,
    watchdogIntervalMs: 100,
    watchdogTimeoutMs: 2_000, // Generous: the machine is shared, and only the hang test wants it short.
    ...options,
  });
}

/** A system as makeSystem makes it, started on `specs`; shut down again when the start fails, so no worker leaks. */
export async function startSystem(specs: ChildSpec[], lines: LogLine[] = [], options: SystemOptions = {}): Promise<ActorSystem> {
  const system = makeSystem(lines, options);
  try {
    await system.start(specs);
  } catch (error) {
    await system.shutdown();
    throw error;
  }
  return system;
}

/** Runs `body` on a system started on `specs` (as startSystem), and shuts the system down however `body` ends. */
export async function withSystem(specs: ChildSpec[], body: (system: ActorSystem) => Promise<void>): Promise<void> {
  const system = await startSystem(specs);
  try {
    await body(system);
  } finally {
    await system.shutdown();
  }
}

/** Two counters, `a` and `b`, for the tests of messages between workers. */
export const counterPair: ChildSpec[] = [
  { name: 'a', module: counterModule },
  { name: 'b', module: counterModule },
];

/** The error `promise` rejects with; throws when it resolves. */
export async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection, got a value');
}

/** Polls `check` every 10 ms until it returns true or `timeoutMs` passes (then throws with `what`). */
export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadlineMs = Date.now() + timeoutMs;
  while (Date.now() < deadlineMs) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

/** Like waitFor, but a check that rejects (an ask sent before its connection or its replica is up) counts as not yet. */
export function eventually(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  return waitFor(() => check().catch(() => false), timeoutMs, what);
}

export function once<T>(system: ActorSystem, event: string, timeoutMs: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      system.off(event, listener);
      reject(new Error(`no '${event}' event within ${timeoutMs} ms`));
    }, timeoutMs);
    const listener = (value: T): void => {
      clearTimeout(timer);
      resolve(value);
    };
    system.once(event, listener);
  });
}
