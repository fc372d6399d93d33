// One child of the supervisor and everything of it that lives and dies with its worker, after piscina's
// WorkerInfo: the worker thread, its control port and comlink proxy, the peers it has channels with, its
// watchdog, the pending restart, and the calls it is asked over its control plane.
//
// Owns: the child's resolved spec, its state, restart count, isolation flag and last status report; while a
// worker runs, the worker, its ports, its exit promise, why it is going down and its watchdog. Promises: a worker's
// exit is reported once, to `onExit`, after the handle has let go of everything that worker owned (watchdog
// stopped, control port closed, channels forgotten); an exit of an older worker than the current one is ignored;
// every control call is bounded (controlTimeoutMs, initTimeoutMs, the spec's stopTimeoutMs), and init, stop and
// status also end when the worker exits first. The supervisor (system.ts) decides; the handle carries out.
// Needs: the worker entry (worker.ts), a logger, a clock, and the supervisor's callbacks.

import * as Comlink from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import type { ActorName, Logger, StopReason } from './actor.js';
import { assert, assertNever } from './errors.js';
import type { ExitCause } from './supervisor-policy.js';
import type { ActorStatus, ChildSpec, ChildState } from './system.js';
import { Watchdog } from './watchdog.js';
import type { ControlApi, LogLevel, WorkerNotice, WorkerStartData, WorkerStatus } from './wire.js';

export type ResolvedChildSpec = Required<Omit<ChildSpec, 'module' | 'args' | 'argsAtStart'>> & { moduleUrl: string; args: unknown; argsAtStart: (() => unknown) | null };

export type ExitIntent = 'stop' | 'kill' | 'hang' | null;

/** How a worker went away, as the handle saw it: what the supervisor needs to decide. */
export interface ChildExit {
  readonly code: number;
  readonly cause: ExitCause;
  readonly phase: 'startup' | 'running';
  /** The stop was asked for (stop, shutdown): nothing to decide. */
  readonly intended: boolean;
  readonly reason: string;
  /** Whether an init() failure goes to the policy (restarts) or is reported to the caller (start, startActor). */
  readonly supervisedStartup: boolean;
}

export interface ChildTimeouts {
  readonly controlTimeoutMs: number;
  readonly initTimeoutMs: number;
  readonly watchdogIntervalMs: number;
  readonly watchdogTimeoutMs: number;
}

export interface ChildOptions {
  readonly spec: ResolvedChildSpec;
  readonly log: Logger;
  readonly clock: () => number;
  readonly timeouts: ChildTimeouts;
  /** Called once per worker, after the handle released it. */
  readonly onExit: (child: ChildHandle, exit: ChildExit) => void;
}

/** The control plane of a live worker, as the supervisor's wiring uses it. */
export type ChildControl = Comlink.Remote<ControlApi>;

const workerUrl = new URL('./worker.js', import.meta.url);
const killTerminateAfterMs = 1_000;

export class ChildHandle {
  readonly spec: ResolvedChildSpec;
  /** Peers the current worker has a direct channel with (the mesh keeps both sides of a pair in step). */
  readonly wiredPeers = new Set<ActorName>();
  private readonly options: ChildOptions;
  private currentState: ChildState = 'stopped';
  private restartCount = 0;
  private isolatedNow = false;
  private lastStatus: WorkerStatus | null = null;
  private generation = 0;
  private worker: Worker | null = null;
  private controlPort: MessagePort | null = null;
  private controlProxy: ChildControl | null = null;
  private exited: Promise<number> = Promise.resolve(0);
  private exitIntent: ExitIntent = null;
  private supervisedStartup = false;
  private crashReason: string | null = null;
  private watchdog: Watchdog | null = null;
  private restartTimer: NodeJS.Timeout | null = null;

  constructor(options: ChildOptions) {
    this.options = options;
    this.spec = options.spec;
  }

  get name(): ActorName {
    return this.spec.name;
  }

  get state(): ChildState {
    return this.currentState;
  }

  get restarts(): number {
    return this.restartCount;
  }

  get isolated(): boolean {
    return this.isolatedNow;
  }

  set isolated(isolated: boolean) {
    this.isolatedNow = isolated;
  }

  /** The control plane while a worker lives (starting or running), else null. */
  get control(): ChildControl | null {
    return this.controlProxy;
  }

  /** A control call bounded by controlTimeoutMs; rejects at once when no worker lives. */
  call<T>(what: string, invoke: (control: ChildControl) => Promise<T>): Promise<T> {
    const control = this.controlProxy;
    if (control === null) return Promise.reject(new Error(`control call to a stopped worker: ${what}`));
    return withTimeout(invoke(control), this.options.timeouts.controlTimeoutMs, `control call timed out: ${what}`);
  }

  /**
   * Starts a worker and waits for its init(); `wire` gives it its channels first. Rejects (the worker terminated)
   * when wiring or init fails or the worker exits meanwhile; the exit itself reaches onExit.
   */
  async start(supervisedStartup: boolean, logLevelMin: LogLevel, wire: (child: ChildHandle, control: ChildControl) => Promise<void>): Promise<void> {
    this.generation += 1;
    const generation = this.generation;
    this.currentState = 'starting';
    this.supervisedStartup = supervisedStartup;
    this.exitIntent = null;
    this.crashReason = null;
    this.wiredPeers.clear();
    const { worker, control } = this.spawnWorker(generation, logLevelMin);
    try {
      await wire(this, control);
      const init = raceExit(control.init(), this.exited, `${this.name} exited during init`);
      const initTimeoutMs = this.options.timeouts.initTimeoutMs;
      await withTimeout(init, initTimeoutMs, `${this.name} did not finish init within ${initTimeoutMs} ms`);
    } catch (error) {
      this.crashReason ??= error instanceof Error ? error.message : String(error);
      await worker.terminate();
      throw error;
    }
    assert(this.generation === generation, 'a child was re-spawned while it was starting', { name: this.name });
    this.currentState = 'running';
    this.startWatchdog(control);
  }

  /** Crashes the worker now (through its control plane, or by termination if it does not answer); resolves at its exit. */
  async kill(): Promise<void> {
    const worker = this.worker;
    const control = this.controlProxy;
    if (worker === null || control === null) return;
    this.exitIntent = 'kill';
    const exited = this.exited;
    control.crash(`${this.name} killed by request`).catch(() => undefined);
    const terminateTimer = setTimeout(() => void worker.terminate(), killTerminateAfterMs);
    await exited;
    clearTimeout(terminateTimer);
  }

  /** Graceful stop (stop hook, bounded by stopTimeoutMs, then termination); resolves at the worker's exit. */
  async stop(reason: StopReason): Promise<void> {
    this.cancelRestart();
    const worker = this.worker;
    const control = this.controlProxy;
    if (worker === null || control === null) {
      if (this.currentState !== 'failed') this.currentState = 'stopped';
      return;
    }
    this.exitIntent = 'stop';
    const exited = this.exited;
    try {
      // A worker that exits meanwhile (it was crashing when the stop came) has stopped: its control port will never
      // answer, and waiting for it would cost the whole stop timeout.
      const stopped = Promise.race([control.stop(reason), exited]);
      await withTimeout(stopped, this.spec.stopTimeoutMs, `${this.name} did not stop within ${this.spec.stopTimeoutMs} ms`);
    } catch (error) {
      this.options.log.warn({ actor: this.name, error: String(error) }, `graceful stop of ${this.name} failed; terminating it`);
    }
    await worker.terminate();
    await exited;
  }

  /** The policy keeps the child down, or its start failed with the caller told (not restarted). */
  markDown(state: 'stopped' | 'failed'): void {
    this.currentState = state;
  }

  /** Waits `delayMs`, then calls `restart` unless the child was started, stopped or restarted meanwhile. */
  restartAfter(delayMs: number, restart: () => void): void {
    this.currentState = 'restarting';
    this.restartTimer = setTimeout(() => {
      this.restartTimer = null;
      if (this.currentState !== 'restarting') return;
      restart();
    }, delayMs);
  }

  countRestart(): number {
    this.restartCount += 1;
    return this.restartCount;
  }

  cancelRestart(): void {
    if (this.restartTimer !== null) clearTimeout(this.restartTimer);
    this.restartTimer = null;
  }

  /** What the worker reports now (within controlTimeoutMs), or what it last reported when it cannot answer. */
  async status(onControlFailure: (error: unknown) => void): Promise<ActorStatus> {
    if (this.currentState === 'running' && this.controlProxy !== null) {
      try {
        // A worker exiting meanwhile (crashing, before its exit is handled) never answers: report what was last known.
        const gone = this.exited.then(() => null);
        const status = await this.call(`status of ${this.name}`, (control) => Promise.race([control.status(), gone]));
        if (status !== null) this.lastStatus = status;
      } catch (error) {
        onControlFailure(error);
      }
    }
    return this.describe();
  }

  private describe(): ActorStatus {
    const last = this.lastStatus;
    const alive = this.worker !== null;
    return {
      name: this.name,
      alive,
      state: this.currentState,
      restarts: this.restartCount,
      isolated: this.isolatedNow,
      mailboxDepth: alive ? (last?.mailboxDepth ?? 0) : 0,
      processed: last?.processed ?? 0,
      dropped: last?.dropped ?? 0,
      deadLetters: last?.deadLetters ?? 0,
      invalid: last?.invalid ?? 0,
      refused: last?.refused ?? 0,
      ...(last?.thread !== undefined && alive ? { thread: last.thread } : {}),
      custom: last?.custom,
    };
  }

  private spawnWorker(generation: number, logLevelMin: LogLevel): { worker: Worker; control: ChildControl } {
    const channel = new MessageChannel();
    const start: WorkerStartData = {
      name: this.name,
      moduleUrl: this.spec.moduleUrl,
      args: this.spec.argsAtStart === null ? this.spec.args : this.spec.argsAtStart(),
      mailboxCapacity: this.spec.mailboxCapacity,
      logLevelMin,
      controlPort: channel.port2,
    };
    const worker = new Worker(workerUrl, { workerData: start, transferList: [channel.port2] });
    const control = Comlink.wrap<ControlApi>(nodeEndpoint(channel.port1));
    this.worker = worker;
    this.controlPort = channel.port1;
    this.controlProxy = control;
    this.exited = new Promise<number>((resolve) => worker.once('exit', resolve));
    worker.on('message', (notice: WorkerNotice) => this.onNotice(notice));
    worker.on('error', (error) => {
      this.crashReason ??= error.stack ?? error.message;
    });
    worker.once('exit', (code) => this.onWorkerExit(generation, code));
    return { worker, control };
  }

  private onNotice(notice: WorkerNotice): void {
    switch (notice.type) {
      case 'log':
        this.options.log[notice.level]({ ...notice.object, actor: this.name }, notice.message);
        return;
      case 'crash':
        this.crashReason = notice.reason;
        return;
      default:
        assertNever(notice, 'worker notice');
    }
  }

  private onWorkerExit(generation: number, code: number): void {
    if (generation !== this.generation) return;
    const phase = this.currentState === 'starting' ? 'startup' : 'running';
    this.stopWatchdog();
    this.controlPort?.close();
    this.controlPort = null;
    this.controlProxy = null;
    this.worker = null;
    this.wiredPeers.clear();
    const intended = this.exitIntent === 'stop';
    const reason = this.crashReason ?? `worker exited with code ${code}`;
    this.options.onExit(this, { code, cause: exitCause(this.exitIntent, code), phase, intended, reason, supervisedStartup: this.supervisedStartup });
  }

  private startWatchdog(control: ChildControl): void {
    const { watchdogIntervalMs, watchdogTimeoutMs } = this.options.timeouts;
    this.watchdog = new Watchdog({
      intervalMs: watchdogIntervalMs,
      timeoutMs: watchdogTimeoutMs,
      clock: this.options.clock,
      ping: () => control.ping(),
      onSilent: (silentMs) => this.terminateSilent(silentMs),
    });
  }

  private terminateSilent(silentMs: number): void {
    const worker = this.worker;
    this.watchdog = null;
    if (worker === null || this.currentState !== 'running') return;
    this.options.log.warn({ actor: this.name, silentMs }, `watchdog: ${this.name} has not answered for ${silentMs} ms; terminating it`);
    this.exitIntent = 'hang';
    this.crashReason = `no answer to watchdog pings for ${silentMs} ms`;
    void worker.terminate();
  }

  private stopWatchdog(): void {
    this.watchdog?.stop();
    this.watchdog = null;
  }
}

/** The lowest level the logger writes (pino's isLevelEnabled), read at each spawn; every level when unknown. */
export function lowestEnabledLevel(logger: Logger): LogLevel {
  const isLevelEnabled = (logger as { isLevelEnabled?: (level: string) => boolean }).isLevelEnabled;
  if (typeof isLevelEnabled !== 'function') return 'debug';
  const levels: LogLevel[] = ['debug', 'info', 'warn', 'error'];
  return levels.find((level) => isLevelEnabled.call(logger, level)) ?? 'error';
}

export function exitCause(intent: ExitIntent, code: number): ExitCause {
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
