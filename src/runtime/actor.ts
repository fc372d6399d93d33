// The actor contract: what an actor module exports and what the runtime gives its handlers.
//
// Owns: the types shared by actor authors and the runtime. Promises: an actor sees one message at a time (an
// async receive() finishes before the next message starts), its timers die with it, and nothing it is sent
// can crash it unless its own receive() throws. Needs: nothing; this file has no runtime behaviour beyond
// `defineActor`, which only checks the definition's shape.
//
// An actor module's `default` export is its definition; the worker host imports the module by file URL.
// Error policy: an error thrown (or a promise rejected) by receive() crashes the actor. The ask being handled
// is rejected with ActorCrashedError, the worker exits, and the supervisor restarts it by policy with fresh
// state from init(). To refuse a request without crashing, return a value that says so, or call
// deferReply() and reject the reply: that reaches the asker as a RemoteError.

import { assert } from './errors.js';

export type ActorName = string;

/** Why a graceful stop happens: this actor alone ('stop'), or the whole system going down ('shutdown'). */
export type StopReason = 'stop' | 'shutdown';

export interface AskOptions {
  /** Deadline for the reply, relative to now. */
  timeoutMs?: number;
}

export const askTimeoutMsDefault = 5_000;

export interface TimerOptions {
  repeat?: boolean;
}

type LogMethod = (objectOrMessage: object | string, message?: string) => void;

/** The subset of pino's API the runtime uses, so a pino instance can be passed as it is. */
export interface Logger {
  debug: LogMethod;
  info: LogMethod;
  warn: LogMethod;
  error: LogMethod;
}

export interface Reply {
  resolve(value: unknown): void;
  reject(error: Error): void;
  /**
   * Ms on context.now()'s clock after which the asker has given up (its time remaining when deferReply was called,
   * added to context.now() then); answering later is harmless but wasted.
   */
  readonly deadlineAtMs: number;
}

export interface ActorContext {
  readonly self: ActorName;
  readonly log: Logger;
  /** Sender of the message being handled; null for timers and outside a handler. */
  readonly sender: ActorName | null;
  /** Never throws; an undeliverable message is counted as a dead letter (or as dropped when isolated). */
  tell(target: ActorName, message: unknown): void;
  /** Rejects with AskTimeoutError, MailboxFullError, ActorUnavailableError, ActorCrashedError or RemoteError. */
  ask<R = unknown>(target: ActorName, message: unknown, options?: AskOptions): Promise<R>;
  /** While handling an ask: answer later without blocking the mailbox. Throws outside an ask. */
  deferReply(): Reply;
  /** Sends `message` to self after `afterMs`; replaces a timer with the same key. */
  setTimer(key: string, message: unknown, afterMs: number, options?: TimerOptions): void;
  cancelTimer(key: string): void;
  /** Milliseconds, from the injected clock. */
  now(): number;
}

export interface ActorDefinition<State, Message extends { type: string }, Args = unknown> {
  /** State from args and from the actor's own disk. A throw here is a start-up failure. */
  init(args: Args, context: ActorContext): State | Promise<State>;
  /** Handles one message. The return value answers an ask unless deferReply() was called. */
  receive(state: State, message: Message, context: ActorContext): unknown | Promise<unknown>;
  /** Graceful stop hook: flush and close files. Bounded by the child's stopTimeoutMs. */
  stop?(state: State, context: ActorContext, reason: StopReason): void | Promise<void>;
  /** Validation at the boundary; a message failing it is counted and logged, never delivered. */
  isMessage?(message: unknown): message is Message;
  /** Actor-provided status for the control plane (must be structured-clonable). */
  status?(state: State): unknown;
  /**
   * Optional: the message to put in this actor's own mailbox (delivered like a timer's, sender null) when the link
   * to a peer closes because the peer's thread ended (a crash, a kill or a stop). Not sent when a link is replaced,
   * nor for a partition (isolate), which keeps links open. A hint for liveness only: the peer may be back soon.
   */
  peerGoneMessage?(peer: ActorName): Message;
}

// The host holds definitions of unknown state and message types; this alias keeps that one cast in one place.
export type AnyActorDefinition = ActorDefinition<unknown, { type: string }, unknown>;

export function defineActor<State, Message extends { type: string }, Args>(
  definition: ActorDefinition<State, Message, Args>,
): ActorDefinition<State, Message, Args> {
  assert(typeof definition.init === 'function', 'actor definition needs init()');
  assert(typeof definition.receive === 'function', 'actor definition needs receive()');
  return definition;
}

/** Default boundary check: a message is an object with a string `type`. */
export function hasStringType(message: unknown): message is { type: string } {
  return typeof message === 'object' && message !== null && typeof (message as { type?: unknown }).type === 'string';
}
