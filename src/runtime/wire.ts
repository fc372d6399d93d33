// Wire types: every message that crosses a thread (or, later, a socket) boundary, and their validation.
//
// Owns: the data-path envelope, the batch frame that carries envelopes over a link, the worker start-up data,
// the worker-to-supervisor notices and the control-plane API shape. Promises: `parseFrame` accepts only
// well-formed envelopes; anything else is reported, never thrown into an actor. Needs: nothing.

import type { ActorName } from './actor.js';
import type { ErrorData } from './errors.js';

/** Name of the main thread's endpoint (the gateway and the control plane speak from here). */
export const systemEndpointName: ActorName = '$system';

export interface TellEnvelope {
  readonly kind: 'tell';
  readonly from: ActorName;
  readonly to: ActorName;
  readonly body: unknown;
}

export interface AskEnvelope {
  readonly kind: 'ask';
  readonly from: ActorName;
  readonly to: ActorName;
  readonly id: string;
  readonly body: unknown;
  readonly deadlineAtMs: number;
}

export interface ReplyEnvelope {
  readonly kind: 'reply';
  readonly from: ActorName;
  readonly to: ActorName;
  readonly id: string;
  readonly body: unknown;
  /** null when the ask succeeded; otherwise why it failed. */
  readonly error: ErrorData | null;
}

export type Envelope = TellEnvelope | AskEnvelope | ReplyEnvelope;

/** Upper bound on envelopes per frame, checked on both sides of a link. */
export const frameEnvelopesMax = 4_096;

export type FrameParse = { ok: true; envelopes: Envelope[]; invalidCount: number; firstProblem: string | null } | { ok: false; problem: string };

function isErrorData(value: unknown): value is ErrorData {
  if (typeof value !== 'object' || value === null) return false;
  const data = value as Record<string, unknown>;
  return typeof data.name === 'string' && typeof data.code === 'string' && typeof data.message === 'string';
}

/** Returns null when the value is a well-formed envelope, else what is wrong with it. */
export function envelopeProblem(value: unknown): string | null {
  if (typeof value !== 'object' || value === null) return 'envelope is not an object';
  const envelope = value as Record<string, unknown>;
  if (typeof envelope.from !== 'string' || envelope.from.length === 0) return 'envelope.from is not a name';
  if (typeof envelope.to !== 'string' || envelope.to.length === 0) return 'envelope.to is not a name';
  switch (envelope.kind) {
    case 'tell':
      return null;
    case 'ask':
      if (typeof envelope.id !== 'string' || envelope.id.length === 0) return 'ask without an id';
      if (typeof envelope.deadlineAtMs !== 'number' || !Number.isFinite(envelope.deadlineAtMs)) return 'ask without a deadline';
      return null;
    case 'reply':
      if (typeof envelope.id !== 'string' || envelope.id.length === 0) return 'reply without an id';
      if (envelope.error !== null && !isErrorData(envelope.error)) return 'reply with a malformed error';
      return null;
    default:
      return `unknown envelope kind ${JSON.stringify(envelope.kind)}`;
  }
}

/** A frame is an array of envelopes; invalid envelopes are skipped and counted, the rest are kept in order. */
export function parseFrame(value: unknown): FrameParse {
  if (!Array.isArray(value)) return { ok: false, problem: 'frame is not an array' };
  if (value.length > frameEnvelopesMax) return { ok: false, problem: `frame holds ${value.length} envelopes, over ${frameEnvelopesMax}` };
  let firstInvalidIndex = -1;
  for (let index = 0; index < value.length && firstInvalidIndex === -1; index += 1) {
    if (envelopeProblem(value[index]) !== null) firstInvalidIndex = index;
  }
  // The common case, a clean frame, is handed on as it arrived: no copy per frame.
  if (firstInvalidIndex === -1) return { ok: true, envelopes: value as Envelope[], invalidCount: 0, firstProblem: null };
  const envelopes: Envelope[] = [];
  let invalidCount = 0;
  let firstProblem: string | null = null;
  for (const item of value) {
    const problem = envelopeProblem(item);
    if (problem === null) envelopes.push(item as Envelope);
    else {
      invalidCount += 1;
      firstProblem ??= problem;
    }
  }
  return { ok: true, envelopes, invalidCount, firstProblem };
}

/** Given to each worker at start-up (workerData). */
export interface WorkerStartData {
  readonly name: ActorName;
  readonly moduleUrl: string;
  readonly args: unknown;
  readonly mailboxCapacity: number;
  /** The comlink control port; the data path gets its own ports later through connect(). */
  readonly controlPort: unknown;
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** Worker → supervisor notices on the worker's parent port (not the data path). */
export type WorkerNotice =
  | { readonly type: 'log'; readonly level: LogLevel; readonly object: object; readonly message: string | undefined }
  | { readonly type: 'crash'; readonly reason: string };

export interface EndpointCounters {
  /** Messages that could not be delivered: unknown, stopped or restarting target, or refused at stop. */
  deadLetters: number;
  /** Messages dropped on purpose: full mailbox (tells), isolation, or ask already past its deadline. */
  dropped: number;
  /** Envelopes or messages that failed validation. */
  invalid: number;
}

export interface WorkerStatus extends EndpointCounters {
  readonly mailboxDepth: number;
  readonly processed: number;
  readonly isolated: boolean;
  readonly custom: unknown;
}

/** Control plane, served by each worker over comlink. */
export interface ControlApi {
  connect(peer: ActorName, port: unknown): void;
  disconnect(peer: ActorName): void;
  init(): Promise<void>;
  ping(): number;
  status(): WorkerStatus;
  crash(reason: string): void;
  stop(): Promise<void>;
  setIsolated(isolated: boolean): void;
  setPeerIsolated(peer: ActorName, isolated: boolean): void;
}
