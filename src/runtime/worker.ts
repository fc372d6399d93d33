// The worker host: everything that runs inside an actor's worker thread.
//
// Owns: the actor's state, its bounded FIFO mailbox, its timers, its endpoint (links to peers) and the comlink
// control API the supervisor calls. Promises: one message is handled at a time (an async receive() settles
// before the next starts); a full mailbox refuses (ask → MailboxFullError, tell → dropped); a message failing
// validation is counted and logged, never delivered; an error thrown by receive() rejects the ask being
// handled with ActorCrashedError and ends the worker so the supervisor can restart it; timers die with the
// actor. Needs: workerData of type WorkerStartData and a parent port for log and crash notices.

import * as Comlink from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import { performance } from 'node:perf_hooks';
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { hasStringType, type ActorContext, type AnyActorDefinition, type Logger, type Reply, type StopReason } from './actor.js';
import { ActorCrashedError, ActorUnavailableError, MailboxFullError, RemoteError, assert } from './errors.js';
import { monotonicNowMs } from './clock.js';
import { Endpoint } from './endpoint.js';
import { keepTickObjectShape } from './tick-shape.js';
import { ThreadSampler } from './thread-metrics.js';
import { logLevelRank, type AskEnvelope, type ControlApi, type LogLevel, type TellEnvelope, type WorkerNotice, type WorkerStartData, type WorkerStatus } from './wire.js';

/**
 * Bounds on one turn of the mailbox loop, in messages and in time: past either, the loop yields to the event
 * loop so control-plane pings and arriving frames are served even when handlers are slow (a synchronous fsync).
 */
const messagesPerTurnMax = 512;
const turnBudgetMs = 20;

// Envelopes are queued as they arrived (no copy per message); a timer's message gets a small entry of its own.
interface TimerEntry {
  readonly kind: 'timer';
  readonly body: unknown;
}

type MailboxEntry = TellEnvelope | AskEnvelope | TimerEntry;

function senderOf(entry: MailboxEntry): string | null {
  return entry.kind === 'timer' ? null : entry.from;
}

function askOf(entry: MailboxEntry | null): AskEnvelope | null {
  return entry !== null && entry.kind === 'ask' ? entry : null;
}

// First, before any full garbage collection can make process.nextTick slow for good (see tick-shape.ts).
keepTickObjectShape();

const start = workerData as WorkerStartData;
assert(parentPort !== null, 'worker.ts must run in a worker thread');
const parent = parentPort;

function notify(notice: WorkerNotice): void {
  parent.postMessage(notice);
}

const ignoreLog = (): void => {};

/** A record below the main logger's level would be posted only to be dropped there: drop it here instead. */
function logAt(level: LogLevel) {
  if (logLevelRank[level] < logLevelRank[start.logLevelMin ?? 'debug']) return ignoreLog;
  return (objectOrMessage: object | string, message?: string): void => {
    if (typeof objectOrMessage === 'string') notify({ type: 'log', level, object: {}, message: objectOrMessage });
    else notify({ type: 'log', level, object: objectOrMessage, message });
  };
}

const log: Logger = { debug: logAt('debug'), info: logAt('info'), warn: logAt('warn'), error: logAt('error') };

class ActorHost {
  private readonly endpoint: Endpoint;
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private mailbox: MailboxEntry[] = [];
  private mailboxHead = 0;
  private definition: AnyActorDefinition | null = null;
  private state: unknown = undefined;
  private ready = false;
  private stopping = false;
  private busy = false;
  private wakeScheduled = false;
  private current: MailboxEntry | null = null;
  private currentDeferred = false;
  private idleWaiters: Array<() => void> = [];
  processed = 0;
  /** Messages refused because the mailbox was full (also counted in `dropped`). */
  private refused = 0;
  /** Heap, event-loop delay and utilization of this worker's thread, read by the control plane's status. */
  private readonly thread = new ThreadSampler();
  readonly context: ActorContext;

  constructor() {
    this.endpoint = new Endpoint({
      self: start.name,
      // The main thread's endpoint and every other worker's read the same clock: deadlines cross threads as instants.
      clock: monotonicNowMs,
      log,
      deliver: (envelope) => this.enqueue(envelope),
      onPeerGone: (peer) => this.peerGone(peer),
    });
    this.context = this.makeContext();
  }

  get mailboxDepth(): number {
    return this.mailbox.length - this.mailboxHead;
  }

  async init(): Promise<void> {
    assert(!this.ready, 'init called twice', { actor: start.name });
    const module = (await import(start.moduleUrl)) as { default?: AnyActorDefinition };
    assert(module.default !== undefined, 'actor module has no default export', { module: start.moduleUrl });
    this.definition = module.default;
    this.state = await this.definition.init(start.args, this.context);
    this.ready = true;
    this.wake();
  }

  control(): ControlApi {
    return {
      connect: (peer, port) => this.endpoint.connect(peer, port as MessagePort),
      disconnect: (peer) => this.endpoint.disconnect(peer),
      init: () => this.init(),
      ping: () => Date.now(),
      status: () => this.status(),
      crash: (reason) => this.crash(new Error(reason)),
      stop: (reason: StopReason) => this.stop(reason === 'shutdown' ? 'shutdown' : 'stop'),
      setIsolated: (isolated) => this.endpoint.setIsolated(isolated),
      setPeerIsolated: (peer, isolated) => this.endpoint.setPeerIsolated(peer, isolated),
    };
  }

  private status(): WorkerStatus {
    const custom = this.ready && this.definition?.status !== undefined ? this.definition.status(this.state) : undefined;
    return { ...this.endpoint.counters, mailboxDepth: this.mailboxDepth, processed: this.processed, refused: this.refused, thread: this.thread.figures(), isolated: this.endpoint.isolated, custom };
  }

  private makeContext(): ActorContext {
    const host = this;
    return {
      self: start.name,
      log,
      get sender() {
        return host.current === null ? null : senderOf(host.current);
      },
      tell: (target, message) => this.endpoint.tell(target, message),
      ask: (target, message, options) => this.endpoint.ask(target, message, options),
      deferReply: () => this.deferReply(),
      setTimer: (key, message, afterMs, options) => this.setTimer(key, message, afterMs, options?.repeat ?? false),
      cancelTimer: (key) => this.cancelTimer(key),
      now: () => Date.now(),
    };
  }

  private enqueue(envelope: TellEnvelope | AskEnvelope): void {
    const ask = envelope.kind === 'ask' ? envelope : null;
    if (this.stopping) {
      this.endpoint.deadLetter(start.name, 'actor is stopping');
      if (ask !== null) this.endpoint.reply(ask, undefined, new ActorUnavailableError(`${start.name} is stopping`));
      return;
    }
    if (this.mailboxDepth >= start.mailboxCapacity) {
      this.endpoint.counters.dropped += 1;
      this.refused += 1;
      if (ask !== null) this.endpoint.reply(ask, undefined, new MailboxFullError(`${start.name} mailbox is full (${start.mailboxCapacity})`));
      return;
    }
    this.mailbox.push(envelope);
    assert(this.mailboxDepth <= start.mailboxCapacity, 'mailbox over its capacity', { actor: start.name, depth: this.mailboxDepth });
    this.wake();
  }

  private wake(): void {
    if (this.wakeScheduled || this.busy || !this.ready) return;
    this.wakeScheduled = true;
    queueMicrotask(() => this.drain());
  }

  private drain(): void {
    this.wakeScheduled = false;
    const turnStartedMs = performance.now();
    for (let handled = 0; handled < messagesPerTurnMax; handled += 1) {
      if (this.busy || this.stopping || this.mailboxDepth === 0) break;
      this.handle(this.takeNext());
      if (performance.now() - turnStartedMs > turnBudgetMs) break;
    }
    if (this.busy) return;
    if (this.mailboxDepth > 0 && !this.stopping) {
      this.wakeScheduled = true;
      setImmediate(() => this.drain()); // Yield to I/O: pings and frames from peers get their turn.
      return;
    }
    const waiters = this.idleWaiters.splice(0, this.idleWaiters.length);
    for (const waiter of waiters) waiter();
  }

  private takeNext(): MailboxEntry {
    const entry = this.mailbox[this.mailboxHead];
    assert(entry !== undefined, 'takeNext on an empty mailbox');
    this.mailbox[this.mailboxHead] = undefined as unknown as MailboxEntry; // Let the body be collected.
    this.mailboxHead += 1;
    if (this.mailboxHead >= 1_024 && this.mailboxHead * 2 >= this.mailbox.length) {
      this.mailbox = this.mailbox.slice(this.mailboxHead);
      this.mailboxHead = 0;
    }
    return entry;
  }

  private handle(entry: MailboxEntry): void {
    const definition = this.definition;
    assert(definition !== null, 'handle before init');
    if (entry.kind === 'ask' && entry.deadlineAtMs < monotonicNowMs()) {
      this.endpoint.counters.dropped += 1; // The asker has given up; doing the work would only waste time.
      return;
    }
    const valid = definition.isMessage !== undefined ? definition.isMessage(entry.body) : hasStringType(entry.body);
    if (!valid) return this.rejectInvalid(entry);
    this.current = entry;
    this.currentDeferred = false;
    this.processed += 1;
    let result: unknown;
    try {
      result = definition.receive(this.state, entry.body as { type: string }, this.context);
    } catch (error) {
      return this.crash(error);
    }
    if (isPromiseLike(result)) {
      this.busy = true;
      result.then(
        (value) => this.finish(entry, value, true),
        (error: unknown) => this.crash(error),
      );
      return;
    }
    this.finish(entry, result, false);
  }

  private finish(entry: MailboxEntry, value: unknown, wasAsync: boolean): void {
    if (entry.kind === 'ask' && !this.currentDeferred) this.endpoint.reply(entry, value, null);
    this.current = null;
    if (!wasAsync) return;
    this.busy = false;
    this.drain();
  }

  private rejectInvalid(entry: MailboxEntry): void {
    const type = hasStringType(entry.body) ? entry.body.type : typeof entry.body;
    this.endpoint.countInvalid(senderOf(entry) ?? start.name, `message of unknown type ${JSON.stringify(type)}`, 1);
    if (entry.kind === 'ask') this.endpoint.reply(entry, undefined, new RemoteError(`${start.name} does not understand ${JSON.stringify(type)}`));
  }

  private deferReply(): Reply {
    const ask = askOf(this.current);
    assert(ask !== null, 'deferReply outside the handling of an ask', { actor: start.name });
    assert(!this.currentDeferred, 'deferReply called twice for one ask', { actor: start.name });
    this.currentDeferred = true;
    let answered = false;
    const answer = (value: unknown, error: unknown | null): void => {
      if (answered) return;
      answered = true;
      if (monotonicNowMs() > ask.deadlineAtMs) this.endpoint.counters.dropped += 1;
      else this.endpoint.reply(ask, value, error);
    };
    return {
      resolve: (value) => answer(value, null),
      reject: (error) => answer(undefined, error),
      // An actor compares it with context.now() (the wall clock): the time remaining, moved onto that clock.
      deadlineAtMs: this.context.now() + (ask.deadlineAtMs - monotonicNowMs()),
    };
  }

  private setTimer(key: string, message: unknown, afterMs: number, repeat: boolean): void {
    assert(Number.isFinite(afterMs) && afterMs >= 0, 'timer delay must be a finite number of ms', { key, afterMs });
    this.cancelTimer(key);
    if (this.stopping) return;
    const fire = (): void => {
      if (!repeat) this.timers.delete(key);
      this.enqueueTimer(message);
    };
    this.timers.set(key, repeat ? setInterval(fire, afterMs) : setTimeout(fire, afterMs));
  }

  /** A peer's thread ended: actors that asked to hear of it get their message, in order with the rest. */
  private peerGone(peer: string): void {
    const message = this.definition?.peerGoneMessage?.(peer);
    if (this.ready && message !== undefined) this.enqueueTimer(message);
  }

  private enqueueTimer(body: unknown): void {
    if (this.stopping) return;
    if (this.mailboxDepth >= start.mailboxCapacity) {
      this.endpoint.counters.dropped += 1;
      return;
    }
    this.mailbox.push({ kind: 'timer', body });
    this.wake();
  }

  private cancelTimer(key: string): void {
    const timer = this.timers.get(key);
    if (timer === undefined) return;
    clearTimeout(timer);
    this.timers.delete(key);
  }

  private cancelAllTimers(): void {
    for (const key of [...this.timers.keys()]) this.cancelTimer(key);
  }

  /** Crash: fail the ask being handled, push out what is queued on the links, tell the supervisor, exit. */
  crash(error: unknown): void {
    const reason = error instanceof Error ? error.message : String(error);
    const ask = askOf(this.current);
    if (ask !== null && !this.currentDeferred) this.endpoint.reply(ask, undefined, new ActorCrashedError(`${start.name} crashed: ${reason}`));
    this.cancelAllTimers();
    this.endpoint.flushAll();
    notify({ type: 'crash', reason: error instanceof Error && error.stack !== undefined ? error.stack : reason });
    process.exit(1);
  }

  /** Graceful stop: refuse new work, let the running handler finish, refuse what is queued, run the stop hook. */
  private async stop(reason: StopReason): Promise<void> {
    this.stopping = true;
    if (this.busy) await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    this.cancelAllTimers();
    this.refuseQueued();
    if (this.ready && this.definition?.stop !== undefined) await this.definition.stop(this.state, this.context, reason);
    this.endpoint.flushAll();
    this.endpoint.close('stopped');
    this.thread.close();
  }

  private refuseQueued(): void {
    while (this.mailboxDepth > 0) {
      const entry = this.takeNext();
      this.endpoint.deadLetter(start.name, 'actor stopped with the message queued');
      if (entry.kind === 'ask') this.endpoint.reply(entry, undefined, new ActorUnavailableError(`${start.name} stopped`));
    }
  }
}

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function';
}

const host = new ActorHost();
process.on('unhandledRejection', (error) => host.crash(error));
process.on('uncaughtException', (error) => host.crash(error));
Comlink.expose(host.control(), nodeEndpoint(start.controlPort as MessagePort));
