// The adaptive limit of admission.ts, stepped by hand: a standing queue (the fastest request of an interval over
// the target) cuts the limit by a tenth down to its minimum; a limit that was reached while the fastest
// request stayed under the target grows by an eighth up to its maximum; a burst that only some requests feel,
// or an interval with nothing completed, changes nothing; bad bounds are refused.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { AdaptiveLimit, admissionClassOf } from '../../src/http/admission.js';

const bounds = { targetDelayMs: 10, intervalMs: 100, inFlightInitial: 16, inFlightMin: 4, inFlightMax: 20 };

test('a standing queue cuts the limit by a tenth, never under the minimum', () => {
  const limit = new AdaptiveLimit(bounds, 0);
  const expected = [14, 12, 10, 9, 8, 7, 6, 5, 4, 4];
  let nowMs = 0;
  for (const next of expected) {
    assert.ok(limit.tryAdmit(nowMs));
    nowMs += 100;
    const change = limit.complete(nowMs - 50, nowMs);
    assert.equal(change, { kind: 'decreased', limit: next, minimumLatencyMs: 50 });
  }
});

test('a limit reached under the target grows by an eighth, never over the maximum', () => {
  const limit = new AdaptiveLimit(bounds, 0);
  for (let index = 0; index < 16; index += 1) assert.ok(limit.tryAdmit(1));
  assert.is(limit.tryAdmit(1), false, 'the seventeenth is shed');
  assert.is(limit.shedCount, 1);
  for (let index = 0; index < 15; index += 1) assert.is(limit.complete(1, 5), null);
  assert.equal(limit.complete(1, 100), { kind: 'increased', limit: 18, minimumLatencyMs: 4 });
  for (let index = 0; index < 18; index += 1) assert.ok(limit.tryAdmit(101));
  assert.is(limit.tryAdmit(101), false);
  for (let index = 0; index < 18; index += 1) limit.complete(198, 200);
  assert.is(limit.limit, 20, 'capped at inFlightMax');
});

test('one slow request among fast ones, or nothing completed, changes nothing', () => {
  const limit = new AdaptiveLimit(bounds, 0);
  limit.tryAdmit(0);
  limit.tryAdmit(0);
  limit.complete(0, 2);
  assert.equal(limit.complete(0, 100), { kind: 'unchanged', limit: 16 });
  limit.tryAdmit(150);
  assert.equal(limit.advance(1_000), { kind: 'unchanged', limit: 16 }, 'no completion: no sample, no change');
});

test('bounds are checked, and routes map to their class', () => {
  assert.throws(() => new AdaptiveLimit({ ...bounds, inFlightMin: 32 }, 0), /inFlightMin ≤ inFlightInitial/);
  assert.throws(() => new AdaptiveLimit({ ...bounds, targetDelayMs: 0 }, 0), /positive integer/);
  assert.throws(() => new AdaptiveLimit(bounds, 0).complete(0, 1), /without an admitted request/);
  assert.is(admissionClassOf('order'), 'order');
  assert.is(admissionClassOf('lookup'), 'read');
  assert.is(admissionClassOf('metrics'), null);
  assert.is(admissionClassOf('health'), null);
});

test.run();
