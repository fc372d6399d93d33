// Wire types: every message that crosses a thread (or, later, a socket) boundary, and their validation.
//
// Owns: the data-path envelope, the batch frame that carries envelopes over a link, the worker start-up data,
// the worker-to-supervisor notices and the control-plane API shape. Promises: `decodeFrame` accepts only
// well-formed envelopes and inverts `encodeFrame` (given the same DeadlineField); anything else is reported,
// never thrown into an actor. Needs: nothing.

import type { ActorName, StopReason } from './actor.js';
import { assert, assertNever, type ErrorData } from './errors.js';
import type { ThreadFigures } from './thread-metrics.js';

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
  /**
   * When the asker gives up: an instant on this process's monotonic clock (clock.ts), the same in every thread.
   * Never an instant of another process: a frame between nodes carries the time remaining (see DeadlineField).
   */
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

// Frame encoding on a point-to-point link. Sender and target are the link's two ends, so they are not repeated
// per envelope (the receiving link fills them in, which also means a peer cannot claim another's name), and a
// frame is one flat array, which structured clone copies faster than an array of objects:
//   tell:  0, body
//   ask:   1, id, deadline (as DeadlineField writes it), body
//   reply: 2, id, body, error
const tellCode = 0;
const askCode = 1;
const replyCode = 2;

/**
 * How an ask's deadline is written into its frame field and read back (null: the field is malformed). Between the
 * threads of one process the field is the instant itself (deadlineAsInstant); between nodes it is the time
 * remaining (transport/codec.ts), since two hosts' clocks share no time line.
 */
export interface DeadlineField {
  write(deadlineAtMs: number): number;
  read(field: unknown): number | null;
}

export const deadlineAsInstant: DeadlineField = {
  write: (deadlineAtMs) => deadlineAtMs,
  read: (field) => (typeof field === 'number' && Number.isFinite(field) ? field : null),
};

export type FrameDecode =
  | { ok: true; envelopes: Envelope[]; invalidCount: number; firstProblem: string | null }
  | { ok: false; problem: string };

export function encodeFrame(envelopes: readonly Envelope[], deadline: DeadlineField = deadlineAsInstant): unknown[] {
  assert(envelopes.length <= frameEnvelopesMax, 'frame over frameEnvelopesMax', { count: envelopes.length });
  const frame: unknown[] = [];
  for (const envelope of envelopes) {
    switch (envelope.kind) {
      case 'tell':
        frame.push(tellCode, envelope.body);
        break;
      case 'ask':
        frame.push(askCode, envelope.id, deadline.write(envelope.deadlineAtMs), envelope.body);
        break;
      case 'reply':
        frame.push(replyCode, envelope.id, envelope.body, envelope.error);
        break;
      default:
        assertNever(envelope, 'envelope kind');
    }
  }
  return frame;
}

function isErrorData(value: unknown): value is ErrorData {
  if (typeof value !== 'object' || value === null) return false;
  const data = value as Record<string, unknown>;
  return typeof data.name === 'string' && typeof data.code === 'string' && typeof data.message === 'string';
}

const isId = (value: unknown): value is string => typeof value === 'string' && value.length > 0 && value.length <= 64;

/**
 * Decodes a frame received from `from` by `to`. A malformed field ends the frame (the rest cannot be
 * re-synchronised); the envelopes before it are kept in order and the problem is reported.
 */
export function decodeFrame(value: unknown, from: ActorName, to: ActorName, deadline: DeadlineField = deadlineAsInstant): FrameDecode {
  if (!Array.isArray(value)) return { ok: false, problem: 'frame is not an array' };
  if (value.length > frameEnvelopesMax * 4) return { ok: false, problem: `frame of ${value.length} fields is over the bound` };
  const envelopes: Envelope[] = [];
  let index = 0;
  while (index < value.length) {
    const code: unknown = value[index];
    if (code === tellCode && index + 1 < value.length) {
      envelopes.push({ kind: 'tell', from, to, body: value[index + 1] });
      index += 2;
    } else if (code === askCode && index + 3 < value.length && isId(value[index + 1]) && deadline.read(value[index + 2]) !== null) {
      envelopes.push({ kind: 'ask', from, to, id: value[index + 1] as string, deadlineAtMs: deadline.read(value[index + 2])!, body: value[index + 3] });
      index += 4;
    } else if (code === replyCode && index + 3 < value.length && isId(value[index + 1]) && (value[index + 3] === null || isErrorData(value[index + 3]))) {
      envelopes.push({ kind: 'reply', from, to, id: value[index + 1] as string, body: value[index + 2], error: value[index + 3] as ErrorData | null });
      index += 4;
    } else {
      return { ok: true, envelopes, invalidCount: 1, firstProblem: `malformed envelope at field ${index} (code ${JSON.stringify(code)})` };
    }
  }
  if (envelopes.length > frameEnvelopesMax) return { ok: false, problem: `frame holds ${envelopes.length} envelopes, over ${frameEnvelopesMax}` };
  return { ok: true, envelopes, invalidCount: 0, firstProblem: null };
}

/** Given to each worker at start-up (workerData). */
export interface WorkerStartData {
  readonly name: ActorName;
  readonly moduleUrl: string;
  readonly args: unknown;
  readonly mailboxCapacity: number;
  /** Records below this level are dropped in the worker instead of crossing to the main thread's logger. */
  readonly logLevelMin?: LogLevel;
  /** The comlink control port; the data path gets its own ports later through connect(). */
  readonly controlPort: unknown;
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export const logLevelRank: Readonly<Record<LogLevel, number>> = { debug: 0, info: 1, warn: 2, error: 3 };

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
  /** Envelopes held now for links that said busy, waiting for their drain (bounded per link). */
  held: number;
}

export interface WorkerStatus extends EndpointCounters {
  readonly mailboxDepth: number;
  readonly processed: number;
  /** Messages refused because the mailbox was full. */
  readonly refused: number;
  /** Heap, event-loop delay and utilization of the worker's thread. */
  readonly thread: ThreadFigures;
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
  stop(reason: StopReason): Promise<void>;
  setIsolated(isolated: boolean): void;
  setPeerIsolated(peer: ActorName, isolated: boolean): void;
}
