// backoff.ts: the wait before the next attempt honours Retry-After, grows exponentially to its cap, and adds up
// to half again at random; unreadable or huge Retry-After headers cannot park a client; a 503 to an order says
// "not taken" only with x-order-outcome: not-taken.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { backoffDelayMs, order503Outcome, parseRetryAfterMs } from '../../src/cli/backoff.js';

const low = () => 0;
const high = () => 0.999_999;

test('exponential steps from 100 ms, capped at 5 s, with up to half again of jitter', () => {
  const steps = [1, 2, 3, 4, 5, 6, 7, 40].map((attempt) => backoffDelayMs({ attempt, retryAfter: null, random: low }));
  assert.equal(steps, [100, 200, 400, 800, 1_600, 3_200, 5_000, 5_000]);
  assert.is(backoffDelayMs({ attempt: 3, retryAfter: null, random: high }), 600);
  assert.is(backoffDelayMs({ attempt: 3, retryAfter: null, random: () => 0.5 }), 500);
});

test('Retry-After is a floor: never sooner than the gateway asked', () => {
  for (const random of [low, high, Math.random]) {
    const delayMs = backoffDelayMs({ attempt: 1, retryAfter: '1', random });
    assert.ok(delayMs >= 1_000 && delayMs <= 1_500, `${delayMs}`);
  }
  assert.is(backoffDelayMs({ attempt: 7, retryAfter: '1', random: low }), 5_000, 'the longer of the two');
});

test('an unreadable Retry-After is ignored, a huge one capped', () => {
  assert.is(parseRetryAfterMs('soon'), null);
  assert.is(parseRetryAfterMs('-3'), null);
  assert.is(parseRetryAfterMs('Wed, 21 Oct 2015 07:28:00 GMT'), null);
  assert.is(parseRetryAfterMs(' 2 '), 2_000);
  assert.is(backoffDelayMs({ attempt: 1, retryAfter: 'soon', random: low }), 100);
  assert.is(backoffDelayMs({ attempt: 1, retryAfter: '999999', random: low }), 30_000);
  assert.is(backoffDelayMs({ attempt: 1, retryAfter: '999999', random: low, retryAfterMsMax: 10_000 }), 10_000);
  assert.throws(() => backoffDelayMs({ attempt: 0, retryAfter: null, random: low }), /positive integer/);
});

test('only x-order-outcome: not-taken makes a 503 certain', () => {
  assert.is(order503Outcome(new Headers({ 'x-order-outcome': 'not-taken', 'retry-after': '1' })), 'not-taken');
  assert.is(order503Outcome(new Headers({ 'x-order-id': 'abc', 'retry-after': '1' })), 'unknown');
  assert.is(order503Outcome(new Headers({ 'x-order-outcome': 'taken?' })), 'unknown');
});

test.run();
