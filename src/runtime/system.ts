// The actor system: the supervisor and the main thread's endpoint.
//
// Owns: one worker thread per child, the MessageChannels between every pair of endpoints (each worker and the
// main thread), the watchdog, fault injection and the control plane (comlink) to each worker. Promises:
// children start in spec order and stop in reverse order; a crash, an exit or a hang (watchdog pings
// unanswered for watchdogTimeoutMs) is handled by the pure policy in supervisor-policy.ts (one-for-one,
// restart types, intensity, backoff, start-up failures); a restarted child is re-wired to every live peer;
// escalation stops the whole tree, then emits 'escalate' and calls onEscalate. The main thread only carries
// its own tells and asks: workers exchange envelopes directly over their own ports.
// Needs: compiled actor modules (file URLs) whose default export is an ActorDefinition.

import * as Comlink from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import { EventEmitter } from 'node:events';
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import pino from 'pino';
import type { ActorName, AskOptions, Logger, StopReason } from './actor.js';
import { Endpoint } from './endpoint.js';
import type { ThreadFigures } from './thread-metrics.js';
import type { LinkFactory } from './transport.js';
import { ActorUnavailableError, assert, assertNever } from './errors.js';
import { createPolicyState, policyStep, type ExitCause, type PolicyAction, type PolicyState, type RestartType } from './supervisor-policy.js';
import { systemEndpointName, type ControlApi, type EndpointCounters, type LogLevel, type WorkerNotice, type WorkerStartData, type WorkerStatus } from './wire.js';

export type { RestartType } from './supervisor-policy.js';

export interface ChildSpec {
  name: ActorName;
  /** File URL of the compiled actor module (its default export is the definition). */
  module: URL | string;
  args?: unknown;
  restart?: RestartType;
  mailboxCapacity?: number;
  stopTimeoutMs?: number;
}

export interface SystemOptions {
  logger?: Logger;
  maxRestarts?: number;
  withinMs?: number;
  backoffInitialMs?: number;
  backoffMaxMs?: number;
  /** Consecutive init() failures after which a restarting child escalates instead of looping. */
  startupFailuresMax?: number;
  watchdogIntervalMs?: number;
  watchdogTimeoutMs?: number;
  /** Bound on a child's init(); a child stuck in init counts as a failed start. */
  initTimeoutMs?: number;
  /** Bound on each control-plane call (connect, status, isolate); a hung worker cannot stall the supervisor. */
  controlTimeoutMs?: number;
  onEscalate?: (reason: string) => void;
  clock?: () => number;
  /** Actors living in other processes (multi-host): each started child gets one channel per name, handed to `connect`. */
  remote?: RemotePeers;
}

/** How a transport that reaches other processes plugs into the supervisor's wiring. */
export interface RemotePeers {
  readonly names: readonly ActorName[];
  /** `port` is the main thread's end of a channel whose other end the child `local` knows as `remote`. */
  connect(local: ActorName, remote: ActorName, port: MessagePort): void;
}

export type ChildState = 'starting' | 'running' | 'restarting' | 'stopped' | 'failed';

export interface ActorStatus {
  name: ActorName;
  alive: boolean;
  state: ChildState;
  restarts: number;
  isolated: boolean;
  mailboxDepth: number;
  processed: number;
  dropped: number;
  deadLetters: number;
  invalid: number;
  /** Messages refused because the mailbox was full; absent where a node could not be asked. */
  refused?: number;
  /** The actor's thread: heap, event-loop delay and utilization, as last reported; absent while never reported. */
  thread?: ThreadFigures;
  custom?: unknown;
}

export interface CrashEvent { name: ActorName; cause: ExitCause; reason: string }
export interface RestartEvent { name: ActorName; restarts: number; restartsInWindow: number; delayMs: number }
export interface ExitEvent { name: ActorName; code: number; cause: ExitCause }
export interface EscalateEvent { reason: string }
export interface SystemMessageEvent { from: ActorName; body: unknown }

export const mailboxCapacityDefault = 10_000;
export const stopTimeoutMsDefault = 5_000;
const killTerminateAfterMs = 1_000;

interface Child {
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

const workerUrl = new URL('./worker.js', import.meta.url);

/** The lowest level the logger writes (pino's isLevelEnabled), read at each spawn; every level when unknown. */
function lowestEnabledLevel(logger: Logger): LogLevel {
  const isLevelEnabled = (logger as { isLevelEnabled?: (level: string) => boolean }).isLevelEnabled;
  if (typeof isLevelEnabled !== 'function') return 'debug';
  const levels: LogLevel[] = ['debug', 'info', 'warn', 'error'];
  return levels.find((level) => isLevelEnabled.call(logger, level)) ?? 'error';
}

export class ActorSystem extends EventEmitter {
  private readonly options: Required<Omit<SystemOptions, 'onEscalate' | 'logger' | 'remote'>> & Pick<SystemOptions, 'onEscalate' | 'remote'>;
  private readonly log: Logger;
  private readonly children = new Map<ActorName, Child>();
  private readonly order: ActorName[] = [];
  private readonly endpoint: Endpoint;
  private policy: PolicyState;
  private shuttingDown = false;
  private shutdownPromise: Promise<void> | null = null;

  constructor(options: SystemOptions = {}) {
    super();
    this.options = {
      maxRestarts: options.maxRestarts ?? 5,
      withinMs: options.withinMs ?? 60_000,
      backoffInitialMs: options.backoffInitialMs ?? 100,
      backoffMaxMs: options.backoffMaxMs ?? 5_000,
      startupFailuresMax: options.startupFailuresMax ?? 3,
      watchdogIntervalMs: options.watchdogIntervalMs ?? 1_000,
      watchdogTimeoutMs: options.watchdogTimeoutMs ?? 5_000,
      controlTimeoutMs: options.controlTimeoutMs ?? 2_000,
      initTimeoutMs: options.initTimeoutMs ?? 30_000,
      clock: options.clock ?? Date.now,
      onEscalate: options.onEscalate,
      remote: options.remote,
    };
    assert(this.options.watchdogIntervalMs > 0, 'watchdogIntervalMs must be positive', this.options);
    assert(this.options.watchdogTimeoutMs >= this.options.watchdogIntervalMs, 'watchdogTimeoutMs must be at least one interval', this.options);
    this.log = options.logger ?? pino({ name: 'pygmy' });
    this.policy = createPolicyState(this.options);
    this.endpoint = new Endpoint({
      self: systemEndpointName,
      clock: this.options.clock,
      log: this.log,
      // This thread sends for many I/O callbacks (the gateway's requests, one per socket callback): one frame per
      // event-loop phase, not one per request.
      linkFlush: 'immediate',
      deliver: (envelope) => {
        if (envelope.kind === 'ask') this.endpoint.reply(envelope, undefined, new ActorUnavailableError(`${systemEndpointName} does not answer asks`));
        else this.emit('message', { from: envelope.from, body: envelope.body } satisfies SystemMessageEvent);
      },
    });
  }

  /** Starts the children in order; resolves when each has finished init(). A failing init stops the others and rejects. */
  async start(specs: ChildSpec[]): Promise<void> {
    assert(!this.shuttingDown, 'start after shutdown');
    for (const spec of specs) this.addChild(spec);
    for (const spec of specs) {
      const child = this.requireChild(spec.name);
      try {
        await this.spawn(child, false);
      } catch (error) {
        await this.shutdown();
        throw new Error(`could not start ${spec.name}: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
  }

  tell(target: ActorName, message: unknown): void {
    this.endpoint.tell(target, message);
  }

  ask<R = unknown>(target: ActorName, message: unknown, options?: AskOptions): Promise<R> {
    return this.endpoint.ask<R>(target, message, options);
  }

  /** Routes the main thread's `$system` endpoint to a peer over any Link (a remote actor over TCP). */
  attach(peer: ActorName, makeLink: LinkFactory): void {
    this.endpoint.attach(peer, makeLink);
  }

  /** Dead letters, drops and invalid input seen by the main thread's own endpoint (`$system`). */
  systemCounters(): EndpointCounters {
    return { ...this.endpoint.counters };
  }

  /** Crashes the child now (through its control plane, or by termination if it does not answer); it restarts by policy. */
  async kill(name: ActorName): Promise<void> {
    const child = this.requireChild(name);
    const worker = child.worker;
    if (worker === null || child.control === null) return;
    child.exitIntent = 'kill';
    const exited = child.exited;
    child.control.crash(`${name} killed by request`).catch(() => undefined);
    const terminateTimer = setTimeout(() => void worker.terminate(), killTerminateAfterMs);
    await exited;
    clearTimeout(terminateTimer);
  }

  /** Graceful stop (stop hook, bounded by stopTimeoutMs, then termination); the child stays down. */
  async stop(name: ActorName): Promise<void> {
    await this.stopChild(this.requireChild(name));
    this.log.info({ actor: name }, `supervisor stopped ${name}; it stays down until started`);
  }

  /** Starts a stopped or failed child again; rejects when its init fails. */
  async startActor(name: ActorName): Promise<void> {
    const child = this.requireChild(name);
    assert(!this.shuttingDown, 'startActor after shutdown', { name });
    if (child.state === 'running' || child.state === 'starting') return;
    this.cancelRestart(child);
    await this.spawn(child, false);
    this.log.info({ actor: name }, `supervisor started ${name}`);
  }

  /** Drops every data message to and from the child, both directions; the control plane is unaffected. */
  async isolate(name: ActorName): Promise<void> {
    await this.setIsolation(this.requireChild(name), true);
  }

  async heal(name: ActorName): Promise<void> {
    await this.setIsolation(this.requireChild(name), false);
  }

  async status(): Promise<ActorStatus[]> {
    // Asked in parallel: one hung child then costs one controlTimeoutMs, not one per child.
    return Promise.all(this.order.map((name) => this.childStatus(this.requireChild(name))));
  }

  /** Stops every child in reverse start order; idempotent. */
  shutdown(): Promise<void> {
    this.shutdownPromise ??= this.shutdownOnce();
    return this.shutdownPromise;
  }

  private async shutdownOnce(): Promise<void> {
    this.shuttingDown = true;
    for (const name of [...this.order].reverse()) await this.stopChild(this.requireChild(name), 'shutdown');
    this.endpoint.close('system shut down');
  }

  private addChild(spec: ChildSpec): void {
    assert(typeof spec.name === 'string' && spec.name.length > 0 && spec.name !== systemEndpointName, 'invalid child name', { name: spec.name });
    assert(!this.children.has(spec.name), 'duplicate child name', { name: spec.name });
    const mailboxCapacity = spec.mailboxCapacity ?? mailboxCapacityDefault;
    assert(Number.isInteger(mailboxCapacity) && mailboxCapacity > 0, 'mailboxCapacity must be a positive whole number', { name: spec.name });
    const child: Child = {
      spec: {
        name: spec.name,
        moduleUrl: spec.module instanceof URL ? spec.module.href : spec.module,
        args: spec.args,
        restart: spec.restart ?? 'permanent',
        mailboxCapacity,
        stopTimeoutMs: spec.stopTimeoutMs ?? stopTimeoutMsDefault,
      },
      state: 'stopped',
      generation: 0,
      worker: null,
      controlPort: null,
      control: null,
      exited: Promise.resolve(0),
      exitIntent: null,
      supervisedStartup: false,
      crashReason: null,
      restarts: 0,
      isolated: false,
      lastStatus: null,
      wiredPeers: new Set(),
      watchdog: null,
      pingSentAtMs: null,
      restartTimer: null,
    };
    this.children.set(spec.name, child);
    this.order.push(spec.name);
    this.applyPolicy({ type: 'child-added', name: spec.name, restartType: child.spec.restart });
  }

  private requireChild(name: ActorName): Child {
    const child = this.children.get(name);
    if (child === undefined) throw new ActorUnavailableError(`no actor named ${name}`);
    return child;
  }

  private async spawn(child: Child, supervisedStartup: boolean): Promise<void> {
    child.generation += 1;
    const generation = child.generation;
    child.state = 'starting';
    child.supervisedStartup = supervisedStartup;
    child.exitIntent = null;
    child.crashReason = null;
    child.wiredPeers.clear();
    const channel = new MessageChannel();
    const start: WorkerStartData = {
      name: child.spec.name,
      moduleUrl: child.spec.moduleUrl,
      args: child.spec.args,
      mailboxCapacity: child.spec.mailboxCapacity,
      logLevelMin: lowestEnabledLevel(this.log),
      controlPort: channel.port2,
    };
    const worker = new Worker(workerUrl, { workerData: start, transferList: [channel.port2] });
    child.worker = worker;
    child.controlPort = channel.port1;
    child.control = Comlink.wrap<ControlApi>(nodeEndpoint(channel.port1));
    child.exited = new Promise<number>((resolve) => worker.once('exit', resolve));
    worker.on('message', (notice: WorkerNotice) => this.onNotice(child, notice));
    worker.on('error', (error) => {
      child.crashReason ??= error.stack ?? error.message;
    });
    worker.once('exit', (code) => this.onExit(child, generation, code));
    try {
      await this.wire(child, child.control);
      const init = raceExit(child.control.init(), child.exited, `${child.spec.name} exited during init`);
      await withTimeout(init, this.options.initTimeoutMs, `${child.spec.name} did not finish init within ${this.options.initTimeoutMs} ms`);
    } catch (error) {
      child.crashReason ??= error instanceof Error ? error.message : String(error);
      await worker.terminate();
      throw error;
    }
    assert(child.generation === generation, 'a child was re-spawned while it was starting', { name: child.spec.name });
    child.state = 'running';
    this.startWatchdog(child, generation);
    this.applyPolicy({ type: 'child-started', name: child.spec.name });
  }

  /** Gives the new worker a port to the main thread and to every live peer, and its isolation flags. */
  private async wire(child: Child, control: Comlink.Remote<ControlApi>): Promise<void> {
    const name = child.spec.name;
    const toSystem = new MessageChannel();
    this.endpoint.connect(name, toSystem.port1);
    await this.control(control.connect(systemEndpointName, Comlink.transfer(toSystem.port2, [toSystem.port2])), `connect ${name}`);
    const calls: Promise<unknown>[] = [];
    for (const peer of this.liveChildren()) {
      // Two children starting at once both see each other; the first to get here wires the pair, once.
      if (peer === child || peer.control === null || child.wiredPeers.has(peer.spec.name)) continue;
      child.wiredPeers.add(peer.spec.name);
      peer.wiredPeers.add(name);
      const channel = new MessageChannel();
      calls.push(this.control(peer.control.connect(name, Comlink.transfer(channel.port1, [channel.port1])), `connect ${peer.spec.name} to ${name}`).catch((error) => this.logControlFailure(error)));
      calls.push(this.control(control.connect(peer.spec.name, Comlink.transfer(channel.port2, [channel.port2])), `connect ${name} to ${peer.spec.name}`));
      if (peer.isolated) calls.push(this.control(control.setPeerIsolated(peer.spec.name, true), `isolate ${peer.spec.name}`));
    }
    for (const remote of this.options.remote?.names ?? []) {
      const channel = new MessageChannel();
      calls.push(this.control(control.connect(remote, Comlink.transfer(channel.port2, [channel.port2])), `connect ${name} to ${remote}`));
      this.options.remote?.connect(name, remote, channel.port1);
    }
    if (child.isolated) calls.push(this.control(control.setIsolated(true), `isolate ${name}`));
    await Promise.all(calls);
  }

  /**
   * A remote name that appeared after start (an actor placed on a node that joined): every live child gets a
   * channel to it now; children started later get one from `remote.names`, which must already list it.
   */
  async connectRemote(remote: ActorName): Promise<void> {
    const calls: Promise<unknown>[] = [];
    for (const child of this.liveChildren()) {
      const channel = new MessageChannel();
      calls.push(this.control(child.control!.connect(remote, Comlink.transfer(channel.port2, [channel.port2])), `connect ${child.spec.name} to ${remote}`)
        .catch((error) => this.logControlFailure(error)));
      this.options.remote?.connect(child.spec.name, remote, channel.port1);
    }
    await Promise.all(calls);
  }

  /** Children with a worker (starting or running): the ones a newly started child must be wired to. */
  private liveChildren(): Child[] {
    return this.order.map((name) => this.requireChild(name)).filter((child) => child.control !== null);
  }

  private onNotice(child: Child, notice: WorkerNotice): void {
    switch (notice.type) {
      case 'log':
        this.log[notice.level]({ ...notice.object, actor: child.spec.name }, notice.message);
        return;
      case 'crash':
        child.crashReason = notice.reason;
        return;
      default:
        assertNever(notice, 'worker notice');
    }
  }

  private onExit(child: Child, generation: number, code: number): void {
    if (generation !== child.generation) return;
    const name = child.spec.name;
    const phase = child.state === 'starting' ? 'startup' : 'running';
    this.stopWatchdog(child);
    child.controlPort?.close();
    child.controlPort = null;
    child.control = null;
    child.worker = null;
    child.wiredPeers.clear();
    this.endpoint.disconnect(name);
    for (const peer of this.liveChildren()) {
      peer.wiredPeers.delete(name);
      peer.control?.disconnect(name).catch(() => undefined);
    }
    const cause = exitCause(child.exitIntent, code);
    this.emit('exit', { name, code, cause } satisfies ExitEvent);
    if (child.exitIntent === 'stop' || this.shuttingDown) {
      child.state = 'stopped';
      return;
    }
    const reason = child.crashReason ?? `worker exited with code ${code}`;
    const what = phase === 'startup' ? 'failed to start' : cause === 'normal' ? 'exited' : `went down (${cause})`;
    this.log.warn({ actor: name, cause, phase, code, reason }, `${name} ${what}: ${firstLine(reason)}`);
    this.emit('crash', { name, cause, reason } satisfies CrashEvent);
    if (phase === 'startup' && !child.supervisedStartup) {
      child.state = 'failed';
      return;
    }
    this.applyPolicy({ type: 'child-exited', name, cause, phase });
  }

  private applyPolicy(event: Parameters<typeof policyStep>[1]): void {
    const step = policyStep(this.policy, event, this.options.clock());
    this.policy = step.state;
    for (const action of step.actions) this.perform(action);
  }

  private perform(action: PolicyAction): void {
    switch (action.type) {
      case 'restart':
        return this.scheduleRestart(this.requireChild(action.name), action.delayMs, action.restartsInWindow);
      case 'keep-down':
        this.requireChild(action.name).state = 'stopped';
        this.log.info({ actor: action.name, reason: action.reason }, `supervisor keeps ${action.name} down: ${action.reason}`);
        return;
      case 'escalate':
        return void this.escalate(action.reason);
      default:
        assertNever(action, 'supervisor action');
    }
  }

  private scheduleRestart(child: Child, delayMs: number, restartsInWindow: number): void {
    child.state = 'restarting';
    child.restartTimer = setTimeout(() => {
      child.restartTimer = null;
      if (this.shuttingDown || child.state !== 'restarting') return;
      child.restarts += 1;
      const windowSeconds = Math.round(this.options.withinMs / 1000);
      this.log.info(
        { actor: child.spec.name, restarts: child.restarts, restartsInWindow, delayMs },
        `supervisor restarted ${child.spec.name} (crash ${restartsInWindow} of ${this.options.maxRestarts} in ${windowSeconds}s)`,
      );
      this.emit('restart', { name: child.spec.name, restarts: child.restarts, restartsInWindow, delayMs } satisfies RestartEvent);
      this.spawn(child, true).catch(() => undefined); // A failed start ends in onExit, which asks the policy.
    }, delayMs);
  }

  private cancelRestart(child: Child): void {
    if (child.restartTimer !== null) clearTimeout(child.restartTimer);
    child.restartTimer = null;
  }

  private async escalate(reason: string): Promise<void> {
    this.log.error({ reason }, `supervisor escalates: ${reason}; stopping every actor`);
    await this.shutdown();
    this.emit('escalate', { reason } satisfies EscalateEvent);
    this.options.onEscalate?.(reason);
  }

  private async stopChild(child: Child, reason: StopReason = 'stop'): Promise<void> {
    this.cancelRestart(child);
    const worker = child.worker;
    if (worker === null || child.control === null) {
      if (child.state !== 'failed') child.state = 'stopped';
      return;
    }
    child.exitIntent = 'stop';
    const exited = child.exited;
    try {
      // A worker that exits meanwhile (it was crashing when the stop came) has stopped: its control port will never
      // answer, and waiting for it would cost the whole stop timeout.
      const stopped = Promise.race([child.control.stop(reason), exited]);
      await withTimeout(stopped, child.spec.stopTimeoutMs, `${child.spec.name} did not stop within ${child.spec.stopTimeoutMs} ms`);
    } catch (error) {
      this.log.warn({ actor: child.spec.name, error: String(error) }, `graceful stop of ${child.spec.name} failed; terminating it`);
    }
    await worker.terminate();
    await exited;
  }

  private async setIsolation(child: Child, isolated: boolean): Promise<void> {
    const name = child.spec.name;
    child.isolated = isolated;
    this.endpoint.setPeerIsolated(name, isolated);
    const calls: Promise<unknown>[] = [];
    if (child.control !== null) calls.push(this.control(child.control.setIsolated(isolated), `isolate ${name}`));
    for (const peer of this.liveChildren()) {
      if (peer !== child && peer.control !== null) calls.push(this.control(peer.control.setPeerIsolated(name, isolated), `isolate ${name} at ${peer.spec.name}`));
    }
    await Promise.all(calls.map((call) => call.catch((error) => this.logControlFailure(error))));
    this.log.info({ actor: name }, isolated ? `${name} isolated: messages to and from it are dropped` : `${name} healed`);
  }

  private async childStatus(child: Child): Promise<ActorStatus> {
    if (child.state === 'running' && child.control !== null) {
      try {
        // A worker exiting meanwhile (crashing, before its exit is handled) never answers: report what was last known.
        const gone = child.exited.then(() => null);
        const status = await this.control(Promise.race([child.control.status(), gone]), `status of ${child.spec.name}`);
        if (status !== null) child.lastStatus = status;
      } catch (error) {
        this.logControlFailure(error);
      }
    }
    const last = child.lastStatus;
    return {
      name: child.spec.name,
      alive: child.worker !== null,
      state: child.state,
      restarts: child.restarts,
      isolated: child.isolated,
      mailboxDepth: child.worker !== null ? (last?.mailboxDepth ?? 0) : 0,
      processed: last?.processed ?? 0,
      dropped: last?.dropped ?? 0,
      deadLetters: last?.deadLetters ?? 0,
      invalid: last?.invalid ?? 0,
      refused: last?.refused ?? 0,
      ...(last?.thread !== undefined && child.worker !== null ? { thread: last.thread } : {}),
      custom: last?.custom,
    };
  }

  private startWatchdog(child: Child, generation: number): void {
    child.pingSentAtMs = null;
    child.watchdog = setInterval(() => this.watch(child, generation), this.options.watchdogIntervalMs);
  }

  private watch(child: Child, generation: number): void {
    if (child.generation !== generation || child.state !== 'running' || child.control === null || child.worker === null) return;
    const nowMs = this.options.clock();
    if (child.pingSentAtMs === null) {
      child.pingSentAtMs = nowMs;
      child.control.ping().then(() => {
        if (child.generation === generation) child.pingSentAtMs = null;
      }, () => undefined);
      return;
    }
    const silentMs = nowMs - child.pingSentAtMs;
    if (silentMs <= this.options.watchdogTimeoutMs) return;
    this.log.warn({ actor: child.spec.name, silentMs }, `watchdog: ${child.spec.name} has not answered for ${silentMs} ms; terminating it`);
    child.exitIntent = 'hang';
    child.crashReason = `no answer to watchdog pings for ${silentMs} ms`;
    this.stopWatchdog(child);
    void child.worker.terminate();
  }

  private stopWatchdog(child: Child): void {
    if (child.watchdog !== null) clearInterval(child.watchdog);
    child.watchdog = null;
    child.pingSentAtMs = null;
  }

  private control<T>(call: Promise<T>, what: string): Promise<T> {
    return withTimeout(call, this.options.controlTimeoutMs, `control call timed out: ${what}`);
  }

  private logControlFailure(error: unknown): void {
    this.log.warn({ error: String(error) }, `control plane: ${error instanceof Error ? error.message : String(error)}`);
  }
}

function exitCause(intent: Child['exitIntent'], code: number): ExitCause {
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

function firstLine(text: string): string {
  const newline = text.indexOf('\n');
  return newline === -1 ? text : text.slice(0, newline);
}

function withTimeout<T>(promise: Promise<T>, timeoutMs: number, message: string): Promise<T> {
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
function raceExit<T>(promise: Promise<T>, exited: Promise<number>, message: string): Promise<T> {
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
