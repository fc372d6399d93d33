// The actor system: the supervisor and the main thread's endpoint.
//
// Owns: the children in spec order (each a ChildHandle, child.ts: its worker, ports, watchdog and pending
// restart), the channel mesh between them (mesh.ts), the policy state, fault injection and the main thread's
// endpoint. Promises:
// children start in spec order and stop in reverse order; a crash, an exit or a hang (watchdog pings
// unanswered for watchdogTimeoutMs) is handled by the pure policy in supervisor-policy.ts (one-for-one,
// restart types, intensity, backoff, start-up failures); a restarted child is re-wired to every live peer;
// escalation stops the whole tree, then emits 'escalate' and calls onEscalate. The main thread only carries
// its own tells and asks: workers exchange envelopes directly over their own ports.
// Needs: compiled actor modules (file URLs) whose default export is an ActorDefinition.

import { EventEmitter } from 'node:events';
import type { MessagePort } from 'node:worker_threads';
import pino from 'pino';
import type { ActorName, AskOptions, Logger, StopReason } from './actor.js';
import { monotonicNowMs } from './clock.js';
import { Endpoint } from './endpoint.js';
import type { ThreadFigures } from './thread-metrics.js';
import type { LinkFactory } from './transport.js';
import { ActorUnavailableError, assert, assertNever } from './errors.js';
import { ChildHandle, firstLine, lowestEnabledLevel, type ChildExit } from './child.js';
import { ChannelMesh } from './mesh.js';
import { createPolicyState, policyStep, type ExitCause, type PolicyAction, type PolicyState, type RestartType } from './supervisor-policy.js';
import { systemEndpointName, type EndpointCounters } from './wire.js';

export type { RestartType } from './supervisor-policy.js';

export interface ChildSpec {
  name: ActorName;
  /** File URL of the compiled actor module (its default export is the definition). */
  module: URL | string;
  args?: unknown;
  /**
   * When set, the args of each start — the first and every restart — are what it returns at that moment instead
   * of `args`: a restarted actor then starts from what its node knows now (a group's members as they are after a
   * membership change), not from what it knew when the spec was made.
   */
  argsAtStart?: () => unknown;
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
  /**
   * Milliseconds for ask deadlines, restart windows and the watchdog; default the process's monotonic clock
   * (clock.ts). Workers judge the deadlines of asks from this thread on that clock, so another is for tests.
   */
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

/** What watch() reports of one actor: each message it tells '$system', and each time it goes (crash, restart, exit). */
export interface ActorWatcher {
  told(body: unknown): void;
  gone(): void;
}

export const mailboxCapacityDefault = 10_000;
export const stopTimeoutMsDefault = 5_000;

export class ActorSystem extends EventEmitter {
  private readonly options: Required<Omit<SystemOptions, 'onEscalate' | 'logger' | 'remote'>> & Pick<SystemOptions, 'onEscalate' | 'remote'>;
  private readonly log: Logger;
  private readonly children = new Map<ActorName, ChildHandle>();
  private readonly order: ChildHandle[] = [];
  private readonly endpoint: Endpoint;
  private readonly mesh: ChannelMesh;
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
      clock: options.clock ?? monotonicNowMs,
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
    this.mesh = new ChannelMesh({
      endpoint: this.endpoint,
      children: () => this.order,
      remote: this.options.remote,
      onControlFailure: (error) => this.logControlFailure(error),
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

  /**
   * Watches one actor from this thread: `told` gets each message it tells '$system' (in the order sent), `gone`
   * runs when it crashes, restarts or exits. Returns the function that stops watching.
   */
  watchActor(name: ActorName, watcher: ActorWatcher): () => void {
    const onMessage = (event: SystemMessageEvent) => {
      if (event.from === name) watcher.told(event.body);
    };
    const onGone = (event: { name: ActorName }) => {
      if (event.name === name) watcher.gone();
    };
    const goneEvents = ['crash', 'restart', 'exit'] as const;
    this.on('message', onMessage);
    for (const event of goneEvents) this.on(event, onGone);
    return () => {
      this.off('message', onMessage);
      for (const event of goneEvents) this.off(event, onGone);
    };
  }

  /** Dead letters, drops and invalid input seen by the main thread's own endpoint (`$system`). */
  systemCounters(): EndpointCounters {
    return { ...this.endpoint.counters };
  }

  /** Crashes the child now (through its control plane, or by termination if it does not answer); it restarts by policy. */
  async kill(name: ActorName): Promise<void> {
    await this.requireChild(name).kill();
  }

  /** Graceful stop (stop hook, bounded by stopTimeoutMs, then termination); the child stays down. */
  async stop(name: ActorName): Promise<void> {
    await this.requireChild(name).stop('stop');
    this.log.info({ actor: name }, `supervisor stopped ${name}; it stays down until started`);
  }

  /** Starts a stopped or failed child again; rejects when its init fails. */
  async startActor(name: ActorName): Promise<void> {
    const child = this.requireChild(name);
    assert(!this.shuttingDown, 'startActor after shutdown', { name });
    if (child.state === 'running' || child.state === 'starting') return;
    child.cancelRestart();
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
    return Promise.all(this.order.map((child) => child.status((error) => this.logControlFailure(error))));
  }

  /** Stops every child in reverse start order; idempotent. */
  shutdown(): Promise<void> {
    this.shutdownPromise ??= this.shutdownOnce();
    return this.shutdownPromise;
  }

  private async shutdownOnce(): Promise<void> {
    this.shuttingDown = true;
    for (const child of [...this.order].reverse()) await child.stop('shutdown');
    this.endpoint.close('system shut down');
  }

  private addChild(spec: ChildSpec): void {
    assert(typeof spec.name === 'string' && spec.name.length > 0 && spec.name !== systemEndpointName, 'invalid child name', { name: spec.name });
    assert(!this.children.has(spec.name), 'duplicate child name', { name: spec.name });
    const mailboxCapacity = spec.mailboxCapacity ?? mailboxCapacityDefault;
    assert(Number.isInteger(mailboxCapacity) && mailboxCapacity > 0, 'mailboxCapacity must be a positive whole number', { name: spec.name });
    const child = new ChildHandle({
      spec: {
        name: spec.name,
        moduleUrl: spec.module instanceof URL ? spec.module.href : spec.module,
        args: spec.args,
        argsAtStart: spec.argsAtStart ?? null,
        restart: spec.restart ?? 'permanent',
        mailboxCapacity,
        stopTimeoutMs: spec.stopTimeoutMs ?? stopTimeoutMsDefault,
      },
      log: this.log,
      clock: this.options.clock,
      timeouts: this.options,
      onExit: (exited, exit) => this.onExit(exited, exit),
    });
    this.children.set(spec.name, child);
    this.order.push(child);
    this.applyPolicy({ type: 'child-added', name: spec.name, restartType: child.spec.restart });
  }

  private requireChild(name: ActorName): ChildHandle {
    const child = this.children.get(name);
    if (child === undefined) throw new ActorUnavailableError(`no actor named ${name}`);
    return child;
  }

  private async spawn(child: ChildHandle, supervisedStartup: boolean): Promise<void> {
    await child.start(supervisedStartup, lowestEnabledLevel(this.log), (started, control) => this.mesh.wire(started, control));
    this.applyPolicy({ type: 'child-started', name: child.name });
  }

  /**
   * A remote name that appeared after start (an actor placed on a node that joined): every live child gets a
   * channel to it now; children started later get one from `remote.names`, which must already list it.
   */
  async connectRemote(remote: ActorName): Promise<void> {
    await this.mesh.connectRemote(remote);
  }

  private onExit(child: ChildHandle, exit: ChildExit): void {
    const name = child.name;
    const { code, cause, phase, reason } = exit;
    this.mesh.unwire(name);
    this.emit('exit', { name, code, cause } satisfies ExitEvent);
    if (exit.intended || this.shuttingDown) {
      child.markDown('stopped');
      return;
    }
    const what = phase === 'startup' ? 'failed to start' : cause === 'normal' ? 'exited' : `went down (${cause})`;
    this.log.warn({ actor: name, cause, phase, code, reason }, `${name} ${what}: ${firstLine(reason)}`);
    this.emit('crash', { name, cause, reason } satisfies CrashEvent);
    if (phase === 'startup' && !exit.supervisedStartup) {
      child.markDown('failed');
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
        this.requireChild(action.name).markDown('stopped');
        this.log.info({ actor: action.name, reason: action.reason }, `supervisor keeps ${action.name} down: ${action.reason}`);
        return;
      case 'escalate':
        return void this.escalate(action.reason);
      default:
        assertNever(action, 'supervisor action');
    }
  }

  private scheduleRestart(child: ChildHandle, delayMs: number, restartsInWindow: number): void {
    child.restartAfter(delayMs, () => {
      if (this.shuttingDown) return;
      const restarts = child.countRestart();
      const windowSeconds = Math.round(this.options.withinMs / 1000);
      this.log.info(
        { actor: child.name, restarts, restartsInWindow, delayMs },
        `supervisor restarted ${child.name} (crash ${restartsInWindow} of ${this.options.maxRestarts} in ${windowSeconds}s)`,
      );
      this.emit('restart', { name: child.name, restarts, restartsInWindow, delayMs } satisfies RestartEvent);
      this.spawn(child, true).catch(() => undefined); // A failed start ends in onExit, which asks the policy.
    });
  }

  private async escalate(reason: string): Promise<void> {
    this.log.error({ reason }, `supervisor escalates: ${reason}; stopping every actor`);
    await this.shutdown();
    this.emit('escalate', { reason } satisfies EscalateEvent);
    this.options.onEscalate?.(reason);
  }

  private async setIsolation(child: ChildHandle, isolated: boolean): Promise<void> {
    await this.mesh.setIsolation(child, isolated);
    const name = child.name;
    this.log.info({ actor: name }, isolated ? `${name} isolated: messages to and from it are dropped` : `${name} healed`);
  }

  private logControlFailure(error: unknown): void {
    this.log.warn({ error: String(error) }, `control plane: ${error instanceof Error ? error.message : String(error)}`);
  }
}
