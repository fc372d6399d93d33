// The data codec: a batch of envelopes (any senders and targets) as one payload.
//
// Layout: a JSON array of runs [from, to, flatFrame, from, to, flatFrame, ...], where flatFrame is wire.ts's
// per-link frame (sender and target are written once per run of consecutive envelopes between the same pair).
// An ask carries its time remaining, not its deadline: whole ms from 0 to askRemainingMsMax, rounded up, taken
// from the sender's clock when the batch is encoded and turned back into an instant on the receiver's clock when
// it is decoded. Two hosts' clocks need not agree, and the time the batch spends on the way is counted against
// the receiver, the safe side: it gives up later than the asker by at most that time, never earlier (below the
// bound). Promises: `decodeBatch` inverts `encodeBatch` for plain-JSON bodies (an ask's deadline moved by the
// difference of the two clocks, and rounded up to a whole ms), validates every envelope with wire.decodeFrame,
// and reports rather than throws. JSON was kept by measurement (see docs/multihost.md); note what it does not
// carry: undefined becomes null, and Map, typed arrays and NaN do not survive. Needs: a clock reading per batch.

import { monotonicNowMs } from '../clock.js';
import { decodeFrame, encodeFrame, frameEnvelopesMax, type DeadlineField, type Envelope } from '../wire.js';

const nameLengthMax = 128;
const isName = (value: unknown): value is string => typeof value === 'string' && value.length > 0 && value.length <= nameLengthMax;

/**
 * Bound on the time remaining an ask carries: Node's longest timer (2^31 - 1 ms, about 24.8 days), past which an
 * asker's own timeout does not work either. A longer remaining time is sent as this bound.
 */
export const askRemainingMsMax = 2_147_483_647;

/** An ask's deadline as its time remaining at `nowMs` (on the clock of the side that writes or reads the batch). */
export function deadlineAsRemaining(nowMs: number): DeadlineField {
  return {
    write: (deadlineAtMs) => Math.min(askRemainingMsMax, Math.max(0, Math.ceil(deadlineAtMs - nowMs))),
    read: (field) => (Number.isInteger(field) && (field as number) >= 0 && (field as number) <= askRemainingMsMax ? nowMs + (field as number) : null),
  };
}

/** `nowMs`: the sender's clock, from which each ask's time remaining is taken (default: this process's). */
export function encodeBatch(envelopes: readonly Envelope[], nowMs: number = monotonicNowMs()): Buffer {
  const deadline = deadlineAsRemaining(nowMs);
  const runs: unknown[] = [];
  let start = 0;
  while (start < envelopes.length) {
    const first = envelopes[start]!;
    let end = start + 1;
    while (end < envelopes.length && envelopes[end]!.from === first.from && envelopes[end]!.to === first.to) end += 1;
    runs.push(first.from, first.to, encodeFrame(envelopes.slice(start, end), deadline));
    start = end;
  }
  return Buffer.from(JSON.stringify(runs));
}

export type BatchDecode = { ok: true; envelopes: Envelope[]; invalidCount: number; firstProblem: string | null } | { ok: false; problem: string };

/** `nowMs`: the receiver's clock, on which each ask's time remaining becomes a deadline. */
export function decodeBatch(body: Buffer, nowMs: number): BatchDecode {
  const deadline = deadlineAsRemaining(nowMs);
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch (error) {
    return { ok: false, problem: `data frame is not JSON: ${error instanceof Error ? error.message : String(error)}` };
  }
  if (!Array.isArray(value) || value.length % 3 !== 0) return { ok: false, problem: 'data frame is not a list of runs' };
  const envelopes: Envelope[] = [];
  let invalidCount = 0;
  let firstProblem: string | null = null;
  for (let index = 0; index < value.length; index += 3) {
    const from: unknown = value[index];
    const to: unknown = value[index + 1];
    if (!isName(from) || !isName(to)) return { ok: false, problem: `run ${index / 3} has no valid sender and target` };
    const decoded = decodeFrame(value[index + 2], from, to, deadline);
    if (!decoded.ok) return { ok: false, problem: decoded.problem };
    envelopes.push(...decoded.envelopes);
    invalidCount += decoded.invalidCount;
    firstProblem ??= decoded.firstProblem;
    if (envelopes.length > frameEnvelopesMax) return { ok: false, problem: `data frame holds over ${frameEnvelopesMax} envelopes` };
  }
  return { ok: true, envelopes, invalidCount, firstProblem };
}
