// The data codec: a batch of envelopes (any senders and targets) as one payload.
//
// Layout: a JSON array of runs [from, to, flatFrame, from, to, flatFrame, ...], where flatFrame is wire.ts's
// per-link frame (sender and target are written once per run of consecutive envelopes between the same pair).
// Promises: `decodeBatch` inverts `encodeBatch` for plain-JSON bodies, validates every envelope with
// wire.decodeFrame, and reports rather than throws. JSON was kept by measurement (see docs/multihost.md);
// note what it does not carry: undefined becomes null, and Map, typed arrays and NaN do not survive.
// Needs: nothing.

import { decodeFrame, encodeFrame, frameEnvelopesMax, type Envelope } from '../wire.js';

const nameLengthMax = 128;
const isName = (value: unknown): value is string => typeof value === 'string' && value.length > 0 && value.length <= nameLengthMax;

export function encodeBatch(envelopes: readonly Envelope[]): Buffer {
  const runs: unknown[] = [];
  let start = 0;
  while (start < envelopes.length) {
    const first = envelopes[start]!;
    let end = start + 1;
    while (end < envelopes.length && envelopes[end]!.from === first.from && envelopes[end]!.to === first.to) end += 1;
    runs.push(first.from, first.to, encodeFrame(envelopes.slice(start, end)));
    start = end;
  }
  return Buffer.from(JSON.stringify(runs));
}

export type BatchDecode = { ok: true; envelopes: Envelope[]; invalidCount: number; firstProblem: string | null } | { ok: false; problem: string };

export function decodeBatch(body: Buffer): BatchDecode {
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
    const decoded = decodeFrame(value[index + 2], from, to);
    if (!decoded.ok) return { ok: false, problem: decoded.problem };
    envelopes.push(...decoded.envelopes);
    invalidCount += decoded.invalidCount;
    firstProblem ??= decoded.firstProblem;
    if (envelopes.length > frameEnvelopesMax) return { ok: false, problem: `data frame holds over ${frameEnvelopesMax} envelopes` };
  }
  return { ok: true, envelopes, invalidCount, firstProblem };
}
